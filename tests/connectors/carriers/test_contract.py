"""Each connector against its simulator over real HTTP: the contract holds for both."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from intermodal.canonical.model import MilestoneType
from intermodal.connectors.carriers.contract import (
    CarrierConnector,
    CarrierRejected,
    CarrierUnavailable,
)
from intermodal.connectors.carriers.registry import build_connector, check_endpoint
from intermodal.connectors.carriers.shopping import client_reference
from intermodal_sim.carriers.script import Control

from .conftest import PARCELS, Sims, shipment

CARRIERS = ["parcelpro", "freightline"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def connector(sims: Sims, name: str, client: httpx.AsyncClient) -> CarrierConnector:
    return build_connector(sims.settings.endpoints[name], client)


@pytest.mark.parametrize("name", CARRIERS)
async def test_rates_are_in_the_canonical_model(
    sims: Sims, client: httpx.AsyncClient, name: str
) -> None:
    rates = await connector(sims, name, client).rate(shipment("SH-R"), PARCELS)
    assert {r.service_level for r in rates} == {"standard", "express"}
    assert all(r.carrier == name and r.total.currency == "USD" for r in rates)
    assert all(r.total.amount > 0 and r.charges for r in rates)
    express = next(r for r in rates if r.service_level == "express")
    standard = next(r for r in rates if r.service_level == "standard")
    assert express.transit_days < standard.transit_days


async def test_freightline_gets_pounds_and_inches(sims: Sims, client: httpx.AsyncClient) -> None:
    """2 kg is 4.41 lb, rounded up to 4.5, billed as 5 lb: 9.00 + 5 * 0.31."""
    rates = await connector(sims, "freightline", client).rate(shipment("SH-U"), PARCELS)
    ground = next(r for r in rates if r.service == "GROUND")
    assert ground.total.amount == Decimal("10.55")


@pytest.mark.parametrize("name", CARRIERS)
async def test_book_is_idempotent_per_reference_and_void_ends_the_label(
    sims: Sims, client: httpx.AsyncClient, name: str
) -> None:
    carrier = connector(sims, name, client)
    parcel_shipment = shipment("SH-B")
    rate = (await carrier.rate(parcel_shipment, PARCELS))[0]
    reference = client_reference(parcel_shipment.key, name)
    first = await carrier.book(parcel_shipment, PARCELS, rate, reference)
    again = await carrier.book(parcel_shipment, PARCELS, rate, reference)
    assert again.tracking_number == first.tracking_number
    assert first.label and first.client_reference == reference
    assert sims.live_labels(parcel_shipment.key) == 1
    found = await carrier.find(reference, parcel_shipment.key)
    assert found is not None and found.booking_id == first.booking_id
    await carrier.void(first)
    assert sims.live_labels(parcel_shipment.key) == 0
    assert await carrier.find(reference, parcel_shipment.key) is None


@pytest.mark.parametrize("name", CARRIERS)
async def test_tracking_with_duplicates_gaps_reordering_and_exceptions(
    sims: Sims, client: httpx.AsyncClient, name: str
) -> None:
    carrier = connector(sims, name, client)
    parcel_shipment = shipment("SH-T")
    rate = (await carrier.rate(parcel_shipment, PARCELS))[0]
    booking = await carrier.book(
        parcel_shipment, PARCELS, rate, client_reference(parcel_shipment.key, name)
    )
    clean = await carrier.track(booking.tracking_number)
    assert [e.milestone for e in clean] == [
        MilestoneType.PICKED_UP,
        MilestoneType.IN_TRANSIT,
        MilestoneType.IN_TRANSIT,
        MilestoneType.OUT_FOR_DELIVERY,
        MilestoneType.DELIVERED,
    ]
    sims.scripts[name].apply(
        Control(tracking_faults=["duplicates", "gaps", "reorder", "exception"])
    )
    messy = await carrier.track(booking.tracking_number)
    times = [e.occurred_at for e in messy]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert MilestoneType.EXCEPTION in {e.milestone for e in messy}
    assert next(e for e in messy if e.milestone is MilestoneType.EXCEPTION).reason
    assert all(e.tracking_number == booking.tracking_number for e in messy)


@pytest.mark.parametrize("name", CARRIERS)
async def test_outage_is_unavailable_and_bad_requests_are_rejections(
    sims: Sims, client: httpx.AsyncClient, name: str
) -> None:
    carrier = connector(sims, name, client)
    with pytest.raises(CarrierRejected):
        await carrier.track("NO-SUCH-NUMBER")
    sims.scripts[name].apply(Control(outage=True))
    with pytest.raises(CarrierUnavailable):
        await carrier.rate(shipment("SH-O"), PARCELS)


@pytest.mark.parametrize("name", CARRIERS)
async def test_wrong_credentials_are_a_rejection(
    sims: Sims, client: httpx.AsyncClient, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = sims.settings.endpoints[name]
    secret_field = "api_key" if name == "parcelpro" else "password"
    options = {**endpoint.options, secret_field: "env:CARRIER_TEST_WRONG"}
    monkeypatch.setenv("CARRIER_TEST_WRONG", "wrong")
    carrier = build_connector(dataclasses.replace(endpoint, options=options), client)
    with pytest.raises(CarrierRejected):
        await carrier.rate(shipment("SH-A"), PARCELS)


def test_misconfigured_endpoints_are_named(sims: Sims) -> None:
    endpoint = sims.settings.endpoints["parcelpro"]
    literal = dataclasses.replace(endpoint, options={"carrier": "parcelpro", "api_key": "abc"})
    unknown = dataclasses.replace(endpoint, options={"carrier": "pigeon"})
    assert "options.api_key" in check_endpoint(literal)[0]
    assert "pigeon" in check_endpoint(unknown)[0]
    assert check_endpoint(endpoint) == []


@pytest.mark.parametrize("name", CARRIERS)
async def test_retry_after_a_lost_answer_finds_the_label_instead_of_making_another(
    sims: Sims, client: httpx.AsyncClient, name: str
) -> None:
    carrier = connector(sims, name, client)
    parcel_shipment = shipment("SH-L")
    rate = (await carrier.rate(parcel_shipment, PARCELS))[0]
    reference = client_reference(parcel_shipment.key, name)
    sims.scripts[name].apply(Control(lose_booking_responses=1))
    with pytest.raises(CarrierUnavailable):
        await carrier.book(parcel_shipment, PARCELS, rate, reference)
    assert sims.live_labels(parcel_shipment.key) == 1  # made, but we never heard of it
    booking = await carrier.book(parcel_shipment, PARCELS, rate, reference)
    assert booking.client_reference == reference
    assert sims.live_labels(parcel_shipment.key) == 1


@pytest.mark.parametrize("name", CARRIERS)
async def test_pickups_are_scheduled_listed_and_cancelled(
    sims: Sims, client: httpx.AsyncClient, name: str
) -> None:
    carrier = connector(sims, name, client)
    parcel_shipment = shipment("SH-P")
    rate = (await carrier.rate(parcel_shipment, PARCELS))[0]
    booking = await carrier.book(
        parcel_shipment, PARCELS, rate, client_reference(parcel_shipment.key, name)
    )
    pickup = await carrier.schedule_pickup(booking, datetime(2026, 1, 6, 9, 0, tzinfo=UTC))
    assert pickup.booking_id == booking.booking_id
    assert await carrier.pickups(booking) == [pickup]
    await carrier.cancel_pickup(pickup)
    assert await carrier.pickups(booking) == []
    assert sims.scripts[name].live_pickups() == []
