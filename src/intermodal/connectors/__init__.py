"""Connectors: the adapters between the hub's canonical language and one outside system each.

A connector owns everything particular to its system (the protocol, the record shapes, how
to be idempotent there) and plugs into the spine at two points only: a *sink* that delivers
outbox commands (`intermodal.outbox.sinks`) and, where the system can tell us about its
own changes, an ingress that turns them into inbox messages. `odoo/` is the first.
"""
