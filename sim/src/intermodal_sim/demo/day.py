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
- the drivers' app sends a proof of delivery for every delivered load, sometimes twice;
- every sixth order also ships goods from the warehouse (crates or cartons: in Odoo its
  delivery; the freight itself is a service and has none). The warehouse gets their pick
  lists, ships them before the truck's pickup and reports what left; the hub validates
  the Odoo delivery with those quantities. It holds too few crates for the first such
  order: that one is picked short and leaves a backorder in Odoo.

Which order meets which noise, and what each load is invoiced, is drawn from a seeded
generator when the day is planned: the same seed plays the same day and invoices the same
amounts, whatever order the loads happen to finish in. Timing follows the wall clock,
scaled so that the last scripted status comes just before the announced end of the day;
the day then lasts exactly as long as announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from intermodal.connectors.odoo.client import Connection, OdooClient, OdooError
from intermodal.security.secrets import Secret
from intermodal_sim.customs.app import CustomsScript, Hold
from intermodal_sim.demo.world import World
from intermodal_sim.tms.app import TmsScript, linehaul_cents
from intermodal_sim.wms.app import WmsScript

CUSTOMERS = ("AZ-001", "DA-002", "GF-003", "RM-005")
PRODUCTS = ("FCL40", "FCL20", "FTL")
GOODS = ("CRATE", "CARTON")
"""The customers' goods the warehouse ships (products of type goods: they make a delivery)."""
GOODS_EVERY = 6
SHORT = {"CRATE": 3}
"""The warehouse's stock of crates: the one order of crates (5) is picked short."""


# When things happen, as fractions of the script's unit (`Script.unit`, in seconds).
ENTRY_SPAN = 0.4  # the sales team enters the orders over this part of the unit
TENDER_DELAY = 0.01  # the TMS answers a tender after this long
STEP_DELAY = 0.07  # between two statuses of a load (dispatched ... delivered)
WMS_STAGE = 0.01  # pick, pack, ship: the goods leave well before the truck's pickup
CUSTOMS_DECISION = 0.02
CUSTOMS_HOLD = 0.15
OUTAGE = (0.12, 0.22)  # the TMS is down
RESUME = 0.75  # the stalled loads get moving again, after their SLA passed
SCRIPT_END = 0.92
"""The share of the day by which everything scripted has happened: the rest is for the
hub's last invoices, so the day is over when the announced time is."""


@dataclass(frozen=True)
class DayPlan:
    orders: int = 120
    seconds: float = 240.0
    """How long the day lasts, as announced."""
    seed: int = 7


@dataclass(frozen=True)
class Order:
    key: str
    start: float  # fraction of the unit when it is entered
    customer: str
    product: str
    over_quote: bool
    duplicate_pod: bool
    goods: tuple[tuple[str, int], ...] = ()
    """What the warehouse ships for the order (product internal reference, quantity)."""


@dataclass
class Script:
    """The day decided up front: the orders and what the partners will do with them."""

    orders: list[Order]
    tms: TmsScript
    customs: CustomsScript
    declined: set[str]
    held: set[str]
    stalled: set[str]
    wms: WmsScript
    short_picked: set[str]
    """Orders the warehouse picks short: each leaves a backorder in Odoo."""
    unit: float
    """Seconds per unit of the script's times, chosen so that the last scripted thing
    happens at SCRIPT_END of the day."""
    ends_at: float
    """When the last scripted thing happens (a load's last status), in seconds."""
    outage: tuple[float, float] = OUTAGE

    @property
    def deliveries(self) -> int:
        """Loads the TMS will deliver: every order it does not decline."""
        return len(self.orders) - len(self.declined)

    @property
    def invoiced(self) -> list[Order]:
        """Orders Odoo will invoice: delivered ones, less those invoiced above their quote
        (the dispute holds the invoice)."""
        return [o for o in self.orders if o.key not in self.declined and not o.over_quote]

    def invoiced_cents(self) -> int:
        """What the day's invoices add up to, freight and fuel, in cents."""
        return sum(
            cents + cents * FUEL_PERCENT // 100
            for cents in (self.tms.linehauls[o.key] for o in self.invoiced)
        )


FUEL_PERCENT = 12  # the TMS's fuel surcharge on the linehaul (tms/app.py `settle`)


def _last_status(order: Order, faults: set[str]) -> float:
    """When (in units) the order's load reports its last status."""
    start = order.start
    if OUTAGE[0] <= start < OUTAGE[1]:  # its tender waits in the outbox for the TMS
        start = OUTAGE[1]
    steps = 4 + ("exception" in faults)
    if "stall" in faults:  # from in_transit on, it moves only after it is resumed
        return max(RESUME, start + TENDER_DELAY + 3 * STEP_DELAY) + (steps - 3) * STEP_DELAY
    return start + TENDER_DELAY + steps * STEP_DELAY


def plan_day(plan: DayPlan) -> Script:
    """Everything the outside world will do, drawn from `plan.seed` alone: the same seed
    plays the same orders, noise and amounts, whatever the timing of the run."""
    rng = random.Random(plan.seed)  # a demo script: no secret here
    orders: list[Order] = []
    faults: dict[str, set[str]] = {}
    declined: set[str] = set()
    stalled: set[str] = set()
    short_picked: set[str] = set()
    for i in range(plan.orders):
        key = f"DEMO-{i + 1:04d}"
        goods: tuple[tuple[str, int], ...] = ()
        if i % GOODS_EVERY == GOODS_EVERY - 2:
            # the first order with goods gets crates, of which the warehouse has too few
            goods = (("CARTON", 4),) if short_picked else (("CRATE", 5),)
            if not short_picked:
                short_picked.add(key)
        orders.append(
            Order(
                key=key,
                start=ENTRY_SPAN * i / max(plan.orders, 1),
                customer=CUSTOMERS[i % len(CUSTOMERS)],
                product=PRODUCTS[i % len(PRODUCTS)],
                over_quote=i % 25 == 7,
                duplicate_pod=rng.random() < 0.1,
                goods=goods,
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
    last = max(
        [RESUME if stalled else 0.0]
        + [_last_status(o, faults.get(o.key, set())) for o in orders if o.key not in declined]
    )
    unit = plan.seconds * SCRIPT_END / last
    tms = TmsScript(
        seed=plan.seed,
        reply="x12",
        settle="x12",
        tender_delay_ms=unit * TENDER_DELAY * 1000,
        step_delay_ms=unit * STEP_DELAY * 1000,
        decisions={key: "decline" for key in declined},
        load_faults=faults,
    )
    # The linehaul each load will be invoiced, decided here rather than when each load
    # happens to settle, so the plan implies the day's amounts.
    tms.linehauls = {o.key: linehaul_cents(tms.random_for(o.key, "linehaul")) for o in orders}
    # Customers DA-002, GF-003 and RM-005 are in Belgium, the Netherlands and Germany, the
    # company in the US: their orders cross a border and the hub files them with the broker.
    held = {orders[5].key} if len(orders) > 5 else set()
    customs = CustomsScript(
        seed=plan.seed,
        decision_delay_ms=unit * CUSTOMS_DECISION * 1000,
        holds={
            key: Hold(
                code="DOC",
                reason="commercial invoice missing",
                release_after_ms=unit * CUSTOMS_HOLD * 1000,
            )
            for key in held
        },
    )
    stage_ms = unit * WMS_STAGE * 1000
    wms = WmsScript(
        seed=plan.seed,
        stage_delays_ms={"pick": stage_ms, "pack": stage_ms, "ship": stage_ms},
        stock=dict(SHORT),
    )
    return Script(
        orders, tms, customs, declined, held, stalled, wms, short_picked, unit, unit * last
    )


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


Progress = Callable[[str, float], None]
"""Told how far the day is: ("day", seconds), ("orders", entered), ("delivered", loads the
TMS delivered), ("invoiced", customer invoices in Odoo)."""


class Day:
    """Plays the script for `plan.seconds`, telling `progress` how far it is."""

    def __init__(
        self,
        world: World,
        plan: DayPlan,
        script: Script,
        progress: Progress | None = None,
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
            self._odoo = self._odoo_client(http)
            await self._look_up_odoo_ids()
            self._t0 = time.monotonic()
            orders = [self._order(o) for o in self.script.orders]
            await asyncio.gather(*orders, self._outage(), self._proofs_of_delivery(), self._clock())
        return self.tally

    async def report(self) -> None:
        """Tell `progress` where the deliveries and invoices stand now (after the day, once
        the hub has finished its work)."""
        async with httpx.AsyncClient(timeout=30) as http:
            await self._report(self._odoo_client(http))

    def _odoo_client(self, http: httpx.AsyncClient) -> OdooClient:
        odoo = self.world.odoo
        return OdooClient(Connection(odoo.url, odoo.db, Secret(odoo.api_key)), http)

    def seconds(self) -> float:
        """How far into the day we are, in seconds."""
        return time.monotonic() - self._t0

    async def _at(self, fraction: float) -> None:
        """Wait until `fraction` of the script's unit."""
        delay = self._t0 + fraction * self.script.unit - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _clock(self) -> None:
        """The day's own progress, until its announced end."""
        assert self._odoo is not None
        while (now := self.seconds()) < self.plan.seconds:
            self.progress("day", now)
            # a progress bar is not worth failing the day for
            with contextlib.suppress(httpx.HTTPError, OdooError):
                await self._report(self._odoo)
            await asyncio.sleep(min(1.0, max(0.0, self.plan.seconds - self.seconds())))
        self.progress("day", self.plan.seconds)

    async def _report(self, odoo: OdooClient) -> None:
        with self.world.tms.script.lock:
            loads = self.world.tms.script.loads.values()
            # a load that reported delivered counts, whatever it reported after (the
            # reordered statuses of the noise)
            delivered = sum(1 for ld in loads if any(st["step"] == "delivered" for st in ld.steps))
        self.progress("delivered", delivered)
        self.progress("invoiced", await invoices_in_odoo(odoo))

    async def _look_up_odoo_ids(self) -> None:
        assert self._odoo is not None
        for model, field_name, values in (
            ("res.partner", "ref", CUSTOMERS),
            ("product.product", "default_code", PRODUCTS + GOODS),
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
            lines = [[0, 0, {"product_id": self._ids[("product.product", order.product)]}]]
            lines += [
                [0, 0, {"product_id": self._ids[("product.product", code)],
                        "product_uom_qty": qty}]
                for code, qty in order.goods
            ]  # fmt: skip
            (order_id,) = await self._odoo.call(
                "sale.order",
                "create",
                vals_list=[
                    {
                        "partner_id": self._ids[("res.partner", order.customer)],
                        "client_order_ref": order.key,
                        "order_line": lines,
                    }
                ],
            )
            await self._odoo.call("sale.order", "action_confirm", [order_id])
            if order.goods:  # the warehouse gets the pick list of the order's goods
                pick_list = {
                    "order_id": f"{order.key}-OUT",
                    "shipment_key": order.key,
                    "lines": [{"sku": code, "qty": qty} for code, qty in order.goods],
                }
                await self._post_json(f"{self.world.wms_url}/v1/orders", pick_list)
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
        self.tally.outage_seconds = (end - start) * self.script.unit
        self.tally.tms_refused_during_outage = self.world.tms_outage.refused
        if not self.script.stalled:
            return
        # the stalled loads get moving again in the afternoon, after their SLA passed
        await self._at(RESUME)
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
        while sent != expected and self.seconds() < self.plan.seconds:
            await asyncio.sleep(min(1.0, self.script.unit / 200))
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


async def invoices_in_odoo(odoo: OdooClient) -> int:
    """Customer invoices in Odoo: the last step of each order's story."""
    count = await odoo.call(
        "account.move", "search_count", domain=[["move_type", "=", "out_invoice"]]
    )
    return int(count)


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
