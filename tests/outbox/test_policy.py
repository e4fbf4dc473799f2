"""Retry timing, Retry-After parsing, circuit breaker and token bucket."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from intermodal.outbox.policy import (
    CircuitBreaker,
    TokenBucket,
    backoff_delay,
    retry_after_seconds,
)


@given(
    st.integers(min_value=0, max_value=200),
    st.floats(min_value=0.01, max_value=10),
    st.floats(min_value=0.1, max_value=600),
)
def test_backoff_is_within_full_jitter_bounds(attempt: int, base: float, cap: float) -> None:
    delay = backoff_delay(attempt, base, cap, random.Random(attempt))
    assert 0 <= delay <= min(cap, base * 2**attempt)


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds("120") == 120
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert retry_after_seconds("Mon, 23 Nov 2026 10:00:30 GMT", now) == 30
    assert retry_after_seconds("Mon, 23 Nov 2026 09:00:00 GMT", now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("99999999") == 86_400


def test_breaker_opens_then_lets_one_trial_through() -> None:
    breaker = CircuitBreaker(threshold=3, reset=10)
    for t in range(3):
        assert breaker.allow(t)
        breaker.failure(t)
    assert breaker.state == "open" and not breaker.allow(5)
    assert breaker.allow(12) and breaker.state == "half_open"
    assert not breaker.allow(12.5)  # only one trial at a time
    breaker.failure(13)
    assert not breaker.allow(14)
    assert breaker.allow(23)
    breaker.success()
    assert breaker.state == "closed" and breaker.allow(23)


def test_token_bucket_spaces_requests() -> None:
    bucket = TokenBucket(rate=10, burst=2)
    assert bucket.take(0) == 0 and bucket.take(0) == 0
    assert abs(bucket.take(0) - 0.1) < 1e-9
    assert bucket.take(10) == 0  # refilled
