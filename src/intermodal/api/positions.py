"""Reads of positions: one shipment's latest position and track, and the latest position
of every shipment on the road (the tower's map), a page at a time.

Authenticated like the shipment reads beside them (api/shipments.py): a partner token
with `shipments:read`, the admin token or a tower session. A partner reads the positions
of the shipments it took part in (it reported events or the latest position, or its
endpoint is subscribed to them), a customer portal its customers' shipments; anything
else is a 404 (one shipment) or left out of the page (the list), as for a shipment that
does not exist.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from sqlalchemy import Connection, select

from intermodal.api.errors import ApiError
from intermodal.api.http import hub_of, reader
from intermodal.api.shipments import SHIPMENT_SCOPES, boundary
from intermodal.canonical.model import RFC3339
from intermodal.engine import reads
from intermodal.engine.ids import iso
from intermodal.foresight import positions
from intermodal.foresight.geo import Position
from intermodal.store.store import rows_in
from intermodal.store.tables import events, shipments

router = APIRouter(tags=["positions"])

_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no credentials, or a bearer token nobody was given"},
    403: {"description": "a partner token without the `shipments:read` scope"},
    404: {"description": "no positions for this shipment that these credentials may read"},
    422: {"description": "a query parameter that is not valid (`since`, `limit`)"},
}
_LIST_ERRORS: dict[int | str, dict[str, Any]] = {s: _READ_ERRORS[s] for s in (401, 403, 422)}
PAGE = 500
"""The default page of `GET /v1/positions`."""
SCAN_LIMIT = 20_000
"""The most rows one list request looks at to fill a page for a bounded reader: a page
may come back short, with `next` to go on from."""

Since = Annotated[
    str | None,
    Query(
        description="RFC 3339 time (e.g. 2026-03-02T08:00:00Z): only fixes recorded then or later",
        max_length=64,
    ),
]


def _since(value: str | None) -> datetime | None:
    """`since` as an aware time; a 422 naming the parameter otherwise."""
    if value is None:
        return None
    if re.fullmatch(RFC3339, value) is None:
        raise ApiError(
            422,
            "invalid_parameter",
            "since: an RFC 3339 time with seconds and a zone, e.g. 2026-03-02T08:00:00Z",
            [{"loc": "query.since", "msg": "not an RFC 3339 time with a zone"}],
        )
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:
        raise ApiError(
            422,
            "invalid_parameter",
            "since: not a real date and time",
            [{"loc": "query.since", "msg": "not a real date and time"}],
        ) from None


def position_json(position: Position) -> dict[str, Any]:
    return {
        "recorded_at": iso(position.recorded_at),
        "latitude": position.latitude,
        "longitude": position.longitude,
        "speed_kmh": position.speed_kmh,
        "heading": position.heading,
        "accuracy_m": position.accuracy_m,
        "vehicle_id": position.vehicle_id,
    }


def _track_json(position: Position) -> dict[str, Any]:
    shown = position_json(position)
    del shown["vehicle_id"]  # the track keeps where and when, not which device
    return shown


def visible_keys(conn: Connection, who: reads.Boundary | None, keys: list[str]) -> set[str]:
    """Which of these shipments' positions the reader may see (the module docstring)."""
    if who is None or not keys:
        return set(keys)
    documents = {
        row.key: orjson.loads(row.document)
        for row in rows_in(
            conn, select(shipments.c.key, shipments.c.document), shipments.c.key, keys
        )
    }
    if who.customers is not None:
        return {k for k in keys if k in documents and reads.visible(who, k, documents[k], False)}
    reported = {
        row.subject
        for row in rows_in(
            conn,
            select(events.c.subject).where(events.c.partner == who.partner).distinct(),
            events.c.subject,
            keys,
        )
    }
    reporters = positions.reporters(conn, keys)
    return {
        k
        for k in keys
        if k in reported
        or reporters.get(k) == who.partner
        or reads.subscribed(who.subscription, k, documents.get(k, {}))
    }


@router.get(
    "/v1/shipments/{key}/positions",
    summary="A shipment's latest position, its thinned track, and the fixes refused",
    responses=_READ_ERRORS,
)
async def get_shipment_positions(
    key: str,
    request: Request,
    since: Since = None,
    limit: Annotated[int, Query(ge=1, le=positions.TRACK_LIMIT)] = positions.TRACK_LIMIT,
) -> dict[str, Any]:
    who = reader(request, SHIPMENT_SCOPES)
    after = _since(since)
    bounds = boundary(request, who)
    with hub_of(request).store.read() as conn:
        found = positions.summary(conn, key) if reads.storable(key, reads.KEY_LENGTH) else None
        if found is None or key not in visible_keys(conn, bounds, [key]):
            raise ApiError(404, "not_found", f"no positions for shipment '{key}'")
        points = positions.track(conn, key, after, limit)
    return {
        "key": key,
        "latest": position_json(found.latest) if found.latest is not None else None,
        "reported_by": found.partner,
        "track": [_track_json(p) for p in points],
        "track_points": found.track_points,
        "counts": found.counts,
        "last_rejection": found.last_rejection,
        "updated_at": found.updated_at,
    }


@router.get(
    "/v1/positions",
    summary="The latest position of every shipment on the road, by shipment key, paginated",
    responses=_LIST_ERRORS,
)
async def list_positions(
    request: Request,
    after: Annotated[
        str | None, Query(description="the `next` of the page before", max_length=128)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=positions.ACTIVE_LIMIT)] = PAGE,
    since: Since = None,
) -> dict[str, Any]:
    """Shipments not delivered, cancelled or returned that have a position; `next` is
    the key to pass as `after` for the next page, null at the end."""
    who = reader(request, SHIPMENT_SCOPES)
    recorded_since = _since(since)
    bounds = boundary(request, who)
    found: list[Position] = []
    cursor, scanned, exhausted = after, 0, False
    with hub_of(request).store.read() as conn:
        while len(found) < limit and scanned < SCAN_LIMIT:
            page = positions.active_positions(conn, cursor, limit, recorded_since)
            allowed = visible_keys(conn, bounds, [p.shipment_key for p in page])
            stopped = False
            for position in page:
                cursor = position.shipment_key
                if position.shipment_key in allowed:
                    found.append(position)
                    if len(found) == limit:
                        stopped = True
                        break
            scanned += len(page)
            if not stopped and len(page) < limit:  # the last page, read to its end
                exhausted = True
                break
    return {
        "positions": [{"key": p.shipment_key, **position_json(p)} for p in found],
        "next": None if exhausted else cursor,
    }
