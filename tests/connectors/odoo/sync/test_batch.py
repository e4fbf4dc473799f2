"""The master-data sync against the Odoo test server: what it copies, and that a pass stopped
mid-way resumes after its last committed page without skipping or duplicating a record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from intermodal.connectors.odoo.client import OdooClient, OdooError
from intermodal.connectors.odoo.sink import odoo_client
from intermodal.connectors.odoo.sync.batch import MODELS, MasterDataSync
from intermodal.connectors.odoo.sync.rates import convert
from intermodal.connectors.odoo.sync.storage import find_master_data
from intermodal.store import Store, open_store
from intermodal.store.tables import currency_rates, master_data
from intermodal_sim.odoo.testing import RunningSim
from tests.connectors.odoo.helpers import endpoint


@pytest_asyncio.fixture
async def client(sim: RunningSim, protocol: str) -> AsyncIterator[OdooClient]:
    async with httpx.AsyncClient() as http:
        yield odoo_client(endpoint(sim, protocol), http)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    store = open_store(sqlite_url)
    yield store
    store.dispose()


def _rows(store: Store, kind: str) -> dict[str, dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(
            select(master_data.c.key, master_data.c.data).where(master_data.c.kind == kind)
        ).all()
    return {r.key: orjson.loads(r.data) for r in rows}


async def _seed_partners(client: OdooClient, count: int) -> list[int]:
    ids = await client.call(
        "res.partner",
        "create",
        vals_list=[
            {"name": f"Customer {n:03d}", "ref": f"C-{n:03d}", "customer_rank": 1}
            for n in range(count)
        ],
    )
    return list(ids) if isinstance(ids, list) else [ids]


@pytest.mark.asyncio
async def test_a_pass_copies_every_kind_of_master_data(client: OdooClient, store: Store) -> None:
    sync = MasterDataSync(client, store, "odoo", page_size=3)
    read = await sync.sync_once()
    assert list(read) == list(MODELS)
    assert read["delivery.carrier"] == 4 and read["res.currency.rate"] == 4

    carriers = _rows(store, "carrier")
    assert sorted(carriers) == ["DHL Express", "Maersk Line", "Retired Haulage Co", "UPS Standard"]
    assert carriers["DHL Express"]["fixed_price"] == 42.0
    assert carriers["Retired Haulage Co"]["active"] is False  # archived records too
    partners = _rows(store, "partner")
    assert partners["AZ-001"]["vat"] == "US12345671"
    assert partners["AZ-001"]["country_id"]["name"]
    assert partners["OF-999"]["active"] is False
    assert _rows(store, "currency")["CHF"]["active"] is False
    assert _rows(store, "company")["Intermodal Demo Freight"]["currency"] == "USD"
    assert len(_rows(store, "product")) == read["product.product"] >= 7
    with store.read() as conn:
        azure = find_master_data(conn, "partner", "AZ-001")
        assert azure is not None and azure["name"] == "Azure Interior" and azure["odoo_id"] > 0
        assert find_master_data(conn, "partner", "NOPE") is None

    # The rates convert as Odoo does: units per USD (the company currency), latest on or before.
    with store.read() as conn:
        assert convert(conn, Decimal(100), "USD", "EUR", date(2026, 3, 1)) == Decimal("92.00")
        assert convert(conn, Decimal(100), "USD", "EUR", date(2026, 6, 1)) == Decimal("88.00")
        assert convert(conn, Decimal(100), "EUR", "GBP", date(2026, 2, 1)) == Decimal("85.87")
        assert convert(conn, Decimal(100), "USD", "EUR", date(2025, 12, 31)) is None

    # Nothing new: the next pass with no overlap reads nothing.
    sync.overlap_seconds = 0
    assert set((await sync.sync_once()).values()) == {0}


@pytest.mark.asyncio
async def test_a_pass_stopped_mid_way_resumes_without_skipping_or_duplicating(
    client: OdooClient, store: Store, sim: RunningSim
) -> None:
    await _seed_partners(client, 23)
    total = await client.call(
        "res.partner", "search_count", domain=[], context={"active_test": False}
    )
    sync = MasterDataSync(
        client, store, "odoo", models=["res.partner"], page_size=5, overlap_seconds=0
    )
    assert await sync.pending("res.partner") == total

    class Crash(Exception):
        pass

    pages: list[int] = []

    def crash_after_two(model: str, count: int) -> None:
        pages.append(count)
        if len(pages) == 2:
            raise Crash  # the process dies right after its second page committed

    with pytest.raises(Crash):
        await sync.sync_once(on_page=crash_after_two)
    # A page holds at most page_size records: fewer when it ends on a second the cursor
    # then reads on its own (connectors/odoo/cursor.py).
    assert len(_rows(store, "partner")) == sum(pages) <= 10
    assert await sync.pending("res.partner") == total - sum(pages)

    # Odoo goes down after the next page: the pass fails with what it committed kept.
    def odoo_down_after_one(model: str, count: int) -> None:
        pages.append(count)
        sim.set_faults("down=60s")

    with pytest.raises(OdooError):
        await sync.sync_once(on_page=odoo_down_after_one)
    committed = sum(pages)
    assert len(_rows(store, "partner")) == committed and len(pages) == 3
    sim.set_faults(None)

    # A stop in the middle of an Odoo call (the hub shutting down) loses nothing either.
    sim.set_faults("latency=400ms")
    task = asyncio.create_task(sync.sync_once())
    await asyncio.sleep(0.15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sim.set_faults(None)
    assert len(_rows(store, "partner")) == committed

    read = await sync.sync_once()
    assert read == {"res.partner": total - committed}  # exactly the rest, nothing read twice
    with store.read() as conn:
        stored = conn.execute(
            select(master_data.c.odoo_id).where(master_data.c.kind == "partner")
        ).scalars()
        assert sorted(stored) == sorted(
            await client.call("res.partner", "search", domain=[], context={"active_test": False})
        )
    assert {f"C-{n:03d}" for n in range(23)} <= set(_rows(store, "partner"))


@pytest.mark.asyncio
async def test_changes_in_odoo_reach_the_next_pass(client: OdooClient, store: Store) -> None:
    sync = MasterDataSync(
        client, store, "odoo", models=["res.company", "res.partner", "res.currency.rate"]
    )
    await sync.sync_once()
    (azure,) = await client.call("res.partner", "search", domain=[["ref", "=", "AZ-001"]])
    await client.call("res.partner", "write", ids=[azure], vals={"email": "new@azure.example"})
    usd_eur = await client.call("res.currency", "search", domain=[["name", "=", "EUR"]])
    await client.call(
        "res.currency.rate",
        "create",
        vals_list=[{"name": "2026-03-01", "rate": 0.9, "currency_id": usd_eur[0]}],
    )
    await sync.sync_once()
    assert _rows(store, "partner")["AZ-001"]["email"] == "new@azure.example"
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(currency_rates)).scalar() == 5
        assert conn.execute(
            select(func.count()).select_from(master_data).where(master_data.c.kind == "partner")
        ).scalar() == len(_rows(store, "partner"))
        assert convert(conn, Decimal(100), "USD", "EUR", date(2026, 3, 15)) == Decimal("90.00")


def test_an_unknown_model_is_refused_with_the_known_ones(store: Store) -> None:
    with pytest.raises(ValueError, match=r"cannot sync sale\.order: known models are res\.company"):
        MasterDataSync(None, store, "odoo", models=["sale.order"])  # type: ignore[arg-type]


def test_the_cursor_rows_are_apart_from_the_capture_poller_s(store: Store) -> None:
    sync = MasterDataSync(None, store, "odoo")  # type: ignore[arg-type]
    assert sync.cursor("res.partner").model == "sync:res.partner"
