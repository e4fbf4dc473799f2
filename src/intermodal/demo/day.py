"""A day of freight, compressed into a few minutes, played against the running world.

Orders are entered in Odoo (as a sales team would), and the partners do what partners do:
the parcel carrier posts its own JSON tracking (signed webhooks) with duplicates,
reordering and failed delivery attempts; the truckload carrier sends X12 214s and goes
silent for a while (an outage) before catching up in a burst; the customs broker holds a
cross-border shipment and later releases it; the carriers send proofs of delivery and
their freight invoices, a few of them above the quote. Nothing here talks to the hub's
internals: everything goes through the same HTTP doors a real partner would use.

The script is deterministic for a seed (which shipment gets which noise), while its
timing follows the wall clock, scaled to the length of the run.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.demo.world import World
from intermodal.ingress.signatures import sign
from intermodal.security.secrets import Secret


@dataclass(frozen=True)
class DayPlan:
    orders: int = 120
    seconds: float = 240.0
    """Wall-clock length of the day; journeys are scaled to fit in about 85% of it."""
    seed: int = 7


@dataclass
class Tally:
    """What the partners did, for the summary (the hub's side is read from its store)."""

    orders: int = 0
    messages: int = 0
    duplicates_sent: int = 0
    reordered: int = 0
    failed_attempts: int = 0
    pods: int = 0
    freight_invoices: int = 0
    over_quote: int = 0
    customs_holds: int = 0
    outage_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Journey:
    """One shipment's script: its carrier and the noise it will meet."""

    key: str
    carrier: str  # swiftparcel | ridgeline
    start: float  # fraction of the day when the order is entered
    duplicate: bool
    reorder: bool
    failed_attempt: bool
    cross_border: bool
    over_quote: bool
    quote: Decimal


def plan_journeys(plan: DayPlan) -> list[Journey]:
    rng = random.Random(plan.seed)  # a demo script: no secret here
    journeys = []
    for i in range(plan.orders):
        journeys.append(
            Journey(
                key=f"DEMO-{i + 1:04d}",
                carrier="swiftparcel" if rng.random() < 0.7 else "ridgeline",
                start=0.45 * i / max(plan.orders, 1),
                duplicate=rng.random() < 0.15,
                reorder=rng.random() < 0.08,
                failed_attempt=rng.random() < 0.05,
                cross_border=i % 25 == 3,
                over_quote=i % 40 == 7,
                quote=Decimal(rng.choice(("245.00", "380.00", "980.00", "1650.00"))),
            )
        )
    return journeys


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Day:
    """Plays the journeys; `progress(done, total)` is called as orders are entered."""

    def __init__(
        self, world: World, plan: DayPlan, progress: Callable[[str, int], None] | None = None
    ) -> None:
        self.world = world
        self.plan = plan
        self.tally = Tally()
        self.progress = progress or (lambda _what, _n: None)
        self.unit = plan.seconds * 0.85
        self.outage_window = (0.30, 0.45)  # ridgeline is silent in this part of the day
        self._t0 = 0.0
        self._http: httpx.AsyncClient | None = None
        self._odoo: OdooClient | None = None
        self._customers: list[int] = []
        self._products: list[int] = []

    # -- the day ------------------------------------------------------------------------
    async def play(self) -> Tally:
        async with httpx.AsyncClient(timeout=30) as http:
            self._http = http
            odoo = self.world.odoo
            self._odoo = OdooClient(Connection(odoo.url, odoo.db, Secret(odoo.api_key)), http)
            self._customers = await self._odoo.call(
                "res.partner", "search", domain=[["customer_rank", ">", 0]]
            ) or await self._odoo.call("res.partner", "search", domain=[["is_company", "=", True]])
            self._products = await self._odoo.call(
                "product.product", "search", domain=[["type", "=", "service"]]
            )
            self._t0 = time.monotonic()
            journeys = plan_journeys(self.plan)
            await asyncio.gather(*(self._journey(j, n) for n, j in enumerate(journeys)))
        self.tally.outage_seconds = (self.outage_window[1] - self.outage_window[0]) * self.unit
        return self.tally

    async def _at(self, fraction: float) -> None:
        delay = self._t0 + fraction * self.unit - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _journey(self, j: Journey, n: int) -> None:
        try:
            await self._at(j.start)
            await self._order(j)
            self.tally.orders += 1
            self.progress("orders", self.tally.orders)
            await self._charge(j, "billing", "freight", "provisional", j.quote)
            if j.cross_border:
                await self._at(j.start + 0.05)
                await self._customs(j, "hold", "commercial invoice missing")
                self.tally.customs_holds += 1
            steps = ["picked_up", "in_transit", "out_for_delivery"]
            if j.failed_attempt:
                steps += ["delivery_failed", "out_for_delivery"]
                self.tally.failed_attempts += 1
            steps.append("delivered")
            span = 0.35 / len(steps)
            sent: list[tuple[str, str]] = []
            for i, milestone in enumerate(steps):
                await self._at(j.start + 0.08 + i * span)
                if j.cross_border and milestone == "out_for_delivery" and i == 2:
                    await self._customs(j, "released", None)
                sent.append((milestone, _now()))
                if j.reorder and milestone == "picked_up":
                    continue  # held back, sent after in_transit: arrives late
                await self._milestones(j, sent[-1:], f"{j.key}-{i}")
                if j.reorder and milestone == "in_transit":
                    await self._milestones(j, sent[:1], f"{j.key}-0")
                    self.tally.reordered += 1
                if j.duplicate and i == 1:
                    await self._milestones(j, sent[-1:], f"{j.key}-{i}")  # same message again
                    self.tally.duplicates_sent += 1
            await self._at(j.start + 0.45)
            await self._pod(j)
            final = j.quote * (Decimal("1.07") if j.over_quote else Decimal(1))
            await self._at(j.start + 0.5)
            if j.carrier == "ridgeline":  # the truckload carrier invoices in X12 210
                await self._freight_invoice_210(j, final)
            else:
                await self._charge(j, j.carrier, "freight", "final", final)
            self.tally.freight_invoices += 1
            self.tally.over_quote += int(j.over_quote)
        except Exception as exc:  # one journey's failure is reported, the day goes on
            self.tally.errors.append(f"{j.key}: {type(exc).__name__}: {exc}")

    # -- partners' doors ----------------------------------------------------------------
    async def _order(self, j: Journey) -> None:
        assert self._odoo is not None
        number = int(j.key.rsplit("-", 1)[1])
        (order,) = await self._odoo.call(
            "sale.order",
            "create",
            vals_list=[
                {
                    "partner_id": self._customers[number % len(self._customers)],
                    "client_order_ref": j.key,
                    "order_line": [[0, 0, {"product_id": self._products[number % 3]}]],
                }
            ],
        )
        await self._odoo.call("sale.order", "action_confirm", [order])

    async def _milestones(self, j: Journey, steps: list[tuple[str, str]], message: str) -> None:
        if j.carrier == "ridgeline":
            await self._outage()
            await self._post_edi(j, steps)
        else:
            await self._post_swift(j, steps, message)
        self.tally.messages += 1

    async def _outage(self) -> None:
        start, end = self.outage_window
        if start * self.unit <= time.monotonic() - self._t0 < end * self.unit:
            await self._at(end)

    async def _post_swift(self, j: Journey, steps: list[tuple[str, str]], message: str) -> None:
        codes = {
            "picked_up": "PU",
            "in_transit": "IT",
            "out_for_delivery": "OFD",
            "delivered": "DL",
            "delivery_failed": "NA",
        }
        body = orjson.dumps(
            {
                "kind": "tracking",
                "shipment": {"reference": j.key, "tracking": f"SWP{j.key[-4:]}00"},
                "updates": [
                    {
                        "update_id": f"{j.key}-{milestone}-{at}",
                        "code": codes[milestone],
                        "occurred": at,
                        "city": "Rotterdam",
                        "country": "NL",
                    }
                    for milestone, at in steps
                ],
            }
        )
        key = self.world.settings.partners["swiftparcel"].webhook_keys[0]
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": f"swp-{message}",
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(key, f"swp-{message}", stamp, body),
        }
        await self._post("/v1/webhooks/swiftparcel", body, headers)

    async def _post_edi(self, j: Journey, steps: list[tuple[str, str]]) -> None:
        codes = {
            "picked_up": "AF",
            "in_transit": "X6",
            "out_for_delivery": "X1",
            "delivered": "D1",
            "delivery_failed": "SD",
        }
        segments = [
            "ST*214*0001",
            f"B10*PRO-{j.key[-4:]}*{j.key}*RDGL",
        ]
        for n, (milestone, at) in enumerate(steps, start=1):
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            segments += [
                f"LX*{n}",
                f"AT7*{codes[milestone]}*NS***{when:%Y%m%d}*{when:%H%M%S}*UT",
                "MS1*CHICAGO*IL*US",
            ]
        await self._send_x12("QM", segments)

    async def _freight_invoice_210(self, j: Journey, amount: Decimal) -> None:
        cents = int((amount * 100).quantize(Decimal(1)))
        today = datetime.now(UTC)
        segments = [
            "ST*210*0001",
            f"B3**INV-{j.key}*{j.key}*PP*L*{today:%Y%m%d}*{cents}****RDGL",
            "C3*USD",
            "LX*1",
            f"L1*1***{cents}",
        ]
        await self._outage()
        await self._send_x12("IM", segments)

    async def _send_x12(self, functional_id: str, segments: list[str]) -> None:
        """One transaction set in its envelope, posted to the hub as ridgeline would."""
        control = secrets.randbelow(10**9)
        segments = [*segments, f"SE*{len(segments) + 1}*0001"]
        now = datetime.now(UTC)
        isa = (
            f"ISA*00*          *00*          *02*RIDGELINE      *ZZ*INTERMODAL     "
            f"*{now:%y%m%d}*{now:%H%M}*U*00401*{control:09d}*0*P*:"
        )
        group = control % 10**6
        document = "~\n".join(
            [
                isa,
                f"GS*{functional_id}*RIDGELINE*INTERMODAL*{now:%Y%m%d}*{now:%H%M}*{group}*X*004010",
                *segments,
                f"GE*1*{group}",
                f"IEA*1*{control:09d}",
            ]
        )
        headers = {
            "content-type": "application/edi-x12",
            "authorization": f"Bearer {self.world.secret('DEMO_RIDGELINE_TOKEN')}",
        }
        await self._post("/v1/edi/ridgeline", (document + "~\n").encode(), headers)

    async def _events(self, partner_token: str, events: list[dict[str, Any]]) -> None:
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {self.world.secret(partner_token)}",
        }
        await self._post("/v1/events", orjson.dumps(events), headers)

    async def _pod(self, j: Journey) -> None:
        token, source = _TOKENS[j.carrier], j.carrier
        pod = _event(
            source,
            "intermodal.pod.received",
            j.key,
            {"delivered_at": _now(), "signed_by": "J. Receiver"},
        )
        await self._events(token, [pod])
        self.tally.pods += 1
        if j.duplicate:  # the carrier sends its POD twice: the hub keeps one
            await self._events(token, [pod])

    async def _charge(
        self, j: Journey, partner: str, code: str, status: str, amount: Decimal
    ) -> None:
        token = _TOKENS[partner]
        data = {
            "code": code,
            "kind": "freight",
            "description": f"Freight {j.key}",
            "amount": {"amount": str(amount.quantize(Decimal("0.01"))), "currency": "USD"},
            "status": status,
        }
        await self._events(token, [_event(partner, "intermodal.charge.recorded", j.key, data)])

    async def _customs(self, j: Journey, state: str, reason: str | None) -> None:
        data: dict[str, Any] = {"state": state, "broker": "Demo Customs", "occurred_at": _now()}
        if reason:
            data["reason"] = reason
        await self._events(
            _TOKENS["customs-broker"],
            [_event("customs-broker", "intermodal.customs.updated", j.key, data)],
        )

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        assert self._http is not None
        for attempt in range(5):  # a partner retries what the hub could not take
            response = await self._http.post(
                self.world.hub_url + path, content=body, headers=headers
            )
            if response.status_code < 300:
                return
            if response.status_code < 500 and response.status_code != 429:
                raise RuntimeError(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
            await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"{path}: the hub kept answering {response.status_code}")


_TOKENS = {
    "swiftparcel": "DEMO_SWIFTPARCEL_TOKEN",
    "ridgeline": "DEMO_RIDGELINE_TOKEN",
    "billing": "DEMO_BILLING_TOKEN",
    "customs-broker": "DEMO_CUSTOMS_TOKEN",
}


def _event(source: str, type_: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{source}-{secrets.token_hex(8)}",
        "source": source,
        "type": type_,
        "subject": subject,
        "time": _now(),
        "data": data,
    }
