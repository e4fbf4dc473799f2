"""Ranking rules are a pure function over offers: examples, then properties."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from intermodal.canonical.model import Money
from intermodal.connectors.carriers.contract import Rate
from intermodal.connectors.carriers.shopping import Rule, ShoppingPolicy, rank


def offer(carrier: str, level: str, amount: str, days: int, currency: str = "USD") -> Rate:
    return Rate(
        carrier=carrier,
        service=f"{carrier}-{level}",
        service_level=level,
        total=Money(amount=Decimal(amount), currency=currency),
        transit_days=days,
    )


OFFERS = [
    offer("parcelpro", "standard", "7.05", 3),
    offer("parcelpro", "express", "13.08", 1),
    offer("freightline", "standard", "10.55", 4),
    offer("freightline", "express", "12.00", 2),
    offer("eurofast", "standard", "1.00", 2, currency="EUR"),
]


def carriers(rates: list[Rate]) -> list[tuple[str, str]]:
    return [(r.carrier, r.service_level) for r in rates]


def test_cheapest_within_the_service_level() -> None:
    ranked = rank(OFFERS, ShoppingPolicy(rule=Rule.CHEAPEST), "express")
    assert carriers(ranked) == [("freightline", "express"), ("parcelpro", "express")]


def test_cheapest_without_a_service_level_compares_everything_in_the_currency() -> None:
    ranked = rank(OFFERS, ShoppingPolicy(rule=Rule.CHEAPEST), None)
    assert ranked[0].total.amount == Decimal("7.05")
    assert "eurofast" not in {r.carrier for r in ranked}


def test_fastest_ignores_the_service_level() -> None:
    ranked = rank(OFFERS, ShoppingPolicy(rule=Rule.FASTEST), "standard")
    assert carriers(ranked)[:2] == [("parcelpro", "express"), ("freightline", "express")]


def test_preferred_carrier_first_then_cheapest() -> None:
    policy = ShoppingPolicy(rule=Rule.PREFERRED, preferred=("freightline",))
    ranked = rank(OFFERS, policy, "standard")
    assert carriers(ranked) == [("freightline", "standard"), ("parcelpro", "standard")]


rates = st.lists(
    st.builds(
        offer,
        carrier=st.sampled_from(["a", "b", "c"]),
        level=st.sampled_from(["standard", "express"]),
        amount=st.decimals(min_value=0, max_value=10_000, places=2).map(str),
        days=st.integers(min_value=0, max_value=30),
        currency=st.sampled_from(["USD", "EUR"]),
    ),
    max_size=12,
)


@given(rates, st.sampled_from(list(Rule)), st.sampled_from([None, "standard", "express"]))
def test_ranking_only_reorders_eligible_offers(
    offers: list[Rate], rule: Rule, level: str | None
) -> None:
    ranked = rank(offers, ShoppingPolicy(rule=rule, preferred=("b",)), level)
    assert all(r.total.currency == "USD" for r in ranked)
    assert all(r in offers for r in ranked)
    if rule is Rule.CHEAPEST:
        amounts = [r.total.amount for r in ranked]
        assert amounts == sorted(amounts)
        eligible = [
            r for r in offers if r.total.currency == "USD" and level in (None, r.service_level)
        ]
        assert len(ranked) == len(eligible)
    if rule is Rule.FASTEST:
        days = [r.transit_days for r in ranked]
        assert days == sorted(days)
