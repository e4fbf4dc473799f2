"""The Odoo connector: JSON-2 first, few calls, never a record twice, and change capture.

Follow one outbox command to its Odoo write:

- `mappings/` turn a command (a CloudEvent) into `Op`s: pure functions, no I/O;
- `writer.py` coalesces the ops of many commands into few calls (one `create` with a list
  per model, one `write` per distinct value set, one `search_read` with an `in` domain per
  reference) while keeping each record's ops in order, and bisects a failing batch so one
  bad record fails alone;
- `upsert.py` is how the writer stays idempotent: every record the hub creates carries the
  hub's reference, looked up before create;
- `client.py` speaks JSON-2 (Odoo 19+) or JSON-RPC (16-18) and classifies errors;
- `sink.py` plugs the writer into the dispatcher (the `odoo` row of `intermodal.wiring.SINK_KINDS`);
- `capture.py` brings Odoo's own changes in: automation-rule webhooks and a `write_date`
  polling cursor, both feeding the inbox like any partner.
"""
