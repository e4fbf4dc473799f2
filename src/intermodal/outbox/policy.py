"""Retry timing, circuit breakers and rate limits: small, pure, clock passed in.

Hand-written because each is a few lines here and the well-known libraries (tenacity,
pybreaker, aiolimiter) wrap a call; the dispatcher needs to ask "when may I try this
endpoint next?" for thousands of stored commands without holding a call open.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt)).

    Full jitter spreads retries of many commands that failed together, so an endpoint
    coming back is not hit by all of them in the same second (AWS architecture blog).
    """
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    return (rng or random).uniform(0, ceiling)


def retry_after_seconds(
    value: str | None, now: datetime | None = None, cap: float = 86_400
) -> float | None:
    """Parse a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), cap)


@dataclass
class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failures; after `reset` seconds one
    trial request is let through (half-open); its success closes the breaker again."""

    threshold: int
    reset: float
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.trial_in_flight else "open"

    def allow(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        if now - self.opened_at >= self.reset and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def reopens_at(self) -> float:
        return (self.opened_at or 0.0) + self.reset

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def failure(self, now: float) -> None:
        self.failures += 1
        self.trial_in_flight = False
        if self.opened_at is not None or self.failures >= self.threshold:
            self.opened_at = now


@dataclass
class TokenBucket:
    """`rate` tokens per second, bursts up to `burst`; `take` says how long to wait."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float, count: float = 1.0) -> float:
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= count
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
