"""base.automation webhooks: after a call commits, POST each matching change to its URL.

The body is what odoo/addons/base/models/ir_actions.py `_run_action_webhook` sends:
`{"_action": "<name>(#<id>)", "_id": <record id>, "_model": "<model>"}` plus the selected
fields read with `load=None` (many2one as a bare id), serialised with `sort_keys=True` and
`default=str`, posted after the commit with a 1 s timeout and never retried.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from intermodal_sim.odoo.orm import Env, literal_domain

TRIGGERS = {
    "create": ("on_create", "on_create_or_write"),
    "write": ("on_write", "on_create_or_write"),
    "unlink": ("on_unlink",),
}


@dataclass(frozen=True)
class Delivery:
    url: str
    body: str
    model: str
    record_id: int
    action: str


def pending_webhooks(env: Env) -> list[Delivery]:
    """The webhook calls the changes of this transaction trigger, built before the commit."""
    if not env.changes:
        return []
    models = sorted({change[1] for change in env.changes})
    marks = ", ".join("?" * len(models))
    rules = env.db.execute(
        "SELECT a.id, a.trigger, a.filter_domain, m.model, s.id, s.name, s.webhook_url "
        "FROM base_automation a JOIN ir_model m ON m.id = a.model_id "
        "JOIN ir_actions_server s ON s.base_automation_id = a.id "
        f"WHERE a.active = 1 AND s.state = 'webhook' AND m.model IN ({marks}) ORDER BY a.id, s.id",
        models,
    ).fetchall()
    if not rules:
        return []
    sudo = env.sudo().with_context({"active_test": False})
    deliveries: list[Delivery] = []
    seen: set[tuple[int, int, str]] = set()
    for event, model, rid, fields in env.changes:
        for rule_id, trigger, filter_domain, rule_model, action_id, name, url in rules:
            if rule_model != model or trigger not in TRIGGERS[event] or not url:
                continue
            if (action_id, rid, event) in seen:
                continue
            trigger_fields = _names(env, "base_automation_trigger_field_rel", "automation_id",
                                    rule_id)  # fmt: skip
            if event == "write" and trigger_fields and not trigger_fields & set(fields):
                continue
            records = sudo[model].browse([rid])
            if event != "unlink":
                domain = [("id", "=", rid), *literal_domain(filter_domain)]
                if not records.search_count(domain):
                    continue
            seen.add((action_id, rid, event))
            payload: dict[str, Any] = {"_model": model, "_id": rid,
                                       "_action": f"{name}(#{action_id})"}  # fmt: skip
            selected = _names(env, "ir_act_server_webhook_field_rel", "server_id", action_id)
            if selected and event != "unlink":
                rows = records.read(sorted(selected), load=None)
                if rows:
                    payload.update(rows[0])
            deliveries.append(
                Delivery(
                    url,
                    json.dumps(payload, sort_keys=True, default=str),
                    model,
                    rid,
                    payload["_action"],
                )
            )
    return deliveries


def _names(env: Env, table: str, column: str, owner: int) -> set[str]:
    column2 = "field_id"
    rows = env.db.execute(
        f"SELECT f.name FROM {table} r JOIN ir_model_fields f ON f.id = r.{column2} "
        f"WHERE r.{column} = ?",
        (owner,),
    )
    return {row[0] for row in rows}
