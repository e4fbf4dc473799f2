"""Done when: a carrier outage during rate shopping and booking moves traffic to the other
carrier, the breaker closes again after recovery, and no shipment ends with two live
labels (counted in the simulators' own ledgers)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from intermodal.connectors.carriers.registry import build_connector
from intermodal.connectors.carriers.shopping import (
    BookingOutcome,
    NoCarrierBooked,
    RateShopper,
    ShoppingPolicy,
)
from intermodal.outbox.dispatcher import Dispatcher
from intermodal.store import Store, open_store
from intermodal.store.tables import outbox
from intermodal.wiring import SINK_KINDS
from intermodal_sim.carriers.script import Control

from .conftest import PARCELS, Sims, shipment


async def test_outage_moves_traffic_and_never_leaves_two_live_labels(
    sims: Sims, db_url: str
) -> None:
    store = open_store(db_url)
    pp = sims.scripts["parcelpro"]
    policy = ShoppingPolicy(deadline_seconds=1.5, breaker_failures=2, breaker_reset_seconds=0.4)
    async with httpx.AsyncClient() as client:
        connectors = {
            name: build_connector(sims.settings.endpoints[name], client)
            for name in ("parcelpro", "freightline")
        }
        shopper = RateShopper(connectors, policy, store)

        async def ship(key: str) -> BookingOutcome:
            quote = await shopper.shop(shipment(key), PARCELS)
            return await shopper.book(shipment(key), PARCELS, quote)

        # Healthy: the cheapest offer is ParcelPro's.
        assert (await ship("SH-1")).booking.carrier == "parcelpro"

        # ParcelPro makes the label but the answer is lost: book with FreightLine and
        # schedule a void of whatever SH-2's reference made at ParcelPro.
        pp.apply(Control(lose_booking_responses=1))
        second = await ship("SH-2")
        assert second.booking.carrier == "freightline"
        assert len(second.compensations) == 1
        assert sims.live_labels("SH-2") == 2  # until the void lands

        # Outage during shopping: the second failure opens ParcelPro's breaker.
        pp.apply(Control(outage=True))
        third = await ship("SH-3")
        assert third.booking.carrier == "freightline"
        assert shopper.breakers["parcelpro"].state == "open"

        # While open, ParcelPro is not even asked.
        before = pp.requests
        fourth = await ship("SH-4")
        assert fourth.booking.carrier == "freightline"
        assert fourth.failures["parcelpro"] == "breaker open"
        assert pp.requests == before

        # The void waits in the outbox while ParcelPro is down, and is not lost.
        dispatcher = Dispatcher(store, sims.settings, sink_kinds=SINK_KINDS)
        await dispatcher.run_once()
        assert _void_status(store) == "pending"

        # Recovery: after the reset interval one trial goes through and closes the breaker.
        pp.apply(Control(outage=False))
        await asyncio.sleep(policy.breaker_reset_seconds + 0.05)
        fifth = await ship("SH-5")
        assert fifth.booking.carrier == "parcelpro"
        assert shopper.breakers["parcelpro"].state == "closed"

        # Outage that starts between shopping and booking: the booking falls back.
        quote = await shopper.shop(shipment("SH-6"), PARCELS)
        pp.apply(Control(outage=True))
        sixth = await shopper.book(shipment("SH-6"), PARCELS, quote)
        assert sixth.booking.carrier == "freightline"
        pp.apply(Control(outage=False))

        # The dispatcher delivers the voids once ParcelPro answers again.
        for _ in range(100):
            await dispatcher.run_once()
            if _void_status(store) == "delivered":
                break
            await asyncio.sleep(0.05)
        await dispatcher.aclose()
    assert _void_status(store) == "delivered"
    for key in ("SH-1", "SH-2", "SH-3", "SH-4", "SH-5", "SH-6"):
        assert sims.live_labels(key) == 1, key
    store.dispose()


def _void_status(store: Store) -> str:
    """The joint status of the void commands: pending while any is, else delivered."""
    with store.read() as conn:
        statuses = {r.status for r in conn.execute(select(outbox.c.status)).all()}
    return "pending" if "pending" in statuses or not statuses else "delivered"


async def test_unknown_outcomes_are_voided_even_when_a_later_call_books(
    sims: Sims, db_url: str
) -> None:
    """Every carrier fails (one after making a label); the next call books elsewhere and
    only then is the lost label voided, never before a booking exists."""
    store = open_store(db_url)
    pp, fl = sims.scripts["parcelpro"], sims.scripts["freightline"]
    async with httpx.AsyncClient() as client:
        connectors = {
            name: build_connector(sims.settings.endpoints[name], client)
            for name in ("parcelpro", "freightline")
        }
        shopper = RateShopper(connectors, ShoppingPolicy(breaker_failures=5), store)
        quote = await shopper.shop(shipment("SH-9"), PARCELS)
        pp.apply(Control(lose_booking_responses=1))
        fl.apply(Control(outage=True))
        with pytest.raises(NoCarrierBooked):
            await shopper.book(shipment("SH-9"), PARCELS, quote)
        with store.read() as conn:
            assert conn.execute(select(outbox.c.seq)).first() is None
        pp.apply(Control(outage=True))
        fl.apply(Control(outage=False))
        outcome = await shopper.book(shipment("SH-9"), PARCELS, quote)
        assert outcome.booking.carrier == "freightline"
        assert len(outcome.compensations) == 1
        pp.apply(Control(outage=False))
        dispatcher = Dispatcher(store, sims.settings, sink_kinds=SINK_KINDS)
        await dispatcher.run_once()
        await dispatcher.aclose()
    assert sims.live_labels("SH-9") == 1
    store.dispose()


async def test_a_slow_carrier_misses_the_deadline_and_counts_against_its_breaker(
    sims: Sims,
) -> None:
    sims.scripts["freightline"].apply(Control(latency_ms=1500))
    policy = ShoppingPolicy(deadline_seconds=0.3, breaker_failures=1, breaker_reset_seconds=60)
    async with httpx.AsyncClient() as client:
        connectors = {
            name: build_connector(sims.settings.endpoints[name], client)
            for name in ("parcelpro", "freightline")
        }
        shopper = RateShopper(connectors, policy)
        started = asyncio.get_running_loop().time()
        quote = await shopper.shop(shipment("SH-D"), PARCELS)
        assert asyncio.get_running_loop().time() - started < 1.0
    assert {r.carrier for r in quote.rates} == {"parcelpro"}
    assert quote.failures == {"freightline": "no answer within the deadline"}
    assert shopper.breakers["freightline"].state == "open"
