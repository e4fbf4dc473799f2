"""Subscriber filters as pure functions: any pattern, document or event is decided, never an
error; and the ids of notifications are stable (a replay cannot notify twice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from intermodal.config import Endpoint
from intermodal.outbox.command import OutboundCommand
from intermodal.workflows.notifications import (
    NOTIFY_EVENTS,
    closed_case_notifications,
    document_notifications,
    wants,
)


def subscriber(**filters: Any) -> Endpoint:
    return Endpoint(
        name=filters.pop("name", "portal"), kind="webhook", url="https://p.example.com",
        secret_key=None, milestones=filters.pop("milestones", None), max_attempts=3,
        rate_per_second=10.0, timeout_seconds=5.0, batch_size=1, options={},
        base_dir=Path("."), **filters,
    )  # fmt: skip


def doc(*customers: str) -> dict[str, Any]:
    parties = [{"role": "customer", "name": f"{c} Corp", "reference": c} for c in customers]
    return {"shipment": {"at": "x", "data": {"key": "S", "parties": parties}}}


def test_filters_combine() -> None:
    e = subscriber(
        events=frozenset({"milestone", "pod.received"}), subjects=("SHP-*", "VIP-?"),
        customers=frozenset({"ACME"}), milestones=frozenset({"delivered"}),
    )  # fmt: skip
    assert wants(e, "milestone", "SHP-1", doc("ACME"), "delivered")
    assert not wants(e, "milestone", "SHP-1", doc("ACME"), "picked_up")
    assert wants(e, "pod.received", "VIP-7", doc("ACME"))
    assert not wants(e, "pod.received", "VIP-77", doc("ACME"))
    assert not wants(e, "pod.received", "SHP-1", doc("BETA"))
    by_name = {"shipment": {"data": {"parties": [{"role": "bill_to", "name": "ACME"}]}}}
    assert wants(e, "pod.received", "SHP-1", by_name)  # the name counts too, bill-to as well
    shipper = {"shipment": {"data": {"parties": [{"role": "shipper", "reference": "ACME"}]}}}
    assert not wants(e, "pod.received", "SHP-1", shipper)
    assert not wants(e, "case.opened", "SHP-1", doc("ACME"))
    assert not wants(subscriber(), "pod.received", "SHP-1", {})  # default: milestones only
    assert wants(subscriber(), "milestone", "ANY", {}, "booked")


@given(
    pattern=st.text(max_size=12),
    subject=st.text(min_size=1, max_size=12),
    event=st.sampled_from(NOTIFY_EVENTS),
    document=st.recursive(st.one_of(st.none(), st.text(max_size=5), st.integers()),
                          lambda x: st.lists(x, max_size=3) | st.dictionaries(
                              st.sampled_from(["shipment", "data", "parties", "role",
                                               "reference", "name"]), x, max_size=3),
                          max_leaves=10),
)  # fmt: skip
def test_any_pattern_and_document_is_decided(
    pattern: str, subject: str, event: str, document: Any
) -> None:
    e = subscriber(events=frozenset(NOTIFY_EVENTS), subjects=(pattern,),
                   customers=frozenset({"ACME"}))  # fmt: skip
    wants(e, event, subject, document if isinstance(document, dict) else {"x": document})


def test_notification_ids_are_stable_and_per_subscriber() -> None:
    subs = [subscriber(name="a", events=frozenset({"pod.received"})),
            subscriber(name="b", events=frozenset({"pod.received"}))]  # fmt: skip

    def rows() -> list[OutboundCommand]:
        return document_notifications(
            subs, "pod.received", "SHP-1", {}, {"signed_by": "R"}, "evt-9", "carrier", "c", "t"
        )

    first, again = rows(), rows()
    assert [r.command_id for r in first] == [r.command_id for r in again]
    assert len({r.command_id for r in first}) == 2
    body = orjson.loads(first[0].payload)  # type: ignore[arg-type]
    assert body["type"] == "intermodal.pod.received" and body["id"] == first[0].command_id
    assert body["assertedby"] == "carrier" and body["causationid"] == "evt-9"


def test_closed_cases_are_not_looked_up_without_a_subscriber() -> None:
    # No connection is needed (None would fail if used): nobody asked for case.closed.
    none_wanted = [subscriber(events=frozenset({"case.opened"}))]
    assert closed_case_notifications(None, none_wanted, ["case_1"], [], {}, "t") == []  # type: ignore[arg-type]
    opened = [{"case_id": "case_1", "subject": "S", "kind": "sla_breach", "team": "ops",
               "reason": "late", "opened_at": "t0"}]  # fmt: skip
    wanted = [subscriber(events=frozenset({"case.closed"}))]
    (row,) = closed_case_notifications(None, wanted, ["case_1"], opened, {}, "t1")  # type: ignore[arg-type]
    assert orjson.loads(row.payload)["data"]["closed_at"] == "t1"  # type: ignore[arg-type]
