"""Currency conversion with Odoo's own rates, as of a date.

Odoo keeps, per currency, dated rates (`res.currency.rate`): `rate` is how many units of
that currency one unit of the *company* currency buys on and after `name` (its date). The
company currency itself needs no rate row (its rate is 1). A rate row belongs to one
company, or to all of them (`company_id` empty, stored here as 0); Odoo prefers the
company's own rows over the shared ones, then the latest date (odoo/addons/base/models/
res_currency.py `_get_rates_query`: `order='company_id.id, name DESC'`). Converting `amount`
from A to B is therefore `amount * rate(B) / rate(A)`, rounded to B's minor units.

One deliberate difference: when a currency has no rate on or before the date, Odoo falls
back to its oldest later rate, then to 1.0. Billing must not invent an amount, so
`convert` answers None instead and the caller decides (a `no_rate` case, a held invoice).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import orjson
from sqlalchemy import Connection, select

from intermodal.canonical.iso4217 import minor_units
from intermodal.store.tables import currency_rates, master_data

ALL_COMPANIES = 0
"""`company_id` of a rate Odoo shares between all companies (an empty company_id)."""


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up (Odoo's `float_round` default) to the currency's ISO 4217 minor units."""
    places = minor_units(currency)
    if places is None:
        return amount
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def default_company(conn: Connection) -> int:
    """The company whose rates apply when none is named: the first (root) company synced,
    or only the shared rates when no company is known yet."""
    row = conn.execute(
        select(master_data.c.odoo_id)
        .where(master_data.c.kind == "company")
        .order_by(master_data.c.odoo_id)
        .limit(1)
    ).first()
    return int(row.odoo_id) if row else ALL_COMPANIES


def company_currency(conn: Connection, company_id: int) -> str | None:
    """The ISO code of a synced company's currency (the currency of rate 1)."""
    if company_id == ALL_COMPANIES:
        return None
    row = conn.execute(
        select(master_data.c.data).where(
            master_data.c.kind == "company", master_data.c.odoo_id == company_id
        )
    ).first()
    if row is None:
        return None
    currency = orjson.loads(row.data).get("currency")
    return currency if isinstance(currency, str) else None


def rate_on(conn: Connection, currency: str, on_date: date, company_id: int) -> Decimal | None:
    """Units of `currency` per unit of the company currency on `on_date`, None if unknown."""
    row = conn.execute(
        select(currency_rates.c.rate)
        .where(
            currency_rates.c.currency == currency,
            currency_rates.c.company_id.in_({ALL_COMPANIES, company_id}),
            currency_rates.c.day <= on_date.isoformat(),
        )
        # The company's own rows first (company ids are > 0), then the newest day.
        .order_by(
            currency_rates.c.company_id.desc(),
            currency_rates.c.day.desc(),
            currency_rates.c.odoo_id.desc(),
        )
        .limit(1)
    ).first()
    if row is not None:
        try:
            rate = Decimal(row.rate)
        except InvalidOperation:
            return None
        return rate if rate.is_finite() and rate > 0 else None
    if currency == company_currency(conn, company_id):
        return Decimal(1)
    return None


def convert(
    conn: Connection,
    amount: Decimal,
    from_currency: str,
    to_currency: str,
    on_date: date,
    company_id: int | None = None,
) -> Decimal | None:
    """`amount` in `from_currency` expressed in `to_currency` with the rates of `on_date`.

    Rounded to the target currency's minor units; None when either rate is unknown.
    `company_id` selects whose rates apply (default: the root company synced).
    """
    from_currency, to_currency = from_currency.upper(), to_currency.upper()
    if from_currency == to_currency:
        return round_money(amount, to_currency)
    company = default_company(conn) if company_id is None else company_id
    from_rate = rate_on(conn, from_currency, on_date, company)
    to_rate = rate_on(conn, to_currency, on_date, company)
    if from_rate is None or to_rate is None:
        return None
    return round_money(amount * to_rate / from_rate, to_currency)
