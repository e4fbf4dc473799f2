"""The four reconciliation checks as pure functions over facts loaded from the store.

Amounts are Decimals end to end (never floats) and are rounded only once, to the minor units
of the currency they are shown in. A figure's value is the sum of its rows converted to the
report currency with Odoo's rates on each row's date; a row that cannot be converted (no
rate) still counts, and is counted again under `unconverted` so a reader knows the value is
short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from intermodal.connectors.odoo.sync.rates import round_money
from intermodal.engine.ids import iso, parse_iso
from intermodal.workflows.reconcile.settings import ReconcileConfig

CATEGORIES = (
    "delivered_not_invoiced",
    "invoiced_without_pod",
    "freight_disputes",
    "provisional_not_finalised",
)

_MAX = Decimal(10) ** 12

Converter = Callable[[Decimal, str, str, date], Decimal | None]
"""(amount, from, to, on) -> amount in `to`, or None without a rate (sync.rates.convert)."""


@dataclass(frozen=True)
class ShipmentFacts:
    """What reconciliation needs of one shipment."""

    key: str
    state: str | None
    delivered_at: datetime | None
    document: dict[str, Any]
    invoice_status: str | None = None
    """Status of its invoice command in the outbox (`pending`, `delivered`...), None if none."""
    not_invoiced: bool = False
    """Delivered and not invoiced by the store's one rule (workflows/billing.py), which
    this report applies its grace period to."""


@dataclass(frozen=True)
class ChargeFact:
    """One charge event as recorded (events table), provisional or final."""

    subject: str
    partner: str
    at: datetime
    code: str
    status: str
    amount: Decimal
    currency: str


@dataclass
class Report:
    currency: str
    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {c: [] for c in CATEGORIES}
    )
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)


def _money(value: Any) -> tuple[Decimal, str] | None:
    if not isinstance(value, dict) or not isinstance(value.get("currency"), str):
        return None
    try:
        amount = Decimal(str(value.get("amount")))
    except InvalidOperation:
        return None
    # The canonical Money holds at most 12 integer digits; anything else was edited by hand.
    return (amount, value["currency"]) if amount.is_finite() and abs(amount) < _MAX else None


def document_charges(document: dict[str, Any]) -> list[tuple[str, str, Decimal, str]]:
    """(code, status, amount, currency) of the shipment's current charges, by code."""
    out = []
    charges = document.get("charges")
    for code, slot in sorted(charges.items() if isinstance(charges, dict) else []):
        data = slot.get("data") if isinstance(slot, dict) else None
        money = _money(data.get("amount")) if isinstance(data, dict) else None
        if money is not None and isinstance(data, dict):
            out.append((code, str(data.get("status")), *money))
    return out


class _Totals:
    """Sums a shipment's charges in one currency: its own when they agree, else the report's."""

    def __init__(self, convert: Converter, currency: str) -> None:
        self.convert = convert
        self.currency = currency

    def shipment(self, document: dict[str, Any], on: date) -> tuple[Decimal | None, str]:
        charges = document_charges(document)
        currencies = {c[3] for c in charges}
        if len(currencies) <= 1:
            currency = currencies.pop() if currencies else self.currency
            return round_money(sum((c[2] for c in charges), Decimal(0)), currency), currency
        total = Decimal(0)
        for _code, _status, amount, currency in charges:
            converted = self.convert(amount, currency, self.currency, on)
            if converted is None:
                return None, self.currency
            total += converted
        return round_money(total, self.currency), self.currency


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def reconcile(
    shipments: Iterable[ShipmentFacts],
    charges: Iterable[ChargeFact],
    config: ReconcileConfig,
    now: datetime,
    currency: str,
    convert: Converter,
) -> Report:
    """Every category's rows and figures, as of `now`, values in `currency`."""
    report = Report(currency)
    totals = _Totals(convert, currency)
    grace = now - timedelta(hours=config.grace_hours)
    provisional_cutoff = now - timedelta(days=config.days_provisional)
    row_dates: dict[int, date] = {}

    for ship in shipments:
        if ship.state in ("cancelled", "returned"):
            continue
        on = (ship.delivered_at or now).date()
        if ship.not_invoiced and ship.delivered_at is not None and ship.delivered_at <= grace:
            amount, cur = totals.shipment(ship.document, on)
            row: dict[str, Any] = {
                "shipment": ship.key,
                "delivered_at": iso(ship.delivered_at),
                "invoice_status": ship.invoice_status or "none",
                "amount": _text(amount),
                "currency": cur,
            }
            report.rows["delivered_not_invoiced"].append(row)
            row_dates[id(row)] = on
        if ship.invoice_status is not None and "pod" not in ship.document:
            amount, cur = totals.shipment(ship.document, on)
            row = {
                "shipment": ship.key,
                "invoice_status": ship.invoice_status,
                "state": ship.state,
                "amount": _text(amount),
                "currency": cur,
            }
            report.rows["invoiced_without_pod"].append(row)
            row_dates[id(row)] = on
        if ship.delivered_at is not None and ship.delivered_at <= provisional_cutoff:
            for code, status, amount, cur in document_charges(ship.document):
                if status != "provisional":
                    continue
                row = {
                    "shipment": ship.key,
                    "code": code,
                    "delivered_at": iso(ship.delivered_at),
                    "age_days": (now - ship.delivered_at).days,
                    "amount": str(round_money(amount, cur)),
                    "currency": cur,
                }
                report.rows["provisional_not_finalised"].append(row)
                row_dates[id(row)] = on

    for row in _disputes(charges, config, convert):
        report.rows["freight_disputes"].append(row)
        row_dates[id(row)] = date.fromisoformat(row["final_at"][:10])

    for name in CATEGORIES:
        rows = report.rows[name]
        rows.sort(key=lambda r: (r["shipment"], r.get("code", "")))
        value = Decimal(0)
        unconverted = 0
        for row in rows:
            shown = row.get("difference", row["amount"])
            converted = (
                None
                if shown is None
                else convert(Decimal(shown), row["currency"], currency, row_dates[id(row)])
            )
            if converted is None:
                unconverted += 1
            else:
                value += converted
        report.figures[name] = {
            "count": len(rows),
            "value": str(round_money(value, currency)),
            "currency": currency,
            "unconverted": unconverted,
        }
    return report


def _disputes(
    charges: Iterable[ChargeFact], config: ReconcileConfig, convert: Converter
) -> list[dict[str, Any]]:
    """Final charges above the provisional one (same shipment and code) beyond tolerance."""
    latest: dict[tuple[str, str, str], ChargeFact] = {}
    for charge in charges:
        slot = (charge.subject, charge.code, charge.status)
        if slot not in latest or charge.at > latest[slot].at:
            latest[slot] = charge
    rows = []
    for (subject, code, status), final in sorted(latest.items()):
        provisional = latest.get((subject, code, "provisional"))
        if status != "final" or provisional is None or provisional.amount <= 0:
            continue
        cur = provisional.currency
        final_amount = (
            final.amount
            if final.currency == cur
            else convert(final.amount, final.currency, cur, final.at.date())
        )
        if final_amount is None:
            continue  # no rate to compare with: provisional_not_finalised does not apply either
        tolerance = Decimal(str(config.tolerance_for(final.partner)))
        difference = final_amount - provisional.amount
        percent = difference * 100 / provisional.amount
        if percent <= tolerance:
            continue
        rows.append(
            {
                "shipment": subject,
                "code": code,
                "partner": final.partner,
                "provisional_amount": str(round_money(provisional.amount, cur)),
                "final_amount": str(round_money(final_amount, cur)),
                "amount": str(round_money(final_amount, cur)),
                "difference": str(round_money(difference, cur)),
                "difference_percent": str(percent.quantize(Decimal("0.01"))),
                "tolerance_percent": str(tolerance),
                "currency": cur,
                "final_at": iso(final.at),
            }
        )
    return rows


def parse_time(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None
