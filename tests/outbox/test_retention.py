"""Outbox retention: delivered commands older than `delivery.keep_delivered` are deleted,
in audited chunks, by the hub and by `intermodal outbox prune`; nothing else is touched."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import Settings
from intermodal.engine.ids import iso
from intermodal.hub import Hub
from intermodal.outbox.retention import prune_delivered
from intermodal.security.audit import verify
from intermodal.store import Store, open_store
from intermodal.store.tables import audit, outbox

NOW = datetime.now(UTC)  # the hub and the CLI measure age from their own clock
runner = CliRunner()


def _row(
    command_id: str,
    created_days: float,
    delivered_days: float | None,
    kind: str = "webhook",
) -> dict[str, Any]:
    created = iso(NOW - timedelta(days=created_days))
    delivered = None if delivered_days is None else iso(NOW - timedelta(days=delivered_days))
    return {
        "command_id": command_id,
        "endpoint": "portal",
        "kind": kind,
        "subject": "SHP-1",
        "payload": b"{}",
        "correlation_id": "corr",
        "status": "pending" if delivered_days is None else "delivered",
        "attempts": 0 if delivered_days is None else 1,
        "next_attempt_at": created,
        "created_at": created,
        "delivered_at": delivered,
    }


def seed(store: Store) -> tuple[set[str], set[str]]:
    """Outbox rows in insertion order; returns (ids that must go, ids that must stay)."""
    old_delivered = [_row(f"cmd_old_{i:02d}", 40, 39.5) for i in range(12)]
    stay = [
        _row("cmd_pending_old", 40, None),  # never delivered: still owed to its receiver
        _row("cmd_delivered_lately", 40, 1),  # created long ago, delivered yesterday
        _row("cmd_recent", 2, 1.9),
        _row("cmd_pending_new", 0.1, None),
        # A customer invoice is the record reconciliation reads: kept whatever its age.
        _row("cmd_invoice_old", 40, 39, kind="intermodal.odoo.invoice.create"),
    ]
    # A dead letter replayed long ago keeps its original created_at and gets a new seq.
    replayed = _row("cmd_replayed_old", 50, 35)
    rows = [*old_delivered[:6], stay[0], *old_delivered[6:], stay[1], replayed, *stay[2:]]
    with store.write() as conn:
        conn.execute(outbox.insert(), rows)
    gone = {r["command_id"] for r in [*old_delivered, replayed]}
    return gone, {r["command_id"] for r in stay}


def outbox_ids(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(select(outbox.c.command_id)).scalars())


def test_prune_deletes_only_commands_delivered_before_the_cutoff(db_url: str) -> None:
    store = open_store(db_url)
    try:
        gone, stay = seed(store)
        assert prune_delivered(store, timedelta(days=30), "test", now=NOW, chunk=5) == len(gone)
        assert outbox_ids(store) == stay
        with store.read() as conn:
            entries = conn.execute(
                select(audit.c.actor, audit.c.detail).where(audit.c.action == "outbox.pruned")
            ).all()
        # One audit entry per chunk that deleted something; together they count every row.
        assert len(entries) >= 2 and {e.actor for e in entries} == {"test"}
        assert sum(json.loads(e.detail)["count"] for e in entries) == len(gone)
        assert verify(store).ok
        # Nothing left to prune: a second run deletes nothing and audits nothing.
        assert prune_delivered(store, timedelta(days=30), "test", now=NOW, chunk=5) == 0
        with store.read() as conn:
            assert len(conn.execute(select(audit.c.seq)).all()) == len(entries)
        assert outbox_ids(store) == stay
        # A shorter retention takes the rest of what was delivered, never what is pending.
        prune_delivered(store, timedelta(hours=1), "test", now=NOW)
        assert outbox_ids(store) == {"cmd_pending_old", "cmd_pending_new", "cmd_invoice_old"}
    finally:
        store.dispose()


def test_the_hub_prunes_with_its_configured_retention(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    kept = make_settings({"hub": {"database": db_url}, "delivery": {"keep_delivered": "30d"}})
    hub = Hub.create(kept)
    try:
        gone, stay = seed(hub.store)
        assert asyncio.run(hub.prune_outbox()) == len(gone)
        pruned = hub.metrics.registry.get_sample_value("intermodal_outbox_pruned_total")
        assert pruned == len(gone)
        assert outbox_ids(hub.store) == stay
    finally:
        hub.store.dispose()

    off = make_settings({"hub": {"database": db_url}, "delivery": {"keep_delivered": None}})
    hub = Hub.create(off)
    try:
        before = outbox_ids(hub.store)
        assert asyncio.run(hub.prune_outbox()) == 0
        assert outbox_ids(hub.store) == before
    finally:
        hub.store.dispose()


def test_cli_prunes_and_names_a_bad_age(db_url: str) -> None:
    store = open_store(db_url)
    try:
        _gone, stay = seed(store)
    finally:
        store.dispose()
    bad = runner.invoke(app, ["outbox", "prune", "--db", db_url, "--older-than", "a week"])
    assert bad.exit_code == 2 and "--older-than 'a week'" in bad.output
    done = runner.invoke(app, ["outbox", "prune", "--db", db_url, "--older-than", "30d"])
    assert done.exit_code == 0, done.output
    assert "deleted" in done.output and "30 days" in done.output
    store = open_store(db_url)
    try:
        assert outbox_ids(store) == stay
        assert verify(store).ok
    finally:
        store.dispose()


def test_cli_without_retention_asks_for_an_age(sqlite_url: str, tmp_path: Any) -> None:
    config = tmp_path / "off.yaml"
    config.write_text("delivery:\n  keep_delivered: null\n", encoding="utf-8")
    off = runner.invoke(app, ["outbox", "prune", "--config", str(config), "--db", sqlite_url])
    assert off.exit_code == 2 and "retention is off" in off.output


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(age=st.text(max_size=12))
def test_cli_any_age_is_a_clean_answer(sqlite_url: str, age: str) -> None:
    # Whatever is typed after --older-than: done (0) or refused with a message (2).
    result = runner.invoke(app, ["outbox", "prune", "--db", sqlite_url, "--older-than", age])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
