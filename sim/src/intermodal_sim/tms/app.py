"""TMS / dispatch simulator: takes load tenders, answers them, drives the loads, reports.

Tenders arrive as X12 204 (`POST /edi`, raw document) or as REST jobs (`POST /v1/jobs`:
a job object, or the CloudEvent(s) the hub's webhook endpoint sends, whose `data.key` or
`subject` is the shipment). A tender for a shipment the TMS already has is answered with
the existing load: tenders are idempotent by shipment key, as dispatch systems are.

For each new load the TMS, in the background:
1. answers accept or decline (scriptable per shipment), as a 990 or a JSON webhook;
2. on accept, assigns a driver and a truck (from a generator seeded by the script's seed
   and the shipment, so a run is repeatable whatever order the loads run in) and reports
   `dispatched`;
3. reports `picked_up`, `in_transit`, `delivered` after the scripted delays, with the
   scripted faults (a duplicate status, two statuses in the wrong order, a delay
   exception, a stall until told to resume);
4. when told to settle, sends the charges (freight and fuel, final): a JSON freight
   settlement webhook or an X12 210 freight invoice.

Statuses go to the hub as X12 214 (`POST /v1/edi/{partner}`) with `reply: x12`, or as
signed JSON webhooks (`POST /v1/webhooks/{partner}`) with `reply: json`; the mappings in
examples/partners/tms/ turn either into canonical milestones.

Control: `POST /_sim/control` (see `TmsControl`), inspection: `GET /_sim/loads`,
`GET /_sim/sent` (every report and the hub's answer), `GET /v1/jobs/{load_id}`.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal.edi.errors import EdiError, EdiSyntaxError
from intermodal_sim.partner import (
    BadRequest,
    HubLink,
    InboundAuth,
    PartnerSimulator,
    decode_json,
    error_response,
    inspection_routes,
    is_cloudevent,
    iso_z,
    read_body,
    shipment_key_of,
    validate,
)
from intermodal_sim.tms import edi

Step = Literal["dispatched", "picked_up", "in_transit", "delivered"]
STEPS: tuple[Step, ...] = ("dispatched", "picked_up", "in_transit", "delivered")
Fault = Literal["duplicates", "reorder", "exception", "stall"]

X12_CODES = {
    "dispatched": "XB",  # shipment acknowledged: driver and truck assigned
    "picked_up": "AF",  # carrier departed pick-up location with shipment
    "in_transit": "X6",  # en route to delivery location
    "delivered": "D1",  # completed unloading at delivery location
    "exception": "SD",  # shipment delayed
}
JSON_CODES = {
    "dispatched": "DISPATCHED",
    "picked_up": "PICKED_UP",
    "in_transit": "IN_TRANSIT",
    "delivered": "DELIVERED",
    "exception": "DELAYED",
}
DRIVERS = ("Ana Ruiz", "Ben Okafor", "Chen Wei", "Dana Kowalski", "Eli Haddad", "Femi Adeyemi")


class TmsControl(BaseModel):
    """Body of `POST /_sim/control`; unset fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    default_decision: Literal["accept", "decline"] | None = None
    decisions: dict[str, Literal["accept", "decline"]] | None = None
    """Per shipment key: accept or decline its tender."""
    decline_reason: str | None = Field(default=None, max_length=60)
    reply: Literal["x12", "json"] | None = None
    tender_delay_ms: float | None = Field(default=None, ge=0, le=600_000)
    step_delay_ms: float | None = Field(default=None, ge=0, le=600_000)
    step_delays_ms: dict[Step, float] | None = None
    """Extra wait before a given step (e.g. a late pickup for an SLA test)."""
    faults: list[Fault] | None = None
    """For every load from now on."""
    load_faults: dict[str, list[Fault]] | None = None
    """Per shipment key, replacing `faults` for it."""
    settle: Literal["none", "json", "x12"] | None = None
    """After delivery: no settlement, a JSON settlement webhook or an X12 210."""
    resume: list[str] | None = None
    """Shipment keys whose stalled loads go on."""
    settle_now: list[str] | None = None
    """Shipment keys to settle right away (delivered loads only)."""


@dataclass
class Load:
    load_id: str
    shipment_key: str
    channel: Literal["x12", "rest"]
    origin: edi.Place
    destination: edi.Place
    status: str = "tendered"
    decision: str | None = None
    driver: str | None = None
    truck: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    charges: list[tuple[str, int]] = field(default_factory=list)
    settled: bool = False
    resume: asyncio.Event | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "shipment_key": self.shipment_key,
            "channel": self.channel,
            "origin": self.origin.to_json(),
            "destination": self.destination.to_json(),
            "status": self.status,
            "decision": self.decision,
            "driver": self.driver,
            "truck": self.truck,
            "steps": list(self.steps),
            "charges": [{"code": c, "cents": v} for c, v in self.charges],
            "settled": self.settled,
        }


class JobRequest(BaseModel):
    """A REST job: the shipment to move and, optionally, where from and to."""

    model_config = ConfigDict(extra="ignore")

    shipment_key: str = Field(
        min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
    )
    origin: dict[str, str] = {}
    destination: dict[str, str] = {}


@dataclass
class TmsScript:
    """The TMS's scripted behaviour and its loads; thread-safe."""

    seed: int = 7
    default_decision: Literal["accept", "decline"] = "accept"
    decisions: dict[str, str] = field(default_factory=dict)
    decline_reason: str = "NO CAPACITY"
    reply: Literal["x12", "json"] = "x12"
    tender_delay_ms: float = 0.0
    step_delay_ms: float = 0.0
    step_delays_ms: dict[str, float] = field(default_factory=dict)
    faults: set[str] = field(default_factory=set)
    load_faults: dict[str, set[str]] = field(default_factory=dict)
    settle: Literal["none", "json", "x12"] = "none"
    linehauls: dict[str, int] = field(default_factory=dict)
    """Per shipment key: the linehaul to invoice, in cents; others draw one (800 to 2,400)."""
    resumed: set[str] = field(default_factory=set)
    """Shipments told to resume before they stalled: they will not stall."""
    identity: edi.Identity = field(default_factory=edi.Identity)
    loads: dict[str, Load] = field(default_factory=dict)
    acknowledgements: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def random_for(self, key: str, what: str) -> random.Random:
        """The generator of one load's draws of `what` (its crew, its linehaul). Loads run
        side by side, so one generator shared by all would hand its values out in the
        order the loads happen to reach it, and the same seed would invoice other amounts."""
        return random.Random(f"{self.seed}:{key}:{what}")  # a str seed is hashed (SHA-512)

    def crew(self, key: str) -> tuple[str, str]:
        """The driver and truck number dispatched on a load: known before the load runs
        (the demo's trucks carry telematics units under these numbers)."""
        draws = self.random_for(key, "crew")
        return draws.choice(DRIVERS), f"TRK-{draws.randint(100, 999)}"

    def apply(self, control: TmsControl) -> None:
        with self.lock:
            for name in (
                "default_decision",
                "decline_reason",
                "reply",
                "tender_delay_ms",
                "step_delay_ms",
                "settle",
            ):
                value = getattr(control, name)
                if value is not None:
                    setattr(self, name, value)
            if control.decisions is not None:
                self.decisions.update(control.decisions)
            if control.step_delays_ms is not None:
                self.step_delays_ms = {str(k): v for k, v in control.step_delays_ms.items()}
            if control.faults is not None:
                self.faults = set(control.faults)
            if control.load_faults is not None:
                self.load_faults.update({k: set(v) for k, v in control.load_faults.items()})

    def faults_for(self, key: str) -> set[str]:
        with self.lock:
            return set(self.load_faults.get(key, self.faults))

    def load_of(self, key: str) -> Load | None:
        with self.lock:
            return next((ld for ld in self.loads.values() if ld.shipment_key == key), None)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "loads": [load.to_json() for load in self.loads.values()],
                "acknowledgements": list(self.acknowledgements),
            }


def linehaul_cents(draws: random.Random) -> int:
    """A lane's linehaul: 800 to 2,400 USD in whole dollars."""
    return draws.randint(800, 2400) * 100


class TmsSimulator(PartnerSimulator):
    """The TMS's behaviour over its script, reporting through `link`."""

    def __init__(self, script: TmsScript, link: HubLink, inbound: InboundAuth | None = None):
        super().__init__(link, inbound)
        self.script = script
        self.control = edi.MemoryControlNumbers()

    # -- intake ------------------------------------------------------------------------------
    def take(
        self, key: str, channel: Literal["x12", "rest"], origin: edi.Place, destination: edi.Place
    ) -> tuple[Load, bool]:
        """The load for this shipment: a new one (True), or the one tendered before."""
        with self.script.lock:
            for load in self.script.loads.values():
                if load.shipment_key == key:
                    return load, False
            load = Load(f"L{len(self.script.loads) + 1:06d}", key, channel, origin, destination)
            self.script.loads[load.load_id] = load
        self.background.start(self.run(load))
        return load, True

    # -- the life of a load ------------------------------------------------------------------
    async def run(self, load: Load) -> None:
        s = self.script
        await _sleep(s.tender_delay_ms)
        with s.lock:
            decision = s.decisions.get(load.shipment_key, s.default_decision)
            reason = s.decline_reason
            load.decision = decision
            load.status = "accepted" if decision == "accept" else "declined"
        await self.answer_tender(load, decision == "accept", reason)
        if decision != "accept":
            return
        driver, truck = s.crew(load.shipment_key)
        with s.lock:
            load.driver, load.truck = driver, truck
        faults = s.faults_for(load.shipment_key)
        plan: list[str] = list(STEPS)
        if "reorder" in faults:
            i, j = plan.index("in_transit"), plan.index("delivered")
            plan[i], plan[j] = plan[j], plan[i]
        if "exception" in faults:
            plan.insert(plan.index("delivered"), "exception")
        held: dict[str, datetime] = {}  # a reordered status keeps the time it happened at
        for step in plan:
            with s.lock:
                delay = s.step_delay_ms + s.step_delays_ms.get(step, 0.0)
            await _sleep(delay)
            if (
                step == "in_transit"
                and "stall" in faults
                and load.resume is None
                and load.shipment_key not in s.resumed
            ):
                load.resume = asyncio.Event()
                load.status = "stalled"
                await load.resume.wait()
            if step == "delivered" and "reorder" in faults and "in_transit" not in held:
                held["in_transit"] = self.clock.tick(load.shipment_key)
            at = held.pop(step, None) or self.clock.tick(load.shipment_key)
            await self.report_status(load, step, at)
            with s.lock:  # the furthest step reached, whatever order they were reported in
                if step in STEPS and (
                    load.status not in STEPS or STEPS.index(step) > STEPS.index(load.status)
                ):
                    load.status = step
            if step == "in_transit" and "duplicates" in faults:
                await self.report_status(load, step, at, again=True)
        if s.settle != "none":
            await self.settle(load, s.settle)

    async def answer_tender(self, load: Load, accepted: bool, reason: str) -> None:
        at = self.clock.tick(load.shipment_key)
        message_id = f"{load.load_id}-990"
        if self.script.reply == "x12":
            _, document = edi.response_990(
                self.script.identity,
                self.control,
                shipment_key=load.shipment_key,
                load_id=load.load_id,
                accepted=accepted,
                reason=reason,
                at=at,
            )
            await self.link.edi(message_id, document, "990", load.shipment_key)
            return
        payload = {
            "kind": "tender_response",
            "message_id": message_id,
            "load_id": load.load_id,
            "shipment_key": load.shipment_key,
            "decision": "accepted" if accepted else "declined",
            "reason": None if accepted else reason,
            "occurred_at": iso_z(at),
        }
        await self.link.webhook(message_id, payload, "tender_response", load.shipment_key)

    async def report_status(self, load: Load, step: str, at: Any, again: bool = False) -> Any:
        place = load.destination if step == "delivered" else load.origin
        message_id = f"{load.load_id}-{step}" + ("-again" if again else "")
        load.steps.append({"step": step, "at": iso_z(at), "duplicate": again})
        if self.script.reply == "x12":
            _, document = edi.status_214(
                self.script.identity,
                self.control,
                shipment_key=load.shipment_key,
                load_id=load.load_id,
                code=X12_CODES[step],
                reason="AH" if step == "exception" else "NS",
                place=place,
                truck=load.truck or "",
                at=at,
            )
            return await self.link.edi(message_id, document, "214", load.shipment_key)
        payload = {
            "kind": "status",
            "message_id": message_id,
            "status_id": f"{load.load_id}-{step}",
            "load_id": load.load_id,
            "shipment_key": load.shipment_key,
            "code": JSON_CODES[step],
            "note": "insufficient time to complete delivery" if step == "exception" else None,
            "occurred_at": iso_z(at),
            "location": {k: v for k, v in place.to_json().items() if v} or None,
            "driver": load.driver,
            "truck": load.truck,
        }
        return await self.link.webhook(message_id, payload, "status", load.shipment_key)

    async def settle(self, load: Load, how: str) -> None:
        with self.script.lock:
            if load.settled:
                return
            linehaul = self.script.linehauls.get(load.shipment_key) or linehaul_cents(
                self.script.random_for(load.shipment_key, "linehaul")
            )
            load.charges = [("freight", linehaul), ("fuel", linehaul * 12 // 100)]
            load.settled = True
        at = self.clock.tick(load.shipment_key)
        message_id = f"{load.load_id}-settlement"
        if how == "x12":
            _, document = edi.invoice_210(
                self.script.identity,
                self.control,
                shipment_key=load.shipment_key,
                invoice=f"INV-{load.load_id}",
                charges=load.charges,
                at=at,
            )
            await self.link.edi(message_id, document, "210", load.shipment_key)
            return
        payload = {
            "kind": "settlement",
            "message_id": message_id,
            "settlement_id": f"STL-{load.load_id}",
            "load_id": load.load_id,
            "shipment_key": load.shipment_key,
            "occurred_at": iso_z(at),
            "charges": [
                {
                    "line": line,
                    "code": code,
                    "kind": code,
                    "amount": f"{cents / 100:.2f}",
                    "currency": "USD",
                }
                for line, (code, cents) in enumerate(load.charges, 1)
            ],
        }
        await self.link.webhook(message_id, payload, "settlement", load.shipment_key)

    # -- HTTP --------------------------------------------------------------------------------
    def app(self) -> Starlette:
        async def tender_x12(request: Request) -> Response:
            try:
                body = await read_body(request)
                self.inbound.check(request, body)
                try:
                    received = edi.read_document(body)
                except EdiError as exc:
                    where = exc.with_context("tms-sim", None)
                    status = 400 if isinstance(exc, EdiSyntaxError) else 422
                    raise BadRequest(status, "bad_edi", str(where), [where.to_dict()]) from None
                except edi.TenderError as exc:
                    raise BadRequest(422, "bad_tender", str(exc), exc.details) from None
            except BadRequest as exc:
                return error_response(exc)
            with self.script.lock:
                self.script.acknowledgements.extend(received.acknowledgements)
            loads = []
            for tender in received.tenders:
                load, new = self.take(tender.shipment_key, "x12", tender.origin, tender.destination)
                loads.append(
                    {
                        "load_id": load.load_id,
                        "shipment_key": load.shipment_key,
                        "status": "accepted" if new else "duplicate",
                    }
                )
            return JSONResponse(
                {"loads": loads, "acknowledgements": len(received.acknowledgements)}, 202
            )

        async def create_job(request: Request) -> Response:
            try:
                body = await read_body(request)
                self.inbound.check(request, body)
                value = decode_json(body)
                jobs = _jobs(value)
            except BadRequest as exc:
                return error_response(exc)
            out, status = [], 200
            for job in jobs:
                load, new = self.take(
                    job.shipment_key, "rest", _place(job.origin), _place(job.destination)
                )
                status = 201 if new else status
                out.append({**load.to_json(), "duplicate": not new})
            return JSONResponse({"jobs": out}, status)

        async def get_job(request: Request) -> Response:
            with self.script.lock:
                load = self.script.loads.get(request.path_params["load_id"])
                found = load.to_json() if load else None
            if found is None:
                return error_response(BadRequest(404, "not_found", "no such load"))
            return JSONResponse(found)

        async def control(request: Request) -> Response:
            try:
                command = validate(TmsControl, decode_json(await read_body(request)))
            except BadRequest as exc:
                return error_response(exc)
            self.script.apply(command)
            for key in command.resume or []:
                with self.script.lock:
                    self.script.resumed.add(key)
                load = self.script.load_of(key)
                if load is not None and load.resume is not None:
                    load.resume.set()
            for key in command.settle_now or []:
                load = self.script.load_of(key)
                if load is not None and load.status == "delivered":
                    how = "x12" if self.script.settle == "x12" else "json"
                    self.background.start(self.settle(load, how))
            return JSONResponse({"ok": True})

        return Starlette(
            routes=[
                Route("/edi", tender_x12, methods=["POST"]),
                Route("/v1/jobs", create_job, methods=["POST"]),
                Route("/v1/jobs/{load_id}", get_job, methods=["GET"]),
                Route("/_sim/control", control, methods=["POST"]),
                *inspection_routes("loads", self.script.snapshot, self.background, self.link),
            ],
            lifespan=self.background.lifespan,
        )


def _jobs(value: Any) -> list[JobRequest]:
    """A job object, a CloudEvent (the hub's webhook), or an array of either."""
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > 1000:
        raise BadRequest(422, "invalid", "body: one job or 1 to 1000 of them")
    jobs = []
    for index, item in enumerate(items):
        if is_cloudevent(item):
            key = shipment_key_of(item)
            found = item.get("data")
            data: dict[str, Any] = found if isinstance(found, dict) else {}
            inner = data.get("shipment")
            shipment: dict[str, Any] = inner if isinstance(inner, dict) else data
            stops = shipment.get("stops")
            item = {"shipment_key": key or "", **_stops(stops if isinstance(stops, list) else [])}
        if not isinstance(item, dict):
            raise BadRequest(422, "invalid", f"[{index}]: a job must be a JSON object")
        try:
            jobs.append(validate(JobRequest, item))
        except BadRequest as exc:
            raise BadRequest(422, "invalid", f"[{index}].{exc.message}", exc.details) from None
    return jobs


def _stops(stops: list[Any]) -> dict[str, dict[str, str]]:
    """Origin (first pickup) and destination (last delivery) of a canonical Shipment."""
    found: dict[str, dict[str, str]] = {}
    for stop in stops:
        if not isinstance(stop, dict) or not isinstance(stop.get("address"), dict):
            continue
        address = stop["address"]
        place = {
            name: str(address[source])
            for name, source in (("city", "city"), ("state", "region"), ("country", "country"))
            if isinstance(address.get(source), str)
        }
        if stop.get("kind") == "pickup":
            found.setdefault("origin", place)
        else:
            found["destination"] = place
    return found


def _place(value: dict[str, str]) -> edi.Place:
    return edi.Place(value.get("city", ""), value.get("state", ""), value.get("country", ""))


async def _sleep(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)
