"""Currency conversion with Odoo's rates: which rate applies on a date, and exact figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import orjson
import pytest

from intermodal.connectors.odoo.sync.rates import convert, round_money
from intermodal.connectors.odoo.sync.storage import store_master_data, store_rates
from intermodal.store import Store, open_store

SYNCED = "2026-11-30T00:00:00.000000Z"
# (odoo id, currency, company (0 = all), day, rate): units of currency per unit of EUR.
RATES = [
    (1, "USD", 0, "2026-01-01", "1.10"),
    (2, "USD", 0, "2026-02-01", "1.20"),
    (3, "JPY", 0, "2026-01-01", "160.5"),
    (4, "KWD", 0, "2026-01-01", "0.3312"),
    (5, "GBP", 0, "2026-01-01", "1"),
    (6, "USD", 2, "2025-12-15", "1.05"),  # company 2's own rate, older than the shared ones
]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = open_store(db_url)
    with store.write() as conn:
        store_rates(
            conn,
            [
                {"odoo_id": i, "currency": c, "company_id": co, "day": d, "rate": r,
                 "write_date": "2026-01-01 00:00:00", "synced_at": SYNCED}
                for i, c, co, d, r in RATES
            ],
        )  # fmt: skip
        store_master_data(
            conn,
            [
                {"kind": "company", "odoo_id": n, "key": f"Company {n}",
                 "data": orjson.dumps({"currency": "EUR"}).decode(),
                 "write_date": "2026-01-01 00:00:00", "synced_at": SYNCED}
                for n in (1, 2)
            ],
        )  # fmt: skip
    yield store
    store.dispose()


def _convert(store: Store, amount: str, a: str, b: str, day: str, **kw: int) -> Decimal | None:
    with store.read() as conn:
        return convert(conn, Decimal(amount), a, b, date.fromisoformat(day), **kw)


def test_the_latest_rate_on_or_before_the_date_applies(store: Store) -> None:
    assert _convert(store, "100", "EUR", "USD", "2026-01-15") == Decimal("110.00")
    assert _convert(store, "110", "USD", "EUR", "2026-01-15") == Decimal("100.00")
    assert _convert(store, "100", "EUR", "USD", "2026-01-31") == Decimal("110.00")
    assert _convert(store, "100", "EUR", "USD", "2026-02-01") == Decimal("120.00")  # same day
    assert _convert(store, "100", "EUR", "USD", "2027-06-30") == Decimal("120.00")


def test_no_rate_before_the_first_one_or_for_an_unknown_currency(store: Store) -> None:
    assert _convert(store, "100", "EUR", "USD", "2025-12-31") is None
    assert _convert(store, "100", "USD", "EUR", "2025-12-31") is None
    assert _convert(store, "100", "EUR", "CHF", "2026-06-01") is None
    assert _convert(store, "100", "ZZZ", "EUR", "2026-06-01") is None


def test_cross_rates_round_to_the_target_currency_minor_units(store: Store) -> None:
    # 100 USD -> EUR at 1.10 -> JPY at 160.5: 14,590.909... yen, which has no minor unit.
    assert _convert(store, "100", "USD", "JPY", "2026-01-15") == Decimal("14591")
    # Kuwaiti dinar: three decimals. 123.45 * 0.3312 = 40.88664.
    assert _convert(store, "123.45", "EUR", "KWD", "2026-01-15") == Decimal("40.887")
    # 1,000 JPY -> USD: 1000 * 1.10 / 160.5 = 6.8535...
    assert _convert(store, "1000", "JPY", "USD", "2026-01-15") == Decimal("6.85")


def test_rounding_is_half_up_like_odoo(store: Store) -> None:
    assert _convert(store, "0.125", "EUR", "GBP", "2026-01-15") == Decimal("0.13")
    assert _convert(store, "10.005", "EUR", "EUR", "2020-01-01") == Decimal("10.01")
    assert _convert(store, "-0.125", "EUR", "GBP", "2026-01-15") == Decimal("-0.13")
    assert round_money(Decimal("1.23456"), "XAU") == Decimal("1.23456")  # no minor unit


def test_a_company_s_own_rate_comes_before_the_shared_ones(store: Store) -> None:
    # Odoo orders by company first, then date: company 2's older row still wins.
    assert _convert(store, "100", "EUR", "USD", "2026-03-01", company_id=2) == Decimal("105.00")
    assert _convert(store, "100", "EUR", "USD", "2026-03-01", company_id=1) == Decimal("120.00")
    # The default company is the first one synced (1).
    assert _convert(store, "100", "EUR", "USD", "2026-03-01") == Decimal("120.00")


def test_without_a_known_company_only_rated_currencies_convert(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.write() as conn:
            store_rates(
                conn,
                [{"odoo_id": i, "currency": c, "company_id": co, "day": d, "rate": r,
                  "write_date": "2026-01-01 00:00:00", "synced_at": SYNCED}
                 for i, c, co, d, r in RATES[:3]],
            )  # fmt: skip
        with store.read() as conn:
            assert convert(conn, Decimal(100), "EUR", "USD", date(2026, 1, 15)) is None
            assert convert(conn, Decimal(100), "USD", "JPY", date(2026, 1, 15)) == Decimal("14591")
    finally:
        store.dispose()


def test_a_re_synced_rate_replaces_the_old_value(store: Store) -> None:
    with store.write() as conn:
        store_rates(
            conn,
            [{"odoo_id": 1, "currency": "USD", "company_id": 0, "day": "2026-01-01",
              "rate": "1.125", "write_date": "2026-01-02 00:00:00", "synced_at": SYNCED}],
        )  # fmt: skip
    assert _convert(store, "100", "EUR", "USD", "2026-01-15") == Decimal("112.50")
