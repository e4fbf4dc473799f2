"""A freight invoice read from a document, set against what the hub already knew.

Two references: the shipment's **quote** (its provisional charges, rated at booking) and
the carrier's **210** (the final charges its EDI freight invoice sent). The invoice is
compared with each in total and charge by charge (by code: freight, fuel, an
accessorial's code); every comparison says what was invoiced, what was expected, the
difference and what the tolerance allowed. A difference beyond the tolerance, either
way, is a mismatch; so is a currency other than the reference's, since the hub does not
guess a rate for a dispute. Any mismatch makes the invoice `disputed`, which opens a
billing_dispute case (workflows/flows/documents.yaml).

The tolerance (`documents.invoice_tolerance`) is the larger of an absolute amount and a
percentage of the expected amount: a few cents are never a dispute on a small invoice, nor
a rounding on a large one. A difference exactly at the allowance is accepted.

Pure functions over amounts: the reader (documents_reader.py) gathers the charges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Tolerance:
    absolute: Decimal
    percent: Decimal

    @classmethod
    def of(cls, absolute: float | str | Decimal, percent: float | str | Decimal) -> Tolerance:
        return cls(Decimal(str(absolute)), Decimal(str(percent)))

    def allowance(self, expected: Decimal) -> Decimal:
        """How far an amount may differ from `expected` and still match."""
        return max(self.absolute, abs(expected) * self.percent / 100)


@dataclass(frozen=True, slots=True)
class Amount:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """One figure of the invoice against one expected figure."""

    against: str
    """`quote` or `edi_210`."""
    scope: str
    """`total`, or a charge code."""
    invoiced: Decimal
    expected: Decimal
    currency: str
    allowed: Decimal

    @property
    def difference(self) -> Decimal:
        return self.invoiced - self.expected

    @property
    def over(self) -> bool:
        return abs(self.difference) > self.allowed

    def sentence(self) -> str:
        what = "total" if self.scope == "total" else f"{self.scope} charge"
        source = "the quote" if self.against == "quote" else "the carrier's 210"
        direction = "above" if self.difference > 0 else "below"
        percent = (
            f" ({abs(self.difference) / abs(self.expected) * 100:.1f}%)" if self.expected else ""
        )
        return (
            f"{what} {self.invoiced:.2f} {self.currency} is {abs(self.difference):.2f}{percent}"
            f" {direction} {source}'s {self.expected:.2f} (tolerance {self.allowed:.2f})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "scope": self.scope,
            "invoiced": str(self.invoiced),
            "expected": str(self.expected),
            "currency": self.currency,
            "difference": str(self.difference),
            "allowed": str(self.allowed.quantize(_CENT)),
            "over": self.over,
        }


@dataclass(slots=True)
class InvoiceMatch:
    comparisons: list[Comparison] = field(default_factory=list)
    currency_mismatches: list[str] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    """What there was nothing to compare with (no quote, no 210), for the record."""

    @property
    def mismatches(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.over]

    @property
    def disputed(self) -> bool:
        return bool(self.mismatches or self.currency_mismatches)

    def reason(self, invoice_number: str | None) -> str:
        """One line for the case: which invoice, and its first differences."""
        name = f"freight invoice {invoice_number}" if invoice_number else "freight invoice"
        parts = [*self.currency_mismatches, *(c.sentence() for c in self.mismatches)]
        return f"{name}: {'; '.join(parts[:3])}" + (
            f"; and {len(parts) - 3} more" if len(parts) > 3 else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "disputed": self.disputed,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "currency_mismatches": list(self.currency_mismatches),
            "not_compared": list(self.not_compared),
        }


def match_invoice(
    lines: Mapping[str, Decimal],
    total: Decimal,
    currency: str,
    quote: Mapping[str, Amount],
    edi_210: Mapping[str, Amount],
    tolerance: Tolerance,
) -> InvoiceMatch:
    """Compare an invoice (its amount per charge code, its total, its currency) with the
    quote's and the 210's charges (by code); see the module docstring."""
    result = InvoiceMatch()
    for against, expected in (("quote", quote), ("edi_210", edi_210)):
        label = "quote" if against == "quote" else "210 (EDI freight invoice)"
        if not expected:
            result.not_compared.append(f"no {label} for this shipment")
            continue
        foreign = sorted({a.currency for a in expected.values() if a.currency != currency})
        if foreign:
            source = "the quote" if against == "quote" else "the carrier's 210"
            result.currency_mismatches.append(
                f"the invoice is in {currency}, {source} in {', '.join(foreign)}"
            )
            continue
        expected_total = sum((a.amount for a in expected.values()), Decimal(0))
        result.comparisons.append(
            Comparison(against, "total", total, expected_total, currency,
                       tolerance.allowance(expected_total))
        )  # fmt: skip
        for code in sorted(set(lines) & set(expected)):
            amount = expected[code].amount
            result.comparisons.append(
                Comparison(
                    against, code, lines[code], amount, currency, tolerance.allowance(amount)
                )
            )
    return result


__all__ = ["Amount", "Comparison", "InvoiceMatch", "Tolerance", "match_invoice"]
