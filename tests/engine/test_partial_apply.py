"""A mapped message is applied without the items that cannot be read, on a real store;
canonical CloudEvents stay all or nothing."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from intermodal.config import Settings
from intermodal.engine.applier import Applier
from intermodal.engine.inbox import InboxMessage, store_messages
from intermodal.engine.normalize import skipped_in
from intermodal.mapping import MappingNormalizer
from intermodal.store import Store, open_store
from intermodal.store.tables import events, inbox
from tests.conftest import new_secret

MAPPING = """\
reader: json
messages:
  - name: scans
    each: "scans"
    event:
      id: "id"
      subject: "$doc.shipment"
      time: "at"
      zone: "tz"
      status: "code"
statuses: {IT: in_transit, OD: out_for_delivery}
"""

MAPPED = "carrier.yaml"

# What each kind of item looks like, and where its problem is (None: readable).
KINDS: dict[str, str | None] = {
    "offset": None,  # a time with its offset
    "local": None,  # a zone-less time with the scan's zone
    "bad_code": "code",  # not in the status table
    "bad_time": "at",  # not a time
    "no_zone": "at",  # zone-less, no zone: and the mapping has no timezone:
    "bad_zone": "tz",  # a zone that does not exist
    "no_id": "id",  # the id expression gives nothing
}


def item(kind: str, run: str, index: int) -> dict[str, Any]:
    scan: dict[str, Any] = {
        "id": f"{run}-{index}",
        "code": "IT" if index % 2 else "OD",
        "at": f"2024-05-01T10:{index:02d}:00Z",
    }
    if kind in ("local", "no_zone", "bad_zone"):
        scan["at"] = scan["at"].removesuffix("Z")
        scan["tz"] = {"local": "Europe/Berlin", "bad_zone": "Nowhere/City"}.get(kind)
    elif kind == "bad_code":
        scan["code"] = "??"
    elif kind == "bad_time":
        scan["at"] = "soon"
    elif kind == "no_id":
        del scan["id"]
    return scan


@pytest.fixture
def carrier(
    sqlite_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> Iterator[tuple[Store, Applier]]:
    (tmp_path / MAPPED).write_text(MAPPING)
    config = make_settings(
        {"partners": {"carrier": {"webhook_secrets": ["env:CARRIER_S"], "mapping": MAPPED}}},
        env={"CARRIER_S": new_secret()},
    )
    store = open_store(sqlite_url)
    yield store, Applier(store, config, normalize=MappingNormalizer(config))
    store.dispose()


_COUNTER = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kinds=st.lists(st.sampled_from(sorted(KINDS)), max_size=12))
def test_any_mix_and_order_of_items_applies_exactly_the_readable_ones(
    carrier: tuple[Store, Applier], kinds: list[str]
) -> None:
    store, applier = carrier
    run = f"{secrets.token_hex(3)}{next(_COUNTER)}"  # one store for every example
    body = orjson.dumps(
        {"shipment": f"S-{run}", "scans": [item(k, run, i) for i, k in enumerate(kinds)]}
    )
    (receipt,) = store_messages(
        store, [InboxMessage("carrier", run, "webhook", "application/json", body, "c")]
    )
    applier.run_once()
    readable = [f"{run}-{i}" for i, k in enumerate(kinds) if KINDS[k] is None]
    unreadable = [f"$.scans[{i}].{KINDS[k]}" for i, k in enumerate(kinds) if KINDS[k]]
    with store.read() as conn:
        row = conn.execute(
            select(inbox.c.status, inbox.c.error).where(inbox.c.receipt_id == receipt.receipt_id)
        ).one()
        applied = conn.execute(
            select(events.c.event_id)
            .where(events.c.receipt_id == receipt.receipt_id)
            .order_by(events.c.seq)
        ).all()
    assert [r.event_id for r in applied] == readable
    if unreadable and not readable:
        assert row.status == "rejected"
        assert row.error.startswith(unreadable[0] + ": ")  # the first, and where the others are
        assert all(p in row.error for p in unreadable[:11])
        return
    assert row.status == "applied"
    recorded = skipped_in(row.error)
    if not unreadable:
        assert row.error is None and recorded is None
        return
    assert recorded is not None
    skipped, count = recorded
    assert [s.path for s in skipped] == unreadable and count == len(unreadable)


def test_canonical_cloudevents_stay_all_or_nothing(
    carrier: tuple[Store, Applier],
) -> None:
    store, applier = carrier
    good = {
        "specversion": "1.0", "id": "e-1", "source": "wms", "type": "intermodal.shipment.milestone",
        "subject": "S-CANON", "time": "2024-05-01T10:00:00Z",
        "data": {"milestone": "picked_up", "occurred_at": "2024-05-01T10:00:00Z"},
    }  # fmt: skip
    bad = {**good, "id": "e-2", "time": "2024-05-01T11:00:00"}  # no offset
    body = orjson.dumps([good, bad])
    (receipt,) = store_messages(
        store, [InboxMessage("other", "canon-1", "webhook", "application/json", body, "c")]
    )
    applier.run_once()
    with store.read() as conn:
        row = conn.execute(
            select(inbox.c.status, inbox.c.error).where(inbox.c.receipt_id == receipt.receipt_id)
        ).one()
        count = conn.execute(select(events.c.seq).where(events.c.subject == "S-CANON")).all()
    assert row.status == "rejected" and count == []
