"""A day of freight, compressed into a few minutes, played against the running world.

The demo does only what people and outside systems do; the hub does the rest:
- the sales team enters orders in Odoo and confirms them (the hub hears of each through
  Odoo's automation rule, and tenders it to the TMS as an X12 204);
- the tariff quotes each order (a provisional freight charge);
- the customs broker releases the cross-border orders the hub files with it, one of them
  only after a hold;
- the TMS answers each tender (990: a few are declined), drives the loads and reports
  214s with the noise real carriers make (duplicates, statuses out of order, delay
  exceptions, a load that stalls for hours), and invoices each load with a 210, a few of
  them well above the quote;
- the TMS is down for a while in the morning (the carrier outage): tenders wait in the
  hub's outbox and go out when it is back;
- the drivers' app sends a proof of delivery for every delivered load, sometimes twice.

Which order meets which noise is drawn from a seeded generator: the same seed plays the
same day. Timing follows the wall clock, scaled to the length of the run.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.security.secrets import Secret
from intermodal_sim.customs.app import CustomsScript, Hold
from intermodal_sim.demo.world import World
from intermodal_sim.tms.app import TmsScript

CUSTOMERS = ("AZ-001", "DA-002", "GF-003", "RM-005")
PRODUCTS = ("FCL40", "FCL20", "FTL")


@dataclass(frozen=True)
class DayPlan:
    orders: int = 120
    seconds: float = 240.0
    seed: int = 7

    @property
    def unit(self) -> float:
        """The part of the run the day's events are spread over; the rest is for draining."""
        return self.seconds * 0.8


@dataclass(frozen=True)
class Order:
    key: str
    start: float  # fraction of the day when it is entered
    customer: str
    product: str
    over_quote: bool
    duplicate_pod: bool


@dataclass
class Script:
    """The day decided up front: the orders and what the partners will do with them."""

    orders: list[Order]
    tms: TmsScript
    customs: CustomsScript
    declined: set[str]
    held: set[str]
    stalled: set[str]
    outage: tuple[float, float] = (0.12, 0.22)


def plan_day(plan: DayPlan) -> Script:
    rng = random.Random(plan.seed)  # a demo script: no secret here
    orders: list[Order] = []
    faults: dict[str, set[str]] = {}
    declined: set[str] = set()
    stalled: set[str] = set()
    for i in range(plan.orders):
        key = f"DEMO-{i + 1:04d}"
        orders.append(
            Order(
                key=key,
                start=0.4 * i / max(plan.orders, 1),
                customer=CUSTOMERS[i % len(CUSTOMERS)],
                product=PRODUCTS[i % len(PRODUCTS)],
                over_quote=i % 25 == 7,
                duplicate_pod=rng.random() < 0.1,
            )
        )
        noise = {f for f, p in (("duplicates", 0.15), ("reorder", 0.08), ("exception", 0.05))
                 if rng.random() < p}  # fmt: skip
        if i % 30 == 13:
            declined.add(key)
        elif i % 45 == 2:
            noise.add("stall")
            stalled.add(key)
        if noise:
            faults[key] = noise
    step_ms = plan.unit * 0.07 * 1000
    tms = TmsScript(
        seed=plan.seed,
        reply="x12",
        settle="x12",
        tender_delay_ms=plan.unit * 0.01 * 1000,
        step_delay_ms=step_ms,
        decisions={key: "decline" for key in declined},
        load_faults=faults,
    )
    # Customers DA-002, GF-003 and RM-005 are in Belgium, the Netherlands and Germany, the
    # company in the US: their orders cross a border and the hub files them with the broker.
    held = {orders[5].key} if len(orders) > 5 else set()
    customs = CustomsScript(
        seed=plan.seed,
        decision_delay_ms=plan.unit * 0.02 * 1000,
        holds={
            key: Hold(
                code="DOC",
                reason="commercial invoice missing",
                release_after_ms=plan.unit * 0.15 * 1000,
            )
            for key in held
        },
    )
    return Script(orders, tms, customs, declined, held, stalled)


@dataclass
class Tally:
    """What the outside world did, for the summary (the hub's side is read from its store)."""

    orders: int = 0
    quotes: int = 0
    pods: int = 0
    duplicate_pods: int = 0
    outage_seconds: float = 0.0
    tms_refused_during_outage: int = 0
    errors: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Day:
    """Plays the script; `progress(what, count)` is called as orders are entered."""

    def __init__(
        self,
        world: World,
        plan: DayPlan,
        script: Script,
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self.world = world
        self.plan = plan
        self.script = script
        self.tally = Tally()
        self.progress = progress or (lambda _what, _n: None)
        self._t0 = 0.0
        self._http: httpx.AsyncClient | None = None
        self._odoo: OdooClient | None = None
        self._ids: dict[tuple[str, str], int] = {}

    async def play(self) -> Tally:
        async with httpx.AsyncClient(timeout=30) as http:
            self._http = http
            odoo = self.world.odoo
            self._odoo = OdooClient(Connection(odoo.url, odoo.db, Secret(odoo.api_key)), http)
            await self._look_up_odoo_ids()
            self._t0 = time.monotonic()
            orders = [self._order(o) for o in self.script.orders]
            await asyncio.gather(*orders, self._outage(), self._proofs_of_delivery())
        return self.tally

    def elapsed(self) -> float:
        """How far into the day we are (0..1 over `plan.unit`)."""
        return (time.monotonic() - self._t0) / self.plan.unit

    async def _at(self, fraction: float) -> None:
        delay = self._t0 + fraction * self.plan.unit - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _look_up_odoo_ids(self) -> None:
        assert self._odoo is not None
        for model, field_name, values in (
            ("res.partner", "ref", CUSTOMERS),
            ("product.product", "default_code", PRODUCTS),
        ):
            rows = await self._odoo.call(
                model,
                "search_read",
                domain=[[field_name, "in", list(values)]],
                fields=[field_name],
            )
            for row in rows:
                self._ids[(model, row[field_name])] = row["id"]

    # -- the sales team, the tariff and the customs broker -------------------------------
    async def _order(self, order: Order) -> None:
        try:
            await self._at(order.start)
            assert self._odoo is not None
            (order_id,) = await self._odoo.call(
                "sale.order",
                "create",
                vals_list=[
                    {
                        "partner_id": self._ids[("res.partner", order.customer)],
                        "client_order_ref": order.key,
                        "order_line": [
                            [0, 0, {"product_id": self._ids[("product.product", order.product)]}]
                        ],
                    }
                ],
            )
            await self._odoo.call("sale.order", "action_confirm", [order_id])
            self.tally.orders += 1
            self.progress("orders", self.tally.orders)
            # The tariff's quote: the lowest lane price for the loads that will be invoiced
            # above it, the highest otherwise (the TMS's linehaul is 800 to 2,400 USD).
            quote = "750.00" if order.over_quote else "2400.00"
            await self._events(
                "DEMO_RATING_TOKEN",
                [_charge("rating", order.key, "freight", quote, "provisional")],
            )
            self.tally.quotes += 1
        except Exception as exc:  # one order's failure is reported, the day goes on
            self.tally.errors.append(f"{order.key}: {type(exc).__name__}: {exc}")

    # -- the carrier outage ----------------------------------------------------------------
    async def _outage(self) -> None:
        start, end = self.script.outage
        await self._at(start)
        self.world.tms_outage.down.set()
        await self._at(end)
        self.world.tms_outage.down.clear()
        self.tally.outage_seconds = (end - start) * self.plan.unit
        self.tally.tms_refused_during_outage = self.world.tms_outage.refused
        # the stalled loads get moving again in the afternoon, after their SLA passed
        await self._at(0.75)
        await self._post_json(
            f"{self.world.tms_url}/_sim/control", {"resume": sorted(self.script.stalled)}
        )

    # -- the drivers' proof-of-delivery app ----------------------------------------------
    async def _proofs_of_delivery(self) -> None:
        """Send a POD for each load the TMS has delivered, until every order is done."""
        assert self._http is not None
        sent: set[str] = set()
        expected = {o.key for o in self.script.orders} - self.script.declined
        by_key = {o.key: o for o in self.script.orders}
        while sent != expected and self.elapsed() < 1.25:  # 1.25 units: the whole run
            await asyncio.sleep(min(1.0, self.plan.unit / 200))
            with self.world.tms.script.lock:
                delivered = [
                    load.shipment_key
                    for load in self.world.tms.script.loads.values()
                    if load.status == "delivered" and load.shipment_key not in sent
                ]
            for key in delivered:
                pod = _event(
                    "epod",
                    "intermodal.pod.received",
                    key,
                    {"delivered_at": _now(), "signed_by": "J. Receiver"},
                )
                try:
                    await self._events("DEMO_EPOD_TOKEN", [pod])
                    if by_key[key].duplicate_pod:  # the app resends: the hub keeps one
                        await self._events("DEMO_EPOD_TOKEN", [pod])
                        self.tally.duplicate_pods += 1
                except Exception as exc:
                    self.tally.errors.append(f"{key}: POD: {type(exc).__name__}: {exc}")
                sent.add(key)
                self.tally.pods += 1

    # -- HTTP ------------------------------------------------------------------------------
    async def _events(self, token: str, events: list[dict[str, Any]]) -> None:
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {self.world.secret(token)}",
        }
        await self._post(f"{self.world.hub_url}/v1/events", orjson.dumps(events), headers)

    async def _post_json(self, url: str, payload: dict[str, Any]) -> None:
        await self._post(url, orjson.dumps(payload), {"content-type": "application/json"})

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        assert self._http is not None
        status, text = 0, ""
        for attempt in range(5):  # an outside system retries what could not be taken
            response = await self._http.post(url, content=body, headers=headers)
            status, text = response.status_code, response.text[:200]
            if status < 300:
                return
            if status < 500 and status != 429:
                break
            await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"{url}: HTTP {status}: {text}")


def _charge(source: str, key: str, code: str, amount: str, status: str) -> dict[str, Any]:
    data = {
        "code": code,
        "kind": "freight",
        "description": "lane tariff" if status == "provisional" else "freight",
        "amount": {"amount": amount, "currency": "USD"},
        "status": status,
    }
    return _event(source, "intermodal.charge.recorded", key, data)


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
