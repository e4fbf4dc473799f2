"""Rate shopping and booking with health-aware fallback.

Read top to bottom: ask every carrier whose breaker allows it, concurrently, within a
deadline (`shop`); order the offers by the configured rule (`rank`, pure); book the first
offer whose carrier works, falling back to the next (`book`). A booking whose outcome is
unknown (timeout, 5xx, lost answer) may have made a label: once another carrier has booked
the shipment, a void of that reference is written to the outbox (`compensation.py`), so a
shipment never ends with two live labels and the void is retried until it lands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from intermodal.canonical.model import Shipment
from intermodal.connectors.carriers.compensation import schedule_void
from intermodal.connectors.carriers.contract import (
    Booking,
    CarrierConnector,
    CarrierError,
    CarrierRejected,
    Parcel,
    Rate,
)
from intermodal.engine.ids import stable_id
from intermodal.errors import UpstreamError
from intermodal.outbox.policy import CircuitBreaker
from intermodal.store import Store


class Rule(StrEnum):
    CHEAPEST = "cheapest"
    """Lowest total within the shipment's service level (all levels when it has none)."""
    FASTEST = "fastest"
    """Fewest transit days, then lowest total; service level ignored."""
    PREFERRED = "preferred"
    """Carriers in `preferred` order within the service level, then lowest total."""


@dataclass(frozen=True)
class ShoppingPolicy:
    rule: Rule = Rule.CHEAPEST
    preferred: tuple[str, ...] = ()
    currency: str = "USD"
    """Totals are only comparable in one currency; offers in another are left out."""
    deadline_seconds: float = 5.0
    breaker_failures: int = 3
    breaker_reset_seconds: float = 30.0


def rank(rates: list[Rate], policy: ShoppingPolicy, service_level: str | None) -> list[Rate]:
    """The offers in booking order under the policy's rule; pure, so it is tested alone."""
    offers = [r for r in rates if r.total.currency == policy.currency]
    if policy.rule is not Rule.FASTEST and service_level is not None:
        offers = [r for r in offers if r.service_level == service_level]
    if policy.rule is Rule.FASTEST:
        return sorted(offers, key=lambda r: (r.transit_days, r.total.amount, r.carrier, r.service))
    if policy.rule is Rule.PREFERRED:
        order = {name: i for i, name in enumerate(policy.preferred)}
        return sorted(
            offers,
            key=lambda r: (order.get(r.carrier, len(order)), r.total.amount, r.transit_days),
        )
    return sorted(offers, key=lambda r: (r.total.amount, r.transit_days, r.carrier, r.service))


def client_reference(shipment_key: str, carrier: str) -> str:
    """Ours, stable per (shipment, carrier): a retried booking finds the earlier label."""
    return stable_id("bk", shipment_key, carrier)


@dataclass
class Quote:
    rates: list[Rate]
    failures: dict[str, str] = field(default_factory=dict)
    """Carrier -> why it gave no offers (error, deadline, breaker open)."""


@dataclass
class BookingOutcome:
    booking: Booking
    failures: dict[str, str] = field(default_factory=dict)
    compensations: list[str] = field(default_factory=list)
    """Outbox command ids of the voids written for carriers with an unknown outcome."""


class NoCarrierBooked(UpstreamError):
    def __init__(self, shipment_key: str, failures: Mapping[str, str]) -> None:
        detail = "; ".join(f"{c}: {e}" for c, e in failures.items()) or "no eligible offer"
        super().__init__(f"shipment {shipment_key}: no carrier booked ({detail})")
        self.failures = dict(failures)


class RateShopper:
    """Holds one breaker per carrier across calls, so an outage is remembered."""

    def __init__(
        self,
        connectors: Mapping[str, CarrierConnector],
        policy: ShoppingPolicy,
        store: Store | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connectors = dict(connectors)
        self.policy = policy
        self.store = store
        self.clock = clock
        self.breakers = {
            name: CircuitBreaker(policy.breaker_failures, policy.breaker_reset_seconds)
            for name in self.connectors
        }
        self.unknown_outcomes: dict[str, set[str]] = {}
        """Shipment key -> carriers whose booking outcome we never saw, across `book` calls
        (kept in memory; a restart forgets them, see docs/carriers.md)."""

    async def shop(self, shipment: Shipment, parcels: list[Parcel]) -> Quote:
        quote = Quote(rates=[])
        tasks: dict[asyncio.Task[list[Rate]], str] = {}
        for name, connector in self.connectors.items():
            if not self.breakers[name].allow(self.clock()):
                quote.failures[name] = "breaker open"
                continue
            tasks[asyncio.create_task(connector.rate(shipment, parcels))] = name
        if not tasks:
            return quote
        done, pending = await asyncio.wait(tasks, timeout=self.policy.deadline_seconds)
        for task in pending:
            task.cancel()
            self._failed(tasks[task], quote.failures, "no answer within the deadline")
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            name = tasks[task]
            error = task.exception()
            if error is None:
                self.breakers[name].success()
                quote.rates.extend(task.result())
            elif isinstance(error, CarrierRejected):
                self.breakers[name].success()  # it answered; the request was the problem
                quote.failures[name] = str(error)
            elif isinstance(error, CarrierError):
                self._failed(name, quote.failures, str(error))
            else:
                raise error
        return quote

    async def book(
        self,
        shipment: Shipment,
        parcels: list[Parcel],
        quote: Quote,
        correlation_id: str | None = None,
    ) -> BookingOutcome:
        """Book the best offer whose carrier works; fall back down the ranking."""
        failures = dict(quote.failures)  # carriers that gave no offer, and why
        unknown = self.unknown_outcomes.setdefault(shipment.key, set())
        for rate in rank(quote.rates, self.policy, shipment.service_level):
            name = rate.carrier
            if name in failures:
                continue
            if not self.breakers[name].allow(self.clock()):
                failures[name] = "breaker open"
                continue
            reference = client_reference(shipment.key, name)
            try:
                booking = await self.connectors[name].book(shipment, parcels, rate, reference)
            except CarrierRejected as exc:
                self.breakers[name].success()
                failures[name] = str(exc)
                continue
            except CarrierError as exc:
                self._failed(name, failures, str(exc))
                unknown.add(name)
                continue
            self.breakers[name].success()
            outcome = BookingOutcome(booking, failures)
            for other in sorted(unknown - {name}):
                outcome.compensations.append(
                    self._compensate(shipment.key, other, correlation_id or shipment.key)
                )
            del self.unknown_outcomes[shipment.key]
            return outcome
        raise NoCarrierBooked(shipment.key, failures)

    def _failed(self, name: str, failures: dict[str, str], reason: str) -> None:
        self.breakers[name].failure(self.clock())
        failures[name] = reason

    def _compensate(self, shipment_key: str, carrier: str, correlation_id: str) -> str:
        if self.store is None:
            raise RuntimeError(
                f"shipment {shipment_key}: {carrier} may hold a label, and no store is "
                "configured to schedule its void"
            )
        return schedule_void(
            self.store,
            endpoint=carrier,
            shipment_key=shipment_key,
            client_reference=client_reference(shipment_key, carrier),
            correlation_id=correlation_id,
        )
