"""The engine (steps 2 to 4 of the spine): the inbox, normalize and apply.

`inbox` takes verified messages from every ingress and commits them in groups;
`normalize` turns a stored message into canonical events (through the partner's mapping,
`mapping/`); `applier` folds the events into each shipment's state with the pure rules of
`apply` (ownership, ordering, duplicates by meaning) and writes, in the same transaction,
the flows' reactions (`workflows/`) and the outgoing commands (`outbox/`).
`applier_process` runs the applier in a process of its own under `intermodal serve`.
"""
