"""Invoice matching: the tolerance rule as properties, and what a comparison reports."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from intermodal.foresight.documents_matching import Amount, Tolerance, match_invoice

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)
tolerances = st.builds(
    Tolerance,
    st.decimals(min_value=Decimal(0), max_value=Decimal(500), places=2),
    st.decimals(min_value=Decimal(0), max_value=Decimal(50), places=2),
)


def _match(invoiced: Decimal, expected: Decimal, tolerance: Tolerance) -> bool:
    """Whether an invoice of one freight line is disputed against a 210 of one line."""
    found = match_invoice(
        {"freight": invoiced}, invoiced, "USD", {}, {"freight": Amount(expected, "USD")}, tolerance
    )
    return found.disputed


@given(money, tolerances)
def test_an_invoice_equal_to_what_was_expected_is_never_disputed(
    amount: Decimal, tolerance: Tolerance
) -> None:
    assert not _match(amount, amount, tolerance)


@given(money, money, tolerances)
def test_within_the_absolute_allowance_is_accepted(
    expected: Decimal, shift: Decimal, tolerance: Tolerance
) -> None:
    difference = min(shift, tolerance.absolute)
    assert not _match(expected + difference, expected, tolerance)
    assert not _match(expected - difference, expected, tolerance)


@given(money, st.decimals(min_value=Decimal(0), max_value=Decimal(1), places=4), tolerances)
def test_within_the_percentage_is_accepted(
    expected: Decimal, share: Decimal, tolerance: Tolerance
) -> None:
    difference = (expected * tolerance.percent / 100 * share).quantize(
        Decimal("0.01"), "ROUND_DOWN"
    )
    assert not _match(expected + difference, expected, tolerance)


@given(money, money, tolerances)
def test_beyond_both_allowances_is_disputed_either_way(
    expected: Decimal, extra: Decimal, tolerance: Tolerance
) -> None:
    beyond = max(tolerance.absolute, expected * tolerance.percent / 100) + extra
    assert _match(expected + beyond, expected, tolerance)
    assert _match(expected - beyond, expected, tolerance)


@given(money, money, tolerances, tolerances)
def test_a_wider_tolerance_never_disputes_more(
    invoiced: Decimal, expected: Decimal, narrow: Tolerance, other: Tolerance
) -> None:
    wide = Tolerance(max(narrow.absolute, other.absolute), max(narrow.percent, other.percent))
    if _match(invoiced, expected, wide):
        assert _match(invoiced, expected, narrow)


def test_each_reference_is_compared_in_total_and_per_charge() -> None:
    tolerance = Tolerance.of(5, 2)
    found = match_invoice(
        {"freight": Decimal("1400.00"), "fuel": Decimal("95.50")},
        Decimal("1495.50"),
        "USD",
        {"freight": Amount(Decimal("1400.00"), "USD")},
        {"freight": Amount(Decimal("1250.00"), "USD"), "fuel": Amount(Decimal("95.50"), "USD")},
        tolerance,
    )
    seen = {(c.against, c.scope): c.over for c in found.comparisons}
    assert seen == {
        ("quote", "total"): True,  # the quote had no fuel: 95.50 above it
        ("quote", "freight"): False,
        ("edi_210", "total"): True,
        ("edi_210", "freight"): True,
        ("edi_210", "fuel"): False,
    }
    reason = found.reason("INV-1")
    assert reason.startswith("freight invoice INV-1: ")
    assert "above the carrier's 210's 1250.00" in reason and "150.00 (12.0%)" in reason


def test_another_currency_is_a_dispute_and_nothing_to_compare_is_not() -> None:
    tolerance = Tolerance.of(5, 2)
    eur = match_invoice(
        {"freight": Decimal(100)}, Decimal(100), "EUR", {"freight": Amount(Decimal(100), "USD")},
        {}, tolerance,
    )  # fmt: skip
    assert eur.disputed and "in EUR, the quote in USD" in eur.currency_mismatches[0]
    nothing = match_invoice({"freight": Decimal(100)}, Decimal(100), "USD", {}, {}, tolerance)
    assert not nothing.disputed and len(nothing.not_compared) == 2
