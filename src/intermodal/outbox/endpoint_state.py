"""Breakers and rate limits shared by every node's dispatcher, one row per endpoint.

The decisions stay with the pure `CircuitBreaker` and a local token allowance in each
dispatcher; the store row is what the nodes agree on, touched only when something changes:
- **Rate limit**: the row is the endpoint's token bucket. A node draws a block of tokens
  (a tenth of a second's worth, or the batch) in one short transaction and spends it
  locally; a draw that overdraws the bucket says how long to wait, as `TokenBucket.take`
  does. So N nodes together send at most the configured rate (plus one block each).
- **Breaker**: a node whose breaker opens writes `opened_at`; every node reads the rows
  once a pass (and every second of a long one) and opens or closes its own breaker to
  match. The half-open trial is claimed with a compare-and-set on `opened_at`, so one
  node in all tries the endpoint per reset period; its outcome closes or reopens the
  breaker for everyone.

Times are `time.time()` seconds: nodes' clocks are assumed NTP-close (a skew of a second
moves a breaker's reopening by that second, nothing worse).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from intermodal.store import Store
from intermodal.store.tables import endpoint_state


def ensure(store: Store, endpoints: Iterable[str], now: float, burst: dict[str, float]) -> None:
    """Create the missing rows (closed breaker, full bucket); concurrent nodes may race."""
    rows = [
        {"endpoint": name, "failures": 0, "tokens": burst.get(name, 1.0), "tokens_at": now}
        for name in endpoints
    ]
    if rows:
        with store.write() as conn:
            conn.execute(store.insert_ignoring(endpoint_state, ["endpoint"]), rows)


def draw_tokens(
    store: Store, endpoint: str, count: float, rate: float, burst: float, now: float
) -> float:
    """Take `count` tokens from the endpoint's shared bucket; seconds to wait before
    spending them (0 when the bucket had them)."""
    with store.write() as conn:
        row = conn.execute(
            store.for_update(
                select(endpoint_state.c.tokens, endpoint_state.c.tokens_at).where(
                    endpoint_state.c.endpoint == endpoint
                )
            )
        ).first()
        if row is None:
            return 0.0  # not created (yet): no shared limit for it
        tokens = min(burst, row.tokens + max(now - row.tokens_at, 0.0) * rate) - count
        conn.execute(
            update(endpoint_state)
            .where(endpoint_state.c.endpoint == endpoint)
            .values(tokens=tokens, tokens_at=max(now, row.tokens_at))
        )
    return 0.0 if tokens >= 0 else -tokens / rate


def opened_at(store: Store) -> dict[str, float | None]:
    """Every endpoint's shared breaker: when it opened (or last failed a trial), or None."""
    with store.read() as conn:
        return {
            name: when
            for name, when in conn.execute(
                select(endpoint_state.c.endpoint, endpoint_state.c.opened_at)
            )
        }


def publish(store: Store, endpoint: str, when: float | None) -> None:
    """Open the breaker for every node (`when`), or close it (None)."""
    with store.write() as conn:
        conn.execute(
            update(endpoint_state)
            .where(endpoint_state.c.endpoint == endpoint)
            .values(opened_at=when, failures=0)
        )


def claim_trial(store: Store, endpoint: str, seen: float | None, now: float) -> bool:
    """Whether this node runs the half-open trial: moves `opened_at` from what it saw to
    `now` (so no other node tries before another reset period passes)."""
    with store.write() as conn:
        where = endpoint_state.c.endpoint == endpoint
        current = conn.execute(store.for_update(select(endpoint_state.c.opened_at).where(where)))
        found = current.first()
        if found is None or found.opened_at is None:
            return True  # closed meanwhile (or not shared): nothing to claim
        if seen is not None and abs(found.opened_at - seen) > 1e-6:
            return False  # another node claimed it, or reopened it
        conn.execute(update(endpoint_state).where(where).values(opened_at=now))
    return True
