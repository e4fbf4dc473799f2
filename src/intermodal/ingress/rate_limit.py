"""Per-partner rate limits on ingress: one token bucket per partner, in each process.

One partner that floods the hub (a TMS replaying a month, a retry loop gone wrong) fills
the group committer and the inbox, and every other partner's webhooks wait behind it.
A partner with `partners.<p>.rate_limit: {per_second, burst}` may send `burst` requests
at once and `per_second` on average to the ingress routes (webhooks, batches, EDI)
together; beyond that it is answered 429 with a Retry-After saying when a request will
be taken again, and the others are not slowed. A partner without one is not limited.

The check runs once the partner is authenticated, so requests forged in its name cannot
spend its budget. Each process keeps its own buckets: under `serve --workers N` a partner
whose requests reach every worker may get up to N times its rate (docs/security.md).

The webhook is the hot path: for a partner without a limit the check is one dict lookup;
with one, a clock read and a few float operations (well under a microsecond either way,
`tests/ingress/test_rate_limit.py` measures both).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from intermodal.api.errors import ApiError

if TYPE_CHECKING:
    from intermodal.config import Partner
    from intermodal.observe.metrics import Metrics


class TokenBucket:
    """`capacity` tokens, refilled at `rate` a second; each admitted request takes one.

    Not locked: the hub's routes run on one event loop per process, and nothing awaits
    between reading the tokens and taking one.
    """

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.stamp = now

    def take(self, now: float) -> float:
        """0.0 when a token was taken; else the seconds until one will be there."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate


class RateLimits:
    """The buckets of the partners that have a limit, built from the configuration."""

    def __init__(
        self, partners: Mapping[str, Partner], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        now = clock()
        self.buckets = {
            name: TokenBucket(p.rate_limit.per_second, p.rate_limit.capacity, now)
            for name, p in partners.items()
            if p.rate_limit is not None
        }

    def check(self, partner: str, channel: str, metrics: Metrics) -> None:
        """Take one of `partner`'s tokens, or refuse the request with a 429."""
        bucket = self.buckets.get(partner)
        if bucket is None:
            return
        wait = bucket.take(self.clock())
        if wait:
            metrics.ingress.labels(partner, channel, "rate_limited").inc()
            raise rate_limited(partner, bucket.rate, wait)


def rate_limited(partner: str, rate: float, wait: float) -> ApiError:
    """The 429: Retry-After in whole seconds (RFC 9110 delay-seconds), rounded up."""
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429,
        "rate_limited",
        f"partner '{partner}' sends more than its limit of {rate:g} requests per second;"
        f" retry after {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


__all__ = ["RateLimits", "TokenBucket", "rate_limited"]
