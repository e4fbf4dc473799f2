"""Seeding: the rows Odoo's `base` module installs, then the demo company from a data file.

The bootstrap rows (superuser, main company, its partner and currency) are inserted in one
transaction with deferred foreign keys, because in Odoo too they reference each other.
Everything after that goes through the ORM as the superuser, so defaults, sequences and
totals are computed the same way as for records created over RPC.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from intermodal_sim.odoo.accounting import seed_accounting
from intermodal_sim.odoo.orm import Env, literal_domain
from intermodal_sim.odoo.schema import Model
from intermodal_sim.odoo.store import Database
from intermodal_sim.odoo.technical import seed_technical

DEMO = "demo.json"
VIEWS = ("stock.view_backorder_confirmation",)


class SeedError(ValueError):
    """The data file names something that does not exist, or has the wrong shape."""


def load_data(path: Path | None) -> dict[str, Any]:
    if path is None:
        text = resources.files("intermodal_sim.odoo.data").joinpath(DEMO).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SeedError(f"{path or DEMO}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SeedError(f"{path or DEMO}: expected a JSON object at the top level")
    return data


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _xmlid(db: Database, xmlid: str, model: str, res_id: int) -> None:
    module, _, name = xmlid.partition(".")
    if not name:
        raise SeedError(f"external id {xmlid!r} must read 'module.name'")
    db.execute(
        "INSERT INTO ir_model_data (module, name, complete_name, model, res_id, noupdate, "
        "create_uid, write_uid, create_date, write_date) VALUES (?, ?, ?, ?, ?, 1, 1, 1, "
        "datetime('now'), datetime('now'))",
        (module, name, xmlid, model, res_id),
    )


def _bootstrap(db: Database, company: dict[str, Any]) -> None:
    now = "datetime('now')"
    magic = f"1, 1, {now}, {now}"
    rows = [
        "INSERT INTO res_currency (id, name, full_name, symbol, rounding, decimal_places, "
        f"position, active, create_uid, write_uid, create_date, write_date) VALUES (1, "
        f"'{company.get('currency', 'USD')}', 'Main currency', '$', 0.01, 2, 'before', 1, {magic})",
        "INSERT INTO res_country (id, name, code, currency_id, create_uid, write_uid, "
        f"create_date, write_date) VALUES (1, 'United States', 'US', 1, {magic})",
        "INSERT INTO res_partner (id, name, complete_name, is_company, type, lang, active, "
        "customer_rank, supplier_rank, company_id, country_id, create_uid, write_uid, "
        f"create_date, write_date) VALUES (1, ?, ?, 1, 'contact', 'en_US', 1, 0, 0, 1, 1, {magic})",
        "INSERT INTO res_company (id, name, partner_id, currency_id, country_id, email, active, "
        f"create_uid, write_uid, create_date, write_date) VALUES (1, ?, 1, 1, 1, ?, 1, {magic})",
        "INSERT INTO res_partner (id, name, complete_name, is_company, type, lang, active, "
        "customer_rank, supplier_rank, create_uid, write_uid, create_date, write_date) "
        f"VALUES (2, 'OdooBot', 'OdooBot', 0, 'contact', 'en_US', 1, 0, 0, {magic})",
        "INSERT INTO res_users (id, login, name, partner_id, company_id, active, share, lang, tz, "
        f"create_uid, write_uid, create_date, write_date) VALUES (1, '__system__', 'OdooBot', 2, "
        f"1, 0, 0, 'en_US', 'UTC', {magic})",
    ]
    params: list[tuple[Any, ...]] = [(), (), (company.get("name"), company.get("name")),
                                     (company.get("name"), company.get("email"))]  # fmt: skip
    params += [(), ()]
    for sql, args in zip(rows, params, strict=True):
        db.execute(sql, args)
    _xmlid(db, "base." + str(company.get("currency", "USD")), "res.currency", 1)
    _xmlid(db, "base.us", "res.country", 1)
    _xmlid(db, "base.main_partner", "res.partner", 1)
    _xmlid(db, "base.main_company", "res.company", 1)
    _xmlid(db, "base.partner_root", "res.partner", 2)
    _xmlid(db, "base.user_root", "res.users", 1)


def _models(db: Database, registry: dict[str, Model]) -> None:
    """ir.model and ir.model.fields, generated from the registry as Odoo's loader does."""
    for model in registry.values():
        cursor = db.execute(
            "INSERT INTO ir_model (name, model, state, transient, modules, create_uid, "
            "write_uid, create_date, write_date) VALUES (?, ?, 'base', ?, ?, 1, 1, "
            "datetime('now'), datetime('now'))",
            (model.description, model.name, int(model.transient), model.module),
        )
        model_id = cursor.lastrowid
        _xmlid(db, f"{model.module}.model_{model.table}", "ir.model", int(model_id or 0))
        for fld in model.fields.values():
            db.execute(
                "INSERT INTO ir_model_fields (name, model, model_id, field_description, ttype, "
                "relation, relation_field, required, readonly, store, create_uid, write_uid, "
                "create_date, write_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, "
                "datetime('now'), datetime('now'))",
                (fld.name, model.name, model_id, fld.string, fld.type, fld.relation,
                 fld.inverse_name if fld.type == "one2many" else None, int(fld.required),
                 int(fld.readonly), int(fld.store)),
            )  # fmt: skip


def _resolve(env: Env, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("ref:"):
        rid = env.ref_id(value[4:])
        if rid is None:
            raise SeedError(f"unknown external id {value[4:]!r}")
        return rid
    if isinstance(value, list):
        return [_resolve(env, v) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(env, v) for k, v in value.items()}
    return value


def seed(db: Database, env: Env, data: dict[str, Any], api_key: str) -> None:
    """Fill an empty database: bootstrap, models, groups, access, users, records, automations."""
    registry = env.registry
    company = data.get("company") or {}
    db.execute("PRAGMA defer_foreign_keys = ON")
    _bootstrap(db, company)
    _models(db, registry)
    for group in data.get("groups", []):
        record = env["res.groups"].create({"name": group["name"], "full_name": group["full_name"]})
        _xmlid(db, group["xmlid"], "res.groups", int(record.id))
    for index, (model, group, perms) in enumerate(data.get("access", [])):
        targets = list(registry) if model == "*" else [model]
        for target in targets:
            if target not in registry:
                raise SeedError(f"access rule {index}: unknown model {target!r}")
            env["ir.model.access"].create(
                {
                    "name": f"access_{target.replace('.', '_')}_{group.replace('.', '_')}",
                    "model_id": env.model_id(target),
                    "group_id": _resolve(env, f"ref:{group}") if group else False,
                    **{f"perm_{p}": m in perms for m, p in
                       zip("rwcu", ("read", "write", "create", "unlink"), strict=True)},
                }
            )  # fmt: skip
    groups_field = "group_ids" if "group_ids" in registry["res.users"].fields else "groups_id"
    for user in data.get("users", []):
        vals = {k: v for k, v in user.items()
                if k not in ("xmlid", "password", "groups", "api_key")}  # fmt: skip
        vals[groups_field] = [(6, 0, [_resolve(env, f"ref:{g}") for g in user.get("groups", [])])]
        record = env["res.users"].create(vals)
        uid = int(record.id)
        db.execute("INSERT INTO sim_user_password (uid, password) VALUES (?, ?)",
                   (uid, str(user.get("password", ""))))  # fmt: skip
        if user.get("xmlid"):
            _xmlid(db, user["xmlid"], "res.users", uid)
            partner = record.read(["partner_id"], load=None)[0]["partner_id"]
            _xmlid(db, user["xmlid"].replace("user_", "partner_", 1), "res.partner", partner)
        keys = [api_key] if user.get("login") == "admin" else []
        keys += [user["api_key"]] if user.get("api_key") else []
        for key in keys:
            db.execute(
                "INSERT INTO sim_user_apikey (uid, name, key_hash, scope) VALUES (?, ?, ?, ?)",
                (uid, "odoo-sim key", hash_key(str(key)), None),
            )
    picking_types = [
        ("stock.picking_type_out", "Delivery Orders", "outgoing", "OUT"),
        ("stock.picking_type_in", "Receipts", "incoming", "IN"),
        ("stock.picking_type_internal", "Internal Transfers", "internal", "INT"),
    ]
    for xmlid, name, code, prefix in picking_types:
        record = env["stock.picking.type"].create(
            {"name": name, "code": code, "sequence_code": prefix}
        )
        _xmlid(db, xmlid, "stock.picking.type", int(record.id))
    # The form view the backorder wizard's action names (addons/stock/wizard/
    # stock_backorder_confirmation_views.xml). Views are not simulated: the external id
    # gives the action its `view_id`, as a client that never opens the form needs.
    for res_id, xmlid in enumerate(VIEWS, 1):
        _xmlid(db, xmlid, "ir.ui.view", res_id)
    # addons/mail/data/mail_message_subtype_data.xml: who follows what by default.
    for xmlid, name, default, internal, sequence in (
        ("mail.mt_comment", "Messages", True, False, 0),
        ("mail.mt_note", "Notes", False, True, 90),
        ("mail.mt_activities", "Activities", False, True, 100),
    ):
        record = env["mail.message.subtype"].create(
            {"name": name, "default": default, "internal": internal, "sequence": sequence}
        )
        _xmlid(db, xmlid, "mail.message.subtype", int(record.id))
    for xmlid, name in (("mail.mail_activity_data_todo", "To-Do"),
                        ("mail.mail_activity_data_call", "Call")):  # fmt: skip
        record = env["mail.activity.type"].create({"name": name})
        _xmlid(db, xmlid, "mail.activity.type", int(record.id))
    seed_technical(env, data)
    for index, item in enumerate(data.get("records", [])):
        model = item.get("model")
        if model not in registry:
            raise SeedError(f"record {index}: unknown model {model!r}")
        values = _resolve(env, item.get("values", {}))
        values = {k: v for k, v in values.items() if k in registry[model].fields}
        record = env[model].create(values)
        if item.get("xmlid"):
            _xmlid(db, item["xmlid"], model, int(record.id))
    seed_chatter_and_accounting(db, env)
    for automation in data.get("automations", []):
        add_automation(env, automation)


def seed_chatter_and_accounting(db: Database, env: Env) -> None:
    """What the mail and account modules install: their access rules for employees
    (ir.model.access.csv) and a generic chart of accounts (accounting.seed_accounting)."""
    group_user = env.ref_id("base.group_user")
    if group_user:
        for model, perms in (("ir.attachment", "rwcu"), ("mail.followers", "rwcu"),
                             ("mail.notification", "rw")):  # fmt: skip
            env["ir.model.access"].create(
                {
                    "name": f"access_{model.replace('.', '_')}_group_user",
                    "model_id": env.model_id(model),
                    "group_id": group_user,
                    **{f"perm_{p}": m in perms for m, p in
                       zip("rwcu", ("read", "write", "create", "unlink"), strict=True)},
                }
            )  # fmt: skip
    seed_accounting(env, lambda xmlid, model, rid: _xmlid(db, xmlid, model, rid))


def add_automation(env: Env, spec: dict[str, Any]) -> dict[str, int]:
    """A base.automation rule with one webhook server action, as Odoo's UI would create it."""
    model = spec.get("model")
    if model not in env.registry:
        raise SeedError(f"automation: unknown model {model!r}")
    url = spec.get("url") or spec.get("webhook_url")
    if not url:
        raise SeedError("automation: a webhook needs a 'url'")
    trigger = spec.get("trigger", "on_create_or_write")
    model_id = env.model_id(str(model))
    fields = list(spec.get("fields", []))
    field_ids = []
    for fname in [*fields, *spec.get("trigger_fields", [])]:
        row = env.db.execute(
            "SELECT id FROM ir_model_fields WHERE model = ? AND name = ?", (model, fname)
        ).fetchone()
        if row is None:
            raise SeedError(f"automation: {model} has no field {fname!r}")
        field_ids.append(int(row[0]))
    literal_domain(spec.get("filter_domain"))
    name = str(spec.get("name") or f"Webhook {model} {trigger}")
    rule = env["base.automation"].create(
        {
            "name": name,
            "model_id": model_id,
            "trigger": trigger,
            "filter_domain": str(spec.get("filter_domain") or "") or False,
            "trigger_field_ids": [(6, 0, field_ids[len(fields) :])],
        }
    )
    action = env["ir.actions.server"].create(
        {
            "name": str(spec.get("action_name") or name),
            "model_id": model_id,
            "state": "webhook",
            "webhook_url": url,
            "webhook_field_ids": [(6, 0, field_ids[: len(fields)])],
            "base_automation_id": rule.id,
        }
    )
    return {"automation_id": int(rule.id), "action_id": int(action.id)}
