"""Compensations are outbox rows with stable ids: scheduling twice writes one command,
and the `carrier` sink turns it into a find-and-void at the carrier."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from intermodal.connectors.carriers.compensation import schedule_void
from intermodal.connectors.carriers.contract import CarrierRejected
from intermodal.connectors.carriers.registry import build_connector
from intermodal.connectors.carriers.shopping import client_reference
from intermodal.outbox.dispatcher import Dispatcher
from intermodal.store import open_store
from intermodal.store.tables import outbox
from intermodal.wiring import SINK_KINDS

from .conftest import PARCELS, Sims, shipment


async def test_a_void_is_scheduled_once_and_voids_the_label(sims: Sims, db_url: str) -> None:
    store = open_store(db_url)
    reference = client_reference("SH-C", "freightline")
    async with httpx.AsyncClient() as client:
        carrier = build_connector(sims.settings.endpoints["freightline"], client)
        rate = (await carrier.rate(shipment("SH-C"), PARCELS))[0]
        await carrier.book(shipment("SH-C"), PARCELS, rate, reference)
    assert sims.live_labels("SH-C") == 1
    first = schedule_void(store, "freightline", "SH-C", reference, "corr-1")
    second = schedule_void(store, "freightline", "SH-C", reference, "corr-2")
    assert first == second
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 1
    dispatcher = Dispatcher(store, sims.settings, sink_kinds=SINK_KINDS)
    assert await dispatcher.run_once() == 1
    await dispatcher.aclose()
    assert sims.live_labels("SH-C") == 0
    with store.read() as conn:
        assert conn.execute(select(outbox.c.status)).scalar_one() == "delivered"
    store.dispose()


async def test_a_void_of_a_reference_that_made_nothing_is_done(sims: Sims, db_url: str) -> None:
    store = open_store(db_url)
    schedule_void(store, "parcelpro", "SH-N", client_reference("SH-N", "parcelpro"), "corr")
    dispatcher = Dispatcher(store, sims.settings, sink_kinds=SINK_KINDS)
    await dispatcher.run_once()
    await dispatcher.aclose()
    with store.read() as conn:
        assert conn.execute(select(outbox.c.status)).scalar_one() == "delivered"
    store.dispose()


async def test_a_void_cancels_the_pickup_that_blocks_it(sims: Sims, db_url: str) -> None:
    """ParcelPro refuses to void a label with a scheduled pickup: the compensation cancels
    the pickup, then voids."""
    store = open_store(db_url)
    reference = client_reference("SH-K", "parcelpro")
    async with httpx.AsyncClient() as client:
        carrier = build_connector(sims.settings.endpoints["parcelpro"], client)
        rate = (await carrier.rate(shipment("SH-K"), PARCELS))[0]
        booking = await carrier.book(shipment("SH-K"), PARCELS, rate, reference)
        await carrier.schedule_pickup(booking, datetime(2026, 1, 6, 9, 0, tzinfo=UTC))
        with pytest.raises(CarrierRejected, match="pickup_scheduled"):
            await carrier.void(booking)
    schedule_void(store, "parcelpro", "SH-K", reference, "corr")
    dispatcher = Dispatcher(store, sims.settings, sink_kinds=SINK_KINDS)
    await dispatcher.run_once()
    await dispatcher.aclose()
    assert sims.scripts["parcelpro"].live_pickups() == []
    assert sims.live_labels("SH-K") == 0
    store.dispose()
