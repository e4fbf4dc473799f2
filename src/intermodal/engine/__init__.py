"""The engine: the inbox (group-committed, deduplicated), apply (per-shipment state,
ownership, ordering) and the outbox written in the same transaction as the change."""
