"""Reconciliation over any shipment document (hand-edited, older versions, hostile values):
it reports or skips, never fails, and its figures always agree with its rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.workflows.notifications import customers_of
from intermodal.workflows.reconcile.checks import CATEGORIES, ChargeFact, ShipmentFacts, reconcile
from intermodal.workflows.reconcile.settings import ReconcileConfig

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
money = st.fixed_dictionaries(
    {"amount": st.one_of(st.decimals(min_value=-10**6, max_value=10**6, places=3).map(str),
                         st.text(max_size=6), st.integers(), st.none(),
                         st.sampled_from(["1e9999", "-1E+30", "sNaN", "Infinity", "0E-99999"])),
     "currency": st.sampled_from(["EUR", "USD", "JPY", "KWD", "XAU", "??"])}
)  # fmt: skip
charge_slot = st.fixed_dictionaries(
    {"at": st.text(max_size=5),
     "data": st.one_of(json_values, st.fixed_dictionaries(
         {"status": st.sampled_from(["provisional", "final", "other"]), "amount": money}))}
)  # fmt: skip
documents = st.one_of(
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    st.fixed_dictionaries(
        {"charges": st.one_of(json_values, st.dictionaries(st.text(min_size=1, max_size=5),
                                                            charge_slot, max_size=4))},
        optional={"pod": json_values, "shipment": json_values},
    ),
)  # fmt: skip
ships = st.builds(
    ShipmentFacts,
    key=st.text(min_size=1, max_size=6),
    state=st.sampled_from([None, "delivered", "in_transit", "cancelled"]),
    delivered_at=st.one_of(st.none(), st.integers(0, 400).map(lambda h: NOW - timedelta(hours=h))),
    document=documents,
    invoice_status=st.sampled_from([None, "pending", "delivered", "dead_letter"]),
    not_invoiced=st.booleans(),
)
charges = st.builds(
    ChargeFact,
    subject=st.sampled_from(["A", "B"]),
    partner=st.sampled_from(["carrier", "strict"]),
    at=st.integers(0, 100).map(lambda h: NOW - timedelta(hours=h)),
    code=st.sampled_from(["FRT", "FUEL"]),
    status=st.sampled_from(["provisional", "final"]),
    amount=st.decimals(min_value=-1000, max_value=10**6, places=2),
    currency=st.sampled_from(["EUR", "USD"]),
)


def _convert(amount: Decimal, a: str, b: str, _on: Any) -> Decimal | None:
    rates = {"EUR": Decimal(1), "USD": Decimal("1.1"), "JPY": Decimal(160)}
    if a not in rates or b not in rates:
        return None
    return amount * rates[b] / rates[a]


@settings(max_examples=300, deadline=None)
@given(st.lists(ships, max_size=6), st.lists(charges, max_size=8))
def test_any_facts_give_a_report_whose_figures_match_its_rows(
    facts: list[ShipmentFacts], recorded: list[ChargeFact]
) -> None:
    report = reconcile(facts, recorded, ReconcileConfig(tolerance_by_partner={"strict": 0}),
                       NOW, "EUR", _convert)  # fmt: skip
    for category in CATEGORIES:
        figure = report.figures[category]
        assert figure["count"] == len(report.rows[category])
        assert 0 <= figure["unconverted"] <= figure["count"]
        Decimal(figure["value"])  # always a number
    for row in report.rows["freight_disputes"]:
        assert Decimal(row["difference"]) > 0


@given(json_values)
def test_customers_of_any_document_is_a_set_of_text(document: Any) -> None:
    found = customers_of(document if isinstance(document, dict) else {"shipment": document})
    assert all(isinstance(c, str) for c in found)
