"""Meaning keys start with the event's time, and databases written with the hashed keys
are rewritten so a re-sent event still meets its first copy (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

import intermodal.store
from intermodal.canonical.events import CanonicalEvent, parse_event
from intermodal.config import Settings
from intermodal.engine.applier import Applier, meaning_key
from intermodal.engine.ids import epoch_millis, iso, stable_id
from intermodal.engine.inbox import store_messages
from intermodal.store import Store, open_store
from intermodal.store.tables import events
from tests.engine.test_engine import message, milestone, settings_for
from tests.security.test_audit import migrate_to

TYPE = "intermodal.shipment.milestone"
MIGRATIONS = Path(intermodal.store.__file__).parent / "migrations"


def _event(
    at: str, subject: str = "S1", name: str = "picked_up", event_id: str = "e1"
) -> CanonicalEvent:
    return parse_event(milestone(event_id, subject, name, at))


def _microseconds(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_epoch_millis_is_exact_in_any_zone(value: datetime, offset_minutes: int) -> None:
    elsewhere = value.astimezone(timezone(timedelta(minutes=offset_minutes)))
    expected = max(0, _microseconds(value) // 1000)
    assert epoch_millis(value) == epoch_millis(elsewhere) == expected


def test_a_meaning_key_sorts_by_event_time_and_keeps_the_old_hash() -> None:
    times = ["2026-11-23T09:59:59.999Z", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00.001Z"]
    keys = [meaning_key("acme", _event(at)) for at in times]
    assert keys == sorted(keys) and len(set(keys)) == 3
    assert all(len(k) == 47 and k.startswith("mk_") for k in keys)
    ev = _event("2026-11-23T12:00:00+02:00")
    expected_hash = stable_id("mk", "acme", TYPE, "S1", "2026-11-23T10:00:00.000000Z", "picked_up")
    key = meaning_key("acme", ev)
    assert key == f"mk_{1795428000000:012x}{expected_hash[3:]}"
    assert key == meaning_key("acme", _event("2026-11-23T10:00:00Z"))
    assert meaning_key("acme", _event("1969-07-20T20:17:40Z")).startswith("mk_" + "0" * 12)


def _keys(store: Store) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(select(events.c.meaning_key).order_by(events.c.seq)).scalars())


def test_the_migration_rewrites_hashed_keys_so_a_resent_event_is_still_a_duplicate(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    store = open_store(db_url)
    try:
        settings = settings_for(make_settings)
        store_messages(
            store,
            [
                message("acme", "m1", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z")),
                message("acme", "m2", milestone("e2", "S2", "picked_up", "1960-01-01T00:00:00Z")),
                message("acme", "m3", milestone("e1", "S1", "picked_up", "2026-11-23T10:00:00Z")),
            ],
        )
        assert Applier(store, settings).run_once().messages == 3
        current = _keys(store)
        assert len(current) == 3 and all(len(k) == 47 for k in current)

        migrate_to(store, "0018", down=True)
        hashed = _keys(store)
        assert hashed == [f"mk_{k[15:]}" for k in current]
        assert hashed[0] == stable_id(
            "mk", "acme", TYPE, "S1", iso(datetime(2026, 11, 23, 10, tzinfo=UTC)),
            "picked_up",
        )  # fmt: skip

        migrate_to(store, "head")
        assert _keys(store) == current
        store.migrate()  # a second run changes nothing
        assert _keys(store) == current

        again = milestone("e1-again", "S1", "picked_up", "2026-11-23T10:00:00Z")
        store_messages(store, [message("acme", "m4", again)])  # same meaning, new id
        assert Applier(store, settings).run_once().outcomes == {"duplicate": 1}
    finally:
        store.dispose()
