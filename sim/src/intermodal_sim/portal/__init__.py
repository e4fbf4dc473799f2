"""Customer portal simulator: receives the hub's signed CloudEvents notifications, checks
every signature, deduplicates by webhook-id and fails on demand to exercise retries."""
