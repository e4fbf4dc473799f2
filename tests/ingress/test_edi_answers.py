"""What `POST /v1/edi/{partner}` answers, through a running hub on a real store: once an
interchange is durable the answer is 2xx whatever fails next; a control number reused
for a different interchange is a 409 (or a new interchange, by the partner's policy); the
inbox key names the sender; keys written before senders were part of them still match."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from intermodal.config import Settings
from intermodal.edi import edifact, x12
from intermodal.edi.errors import Segment
from intermodal.engine.ids import stable_id
from intermodal.engine.inbox import InboxMessage, store_messages
from intermodal.errors import ConfigurationError
from intermodal.ingress.edi import (
    ReusePolicy,
    StoredInterchange,
    interchange_key,
    plan_interchange,
)
from intermodal.store import Store, open_store
from intermodal.store.tables import inbox, outbox
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
TOKEN = "bluefin-test-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/edi-x12"}
EDIFACT_AUTH = {"authorization": f"Bearer {TOKEN}-eu", "content-type": "application/edifact"}


# -- documents ---------------------------------------------------------------------------------
def isa(sender: str, control: int, receiver: str = "SHIPPERID") -> str:
    """An ISA padded to its fixed widths, `~` terminated."""
    return (
        f"ISA*00*{'':10}*00*{'':10}*02*{sender:<15}*ZZ*{receiver:<15}"
        f"*240105*0815*U*00401*{control:09d}*0*P*>~"
    )


def wrap(header: str, field: str) -> str:
    """The ISA as a partner that wraps it sends it: a line break in place of the last pad
    character of the field that starts with `field`."""
    at = header.index(field) + 14
    assert header[at] == " ", "the field must be padded"
    return header[:at] + "\n" + header[at + 1 :]


def status_214(
    control: int,
    shipment: str,
    sender: str = "BLUEFIN",
    status: str = "AF",
    header: str | None = None,
    gs_sender: str | None = None,
) -> bytes:
    """A carrier's 214 (one shipment status) in one interchange, one segment a line."""
    body = [
        "ST*214*0001",
        f"B10*PRO-{control}*{shipment}*BLFN",
        f"L11*PO-{control}*PO",
        "N1*SH*ACME SHIPPING*93*ACME01",
        "LX*1",
        f"AT7*{status}*NS***20240105*0810*CT",
        "MS1*CHICAGO*IL*US",
    ]
    body.append(f"SE*{len(body) + 1}*0001")
    segments = [
        header or isa(sender, control),
        f"GS*QM*{gs_sender or sender}*SHIPPERID*20240105*0815*{control}*X*004010~",
        *(s + "~" for s in body),
        f"GE*1*{control}~",
        f"IEA*1*{control:09d}~",
    ]
    return "\n".join(segments).encode() + b"\n"


def iftsta(reference: str, shipment: str, sender: str = "5412345000013") -> bytes:
    """A European partner's IFTSTA (one status) in one interchange."""
    return (
        "UNA:+.? '\n"
        f"UNB+UNOC:3+{sender}:14+8712345000019:14+240105:1210+{reference}'\n"
        "UNH+1+IFTSTA:D:01B:UN'\n"
        f"BGM+23+STA-{reference}+9'\n"
        f"CNI+1+{shipment}'\n"
        "STS+1+21'\n"
        "UNT+5+1'\n"
        f"UNZ+1+{reference}'\n"
    ).encode()


# -- the hub -----------------------------------------------------------------------------------
@dataclass
class Hub:
    url: str
    store: Store
    folder: Path

    def post(self, body: bytes, partner: str = "bluefin") -> httpx.Response:
        headers = EDIFACT_AUTH if partner == "nordlog" else AUTH
        return httpx.post(f"{self.url}/v1/edi/{partner}", content=body, headers=headers)

    def drop(self, name: str, body: bytes) -> None:
        """Put a file in the watched folder as a partner should: written, then renamed."""
        self.folder.mkdir(exist_ok=True)
        (self.folder / f"{name}.tmp").write_bytes(body)
        (self.folder / f"{name}.tmp").rename(self.folder / name)

    def keys(self, partner: str = "bluefin") -> list[str]:
        with self.store.read() as conn:
            query = select(inbox.c.message_id).where(inbox.c.partner == partner)
            return sorted(conn.execute(query.order_by(inbox.c.message_id)).scalars())

    def acks(self) -> int:
        with self.store.read() as conn:
            count = select(func.count()).select_from(outbox).where(outbox.c.kind == "edi.ack")
            return int(conn.execute(count).scalar_one())

    def ack_ids(self) -> set[str]:
        with self.store.read() as conn:
            query = select(outbox.c.command_id).where(outbox.c.kind == "edi.ack")
            return set(conn.execute(query).scalars())


def partner_config(**edi: Any) -> dict[str, Any]:
    return {
        "tokens": [{"token": "env:BLUEFIN_TOKEN", "scopes": ["events:write"]}],
        "mapping": "bluefin.yaml",
        "edi": {"format": "x12", "ack": True, "ack_endpoint": "partner-edi", **edi},
    }


@pytest.fixture
def start_hub(tmp_path: Path, make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """Start a hub for partner bluefin (X12, with the given `edi` settings) and nordlog
    (EDIFACT); the store is opened beside it to look at the inbox and the outbox."""
    shutil.copy(EXAMPLES / "ridgeline" / "mapping.yaml", tmp_path / "bluefin.yaml")

    @contextmanager
    def start(db_url: str, **edi: Any) -> Iterator[Hub]:
        settings = make_settings(
            {
                "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
                "partners": {
                    "bluefin": partner_config(**edi),
                    "nordlog": {
                        "tokens": [{"token": "env:NORDLOG_TOKEN", "scopes": ["events:write"]}],
                        "edi": {"format": "edifact", "ack": True, "ack_endpoint": "partner-edi"},
                    },
                },
                "endpoints": {
                    "partner-edi": {
                        "kind": "edi",
                        "url": "http://127.0.0.1:9/inbound",
                        "milestones": [],
                    }
                },
            },
            env={"BLUEFIN_TOKEN": TOKEN, "NORDLOG_TOKEN": f"{TOKEN}-eu"},
        )
        with running_hub(settings, dispatch=False) as url:
            store = open_store(db_url, migrate=False)
            try:
                yield Hub(url, store, tmp_path / "inbox")
            finally:
                store.dispose()

    return start


# -- faults of a real store ----------------------------------------------------------------------
FAULT_TABLES = {"outbox": "outbox", "control_numbers": "edi_control_numbers"}


def refuse(store: Store, fault: str) -> None:
    """Make the store refuse a write the intake does after the inbox commit: the
    acknowledgement's outbox row, or the control number its envelope takes."""
    table = FAULT_TABLES[fault]
    when = "NEW.kind = 'edi.ack'" if fault == "outbox" else "1 = 1"
    with store.write() as conn:
        if store.is_sqlite:
            for event in ("INSERT", "UPDATE"):
                conn.execute(
                    text(
                        f"CREATE TRIGGER refuse_{fault}_{event.lower()} BEFORE {event} ON {table}"
                        f" WHEN {when} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                    )
                )
        else:
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger AS"
                    " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER refuse_{fault} BEFORE INSERT OR UPDATE ON {table}"
                    f" FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION refuse_write()"
                )
            )


def allow(store: Store, fault: str) -> None:
    table = FAULT_TABLES[fault]
    with store.write() as conn:
        if store.is_sqlite:
            for event in ("insert", "update"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS refuse_{fault}_{event}"))
        else:
            conn.execute(text(f"DROP TRIGGER IF EXISTS refuse_{fault} ON {table}"))


# -- 1. after the inbox commit, always 2xx -------------------------------------------------------
def test_wrapped_isa_is_accepted_applied_and_answered_duplicate_on_resend(
    db_url: str, start_hub: Callable[..., Any]
) -> None:
    body = status_214(301, "SHIP-WRAP-1", header=wrap(isa("BLUEFIN", 301), "SHIPPERID"))
    with start_hub(db_url) as hub:
        first = hub.post(body)
        assert first.status_code == 202, first.text
        answer = first.json()
        (entry,) = answer["interchanges"]
        assert entry["status"] == "accepted" and entry["control_number"] == "000000301"
        # the 997 is written, or the answer says it was not and why: never silently neither
        missing = answer["acknowledgements_not_written"]
        assert answer["acknowledgements"] + len(missing) == 1
        assert hub.acks() == answer["acknowledgements"]
        if missing:
            assert missing[0]["receipt_id"] == entry["receipt_id"] and missing[0]["reason"]
        wait_until(
            lambda: (
                httpx.get(f"{hub.url}/v1/shipments/SHIP-WRAP-1", headers=ADMIN).status_code == 200
            ),
            timeout=10,
        )

        again = hub.post(body)
        assert again.status_code == 200, again.text
        assert again.json()["interchanges"][0]["status"] == "duplicate"
        assert again.json()["interchanges"][0]["receipt_id"] == entry["receipt_id"]
        assert hub.keys() == ["ISA:02:BLUEFIN:000000301"]


def test_acknowledgement_the_store_refuses_is_named_and_written_on_resend(
    db_url: str, start_hub: Callable[..., Any]
) -> None:
    body = status_214(302, "SHIP-302")
    with start_hub(db_url) as hub:
        refuse(hub.store, "outbox")
        first = hub.post(body)
        assert first.status_code == 202, first.text
        (missing,) = first.json()["acknowledgements_not_written"]
        assert (
            missing["control_number"] == "000000302"
            and "send the document again" in (missing["reason"])
        )
        assert "refused by the test" not in first.text  # the store's own words stay inside
        assert hub.acks() == 0 and len(hub.keys()) == 1

        allow(hub.store, "outbox")
        again = hub.post(body)
        assert again.status_code == 200, again.text
        assert again.json()["acknowledgements"] == 1
        assert again.json()["acknowledgements_not_written"] == []
        assert hub.acks() == 1
        assert hub.post(body).json()["acknowledgements"] == 0  # never two


@dataclass(frozen=True)
class Send:
    sender: str
    control: int
    variant: int  # a different variant is a different interchange under the same number
    wrapped: str | None  # None, or the ISA field a line break is put in
    fault: str | None


sends = st.builds(
    Send,
    st.sampled_from(["BLUEFIN", "HARBORLINE"]),
    st.one_of(st.integers(900, 903), st.integers(904, 999_999)),  # repeats, and new ones
    st.sampled_from([0, 0, 0, 1]),
    st.sampled_from([None, None, "SHIPPERID", "BLUEFIN", "HARBORLINE"]),
    st.sampled_from([None, "outbox", "control_numbers"]),
)


def test_any_answer_after_the_inbox_commit_is_2xx(
    db_url: str, start_hub: Callable[..., Any]
) -> None:
    """Model: the hub must answer every send as the inbox saw it (202 new, 200 the same
    bytes again, 409 other bytes under a used number and nothing stored), whatever fails
    after the commit; and every stored interchange has its 997 or is named as missing it."""
    with start_hub(db_url) as hub:
        stored: dict[tuple[str, int], bytes] = {}
        acked: set[tuple[str, int]] = set()

        @hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(sends, min_size=1, max_size=4))
        def answers_follow_the_inbox(batch: list[Send]) -> None:
            for send in batch:
                header = isa(send.sender, send.control)
                if send.wrapped is not None and send.wrapped in header:
                    header = wrap(header, send.wrapped)
                body = status_214(
                    send.control,
                    f"SHIP-{send.control}-{send.variant}",
                    sender=send.sender,
                    header=header,
                )
                key = (send.sender, send.control)
                if send.fault:
                    refuse(hub.store, send.fault)
                try:
                    response = hub.post(body)
                finally:
                    if send.fault:
                        allow(hub.store, send.fault)
                expected = 202 if key not in stored else 200 if stored[key] == body else 409
                assert response.status_code == expected, response.text
                if expected == 409:
                    assert response.json()["error"]["code"] == "conflict"
                    continue
                stored.setdefault(key, body)
                answer = response.json()
                missing = answer["acknowledgements_not_written"]
                if answer["acknowledgements"]:
                    acked.add(key)
                if key not in acked:
                    assert len(missing) == 1 and missing[0]["reason"], answer
                    # a refusing store is the only fault a fixed input cannot cure
                    assert send.fault is not None or send.wrapped is not None
                if send.fault is None and send.wrapped is None:
                    assert missing == [] and key in acked
                assert len(hub.keys()) == len(stored)
                assert hub.acks() == len(acked)

        answers_follow_the_inbox()


# -- 2. a control number used for another interchange ---------------------------------------------
def test_reused_control_number_is_409_and_nothing_is_stored(
    db_url: str, start_hub: Callable[..., Any]
) -> None:
    first = status_214(401, "SHIP-401")
    other = status_214(401, "SHIP-401-B", status="X6")
    with start_hub(db_url) as hub:
        assert hub.post(first).status_code == 202
        refused = hub.post(other)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "conflict"
        assert "000000401" in error["message"] and "02:BLUEFIN" in error["message"]
        assert "nothing was stored" in error["message"]
        (detail,) = error["details"]
        assert detail["status"] == "conflict" and detail["earlier_receipt_id"]
        assert refused.headers["x-correlation-id"]
        assert hub.keys() == ["ISA:02:BLUEFIN:000000401"] and hub.acks() == 1
        assert httpx.get(f"{hub.url}/v1/shipments/SHIP-401-B", headers=ADMIN).status_code == 404

        # one document: a new interchange and a conflicting one. The new one is stored and
        # acknowledged, so the answer is 202, listing the refused one with its reason.
        mixed = hub.post(status_214(402, "SHIP-402") + other)
        assert mixed.status_code == 202, mixed.text
        statuses = [i["status"] for i in mixed.json()["interchanges"]]
        assert statuses == ["accepted", "conflict"]
        assert "000000401" in mixed.json()["interchanges"][1]["reason"]
        assert len(hub.keys()) == 2 and hub.acks() == 2

        # a duplicate and a conflict, nothing new: refused as a whole
        assert hub.post(first + other).status_code == 409
        assert hub.post(first).status_code == 200


def test_concurrent_sends_of_one_number_store_one_interchange(
    db_url: str, start_hub: Callable[..., Any]
) -> None:
    """Requests racing between the look-up and the commit: the inbox's key decides, and
    the losers are answered as its duplicate (same bytes) or a conflict (other bytes)."""
    with start_hub(db_url) as hub, ThreadPoolExecutor(8) as pool:
        same = status_214(450, "SHIP-450")
        codes = sorted(pool.map(lambda _: hub.post(same).status_code, range(8)))
        assert codes == [200] * 7 + [202]
        variants = [status_214(451, f"SHIP-451-{n}") for n in range(8)]
        codes = sorted(pool.map(lambda body: hub.post(body).status_code, variants))
        assert codes == [202] + [409] * 7
        assert len(hub.keys()) == 2 and hub.acks() == 2


def test_folder_moves_a_conflicting_file_to_rejected_with_the_reason(
    db_url: str, start_hub: Callable[..., Any]
) -> None:
    with start_hub(db_url, inbox_folder="inbox", poll_seconds=0.1) as hub:
        hub.drop("a.x12", status_214(501, "SHIP-501"))
        wait_until(lambda: (hub.folder / "processed" / "a.x12").exists(), timeout=10)
        hub.drop("b.x12", status_214(501, "SHIP-501-B", status="X6"))
        wait_until(lambda: (hub.folder / "rejected" / "b.x12").exists(), timeout=10)
        reason = (hub.folder / "rejected" / "b.x12.error.txt").read_text()
        assert "b.x12" in reason and "000000501" in reason and "02:BLUEFIN" in reason
        hub.drop("c.x12", status_214(502, "SHIP-502") + status_214(501, "SHIP-501-C"))
        wait_until(lambda: (hub.folder / "processed" / "c.x12").exists(), timeout=10)
        assert "000000501" in (hub.folder / "processed" / "c.x12.conflicts.txt").read_text()
        assert hub.keys() == ["ISA:02:BLUEFIN:000000501", "ISA:02:BLUEFIN:000000502"]


# -- 3. the sender is part of the key; keys from before still match ------------------------------
def test_two_senders_may_use_one_control_number(db_url: str, start_hub: Callable[..., Any]) -> None:
    with start_hub(db_url) as hub:
        assert hub.post(status_214(601, "SHIP-601-A", sender="BLUEFIN")).status_code == 202
        assert hub.post(status_214(601, "SHIP-601-B", sender="HARBORLINE")).status_code == 202
        # a bureau sending for two companies under its one ISA id: GS02 tells them apart
        bureau = isa("EDIBUREAU", 601)
        for company in ("ACMEFREIGHT", "ZENITHCARGO"):
            document = status_214(601, f"SHIP-{company}", header=bureau, gs_sender=company)
            assert hub.post(document).status_code == 202
        assert hub.keys() == [
            "ISA:02:BLUEFIN:000000601",
            "ISA:02:EDIBUREAU:ACMEFREIGHT:000000601",
            "ISA:02:EDIBUREAU:ZENITHCARGO:000000601",
            "ISA:02:HARBORLINE:000000601",
        ]
        assert hub.post(iftsta("REF0601", "SHIP-EU-1"), "nordlog").status_code == 202
        assert (
            hub.post(iftsta("REF0601", "SHIP-EU-2", sender="4012345000009"), "nordlog")
        ).status_code == 202
        conflict = hub.post(iftsta("REF0601", "SHIP-EU-3"), "nordlog")
        assert conflict.status_code == 409 and "5412345000013:14" in conflict.text
        assert hub.keys("nordlog") == [
            "UNB:4012345000009:14:REF0601",
            "UNB:5412345000013:14:REF0601",
        ]
        assert hub.acks() == 6


def test_interchanges_stored_under_the_old_key_are_still_found(
    db_url: str, start_hub: Callable[..., Any]
) -> None:
    """Before the sender was part of the key, an interchange was stored as `ISA:<ISA13>`
    and its 997 written under a command id derived from that key."""
    stored = status_214(701, "SHIP-701")
    with start_hub(db_url) as hub:
        (old,) = store_messages(
            hub.store,
            [InboxMessage("bluefin", "ISA:000000701", "edi", "application/edi-x12", stored, "c")],
        )
        resent = hub.post(stored)
        assert resent.status_code == 200, resent.text
        assert resent.json()["interchanges"][0]["receipt_id"] == old.receipt_id
        # its 997 had not been written: the duplicate's pass writes it, under the old id
        assert hub.ack_ids() == {stable_id("ack", "bluefin", "ISA:000000701")}
        assert hub.post(stored).json()["acknowledgements"] == 0

        assert hub.post(status_214(701, "SHIP-701-B", status="X6")).status_code == 409
        # another sender's 701 was never the same interchange
        assert hub.post(status_214(701, "SHIP-701-H", sender="HARBORLINE")).status_code == 202
        assert hub.keys() == ["ISA:000000701", "ISA:02:HARBORLINE:000000701"]


# -- 4. the reuse policy -----------------------------------------------------------------------
def backdate(store: Store, message_id: str, days: int) -> None:
    """Make an interchange look `days` older, as if received then."""
    with store.read() as conn:
        at = conn.execute(
            select(inbox.c.received_at).where(inbox.c.message_id == message_id)
        ).scalar_one()
    earlier = datetime.fromisoformat(at) - timedelta(days=days)
    with store.write() as conn:
        conn.execute(
            update(inbox)
            .where(inbox.c.message_id == message_id)
            .values(received_at=earlier.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        )


def test_reuse_after_stores_an_old_number_as_new_and_refuses_a_recent_one(
    db_url: str, start_hub: Callable[..., Any]
) -> None:
    first = status_214(801, "SHIP-801")
    second = status_214(801, "SHIP-801-B", status="X6")
    third = status_214(801, "SHIP-801-C", status="D1")
    key = "ISA:02:BLUEFIN:000000801"
    with start_hub(db_url, control_numbers="reuse_after", control_number_reuse_after="30d") as hub:
        assert hub.post(first).status_code == 202
        recent = hub.post(second)
        assert recent.status_code == 409, recent.text
        assert "30d" in recent.json()["error"]["message"]

        backdate(hub.store, key, 31)
        reused = hub.post(second)
        assert reused.status_code == 202, reused.text
        assert reused.json()["interchanges"][0]["reused_control_number"] is True
        assert hub.keys() == [key, f"{key}~2"]
        assert hub.ack_ids() == {stable_id("ack", "bluefin", k) for k in (key, f"{key}~2")}
        wait_until(
            lambda: (
                httpx.get(f"{hub.url}/v1/shipments/SHIP-801-B", headers=ADMIN).status_code == 200
            ),
            timeout=10,
        )

        assert hub.post(second).status_code == 200  # byte-identical: a duplicate
        assert hub.post(first).status_code == 200  # so is the old one
        assert hub.post(third).status_code == 409  # the latest use is recent
        backdate(hub.store, f"{key}~2", 31)
        assert hub.post(third).status_code == 202
        assert hub.keys() == [key, f"{key}~2", f"{key}~3"] and hub.acks() == 3


def test_reject_policy_refuses_even_an_old_number(
    sqlite_url: str, start_hub: Callable[..., Any]
) -> None:
    with start_hub(sqlite_url) as hub:
        assert hub.post(status_214(802, "SHIP-802")).status_code == 202
        backdate(hub.store, "ISA:02:BLUEFIN:000000802", 400)
        refused = hub.post(status_214(802, "SHIP-802-B", status="X6"))
        assert refused.status_code == 409
        assert "edi.control_numbers: reject" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("edi", "expected"),
    [
        ({"control_numbers": "reuse_after"}, "needs the age after which"),
        ({"control_number_reuse_after": "30d"}, "has no effect unless"),
        ({"control_numbers": "reuse_after", "control_number_reuse_after": "soon"}, "duration"),
    ],
)
def test_reuse_policy_mistakes_are_reported(
    tmp_path: Path, make_settings: Callable[..., Settings], edi: dict[str, Any], expected: str
) -> None:
    (tmp_path / "bluefin.yaml").write_text("")
    with pytest.raises(ConfigurationError) as caught:
        make_settings(
            {
                "partners": {"bluefin": partner_config(**edi)},
                "endpoints": {
                    "partner-edi": {"kind": "edi", "url": "http://x.example", "milestones": []}
                },
            },
            env={"BLUEFIN_TOKEN": TOKEN},
        )
    assert expected in str(caught.value) and "partners.bluefin.edi" in str(caught.value)


def test_reuse_after_reads_a_duration(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    shutil.copy(EXAMPLES / "ridgeline" / "mapping.yaml", tmp_path / "bluefin.yaml")
    settings = make_settings(
        {
            "partners": {
                "bluefin": partner_config(
                    control_numbers="reuse_after", control_number_reuse_after="30d"
                )
            },
            "endpoints": {
                "partner-edi": {"kind": "edi", "url": "http://x.example", "milestones": []}
            },
        },
        env={"BLUEFIN_TOKEN": TOKEN},
    )
    edi = settings.partners["bluefin"].edi
    assert edi is not None and edi.control_number_reuse_after == 30 * 86400


# -- the key itself ---------------------------------------------------------------------------
ids = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20)


@hsettings(max_examples=300, deadline=None)
@given(st.tuples(ids, ids, ids), st.tuples(ids, ids, ids))
def test_x12_keys_differ_exactly_when_trimmed_envelopes_do(
    one: tuple[str, str, str], other: tuple[str, str, str]
) -> None:
    def key(qualifier: str, sender: str, control: str) -> str:
        ic = x12.Interchange(qualifier, sender, "ZZ", "US", "240105", "0815", control)
        found = interchange_key(ic).message_id
        assert len(found) <= 256
        return found

    same = [a.strip() for a in one] == [b.strip() for b in other]
    assert (key(*one) == key(*other)) == same


def unb(sender: str, qualifier: str, reference: str) -> edifact.Interchange:
    return edifact.Interchange(
        Segment.of("UNB", ["UNOC", "3"], [sender, qualifier], ["RECEIVER"], ["1"], reference)
    )


@given(ids, ids, ids, ids)
def test_edifact_key_names_the_sender(
    sender: str, other: str, qualifier: str, reference: str
) -> None:
    key = interchange_key(unb(sender, qualifier, reference))
    assert key.legacy_id == f"UNB:{reference}"
    assert interchange_key(unb(f" {sender}\n", qualifier, reference)).message_id == key.message_id
    same = other.strip() == sender.strip()
    assert (interchange_key(unb(other, qualifier, reference)).message_id == key.message_id) == same


# -- the policy as a pure rule --------------------------------------------------------------------
@hsettings(max_examples=300, deadline=None)
@given(
    st.sampled_from([None, 3600.0, 30 * 86400.0]),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40 * 86400)), max_size=12),
)
def test_plan_stores_each_body_once_under_its_own_key(
    reuse_after: float | None, arrivals: list[tuple[int, int]]
) -> None:
    """Arrivals of bodies 0..3 under one control number, `seconds` after the previous:
    no body is stored twice, no key is used twice, and a different body is refused
    exactly when the number's latest holder is younger than the policy's age."""
    key = interchange_key(x12.Interchange("02", "BLUEFIN", "ZZ", "US", "240105", "0815", "7"))
    policy = ReusePolicy(reuse_after)
    rows: dict[str, tuple[int, StoredInterchange]] = {}
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for body, seconds in arrivals:
        now += timedelta(seconds=seconds)
        family = [
            StoredInterchange(r.message_id, r.receipt_id, r.received_at, b == body, r.generation)
            for b, r in rows.values()
        ]
        plan = plan_interchange(key, family, policy, now)
        held = {b for b, _ in rows.values()}
        if body in held:
            assert plan.action == "duplicate"
            continue
        latest = max((r.received_at for _, r in rows.values()), default=None)
        young = latest is not None and (
            reuse_after is None
            or now - datetime.fromisoformat(latest) < timedelta(seconds=reuse_after)
        )
        assert plan.action == ("conflict" if young else "store"), (plan, rows)
        if plan.action == "store":
            assert plan.message_id not in rows
            generation = 1 if not rows else int(plan.message_id.rsplit("~", 1)[-1])
            at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            rows[plan.message_id] = (
                body,
                StoredInterchange(plan.message_id, f"r{len(rows)}", at, False, generation),
            )
