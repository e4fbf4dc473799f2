"""What the tower's map and charts show, read from the store: plain data, like views.py.

The map: every active shipment (not delivered, cancelled or returned) on its lane, from its
first pickup to its last delivery as placed by `foresight.geo.locate`, with its latest
telematics position when it has one; a shipment with an open delay case (an SLA breach or
a predicted delay) is marked late. Shipments nobody can place are counted, not drawn.

The charts: traffic in (messages received) and out (commands delivered), the outbox
backlog, dead letters and open cases, and the error of arrival-time predictions (the
first ETA each delivered shipment got on the road, against its real arrival) over a
window, in buckets cut by the timestamps' text prefix (`YYYY-MM-DDTHH:MM`: a minute; one
character less: ten minutes; `...THH`: an hour), which both SQLite and PostgreSQL group
on without date functions. Backlogs and open cases are levels, not counts: they are
rebuilt backwards from the level now and the flows in each bucket, so no history table
is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from intermodal.dashboard import basemap
from intermodal.engine.ids import iso, utcnow
from intermodal.foresight import positions
from intermodal.foresight.geo import Position, locate
from intermodal.store import Store
from intermodal.store.tables import cases, dead_letters, eta_outcomes, inbox, outbox, shipments

INACTIVE = ("delivered", "cancelled", "returned")
DELAY_KINDS = ("sla_breach", "predicted_delay")
MAP_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class ChartWindow:
    name: str
    span: timedelta
    prefix: int  # characters of the ISO timestamp that make one bucket
    step: timedelta


WINDOWS = {
    "1h": ChartWindow("1h", timedelta(hours=1), 16, timedelta(minutes=1)),
    "6h": ChartWindow("6h", timedelta(hours=6), 15, timedelta(minutes=10)),
    "24h": ChartWindow("24h", timedelta(hours=24), 13, timedelta(hours=1)),
    "7d": ChartWindow("7d", timedelta(days=7), 13, timedelta(hours=1)),
}


def _positions(conn: Connection, keys: list[str]) -> dict[str, Position]:
    """The latest telematics fix of each shipment that has one."""
    return {p.shipment_key: p for p in positions.latest_many(conn, keys)}


def map_view(store: Store) -> dict[str, Any]:
    """Active shipments on their lanes, in map pixels, with the base map for their window."""
    with store.read() as conn:
        rows = conn.execute(
            select(shipments.c.key, shipments.c.state, shipments.c.document)
            .where(shipments.c.state.is_(None) | shipments.c.state.not_in(INACTIVE))
            .order_by(shipments.c.updated_at.desc())
            .limit(MAP_LIMIT)
        ).all()
        keys = [r.key for r in rows]
        late = set(
            conn.execute(
                select(cases.c.subject)
                .where(cases.c.status == "open", cases.c.kind.in_(DELAY_KINDS))
                .distinct()
            ).scalars()
        )
        fixes = _positions(conn, keys)
    placed: list[dict[str, Any]] = []
    unplaced = 0
    for row in rows:
        lane = _lane(row.document)
        fix = fixes.get(row.key)
        if lane is None and fix is None:
            unplaced += 1
            continue
        placed.append(
            {
                "key": row.key,
                "state": row.state or "new",
                "late": row.key in late,
                "lane": lane,
                "position": (fix.longitude, fix.latitude) if fix is not None else None,
                "fix_at": iso(fix.recorded_at) if fix is not None else None,
                "speed_kmh": fix.speed_kmh if fix is not None else None,
            }
        )
    points: list[tuple[float, float]] = []
    for s in placed:
        if s["lane"] is not None:
            points.extend(s["lane"])
        if s["position"] is not None:
            points.append(s["position"])
    window = basemap.Window.around(points)
    for s in placed:
        s["lane_xy"] = [window.xy(*p) for p in s["lane"]] if s["lane"] is not None else None
        s["xy"] = window.xy(*s["position"]) if s["position"] is not None else None
    return {
        "now": iso(utcnow()),
        "width": basemap.WIDTH,
        "height": round(window.height, 1),
        "land": basemap.land_path(window),
        "shipments": placed,
        "late": sum(1 for s in placed if s["late"]),
        "tracked": sum(1 for s in placed if s["position"] is not None),
        "unplaced": unplaced,
        "capped": len(rows) >= MAP_LIMIT,
    }


def _lane(document: str | bytes | None) -> list[tuple[float, float]] | None:
    """(lon, lat) of the first pickup and the last delivery, when both can be placed."""
    try:
        doc = orjson.loads(document or b"{}")
    except orjson.JSONDecodeError:
        return None
    data = ((doc.get("shipment") or {}).get("data") or {}) if isinstance(doc, dict) else {}
    stops = data.get("stops") if isinstance(data, dict) else None
    if not isinstance(stops, list):
        return None
    ordered = sorted(
        (s for s in stops if isinstance(s, dict) and isinstance(s.get("address"), dict)),
        key=lambda s: s.get("sequence") or 0,
    )
    pickups = [s for s in ordered if s.get("kind") == "pickup"]
    deliveries = [s for s in ordered if s.get("kind") == "delivery"]
    if not pickups or not deliveries:
        return None
    ends = []
    for stop in (pickups[0], deliveries[-1]):
        address = stop["address"]
        found = locate(address.get("country"), address.get("city"))
        if found is None:
            return None
        ends.append((found[0].longitude, found[0].latitude))
    return ends


def _bucketed(conn: Connection, column: Any, since: str, prefix: int) -> dict[str, int]:
    bucket = func.substr(column, 1, prefix)
    rows = conn.execute(select(bucket, func.count()).where(column >= since).group_by(bucket)).all()
    return {str(b): int(n) for b, n in rows if b is not None}


def chart_series(store: Store, window_name: str = "1h") -> dict[str, Any]:
    """Every chart's series over the window, aligned on one list of bucket starts."""
    window = WINDOWS.get(window_name, WINDOWS["1h"])
    now = utcnow()
    start = _floor(now - window.span, window)
    buckets: list[datetime] = []
    at = start
    while at <= now:
        buckets.append(at)
        at += window.step
    labels = [iso(b)[: window.prefix] for b in buckets]
    since = iso(start)
    with store.read() as conn:
        received = _bucketed(conn, inbox.c.received_at, since, window.prefix)
        delivered = _bucketed(conn, outbox.c.delivered_at, since, window.prefix)
        created = _bucketed(conn, outbox.c.created_at, since, window.prefix)
        dead = _bucketed(conn, dead_letters.c.dead_at, since, window.prefix)
        opened = _bucketed(conn, cases.c.opened_at, since, window.prefix)
        closed = _bucketed(conn, cases.c.closed_at, since, window.prefix)
        pending_now = int(
            conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
            ).scalar_one()
        )
        open_now = int(
            conn.execute(
                select(func.count()).select_from(cases).where(cases.c.status == "open")
            ).scalar_one()
        )
        states = conn.execute(
            select(shipments.c.state, func.count()).group_by(shipments.c.state)
        ).all()
        accuracy = _eta_accuracy(conn, since, window.prefix)
    return {
        "now": iso(now),
        "window": window.name,
        "step_seconds": int(window.step.total_seconds()),
        "t": [int(b.timestamp()) for b in buckets],
        "labels": labels,
        "received": [received.get(label, 0) for label in labels],
        "delivered": [delivered.get(label, 0) for label in labels],
        "backlog": _levels(labels, pending_now, inflow=created, outflow=delivered),
        "dead_letters": [dead.get(label, 0) for label in labels],
        "cases_opened": [opened.get(label, 0) for label in labels],
        "open_cases": _levels(labels, open_now, inflow=opened, outflow=closed),
        "eta_error": [accuracy.get(label, (None, None))[0] for label in labels],
        "eta_baseline_error": [accuracy.get(label, (None, None))[1] for label in labels],
        "states": sorted(
            ((state or "new", int(n)) for state, n in states), key=lambda pair: -pair[1]
        ),
    }


def _eta_accuracy(
    conn: Connection, since: str, prefix: int
) -> dict[str, tuple[float | None, float | None]]:
    """Mean absolute error (minutes) of the first on-road ETAs of the shipments delivered
    in each bucket, as issued and as the baseline had it (None: nobody delivered)."""
    o = eta_outcomes.c
    bucket = func.substr(o.delivered_at, 1, prefix)
    rows = conn.execute(
        select(bucket, func.avg(o.error_min), func.avg(o.baseline_error_min))
        .where(o.delivered_at >= since)
        .group_by(bucket)
    ).all()
    return {
        str(b): (
            round(float(e), 1) if e is not None else None,
            round(float(x), 1) if x is not None else None,
        )
        for b, e, x in rows
        if b is not None
    }


def _floor(at: datetime, window: ChartWindow) -> datetime:
    step = int(window.step.total_seconds())
    seconds = int(at.timestamp()) // step * step
    return datetime.fromtimestamp(seconds, tz=at.tzinfo)


def _levels(
    labels: list[str], level_now: int, inflow: dict[str, int], outflow: dict[str, int]
) -> list[int]:
    """A level at the end of each bucket, walked back from now: before a bucket, the level
    was what it is after it, less what came in during it, plus what went out."""
    levels = [0] * len(labels)
    level = level_now
    for i in range(len(labels) - 1, -1, -1):
        levels[i] = max(0, level)
        level = level - inflow.get(labels[i], 0) + outflow.get(labels[i], 0)
    return levels
