"""Outbox (step 6 of the spine): every command to the outside, from its cause to its receiver.

- `command.py`: `OutboundCommand` and `enqueue`, the one way commands enter the outbox, in
  the transaction of the state change that caused them; ids are stable, so a replayed
  cause writes nothing twice.
- `kinds.py`: the command kinds other modules read back (the invoice command).
- `dispatcher.py`: claims due commands with a lease, delivers them per endpoint in
  per-shipment order, records what became of each (delivered, retried, dead, deferred).
- `policy.py`: retry timing (exponential backoff, full jitter, `Retry-After`), the
  circuit breaker and the rate limit per endpoint.
- `sinks.py`: how a batch reaches one kind of endpoint (the `Sink` protocol, the signed
  webhook sink, the table of kinds the hub hands the dispatcher); `edi_sink.py`: X12 and
  EDIFACT posted as they are. The connectors' kinds join the table in `intermodal.wiring`.
- `dead_letters.py`: the commands that exhausted their attempts or were refused, listed,
  shown and replayed into the outbox with their original ids.
- `retention.py`: delivered commands deleted once older than `delivery.keep_delivered`
  (invoices kept).
"""
