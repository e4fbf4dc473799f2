"""Inbox, apply, outbox, dead letters and the audit chain on a real SQLite file and a
real PostgreSQL database (every test here runs on both)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from intermodal.config import Settings
from intermodal.engine.applier import Applier
from intermodal.engine.inbox import InboxMessage, store_messages
from intermodal.outbox import dead_letters
from intermodal.outbox.dispatcher import Dispatcher
from intermodal.security.audit import verify
from intermodal.store import Store, open_store
from intermodal.store.tables import audit, events, inbox, outbox, shipments
from intermodal.store.tables import dead_letters as dead_letter_rows
from intermodal_sim.testing import Receiver, serve_in_thread
from tests.conftest import new_secret


def milestone(
    event_id: str, subject: str, name: str, at: str, source: str = "acme"
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": "intermodal.shipment.milestone",
        "subject": subject,
        "time": at,
        "data": {"milestone": name, "occurred_at": at},
    }


def message(partner: str, message_id: str, *evs: dict[str, Any]) -> InboxMessage:
    body = orjson.dumps(evs[0] if len(evs) == 1 else list(evs))
    return InboxMessage(
        partner, message_id, "webhook", "application/json", body, f"corr-{message_id}"
    )


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.dispose()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    r = Receiver()
    with serve_in_thread(r.app()) as url:
        yield r, url


def settings_for(
    make_settings: Callable[..., Settings], url: str = "http://127.0.0.1:9/hooks", **endpoint: Any
) -> Settings:
    return make_settings(
        {
            "partners": {
                "acme": {"webhook_secrets": ["env:ACME_S"], "owns": ["picked_up", "delivered"]},
                "wms": {"webhook_secrets": ["env:WMS_S"]},
            },
            "endpoints": {"portal": {"url": url, **endpoint}},
            "delivery": {
                "max_attempts": 3,
                "backoff_base_seconds": 0.01,
                "backoff_max_seconds": 0.05,
                "breaker_failures": 50,
            },
        },
        env={"ACME_S": new_secret(), "WMS_S": new_secret()},
    )


def test_inbox_stores_once_and_answers_duplicates_with_the_original_receipt(store: Store) -> None:
    first = store_messages(
        store, [message("acme", "m1", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z"))]
    )
    again = store_messages(
        store,
        [
            message("acme", "m1", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z")),
            message("acme", "m2", milestone("e2", "S1", "delivered", "2026-11-23T11:00:00Z")),
            message("acme", "m2", milestone("e2", "S1", "delivered", "2026-11-23T11:00:00Z")),
            message("acme", "m1", milestone("e1", "S1", "delivered", "2026-11-23T10:00:00Z")),
        ],
    )
    assert (
        again[0].receipt_id == first[0].receipt_id and again[0].duplicate and not again[0].conflict
    )
    assert (
        not again[1].duplicate and again[2].duplicate and again[2].receipt_id == again[1].receipt_id
    )
    assert again[3].conflict  # same id, different body
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 2


def test_apply_flags_late_duplicate_and_violation_and_emits_commands(
    store: Store, make_settings: Callable[..., Settings]
) -> None:
    settings = settings_for(make_settings)
    store_messages(
        store,
        [
            message("acme", "m1", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z")),
            message("acme", "m2", milestone("e2", "S1", "delivered", "2026-11-23T12:00:00Z")),
            message(
                "acme", "m3", milestone("e3", "S1", "in_transit", "2026-11-23T11:00:00Z")
            ),  # late
            message(
                "acme", "m4", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z")
            ),  # same id
            message(
                "acme", "m5", milestone("e1-copy", "S1", "picked_up", "2026-11-23T10:00:00Z")
            ),  # same meaning
            message(
                "wms", "m6", milestone("w1", "S2", "delivered", "2026-11-23T12:00:00Z")
            ),  # not the owner
            message(
                "wms", "m7", milestone("w2", "S2", "booked", "2026-11-23T09:00:00Z")
            ),  # unowned: allowed
        ],
    )
    applier = Applier(store, settings)
    result = applier.run_once()
    assert result.messages == 7
    assert result.outcomes == {"applied": 3, "late": 1, "duplicate": 2, "violation": 1}
    with store.read() as conn:
        s1 = conn.execute(select(shipments).where(shipments.c.key == "S1")).one()
        s2 = conn.execute(select(shipments).where(shipments.c.key == "S2")).one()
        assert (s1.state, s1.late_count, s1.duplicate_count) == ("delivered", 1, 2)
        assert (s2.state, s2.violation_count) == ("booked", 1)
        commands = conn.execute(
            select(outbox.c.subject, outbox.c.payload).order_by(outbox.c.seq)
        ).all()
        assert [c.subject for c in commands] == ["S1", "S1", "S2"]
        assert orjson.loads(commands[1].payload)["data"]["milestone"] == "delivered"
        assert (
            conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.status != "applied")
            ).scalar_one()
            == 0
        )
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 7
        actions = [r.action for r in conn.execute(select(audit.c.action).order_by(audit.c.seq))]
        assert actions.count("shipment.state") == 3 and actions.count("ownership.violation") == 1
    assert applier.run_once().messages == 0  # nothing is applied twice
    assert verify(store).ok


def test_a_message_that_no_longer_parses_is_rejected_not_lost(
    store: Store, make_settings: Callable[..., Settings]
) -> None:
    store_messages(
        store, [InboxMessage("acme", "bad", "webhook", "application/json", b"{oops", "c")]
    )
    Applier(store, settings_for(make_settings)).run_once()
    with store.read() as conn:
        row = conn.execute(select(inbox.c.status, inbox.c.error)).one()
    assert row.status == "rejected" and "not valid JSON" in row.error


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert"])
def test_audit_verify_names_the_tampered_row(
    store: Store, make_settings: Callable[..., Settings], tamper: str
) -> None:
    store_messages(
        store,
        [
            message(
                "acme", f"m{i}", milestone(f"e{i}", f"S{i}", "picked_up", "2026-11-23T10:00:00Z")
            )
            for i in range(6)
        ],
    )
    applier = Applier(store, settings_for(make_settings))
    applier.partitions = 1  # one partition, so one chain holds all six rows
    applier.run_once()
    assert verify(store).ok and verify(store).rows == 6
    with store.engine.begin() as conn:
        if tamper == "edit":
            conn.execute(update(audit).where(audit.c.seq == 3).values(detail='{"to":"delivered"}'))
        elif tamper == "delete":
            conn.execute(text("DELETE FROM audit WHERE seq = 3"))
        else:
            conn.execute(
                text("UPDATE audit SET seq = seq + 100, chain_seq = chain_seq + 100 WHERE seq >= 4")
            )
            row = conn.execute(select(audit).where(audit.c.seq == 3)).one()._asdict()
            conn.execute(
                audit.insert().values({**row, "seq": 4, "chain_seq": 4, "actor": "mallory"})
            )
    report = verify(store)
    assert not report.ok
    assert {
        "edit": "row 3 was edited",
        "delete": "rows before row 4 were deleted",
        "insert": "row 4 was edited",
    }[tamper] in (report.problem or "")


def test_dispatch_retries_then_delivers_with_a_stable_idempotency_key(
    store: Store, make_settings: Callable[..., Settings], receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    settings = settings_for(make_settings, f"{url}/hooks")
    store_messages(
        store, [message("acme", "m1", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z"))]
    )
    Applier(store, settings).run_once()
    rec.fail_next = 1

    async def drain() -> Dispatcher:
        dispatcher = Dispatcher(store, settings)
        for _ in range(200):
            await dispatcher.run_once()
            with store.read() as conn:
                if (
                    conn.execute(
                        select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
                    ).scalar_one()
                    == 0
                ):
                    break
            await asyncio.sleep(0.02)
        await dispatcher.aclose()
        return dispatcher

    dispatcher = asyncio.run(drain())
    assert rec.failures_sent == 1 and len(rec.applied) == 1
    assert dispatcher.stats["retried"] == 1 and dispatcher.stats["delivered"] == 1
    with store.read() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.status == "delivered" and row.attempts == 2
    assert list(rec.applied) == [row.command_id]


def test_exhausted_and_refused_commands_become_dead_letters_and_replay_keeps_their_id(
    store: Store, make_settings: Callable[..., Settings], receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    settings = settings_for(make_settings, f"{url}/hooks")
    store_messages(
        store,
        [
            message(
                "acme", f"m{i}", milestone(f"e{i}", f"S{i}", "picked_up", "2026-11-23T10:00:00Z")
            )
            for i in range(3)
        ],
    )
    Applier(store, settings).run_once()
    rec.fail_next, rec.fail_status = 1_000, 503

    async def run(rounds: int) -> None:
        dispatcher = Dispatcher(store, settings)
        for _ in range(rounds):
            await dispatcher.run_once()
            await asyncio.sleep(0.06)
        await dispatcher.aclose()

    asyncio.run(run(8))
    items, total = dead_letters.list_dead_letters(store)
    assert total == 3 and all(i["attempts"] == 3 and "HTTP 503" in i["last_error"] for i in items)
    shown = dead_letters.get_dead_letter(store, items[0]["command_id"])
    assert (
        shown is not None and orjson.loads(shown["payload"] or "")["id"] == items[0]["command_id"]
    )

    rec.fail_next = 0
    assert dead_letters.replay(store, "test", [items[0]["command_id"], "cmd_unknown"]) == 1
    assert dead_letters.replay(store, "test", everything=True, endpoint="portal") == 2
    asyncio.run(run(3))
    assert sorted(rec.applied) == sorted(i["command_id"] for i in items)
    assert dead_letters.list_dead_letters(store)[1] == 0
    with store.read() as conn:
        replays = conn.execute(
            select(func.count()).select_from(audit).where(audit.c.action == "dead_letters.replay")
        ).scalar_one()
    assert replays == 2 and verify(store).ok


def test_replaying_all_moves_whole_chunks_in_order_and_only_the_endpoint_asked(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of 5: 13 letters of two endpoints, interleaved; the oldest come first.
    monkeypatch.setattr(dead_letters, "_CHUNK", 5)
    now = "2026-11-30T10:00:00.000000Z"
    letters = [
        {
            "command_id": f"cmd_{i:02d}",
            "endpoint": "portal" if i % 3 else "tms",
            "kind": "webhook",
            "subject": f"S{i % 4}",
            "payload": orjson.dumps({"id": f"cmd_{i:02d}"}),
            "correlation_id": "c",
            "attempts": 10,
            "last_error": "HTTP 503",
            "created_at": now,
            "dead_at": now,
        }
        for i in range(13)
    ]
    with store.write() as conn:
        conn.execute(dead_letter_rows.insert(), letters)
        # An earlier replay's delivered copy of one of them must give way, not block it.
        conn.execute(
            outbox.insert(),
            [{**{k: v for k, v in letters[1].items() if k not in ("last_error", "dead_at")},
              "attempts": 1, "status": "delivered", "next_attempt_at": now,
              "delivered_at": now}],
        )  # fmt: skip
    portal = [r["command_id"] for r in letters if r["endpoint"] == "portal"]
    tms = [r["command_id"] for r in letters if r["endpoint"] == "tms"]

    def outbox_order() -> list[str]:
        with store.read() as conn:
            rows = conn.execute(
                select(outbox.c.command_id, outbox.c.status).order_by(outbox.c.seq)
            ).all()
        assert {r.status for r in rows} == {"pending"}
        return [r.command_id for r in rows]

    assert dead_letters.replay(store, "op", everything=True, endpoint="portal") == len(portal)
    assert outbox_order() == portal  # in dead-letter order, the delivered copy replaced
    assert [i["command_id"] for i in dead_letters.list_dead_letters(store, limit=100)[0]] == tms
    assert dead_letters.replay(store, "op", everything=True) == len(tms)
    assert outbox_order() == portal + tms
    with store.read() as conn:
        chunks = conn.execute(
            select(func.count()).select_from(audit).where(audit.c.action == "dead_letters.replay")
        ).scalar_one()
    assert chunks == 2 + 1 and verify(store).ok  # 8 portal letters: 5 + 3; then 5 tms


def test_a_4xx_refusal_is_dead_lettered_at_once_and_retry_after_is_honoured(
    store: Store, make_settings: Callable[..., Settings], receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    settings = settings_for(make_settings, f"{url}/hooks")
    store_messages(
        store, [message("acme", "m1", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z"))]
    )
    Applier(store, settings).run_once()

    async def once() -> None:
        dispatcher = Dispatcher(store, settings)
        await dispatcher.run_once()
        await dispatcher.aclose()

    rec.fail_next, rec.fail_status, rec.retry_after = 1, 429, "120"
    asyncio.run(once())
    with store.read() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > row.created_at
    from datetime import datetime

    wait = (
        datetime.fromisoformat(row.next_attempt_at) - datetime.fromisoformat(row.created_at)
    ).total_seconds()
    assert wait >= 119
    with store.engine.begin() as conn:  # make it due now
        conn.execute(update(outbox).values(next_attempt_at=row.created_at))
    rec.fail_next, rec.fail_status, rec.retry_after = 1, 422, None
    asyncio.run(once())
    _, total = dead_letters.list_dead_letters(store)
    assert total == 1


def test_a_message_that_breaks_its_batch_is_isolated_and_the_rest_apply(
    store: Store, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """A poison message never stops the messages behind it. The poison is real: a
    database trigger refuses shipment S2, as a full disk or a broken constraint would.
    The receipt names the failure's class; the database's words (which can quote the
    values bound) are in the hub's log only."""
    with store.engine.begin() as conn:
        if store.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON shipments WHEN NEW.key = 'S2' "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                "IF NEW.key = 'S2' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON shipments"
                " FOR EACH ROW EXECUTE FUNCTION poison()"
            )
    store_messages(
        store,
        [
            message(
                "acme", f"m{i}", milestone(f"e{i}", f"S{i}", "picked_up", "2026-11-23T10:00:00Z")
            )
            for i in range(5)
        ],
    )
    applier = Applier(store, settings_for(make_settings))
    while applier.run_once().messages:
        pass
    with store.read() as conn:
        statuses = dict(conn.execute(select(inbox.c.message_id, inbox.c.status)).all())
        error = conn.execute(select(inbox.c.error).where(inbox.c.message_id == "m2")).scalar_one()
    assert statuses == {
        "m0": "applied",
        "m1": "applied",
        "m2": "rejected",
        "m3": "applied",
        "m4": "applied",
    }
    assert "could not be applied" in error and "boom" not in error
    # the log names the failure's class and the message's ids, never the database's words
    # (they may quote the payload: a name, a street)
    assert error.split(":")[0].split(" ")[0] in caplog.text and "boom" not in caplog.text


@pytest.mark.parametrize("batch_size", [1, 10])
def test_commands_about_one_shipment_arrive_in_order_even_across_retries(
    store: Store,
    make_settings: Callable[..., Settings],
    receiver: tuple[Receiver, str],
    batch_size: int,
) -> None:
    rec, url = receiver
    settings = settings_for(make_settings, f"{url}/hooks", batch_size=batch_size)
    journey = ["booked", "picked_up", "in_transit", "out_for_delivery", "delivered"]
    store_messages(
        store,
        [
            message("acme", f"{s}-{i}", milestone(f"{s}-e{i}", s, m, f"2026-11-23T1{i}:00:00Z"))
            for i, m in enumerate(journey)
            for s in ("S1", "S2", "S3")
        ],
    )
    Applier(store, settings).run_once()
    rec.fail_next = 2  # the first requests fail: heads are retried, the rest must wait

    async def drain() -> None:
        dispatcher = Dispatcher(store, settings)
        for _ in range(400):
            await dispatcher.run_once()
            with store.read() as conn:
                pending = conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
                ).scalar_one()
            if pending == 0:
                break
            await asyncio.sleep(0.01)
        await dispatcher.aclose()

    asyncio.run(drain())
    assert len(rec.applied) == 15 and rec.failures_sent == 2
    for subject in ("S1", "S2", "S3"):
        seen = [c["data"]["milestone"] for c in rec.applied.values() if c["subject"] == subject]
        assert seen == journey, (subject, seen)


_KEYS = st.tuples(st.sampled_from(["acme", "wms"]), st.sampled_from([f"m{i}" for i in range(12)]))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    commits=st.lists(
        st.lists(st.tuples(_KEYS, st.sampled_from([b"a", b"b"])), max_size=30), max_size=5
    )
)
def test_inbox_receipts_match_a_model_of_first_seen_wins(
    store: Store, commits: list[list[tuple[tuple[str, str], bytes]]]
) -> None:
    """Any mix of new keys, repeats within a commit and repeats of earlier commits, over
    two partners: the first body seen for a key is stored once; every later sighting is a
    duplicate with the first's receipt, and a conflict when its body differs. The inbox
    holds them in the order first seen (appliers apply in `seq` order)."""
    run = secrets.token_hex(4)  # the store outlives hypothesis's examples: fresh keys each
    seen: dict[tuple[str, str], tuple[str, bytes]] = {}
    for commit in commits:
        messages = [
            InboxMessage(p, f"{run}-{m}", "webhook", "application/json", body, "c")
            for (p, m), body in commit
        ]
        for m, receipt in zip(messages, store_messages(store, messages), strict=True):
            key = (m.partner, m.message_id)
            if key in seen:
                assert receipt.duplicate and receipt.receipt_id == seen[key][0]
                assert receipt.conflict == (seen[key][1] != m.body)
            else:
                assert not receipt.duplicate and not receipt.conflict
                seen[key] = (receipt.receipt_id, m.body)
    with store.read() as conn:
        stored = conn.execute(
            select(inbox.c.partner, inbox.c.message_id, inbox.c.receipt_id, inbox.c.body)
            .where(inbox.c.message_id.like(f"{run}-%"))
            .order_by(inbox.c.seq)
        ).all()
    assert {(r.partner, r.message_id): (r.receipt_id, bytes(r.body)) for r in stored} == seen
    assert [(r.partner, r.message_id) for r in stored] == list(seen)
