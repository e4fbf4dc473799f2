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
- the TMS is down for a while around midday (the carrier outage): tenders wait in the
  hub's outbox and go out when it is back, and what the TMS had to report waits with it;
- the drivers' app sends a proof of delivery for every delivered load, sometimes twice,
  and reports what goes wrong on the road in the driver's words: a few loads' problems
  (damage, a closed dock, a wrong address, ...), the breakdown of a stalled truck, and a
  storm over Europe in the afternoon that delays every European load on the road at once
  (a burst of exceptions);
- every sixth order also ships goods from the warehouse (crates or cartons: in Odoo its
  delivery; the freight itself is a service and has none). The warehouse gets their pick
  lists, ships them before the truck's pickup and reports what left; the hub validates
  the Odoo delivery with those quantities. It holds too few crates for the first such
  order: that one is picked short and leaves a backorder in Odoo;
- the trucks' telematics units report where each load's truck is (demo/fleet.py); a
  truck carrying goods leaves with them when the warehouse ships.

What the script plants for the assists to find is its truth, kept apart from what the
hub made of it (the summary compares them): the TMS's outage is a partner going quiet,
the stalled loads are long dwells, the storm is a burst, and every exception the day
causes has the kind an operator would close it as.

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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson

from intermodal.connectors.odoo.client import Connection, OdooClient, OdooError
from intermodal.foresight import eta_model
from intermodal.foresight.eta_refresh import baseline_settings
from intermodal.security.secrets import Secret
from intermodal.store import Store
from intermodal_sim import documents, exception_texts
from intermodal_sim.customs.app import CustomsScript, Hold
from intermodal_sim.demo.fleet import FleetTally, past_trips
from intermodal_sim.demo.world import HeldLink, World
from intermodal_sim.partner import HubLink, webhook_key_of
from intermodal_sim.telematics.fleet import DEMO_LANES
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
OUTAGE = (0.36, 0.51)  # the TMS is down
RESUME = 0.75  # the stalled loads get moving again, after their SLA passed
STORM = (0.3, 0.34)  # a storm over Europe: drivers on the road report it
EUROPE = ("DA-002", "GF-003", "RM-005")
DRIVER_CAUSES = ("damage", "accident", "consignee_unavailable", "closed", "address",
                 "customs_inspection", "delay", "lost")  # fmt: skip
"""What drivers report from the road (intermodal_sim.exception_texts' causes)."""
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
    driver_report: str | None = None
    """The cause the driver reports from the road (exception_texts), if any."""
    pod_document: str | None = None
    """The signed delivery paper the driver's app also sends: `pdf`, `scan` or None."""
    invoice_document: bool = False
    """The TMS sends its freight invoice as a PDF too."""
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

    def truth(self) -> dict[str, str]:
        """The kind an operator would close each planned exception as, by shipment: a
        declined tender is the carrier's, a TMS delay report a delay, the broker's hold a
        customs hold, a driver's report its cause's kind. (The storm's and the
        breakdowns' reports are added as the day reports them: `Tally.truth`.)"""
        found = {key: "carrier_exception" for key in self.declined}
        for key, faults in self.tms.load_faults.items():
            if "exception" in faults and key not in self.declined:
                found[key] = exception_texts.PHRASES["delay"][0]
        found.update({key: "customs_hold" for key in self.held})
        for order in self.orders:
            if order.driver_report is not None:
                found[order.key] = exception_texts.PHRASES[order.driver_report][0]
        return found

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
        elif i % 45 == 2 and i < plan.orders / 2:
            # stalls early in the day, so the stall outlasts the SLA; it stalls before
            # in_transit, so not on a load that reports in_transit last
            noise.discard("reorder")
            noise.add("stall")
            stalled.add(key)
        if noise:
            faults[key] = noise
    # Drivers' reports from the road: one load in twelve, the first early (a partner's
    # usual exceptions are learnt from its first one), none on a load with another planned
    # exception.
    held_key = orders[5].key if len(orders) > 5 else None
    for i, order in enumerate(orders):
        planted = {"exception", "stall"} & faults.get(order.key, set())
        busy = order.key in declined or order.key == held_key or bool(planted)
        if not busy and (i == 1 or i % 12 == 9):
            cause = DRIVER_CAUSES[rng.randrange(len(DRIVER_CAUSES))]
            orders[i] = replace(order, driver_report=cause)
    # The signed papers of the goods deliveries (the freight alone is a service: no
    # delivery in Odoo to attach a paper to), every fourth a photo for the OCR.
    for i, order in enumerate(orders):
        if order.key in declined:
            continue
        paper = (
            ("scan" if i % (4 * GOODS_EVERY) == GOODS_EVERY - 2 else "pdf") if order.goods else None
        )
        orders[i] = replace(
            order, pod_document=paper, invoice_document=order.over_quote or i % 5 == 3
        )
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
    windows: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    """When the planted anomalies happened (`outage`, `storm`), on the wall clock: a
    finding of its kind and subject in (or just after) its window is the planted one."""
    tms_refused_during_outage: int = 0
    driver_reports: int = 0
    documents: Counter[str] = field(default_factory=Counter)
    """Documents sent, by kind (pod, invoice)."""
    storm: list[str] = field(default_factory=list)
    """The loads whose drivers reported the storm."""
    truth: dict[str, str] = field(default_factory=dict)
    """The kind each exception of the day really is, by shipment (`Script.truth`, and the
    reports the day made)."""
    model: str = ""
    """How the arrival-time model the day used came to be (`prepare_arrival_model`)."""
    fleet: FleetTally | None = None
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
        # where each load's truck goes, and how far ahead of the TMS's pickup a truck with
        # goods leaves the warehouse (its ship comes WMS_STAGE after each of pick and pack)
        world.fleet.places = {o.key: DEMO_LANES[o.customer][-1] for o in script.orders}
        if world.wms is not None:
            ahead = TENDER_DELAY + 2 * STEP_DELAY - 3 * WMS_STAGE
            world.wms.head_start_seconds = max(0.0, ahead * script.unit)

    async def play(self) -> Tally:
        async with httpx.AsyncClient(timeout=30) as http:
            self._http = http
            self._odoo = self._odoo_client(http)
            await self._look_up_odoo_ids()
            self._t0 = time.monotonic()
            start = datetime.now(UTC)
            for name, (begin, end) in (("outage", self.script.outage), ("storm", STORM)):
                self.tally.windows[name] = (
                    start + timedelta(seconds=begin * self.script.unit),
                    start + timedelta(seconds=end * self.script.unit),
                )
            self.tally.truth.update(self.script.truth())
            orders = [self._order(o) for o in self.script.orders]
            await asyncio.gather(
                *orders,
                self._outage(),
                self._proofs_of_delivery(),
                self._papers(),
                self._drivers(),
                self._trucks(),
                self._clock(),
            )
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
            # The tariff's quote, freight and fuel: the lane's price the TMS will invoice,
            # except for the loads quoted the lowest lane price and invoiced above it.
            cents = 75_000 if order.over_quote else self.script.tms.linehauls[order.key]
            fuel = cents * FUEL_PERCENT // 100
            await self._events(
                "DEMO_RATING_TOKEN",
                [_charge("rating", order.key, "freight", _usd(cents), "provisional"),
                 _charge("rating", order.key, "fuel", _usd(fuel), "provisional")],
            )  # fmt: skip
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

    # -- documents: the drivers' signed papers, the TMS's invoices ---------------------------
    async def _papers(self) -> None:
        """The signed delivery paper of each load planned to send one, once delivered (a
        PDF, or a photo for the hub's OCR), from the drivers' app; the TMS's invoice PDF of
        each load planned to send one, once the TMS has sent its 210 (same charges)."""
        world = self.world
        epod = HubLink(world.hub_url, "epod", token=world.secret("DEMO_EPOD_TOKEN"))
        key = webhook_key_of(world.secret("DEMO_TMS_SECRET"))
        tms = HeldLink(world.hub_url, "tms", key=key, down=world.tms_outage.down)
        papers = {o.key: o for o in self.script.orders if o.pod_document}
        invoices = {o.key: o for o in self.script.orders if o.invoice_document}
        while (papers or invoices) and self.seconds() < self.plan.seconds:
            await asyncio.sleep(min(1.0, self.script.unit / 100))
            for load in self._loads():
                order = papers.get(load.shipment_key)
                if order is not None and load.status == "delivered":
                    del papers[order.key]
                    await self._paper(epod, order)
                order = invoices.get(load.shipment_key)
                if order is not None and load.settled:
                    del invoices[order.key]
                    await self._invoice(tms, order, dict(load.charges))
        for link in (epod, tms):
            await link.aclose()

    async def _paper(self, link: HubLink, order: Order) -> None:
        rng = random.Random(f"{self.plan.seed}:{order.key}:pod")
        spec = replace(
            documents.random_pod(rng, reference=order.key),
            delivered_at=datetime.now(UTC).replace(second=0, microsecond=0),
        )
        if order.pod_document == "scan":
            body = documents.scan(documents.pod_text(spec), documents.NOISE_LEVELS["light"],
                                  seed=rng.randrange(1000))  # fmt: skip
            content_type, name = "image/jpeg", f"pod-{order.key}.jpg"
        else:
            body, content_type, name = (
                documents.pod_pdf(spec),
                "application/pdf",
                f"pod-{order.key}.pdf",
            )
        await self._document(link, f"pod-{order.key}", body, content_type, "pod", order.key, name)

    async def _invoice(self, link: HubLink, order: Order, charges: dict[str, int]) -> None:
        rng = random.Random(f"{self.plan.seed}:{order.key}:invoice")
        amounts = {code: Decimal(cents) / 100 for code, cents in charges.items()}
        spec = replace(
            documents.random_invoice(rng, reference=order.key, amounts=amounts, currency="USD"),
            invoice_date=datetime.now(UTC).date(),
        )
        body = documents.invoice_pdf(spec)
        name = f"{spec.invoice_number}.pdf"
        await self._document(link, f"invoice-{order.key}", body, "application/pdf", "invoice",
                             order.key, name)  # fmt: skip

    async def _document(
        self, link: HubLink, message_id: str, body: bytes, content_type: str, kind: str,
        key: str, name: str,
    ) -> None:  # fmt: skip
        report = await link.document(message_id, body, content_type, kind, key, name)
        if report.delivered:
            self.tally.documents[kind] += 1
        else:
            self.tally.errors.append(f"{key}: {kind} document: {report.error}")

    # -- the drivers' reports from the road, and their trucks ------------------------------
    def _loads(self) -> list[Any]:
        with self.world.tms.script.lock:
            return list(self.world.tms.script.loads.values())

    async def _drivers(self) -> None:
        """Each planned report once its load is on the road; a stalled truck's driver
        reports the breakdown; during the storm, every European load on the road."""
        by_key = {o.key: o for o in self.script.orders}
        done: set[str] = set()
        while self.seconds() < self.plan.seconds * SCRIPT_END:
            await asyncio.sleep(min(0.5, self.script.unit / 200))
            fraction = self.seconds() / self.script.unit
            for load in self._loads():
                key = load.shipment_key
                steps = {step["step"] for step in load.steps}
                if key in done or "picked_up" not in steps or "delivered" in steps:
                    continue
                order = by_key.get(key)
                if order is None:
                    continue
                cause = order.driver_report
                if load.status == "stalled":
                    cause = "equipment"
                elif cause is None and STORM[0] <= fraction < STORM[1]:
                    if order.customer not in EUROPE or key in self.tally.truth:
                        continue  # one exception a load: its truth stays one kind
                    cause = "weather"
                    self.tally.storm.append(key)
                if cause is None:
                    continue
                done.add(key)
                self.tally.truth[key] = exception_texts.PHRASES[cause][0]
                text = _driver_words(cause, random.Random(f"{self.plan.seed}:{key}:driver"))
                data = {"milestone": "exception", "occurred_at": _now(), "reason": text}
                event = _event("epod", "intermodal.shipment.milestone", key, data)
                try:
                    await self._events("DEMO_EPOD_TOKEN", [event])
                    self.tally.driver_reports += 1
                except Exception as exc:
                    self.tally.errors.append(f"{key}: driver's report: {type(exc).__name__}: {exc}")

    async def _trucks(self) -> None:
        fleet = self.world.fleet
        self.tally.fleet = await fleet.drive(
            until=lambda: self.seconds() >= self.plan.seconds, loads=self._loads
        )
        self.tally.errors.extend(fleet.tally.errors)

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


def _driver_words(cause: str, rng: random.Random) -> str:
    """What a driver types for `cause`: one of its phrasings, roughened as people type."""
    _kind, styles = exception_texts.PHRASES[cause]
    style = rng.choice(sorted(styles))
    return exception_texts.roughen(rng, rng.choice(styles[style]))


def _usd(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _charge(source: str, key: str, code: str, amount: str, status: str) -> dict[str, Any]:
    data = {
        "code": code,
        "kind": code,
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


def prepare_arrival_model(world: World, store: Store, script: Script, seed: int) -> str:
    """The arrival-time model of the day, when the hub has none in use: trained on
    simulated past days of the demo's fleet (demo/fleet.py `past_trips`, the newest fifth
    held out) and recorded as the hub's trainer records a version (eta_model.save), so the
    hub uses it only if it beat the baseline there. Says what was done, for the summary."""
    config = world.settings.foresight
    if config is None or not config.eta.enabled:
        return "arrival times are off"
    with store.read() as conn:
        if eta_model.active_version(conn) is not None:
            return "the hub's own model"
    if eta_model.sklearn_version() is None:
        return f"none: {eta_model.MISSING}"
    tick = world.fleet.tick_seconds
    step = script.tms.step_delay_ms / 1000
    now = datetime.now(UTC)
    trips = past_trips(PAST_TRIPS, seed, step, tick, until=now - timedelta(hours=1))
    cut = len(trips) - max(1, round(len(trips) * config.eta.model.held_out))
    training, held_out = trips[:cut], trips[cut:]
    trained = eta_model.train(
        [s for t in training for s in t.samples],
        [s for t in held_out for s in t.samples],
        baseline_settings(config.eta),
        now,
        len(training),
        len(held_out),
        min_trips=min(config.eta.model.min_trips, len(trips)),
        min_gain=config.eta.model.min_gain,
        params=eta_model.TrainingParams(max_iter=100, threads=config.eta.model.threads),
    )
    with store.write() as conn:
        version = eta_model.save(conn, trained)
    return f"model v{version} trained on {len(trips)} simulated past trips of the demo's fleet"


PAST_TRIPS = 300
"""Simulated past trips the day's arrival-time model learns from (about 3 s of training)."""
