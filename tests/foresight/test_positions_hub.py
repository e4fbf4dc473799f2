"""Positions through a running hub, on SQLite and PostgreSQL, over loopback HTTP.

A telematics provider posts its own JSON (examples/partners/telematics/mapping.yaml) as
signed webhooks, one fix or a buffered batch each, and canonical position events on
`/v1/events`; a dispatch partner assigns trucks to shipments and creates them with their
customers. What is checked is what a reader of the API and an operator would see: the
latest position and the track per shipment, refusals with their reasons, the counts in
the metrics, that no fix becomes an event or an outbox command, that bad input is
answered with a clear error and loses nothing, and who may read which positions.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from intermodal.config import load_config
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret, new_webhook_secret, webhook_key
from intermodal.store import open_store
from intermodal.store.tables import events, inbox, outbox, positions_track, shipments
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import backend_database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
ADMIN_TOKEN = "positions-admin-token-5b0e7f-0123456789"
TOKENS = {
    "telematics": "telematics-token-positions-8c1d02-0123",
    "dispatch": "dispatch-token-positions-3f9a6e-012345",
    "portal": "portal-token-positions-a4e7c1-01234567",
    "other": "other-carrier-token-positions-6d2b90-01",
}
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
_run = itertools.count()


@dataclass
class Hub:
    url: str
    client: httpx.Client
    key: bytes
    database: str

    def webhook(self, payload: Any, message_id: str | None = None) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        message_id = message_id or f"msg-{next(_run)}-{time.monotonic_ns()}"
        stamp = int(time.time())
        return self.client.post(
            "/v1/webhooks/telematics",
            content=body,
            headers={
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(self.key, message_id, stamp, body),
            },
        )

    def events(self, who: str, items: Any) -> httpx.Response:
        body = items if isinstance(items, bytes) else orjson.dumps(items)
        return self.client.post("/v1/events", content=body, headers=bearer(who, "application/json"))

    def get(self, path: str, who: str = "admin", **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=bearer(who))

    def applied(self) -> None:
        """Wait until the applier has taken every message the hub holds."""
        store = open_store(self.database, migrate=False)
        try:

            def nothing_pending() -> bool:
                with store.read() as conn:
                    pending = select(func.count()).where(inbox.c.status == "pending")
                    return conn.execute(pending.select_from(inbox)).scalar() == 0

            wait_until(nothing_pending, timeout=30)
        finally:
            store.dispose()

    def count(self, query: Any) -> int:
        store = open_store(self.database, migrate=False)
        try:
            with store.read() as conn:
                return int(conn.execute(query).scalar() or 0)
        finally:
            store.dispose()


def bearer(who: str, content_type: str | None = None) -> dict[str, str]:
    token = ADMIN_TOKEN if who == "admin" else TOKENS[who]
    headers = {"authorization": f"Bearer {token}"}
    if content_type:
        headers["content-type"] = content_type
    return headers


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with contextlib.ExitStack() as stack:
        folder = tmp_path_factory.mktemp("positions")
        database = stack.enter_context(backend_database(request.param, folder))
        secret = new_webhook_secret()
        (folder / "telematics.secret").write_text(secret)
        (folder / "admin.token").write_text(ADMIN_TOKEN)
        partners: dict[str, Any] = {}
        for name, token in TOKENS.items():
            (folder / f"{name}.token").write_text(token)
            partners[name] = {"tokens": [{"token": f"file:{name}.token"}]}
        partners["telematics"].update(
            kind="telematics",
            webhook_secrets=["file:telematics.secret"],
            mapping=str(EXAMPLES / "telematics" / "mapping.yaml"),
        )
        partners["dispatch"]["kind"] = "tms"
        partners["portal"]["tokens"][0]["customers"] = ["CUST-A"]
        partners["other"]["positions"] = {"max_speed_kmh": 120, "max_accuracy_m": 50}
        config = {
            "hub": {"database": database, "admin_token": "file:admin.token"},
            "partners": partners,
        }
        (folder / "hub.yaml").write_text(yaml.safe_dump(config))
        url = stack.enter_context(running_hub(load_config(folder / "hub.yaml"), dispatch=False))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        yield Hub(url, client, webhook_key(Secret(secret)), database)


# -- what the partners send -------------------------------------------------------------


def z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def fix(device: str, at: datetime, lat: float, lng: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{device}-{int(at.timestamp())}",
        "device": device,
        "ts": z(at),
        "lat": lat,
        "lng": lng,
        "speed_kph": 60.0,
        "bearing": 90.0,
        "accuracy_m": 5.0,
        **extra,
    }


def canonical_fix(
    key: str, at: datetime, lat: float, lng: float, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or f"pos-{key}-{int(at.timestamp())}",
        "source": "telematics",
        "type": "intermodal.position.reported",
        "subject": key,
        "time": z(at),
        "data": {"latitude": lat, "longitude": lng, "recorded_at": z(at), "accuracy_m": 5.0},
    }


def upsert(key: str, customer: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"ship-{key}",
        "source": "dispatch",
        "type": "intermodal.shipment.upserted",
        "subject": key,
        "time": z(START),
        "data": {
            "key": key,
            "parties": [{"role": "customer", "name": customer, "reference": customer}],
        },
    }


def assign(key: str, vehicle: str, at: datetime) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"assign-{key}-{vehicle}",
        "source": "dispatch",
        "type": "intermodal.vehicle.assigned",
        "subject": key,
        "time": z(at),
        "data": {"vehicle_id": vehicle, "assigned_at": z(at)},
    }


def t(text: str) -> datetime:
    """A time as the hub answers it (its stored form: microseconds, Z) or as sent."""
    return datetime.fromisoformat(text)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_run)}-{time.monotonic_ns() % 10**8}"


def drive(device: str, start: datetime, count: int, step_s: int = 30) -> list[dict[str, Any]]:
    """A truck heading east from Antwerp at ~86 km/h (0.0119 degrees of longitude in 30 s)."""
    return [
        fix(device, start + timedelta(seconds=step_s * i), 51.2194, 4.4025 + 0.0119 * i)
        for i in range(count)
    ]


# -- the stories ---------------------------------------------------------------------------


def test_a_trucks_fixes_become_its_shipments_latest_position_and_track(hub: Hub) -> None:
    key, truck = unique("SHP-TRK"), unique("TRK")
    assert (
        hub.events("dispatch", [upsert(key, "CUST-A"), assign(key, truck, START)]).status_code
        == 202
    )
    fixes = drive(truck, START + timedelta(minutes=1), 40)  # 20 minutes, ~28 km
    late = fixes[5:15]
    sent = fixes[:5] + fixes[15:]
    hub.applied()
    outboxed = hub.count(select(func.count()).select_from(outbox))
    timeline = hub.count(select(func.count()).select_from(events))
    assert hub.webhook({"type": "positions", "batch": "b1", "positions": sent}).status_code == 202
    assert hub.webhook({"type": "position", **sent[-1]}).status_code == 202  # again, alone
    hub.applied()
    assert hub.webhook({"type": "positions", "batch": "b2", "positions": late}).status_code == 202
    hub.applied()

    answer = hub.get(f"/v1/shipments/{key}/positions")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    newest = fixes[-1]
    assert t(body["latest"]["recorded_at"]) == t(newest["ts"])
    assert body["latest"]["vehicle_id"] == truck
    assert body["reported_by"] == "telematics"
    times = [t(p["recorded_at"]) for p in body["track"]]
    assert times == sorted(times) and times[0] == t(fixes[0]["ts"])
    assert 10 <= len(times) <= 20  # a point per 2 km of ~28 km, late fixes filling in
    assert body["track_points"] == len(times)
    assert body["counts"]["fixes"] == 41
    assert body["counts"]["duplicate"] == 1
    assert (
        body["counts"]["latest"]
        + body["counts"].get("tracked", 0)
        + body["counts"].get("thinned", 0)
        == 40
    )
    # Fixes are neither events nor commands: the timeline and the outbox did not grow.
    assert hub.count(select(func.count()).select_from(outbox)) == outboxed
    assert hub.count(select(func.count()).select_from(events)) == timeline
    assert hub.get(f"/v1/shipments/{key}/timeline").json() != []  # the upsert alone
    since = hub.get(f"/v1/shipments/{key}/positions", since=fixes[30]["ts"], limit=2).json()
    assert all(t(p["recorded_at"]) >= t(fixes[30]["ts"]) for p in since["track"])
    assert len(since["track"]) <= 2


def test_canonical_positions_in_any_order_with_repeats_end_at_the_newest(hub: Hub) -> None:
    key = unique("SHP-CE")
    fixes = [
        canonical_fix(key, START + timedelta(minutes=i), 50.85, 4.35 + 0.01 * i) for i in range(12)
    ]
    shuffled = fixes[6:] + fixes[:6] + fixes[3:5]
    answer = hub.events("telematics", shuffled)
    assert answer.status_code == 202
    assert answer.json()["duplicate"] == 2  # the same event ids: the inbox keeps one
    # The latest fix's instant again, elsewhere and under another id: a duplicate fix.
    repeat = [canonical_fix(key, START + timedelta(minutes=11), 50.9, 4.5, event_id=f"{key}-x")]
    assert hub.events("telematics", repeat).json()["accepted"] == 1
    hub.applied()
    body = hub.get(f"/v1/shipments/{key}/positions").json()
    assert t(body["latest"]["recorded_at"]) == t(fixes[-1]["time"])
    assert body["counts"]["fixes"] == 13 and body["counts"]["duplicate"] == 1
    assert hub.get(f"/v1/shipments/{key}").status_code == 404  # no shipment made of fixes


def test_a_jump_is_refused_with_its_reason_and_counted(hub: Hub) -> None:
    key = unique("SHP-JUMP")
    good = [canonical_fix(key, START + timedelta(minutes=i), 48.85, 2.35) for i in range(3)]
    jump = canonical_fix(key, START + timedelta(minutes=3), 45.76, 4.84)  # Lyon, a minute later
    blurry = canonical_fix(key, START + timedelta(minutes=4), 48.85, 2.35, event_id=f"{key}-b")
    blurry["data"]["accuracy_m"] = 900.0
    before = metric(
        hub, 'intermodal_positions_refused_total{partner="telematics",reason="implied_speed"}'
    )
    assert hub.events("telematics", [*good, jump, blurry]).status_code == 202
    hub.applied()
    body = hub.get(f"/v1/shipments/{key}/positions").json()
    assert t(body["latest"]["recorded_at"]) == t(good[-1]["time"])
    assert body["counts"]["refused_by_reason"] == {"implied_speed": 1, "accuracy": 1}
    assert body["last_rejection"]["reason"] == "accuracy"
    assert all(p["latitude"] == 48.85 for p in body["track"])
    after = metric(
        hub, 'intermodal_positions_refused_total{partner="telematics",reason="implied_speed"}'
    )
    assert after == before + 1


def test_a_fix_for_a_truck_nobody_assigned_is_refused_as_unassigned(hub: Hub) -> None:
    truck = unique("TRK-LOST")
    before = metric(
        hub, 'intermodal_positions_refused_total{partner="telematics",reason="unassigned"}'
    )
    assert hub.webhook({"type": "position", **drive(truck, START, 1)[0]}).status_code == 202
    hub.applied()
    # The applier process reports its counts to the worker after it commits: a moment
    # after the inbox shows the message applied.
    wait_until(
        lambda: (
            metric(
                hub, 'intermodal_positions_refused_total{partner="telematics",reason="unassigned"}'
            )
            >= before + 1
        ),
        timeout=10,
    )
    after = metric(
        hub, 'intermodal_positions_refused_total{partner="telematics",reason="unassigned"}'
    )
    assert after == before + 1


def test_a_trip_assigns_its_truck_and_ends_with_it(hub: Hub) -> None:
    first, second, truck = unique("SHP-A"), unique("SHP-B"), unique("TRK")
    trip = {"type": "trip", "trip": unique("TRIP"), "device": truck, "shipment": first,
            "started_at": z(START), "ended_at": z(START + timedelta(minutes=10))}  # fmt: skip
    assert hub.webhook(trip).status_code == 202
    assert (
        hub.events("dispatch", [assign(second, truck, START + timedelta(minutes=20))]).status_code
        == 202
    )
    fixes = drive(truck, START + timedelta(minutes=1), 60)  # minute 1 to 30.5
    assert hub.webhook({"type": "positions", "batch": "t", "positions": fixes}).status_code == 202
    hub.applied()
    one = hub.get(f"/v1/shipments/{first}/positions").json()
    two = hub.get(f"/v1/shipments/{second}/positions").json()
    assert t(one["latest"]["recorded_at"]) < START + timedelta(minutes=10)
    assert t(two["track"][0]["recorded_at"]) >= START + timedelta(minutes=20)
    assert one["counts"]["fixes"] + two["counts"]["fixes"] == 18 + 22  # 20 between trips


# -- bad input -------------------------------------------------------------------------------


def test_malformed_and_hostile_positions_get_clear_errors_and_lose_nothing(hub: Hub) -> None:
    key = unique("SHP-BAD")
    good = canonical_fix(key, START, 51.0, 4.0)
    bad_latitude = canonical_fix(key, START + timedelta(minutes=1), 91.0, 4.0)
    text_number = canonical_fix(key, START + timedelta(minutes=2), 51.0, 4.0)
    text_number["data"]["latitude"] = "51.0"
    vehicle_without_id = canonical_fix(f"vehicle:{unique('TRK')}", START, 51.0, 4.0)
    answer = hub.events("telematics", [good, bad_latitude, text_number, vehicle_without_id])
    assert answer.status_code == 202
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "rejected"]
    assert results[1]["errors"][0]["loc"] == "1.data.latitude"
    assert results[2]["errors"][0]["loc"] == "2.data.latitude"
    assert "vehicle_id" in results[3]["errors"][0]["msg"]
    # A provider's batch with one unreadable fix: the others are applied, the bad one is
    # recorded on the receipt with its path.
    truck = unique("TRK")
    hub.events("dispatch", [assign(key, truck, START)])
    fixes = drive(truck, START + timedelta(minutes=5), 3)
    fixes[1]["lat"] = "north"
    sent = hub.webhook({"type": "positions", "batch": "bad", "positions": fixes})
    assert sent.status_code == 202
    receipt = sent.json()["receipt_id"]
    assert hub.webhook(b"{not json").status_code == 400
    assert hub.webhook({"type": "position"}).status_code == 202  # JSON: mapped later
    hub.applied()
    found = hub.get(f"/v1/receipts/{receipt}").json()
    assert found["status"] == "applied"
    assert found["skipped"][0]["path"] == "$.positions[1].lat"
    body = hub.get(f"/v1/shipments/{key}/positions").json()
    assert body["counts"]["fixes"] == 3  # the good canonical one and two of the batch


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.dictionaries(
        st.sampled_from(
            [
                "latitude",
                "longitude",
                "recorded_at",
                "speed_kmh",
                "heading",
                "accuracy_m",
                "vehicle_id",
                "extra",
            ]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**70), 2**70),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=20),
            st.just("2026-03-02T08:00:00Z"),
            st.lists(st.integers(), max_size=2),
        ),
    )
)
def test_any_position_data_is_taken_or_refused_never_a_server_error(
    hub: Hub, data: dict[str, Any]
) -> None:
    event = canonical_fix(unique("SHP-ANY"), START, 51.0, 4.0)
    event["data"] = data
    answer = hub.events("telematics", json.dumps([event]).encode())  # any integer, as JSON
    assert answer.status_code in (202, 400, 422), answer.text
    if answer.status_code == 400:  # beyond what the hub's JSON reader takes: said so
        assert "not valid JSON" in answer.json()["error"]["message"]
        return
    result = answer.json()["results"][0]
    if answer.status_code == 422:
        assert result["status"] == "rejected" and result["errors"][0]["loc"].startswith("0")


provider_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-(2**63), 2**63 - 1),
        st.text(max_size=12),
        st.sampled_from(["position", "positions", "trip", "2026-03-02T08:00:00Z", "TRK-1"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "positions",
                    "id",
                    "device",
                    "shipment",
                    "ts",
                    "lat",
                    "lng",
                    "accuracy_m",
                    "trip",
                    "started_at",
                    "x",
                ]
            ),
            inner,
            max_size=6,
        ),
    ),
    max_leaves=12,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=provider_values)
def test_any_provider_message_is_kept_and_then_applied_or_rejected_with_its_reason(
    hub: Hub, body: Any
) -> None:
    """Whatever JSON the provider posts is taken (its mapping reads it later; only text
    with U+0000 is refused at once) and ends applied (perhaps without items it could not
    read) or rejected with a reason the receipt shows: never a server error, never a
    message left pending."""
    answer = hub.webhook(body)
    if answer.status_code == 422:  # what the store cannot keep is refused at the door
        assert "U+0000" in answer.json()["error"]["message"]
        return
    assert answer.status_code == 202, answer.text
    receipt = answer.json()["receipt_id"]
    hub.applied()
    found = hub.get(f"/v1/receipts/{receipt}").json()
    assert found["status"] in ("applied", "rejected")
    if found["status"] == "rejected":
        assert found["error"]


# -- who reads what ------------------------------------------------------------------------


def test_readers_see_only_the_positions_they_may(hub: Hub) -> None:
    mine, theirs = unique("SHP-MINE"), unique("SHP-THEIRS")
    hub.events("dispatch", [upsert(mine, "CUST-A"), upsert(theirs, "CUST-B")])
    hub.events("telematics", [canonical_fix(k, START, 52.0, 5.0) for k in (mine, theirs)])
    hub.applied()
    path = "/v1/shipments/{}/positions"
    assert hub.get(path.format(mine), "portal").status_code == 200
    assert hub.get(path.format(theirs), "portal").status_code == 404
    assert hub.get(path.format(mine), "other").status_code == 404
    assert hub.get(path.format(mine), "telematics").status_code == 200  # it reported them
    assert hub.get(path.format(mine), "dispatch").status_code == 200  # it reported events
    assert hub.client.get(path.format(mine)).status_code == 401
    assert hub.get(path.format("NO-SUCH")).status_code == 404
    listed = {p["key"] for p in walk(hub, "portal")}
    assert mine in listed and theirs not in listed
    assert not walk(hub, "other")
    everything = {p["key"] for p in walk(hub, "admin")}
    assert {mine, theirs} <= everything
    assert hub.get("/v1/positions", since="yesterday").status_code == 422
    assert hub.get("/v1/positions", limit=0).status_code == 422


def test_delivered_shipments_leave_the_map(hub: Hub) -> None:
    key = unique("SHP-DONE")
    hub.events("telematics", [canonical_fix(key, START, 52.0, 5.0)])
    hub.applied()
    assert key in {p["key"] for p in walk(hub, "admin")}
    delivered = {
        "specversion": "1.0", "id": f"dl-{key}", "source": "dispatch",
        "type": "intermodal.shipment.milestone", "subject": key, "time": z(START),
        "data": {"milestone": "delivered", "occurred_at": z(START + timedelta(hours=1))},
    }  # fmt: skip
    hub.events("dispatch", [delivered])
    hub.applied()
    assert key not in {p["key"] for p in walk(hub, "admin")}
    assert hub.get(f"/v1/shipments/{key}/positions").status_code == 200  # still readable
    assert hub.count(select(func.count()).select_from(shipments).where(shipments.c.key == key))
    assert hub.count(
        select(func.count())
        .select_from(positions_track)
        .where(positions_track.c.shipment_key == key)
    )


def walk(hub: Hub, who: str) -> list[dict[str, Any]]:
    """Every page of GET /v1/positions, two at a time."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": 2}
        if after is not None:
            params["after"] = after
        page = hub.get("/v1/positions", who, **params)
        assert page.status_code == 200, page.text
        body = page.json()
        found.extend(body["positions"])
        after = body["next"]
        if after is None:
            return found
    raise AssertionError("the pages did not end")


def metric(hub: Hub, line: str) -> float:
    text = hub.get("/metrics").text
    for row in text.splitlines():
        if row.startswith(line):
            return float(row.rsplit(" ", 1)[1])
    return 0.0
