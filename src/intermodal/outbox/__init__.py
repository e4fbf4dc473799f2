"""Delivery: the outbox dispatcher with retries (exponential backoff, full jitter,
Retry-After), a circuit breaker and a rate limit per endpoint, and the dead letters
that exhausted commands move to, from which they are replayed."""
