"""The stored track as the fold sees it: the SQL view (read once per batch around its late
fixes, then answered from memory) gives the same neighbours as the whole track would."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from intermodal.engine.ids import iso
from intermodal.foresight.geo import Position
from intermodal.foresight.positions import _SqlTrackView
from intermodal.store import Store, open_store
from intermodal.store.tables import positions_track
from tests.foresight.test_positions import MemoryTrack

BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
_keys = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder: Path = tmp_path_factory.mktemp("track")
    found = open_store(f"sqlite:///{folder / 'hub.db'}")
    yield found
    found.dispose()


minutes = st.integers(0, 300)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    points=st.sets(minutes, max_size=25),
    spans=st.lists(st.tuples(minutes, minutes), max_size=2),
    queries=st.lists(st.tuples(minutes, st.sets(minutes, max_size=4)), min_size=1, max_size=12),
)
def test_the_view_answers_as_the_whole_track_does(
    store: Store,
    points: set[int],
    spans: list[tuple[int, int]],
    queries: list[tuple[int, set[int]]],
) -> None:
    key = f"SHP-{next(_keys)}"
    at = [BASE + timedelta(minutes=m) for m in sorted(points)]
    track = [Position(key, 51.0, 4.0 + i / 100, t) for i, t in enumerate(at)]
    memory = MemoryTrack()
    memory.points = {p.recorded_at: p for p in track}
    with store.write() as conn:
        conn.execute(delete(positions_track).where(positions_track.c.shipment_key == key))
        if track:
            conn.execute(
                positions_track.insert(),
                [
                    {"shipment_key": key, "recorded_at": iso(p.recorded_at),
                     "latitude": p.latitude, "longitude": p.longitude}
                    for p in track
                ],
            )  # fmt: skip
    with store.read() as conn:
        view = _SqlTrackView(conn)
        if spans:
            lo, hi = min(min(s) for s in spans), max(max(s) for s in spans)
            view.preload({key: (BASE + timedelta(minutes=lo), BASE + timedelta(minutes=hi))})
        for minute, gone in queries:
            when = BASE + timedelta(minutes=minute, seconds=30 * (minute % 2))
            excluding = frozenset(BASE + timedelta(minutes=m) for m in gone)
            expected = memory.neighbours(key, when, excluding)
            found = view.neighbours(key, when, excluding)
            assert [p.recorded_at if p else None for p in found] == [
                p.recorded_at if p else None for p in expected
            ], (minute, sorted(gone))
