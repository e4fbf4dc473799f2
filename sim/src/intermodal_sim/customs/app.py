"""Customs broker simulator: takes filings, holds or releases them per script, reports.

`POST /v1/filings` takes a customs filing (`shipment_key`, optional `filing_id`,
`declared_value`, `origin_country`, `destination_country`), or the CloudEvent the hub's
webhook endpoint sends. Filings are idempotent by shipment key (one entry per shipment).

For each new filing, in the background, the broker:
1. files the entry and reports `FILED` (customs state `pending`) with its entry number;
2. after `decision_delay_ms`, either releases it (`RELEASED`) or, when the script holds
   that shipment, reports `HOLD` with the hold's code and reason; a hold is released
   after its own `release_after_ms`, or when told (`release` in the control body).

Reports are signed webhooks (`POST /v1/webhooks/{partner}`) in one of two formats:
- `native` (default): the broker's own JSON (`kind: customs.status`); the mapping in
  examples/partners/customs/mapping.yaml makes each one an `intermodal.customs.updated`
  event (state pending / hold / released, broker, entry number, reason) and, for a hold
  or a release, the `customs_hold` / `customs_released` milestone the shipment shows;
- `cloudevents`: those same canonical events, for a hub partner without a mapping.

Control: `POST /_sim/control` (see `CustomsControl`); inspection: `GET /_sim/filings`,
`GET /_sim/sent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
STATES = {"FILED": "pending", "HOLD": "hold", "RELEASED": "released"}
MILESTONES = {"HOLD": "customs_hold", "RELEASED": "customs_released"}


class FilingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    shipment_key: str = Field(min_length=1, max_length=128, pattern=KEY_PATTERN)
    filing_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=KEY_PATTERN)
    declared_value: float | None = Field(default=None, ge=0, le=1e12)
    origin_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    destination_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class Hold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(default="EXAM", min_length=1, max_length=16)
    reason: str = Field(default="selected for physical examination", min_length=1, max_length=500)
    release_after_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    """None: held until released through the control endpoint."""


class CustomsControl(BaseModel):
    """Body of `POST /_sim/control`; unset fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    decision_delay_ms: float | None = Field(default=None, ge=0, le=600_000)
    holds: dict[str, Hold] | None = None
    """Per shipment key: hold its filing with this code and reason."""
    hold_rate: float | None = Field(default=None, ge=0, le=1)
    """Share of other filings held (drawn from the seeded generator)."""
    release: list[str] | None = None
    """Shipment keys whose held filings are released now."""
    format: Literal["cloudevents", "native"] | None = None


@dataclass
class Filing:
    filing_id: str
    entry_number: str
    shipment_key: str
    status: str = "received"
    hold: dict[str, Any] | None = None
    reports: list[str] = field(default_factory=list)
    release: asyncio.Event | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "filing_id": self.filing_id,
            "entry_number": self.entry_number,
            "shipment_key": self.shipment_key,
            "status": self.status,
            "hold": self.hold,
            "reports": list(self.reports),
        }


@dataclass
class CustomsScript:
    seed: int = 7
    broker: str = "Harbor Customs Brokerage"
    filer_code: str = "HCB"
    decision_delay_ms: float = 0.0
    holds: dict[str, Hold] = field(default_factory=dict)
    hold_rate: float = 0.0
    format: Literal["cloudevents", "native"] = "native"
    filings: dict[str, Filing] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def apply(self, control: CustomsControl) -> None:
        with self.lock:
            if control.decision_delay_ms is not None:
                self.decision_delay_ms = control.decision_delay_ms
            if control.holds is not None:
                self.holds.update(control.holds)
            if control.hold_rate is not None:
                self.hold_rate = control.hold_rate
            if control.format is not None:
                self.format = control.format

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"filings": [f.to_json() for f in self.filings.values()]}


class CustomsSimulator(PartnerSimulator):
    def __init__(self, script: CustomsScript, link: HubLink, inbound: InboundAuth | None = None):
        super().__init__(link, inbound)
        self.script = script

    def take(self, request: FilingRequest) -> tuple[Filing, bool]:
        """The shipment's filing: new (True) or the one filed before (False); a filing id
        already used for another shipment is a 409."""
        s = self.script
        with s.lock:
            for filing in s.filings.values():
                if filing.shipment_key == request.shipment_key:
                    return filing, False
            if request.filing_id is not None and request.filing_id in s.filings:
                other = s.filings[request.filing_id].shipment_key
                raise BadRequest(
                    409,
                    "conflict",
                    f"filing_id {request.filing_id!r} belongs to shipment {other!r}",
                )
            number = len(s.filings) + 1
            generated = f"F{number:06d}"
            while generated in s.filings:  # a sender's own id took the number
                generated += "X"
            filing = Filing(
                request.filing_id or generated,
                f"{s.filer_code}-{s.random.randint(1_000_000, 9_999_999)}-{number}",
                request.shipment_key,
            )
            s.filings[filing.filing_id] = filing
        self.background.start(self.run(filing))
        return filing, True

    async def run(self, filing: Filing) -> None:
        s = self.script
        await self.report(filing, "FILED")
        with s.lock:
            delay = s.decision_delay_ms
            hold = s.holds.get(filing.shipment_key)
            if hold is None and s.hold_rate > 0 and s.random.random() < s.hold_rate:
                hold = Hold()
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if hold is not None:
            with s.lock:
                filing.hold = {"code": hold.code, "reason": hold.reason}
                filing.release = asyncio.Event()
            await self.report(filing, "HOLD")
            if hold.release_after_ms is None:
                await filing.release.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(hold.release_after_ms / 1000):
                        await filing.release.wait()
        await self.report(filing, "RELEASED")

    async def report(self, filing: Filing, status: str) -> None:
        s = self.script
        at = self.clock.tick(filing.shipment_key)
        with s.lock:
            filing.status = status.lower()
            filing.reports.append(status)
            fmt = s.format
        message_id = f"{filing.filing_id}-{status.lower()}"
        reason = filing.hold["reason"] if status == "HOLD" and filing.hold else None
        if fmt == "native":
            payload: Any = {
                "kind": "customs.status",
                "status_id": message_id,
                "filing_id": filing.filing_id,
                "entry_number": filing.entry_number,
                "shipment_key": filing.shipment_key,
                "status": status,
                "hold": filing.hold if status == "HOLD" else None,
                "broker": s.broker,
                "occurred_at": iso_z(at),
            }
        else:
            customs: dict[str, Any] = {
                "state": STATES[status],
                "broker": s.broker,
                "entry_number": filing.entry_number,
                "occurred_at": iso_z(at),
            }
            if reason:
                customs["reason"] = reason
            payload = [
                _event(
                    f"{message_id}-customs",
                    "intermodal.customs.updated",
                    filing,
                    at,
                    customs,
                    self.link.partner,
                )
            ]
            if status in MILESTONES:
                milestone: dict[str, Any] = {
                    "milestone": MILESTONES[status],
                    "occurred_at": iso_z(at),
                }
                if reason:
                    milestone["reason"] = reason
                payload.append(
                    _event(
                        f"{message_id}-milestone",
                        "intermodal.shipment.milestone",
                        filing,
                        at,
                        milestone,
                        self.link.partner,
                    )
                )
        await self.link.webhook(message_id, payload, status, filing.shipment_key)

    def app(self) -> Starlette:
        async def create(request: Request) -> Response:
            try:
                body = await read_body(request)
                self.inbound.check(request, body)
                value = decode_json(body)
                if is_cloudevent(value):
                    value = {"shipment_key": shipment_key_of(value) or ""}
                if not isinstance(value, dict):
                    raise BadRequest(422, "invalid", "body: a filing object is required")
                filing, new = self.take(validate(FilingRequest, value))
            except BadRequest as exc:
                return error_response(exc)
            return JSONResponse({**filing.to_json(), "duplicate": not new}, 201 if new else 200)

        async def control(request: Request) -> Response:
            try:
                command = validate(CustomsControl, decode_json(await read_body(request)))
            except BadRequest as exc:
                return error_response(exc)
            self.script.apply(command)
            released = []
            for key in command.release or []:
                with self.script.lock:
                    self.script.holds.pop(key, None)  # not held yet: it will not be
                    found = [f for f in self.script.filings.values() if f.shipment_key == key]
                for filing in found:
                    if filing.release is not None and not filing.release.is_set():
                        filing.release.set()
                        released.append(key)
            return JSONResponse({"ok": True, "released": released})

        return Starlette(
            routes=[
                Route("/v1/filings", create, methods=["POST"]),
                Route("/_sim/control", control, methods=["POST"]),
                *inspection_routes("filings", self.script.snapshot, self.background, self.link),
            ],
            lifespan=self.background.lifespan,
        )


def _event(
    event_id: str, kind: str, filing: Filing, at: Any, data: dict[str, Any], partner: str
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": f"partner:{partner}",
        "type": kind,
        "subject": filing.shipment_key,
        "time": iso_z(at),
        "data": data,
    }
