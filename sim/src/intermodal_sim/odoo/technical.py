"""Odoo's technical models as client libraries reach them: actions, scheduled actions, menus,
modules, languages and login records, with the res.users and res.company behaviour that
rests on them (login records, avatars, home action, logo).

Sources, repo odoo/odoo (19.0) unless said:
  ir.actions.*        odoo/addons/base/models/ir_actions.py, ir_actions_report.py
  ir.cron             odoo/addons/base/models/ir_cron.py, odoo/addons/base/data/ir_cron_data.xml
  ir.ui.menu          odoo/addons/base/models/ir_ui_menu.py
  ir.module.module    odoo/addons/base/models/ir_module.py
  res.lang            odoo/addons/base/models/res_lang.py
  res.users           odoo/addons/base/models/res_users.py (log, login date, avatar, checks),
                      odoo/addons/base/models/avatar_mixin.py (the initials avatar),
                      addons/auth_signup/models/res_users.py (state)
  res.company         odoo/addons/base/models/res_company.py (logo, logo_web)

Every ir.actions.* model shares one id sequence, as Odoo's action tables inherit `ir_actions`
(odoo/addons/base/data/base_data.sql, PostgreSQL table inheritance): a row in
`ir.actions.actions` for each action and the same id in the action's own table, so that
`ir.actions.actions.browse(id)` finds an action of any kind.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from intermodal_sim.odoo.errors import UserError, ValidationError
from intermodal_sim.odoo.models import ResUsers as ResUsersBase
from intermodal_sim.odoo.orm import (
    DATETIME_FORMAT,
    SUPERUSER_ID,
    BaseModel,
    Env,
    api_model,
    readonly,
)
from intermodal_sim.odoo.schema import (
    NOW,
    UID,
    Field,
    Model,
    _model,
    _sel,
    boolean,
    char,
    datetime_,
    html,
    integer,
    m2m,
    m2o,
    o2m,
    reference,
    selection,
    text,
)

ACTION_MODELS = (
    "ir.actions.act_window",
    "ir.actions.act_url",
    "ir.actions.client",
    "ir.actions.report",
    "ir.actions.server",
)
# The columns every action has, kept on ir.actions.actions and on the action's own table.
ACTION_COLUMNS = (
    "name",
    "type",
    "help",
    "binding_model_id",
    "binding_type",
    "binding_view_types",
)
WINDOW_TARGETS = _sel(
    "current:Current Window",
    "new:New Window",
    "fullscreen:Full Screen",
    "main:Main action of Current Window",
)
MODULE_STATES = _sel(
    "uninstallable:Uninstallable",
    "uninstalled:Not Installed",
    "installed:Installed",
    "to upgrade:To be upgraded",
    "to remove:To be removed",
    "to install:To be installed",
)
# ir_cron.py _intervalTypes; 'never' moves the next call to 2099.
INTERVALS = {
    "minutes": lambda n: timedelta(minutes=n),
    "hours": lambda n: timedelta(hours=n),
    "days": lambda n: timedelta(days=n),
    "weeks": lambda n: timedelta(days=7 * n),
}


def _action_fields(type_name: str | None, binding_type: str = "action") -> dict[str, Any]:
    """IrActions (ir_actions.py): the fields every kind of action inherits."""
    return {
        "name": char("Action Name", required=True),
        "type": char("Action Type", required=True, **({"default": type_name} if type_name else {})),
        "help": html("Action Description"),
        "binding_model_id": m2o("ir.model", "Binding Model", ondelete="cascade"),
        "binding_type": selection(
            "Binding Type",
            _sel("action:Action", "report:Report"),
            required=True,
            default=binding_type,
        ),
        "binding_view_types": char("Binding View Types", default="list,form"),
    }


def _technical() -> list[Model]:
    menu_actions = tuple((name, name) for name in ACTION_MODELS)
    return [
        _model("ir.actions.actions", "Actions", _action_fields(None), order="name, id"),
        _model(
            "ir.actions.act_window",
            "Action Window",
            {
                **_action_fields("ir.actions.act_window"),
                "res_model": char("Destination Model", required=True),
                "view_mode": char("View Mode", required=True, default="list,form"),
                "context": char("Context Value", required=True, default="{}"),
                "domain": char("Domain Value"),
                "target": selection("Target Window", WINDOW_TARGETS, default="current"),
                "res_id": integer("Record ID"),
                "limit": integer("Limit", default=80),
                "usage": char("Action Usage"),
            },
            order="name, id",
        ),
        _model(
            "ir.actions.act_url",
            "Action URL",
            {
                **_action_fields("ir.actions.act_url"),
                "url": text("Action URL", required=True),
                "target": selection(
                    "Action Target",
                    _sel("new:New Window", "self:This Window", "download:Download"),
                    required=True,
                    default="new",
                ),
            },
            order="name, id",
        ),
        _model(
            "ir.actions.client",
            "Client Action",
            {
                **_action_fields("ir.actions.client"),
                "tag": char("Client action tag", required=True),
                "target": selection("Target Window", WINDOW_TARGETS, default="current"),
                "res_model": char("Destination Model"),
                "context": char("Context Value", required=True, default="{}"),
            },
            order="name, id",
        ),
        _model(
            "ir.actions.report",
            "Report Action",
            {
                **_action_fields("ir.actions.report", binding_type="report"),
                "model": char("Model Name", required=True),
                "report_type": selection(
                    "Report Type",
                    _sel("qweb-html:HTML", "qweb-pdf:PDF", "qweb-text:Text"),
                    required=True,
                    default="qweb-pdf",
                ),
                "report_name": char("Template Name", required=True),
                "report_file": char("Report File"),
                "print_report_name": char("Printed Report Name"),
                "multi": boolean("On Multiple Doc."),
                "attachment_use": boolean("Reload from Attachment"),
                "attachment": char("Save as Attachment Prefix"),
            },
            order="name, id",
        ),
        _model("ir.autovacuum", "Automatic Vacuum", {}),
        _model(
            "ir.cron",
            "Scheduled Action",
            {
                "ir_actions_server_id": m2o(
                    "ir.actions.server", "Server action", required=True, ondelete="restrict"
                ),
                "cron_name": char("Name", readonly=True),
                "user_id": m2o("res.users", "Scheduler User", required=True, default=UID),
                "active": boolean("Active", default=True),
                "interval_number": integer("Interval Number", required=True, default=1),
                "interval_type": selection(
                    "Interval Unit",
                    _sel("minutes", "hours", "days", "weeks", "months", "never"),
                    required=True,
                    default="never",
                ),
                "numbercall": integer("Number of Calls", default=1, until=17),
                "nextcall": datetime_("Next Execution Date", required=True, default=NOW),
                "lastcall": datetime_("Last Execution Date"),
                "priority": integer("Priority", default=5),
                "failure_count": integer("Failure Count", default=0),
                "first_failure_date": datetime_("First Failure Date"),
            },
            order="cron_name, id",
            inherits={"ir.actions.server": "ir_actions_server_id"},
        ),
        _model(
            "ir.ui.menu",
            "Menu",
            {
                "name": char("Menu", required=True),
                "active": boolean("Active", default=True),
                "sequence": integer("Sequence", default=10),
                "child_id": o2m("ir.ui.menu", "parent_id", "Child IDs"),
                "parent_id": m2o("ir.ui.menu", "Parent Menu", ondelete="restrict"),
                "complete_name": char("Full Path", store=False, readonly=True),
                "groups_id": m2m(
                    "res.groups", "ir_ui_menu_group_rel", "menu_id", "gid", "Groups", until=18
                ),
                "group_ids": m2m(
                    "res.groups", "ir_ui_menu_group_rel", "menu_id", "gid", "Groups", since=19
                ),
                "web_icon": char("Web Icon File"),
                "action": reference("Action", menu_actions),
            },
            order="sequence, id",
            parent_name="parent_id",
        ),
        _model(
            "ir.module.module",
            "Module",
            {
                "name": char("Technical Name", required=True, readonly=True),
                "shortdesc": char("Module Name", readonly=True),
                "summary": char("Summary", readonly=True),
                "description": text("Description", readonly=True),
                "author": char("Author", readonly=True),
                "website": char("Website", readonly=True),
                "latest_version": char("Latest Version", readonly=True),
                "state": selection("Status", MODULE_STATES, readonly=True, default="uninstallable"),
                "demo": boolean("Demo Data", default=False, readonly=True),
                "license": char("License", readonly=True, default="LGPL-3"),
                "application": boolean("Application", readonly=True),
                "auto_install": boolean("Automatic Installation"),
                "sequence": integer("Sequence", default=100),
                "menus_by_module": text("Menus", store=False, readonly=True),
                "reports_by_module": text("Reports", store=False, readonly=True),
                "views_by_module": text("Views", store=False, readonly=True),
            },
            rec_name="shortdesc",
            order="application desc, sequence, name",
        ),
        _model(
            "res.lang",
            "Languages",
            {
                "name": char("Name", required=True),
                "code": char("Locale Code", required=True),
                "iso_code": char("ISO code"),
                "url_code": char("URL Code", required=True),
                "active": boolean("Active", default=False),
                "direction": selection(
                    "Direction",
                    _sel("ltr:Left-to-Right", "rtl:Right-to-Left"),
                    required=True,
                    default="ltr",
                ),
                "date_format": char("Date Format", required=True, default="%m/%d/%Y"),
                "time_format": char("Time Format", required=True, default="%H:%M:%S"),
                "short_time_format": char("Short Time Format", required=True, default="%H:%M"),
                "week_start": selection(
                    "First Day of Week",
                    _sel(
                        "1:Monday",
                        "2:Tuesday",
                        "3:Wednesday",
                        "4:Thursday",
                        "5:Friday",
                        "6:Saturday",
                        "7:Sunday",
                    ),
                    required=True,
                    default="7",
                ),
                "grouping": char("Separator Format", required=True, default="[3,0]"),
                "decimal_point": char("Decimal Separator", required=True, default="."),
                "thousands_sep": char("Thousands Separator", default=","),
            },
            order="active desc, name",
        ),
        _model("res.users.log", "Users Log", {}, order="id desc"),
    ]


def with_technical_models(models: list[Model]) -> list[Model]:
    """The registry's models plus the technical ones; ir.actions.server gains the columns
    every action has (it is an ir.actions.actions in Odoo) and the code a cron runs."""
    for model in models:
        if model.name == "ir.actions.server":
            extra = {
                **_action_fields("ir.actions.server"),
                "usage": selection(
                    "Usage",
                    _sel("ir_actions_server:Server Action", "ir_cron:Scheduled Action"),
                    required=True,
                    default="ir_actions_server",
                ),
                "code": text("Python Code"),
            }
            for fname, spec in extra.items():
                model.fields.setdefault(fname, Field(name=fname, **spec))
    return [*models, *_technical()]


# -- ir.actions.* -------------------------------------------------------------------------


class IrActionsActions(BaseModel):
    """The table every action has a row in; writes reach the action's own table too."""

    def write(self, vals: Any) -> bool:
        result = super().write(vals)
        common = {k: v for k, v in dict(vals).items() if k in ACTION_COLUMNS and k != "type"}
        if common:
            for rid, kind in self._column_rows(self.ids, "type").items():
                if kind in self.env.registry and kind in self.env:
                    BaseModel.write(self.env[kind].sudo().browse([rid]), common)
        return result

    def unlink(self) -> bool:
        kinds = self._column_rows(self.ids, "type")
        for rid, kind in kinds.items():
            if kind in self.env:
                BaseModel.unlink(self.env[kind].sudo().browse([rid]))
        return super().unlink()


class ActionMixin(BaseModel):
    """An action kind: its id comes from ir.actions.actions, whose row it keeps in step."""

    def _insert_id(self, columns: dict[str, Any]) -> int | None:
        parent = {k: columns.get(k) for k in ACTION_COLUMNS}
        parent.update(
            {k: columns[k] for k in ("create_uid", "create_date", "write_uid", "write_date")}
        )
        names = ", ".join(f'"{c}"' for c in parent)
        marks = ", ".join("?" * len(parent))
        cursor = self.env.db.execute(
            f"INSERT INTO ir_actions_actions ({names}) VALUES ({marks})", list(parent.values())
        )
        return int(cursor.lastrowid or 0)

    def write(self, vals: Any) -> bool:
        result = super().write(vals)
        common = [k for k in dict(vals) if k in ACTION_COLUMNS]
        if common and self.ids:
            # Copy the converted values from the action's own row, not the caller's input.
            columns = ", ".join(f'"{k}"' for k in common)
            sets = ", ".join(f'"{k}" = ?' for k in common)
            for rid in self.ids:
                row = self.env.db.execute(
                    f"SELECT {columns} FROM {self._spec.table} WHERE id = ?", (rid,)
                ).fetchone()
                self.env.db.execute(
                    f"UPDATE ir_actions_actions SET {sets} WHERE id = ?", [*row, rid]
                )
        return result

    def unlink(self) -> bool:
        ids = list(self.ids)
        result = super().unlink()
        if ids:
            marks = ", ".join("?" * len(ids))
            self.env.db.execute(f"DELETE FROM ir_actions_actions WHERE id IN ({marks})", ids)
        return result


class IrActionsServer(ActionMixin):
    pass


class IrActionsWindow(ActionMixin):
    pass


class IrActionsUrl(ActionMixin):
    pass


class IrActionsClient(ActionMixin):
    pass


class IrActionsReport(ActionMixin):
    """ir.actions.report: reports are listed and searched; rendering them (`_render_qweb_pdf`,
    private in 19) and the /report routes are not simulated."""


# -- ir.cron ------------------------------------------------------------------------------


def _gc_user_logs(env: Env) -> None:
    """res.users.log _gc_user_logs (res_users.py, an @api.autovacuum): keep each user's latest."""
    env.db.execute(
        "DELETE FROM res_users_log WHERE EXISTS (SELECT 1 FROM res_users_log l2 "
        "WHERE l2.create_uid = res_users_log.create_uid AND l2.id > res_users_log.id)"
    )


# The server action code odoo-sim can run, by (model, code) as ir_cron_data.xml writes it.
CRON_CODE = {("ir.autovacuum", "model._run_vacuum_cleaner()"): _gc_user_logs}


class IrCron(BaseModel):
    @api_model
    @readonly
    def default_get(self, fields: list[str]) -> dict[str, Any]:
        """ir_cron.py default_get: 'code' is the only state a scheduled action supports."""
        if not self.env.context.get("default_state"):
            return self.with_env(self.env.with_context({"default_state": "code"})).default_get(
                fields
            )
        return super().default_get(fields)

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        """ir_cron.py create: the server action is marked as a cron's; its state is 'code'."""
        vals["usage"] = "ir_cron"
        vals.setdefault("state", self.env.context.get("default_state", "code"))
        self._check_interval(vals)
        return vals

    def write(self, vals: Any) -> bool:
        if isinstance(vals, Mapping):
            self._check_interval(vals)
        return super().write(vals)

    @staticmethod
    def _check_interval(vals: Mapping[str, Any]) -> None:
        """_check_strictly_positive_interval, CHECK(interval_number > 0), as the ValidationError
        odoo/service/model.py _as_validation_error makes of it."""
        if "interval_number" in vals:
            number = vals["interval_number"]
            if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
                raise ValidationError(
                    "The operation cannot be completed: "
                    "The interval number must be a strictly positive number."
                )

    def _after_write(self, fields: set[str]) -> None:
        """cron_name: stored, computed from the server action's name."""
        if not self.ids or not ({"name", "ir_actions_server_id"} & fields or not fields):
            return
        marks = ", ".join("?" * len(self.ids))
        self.env.db.execute(
            "UPDATE ir_cron SET cron_name = (SELECT s.name FROM ir_actions_server s "
            f"WHERE s.id = ir_cron.ir_actions_server_id) WHERE id IN ({marks})",
            self.ids,
        )

    def method_direct_trigger(self) -> Any:
        """Run the job now (ir_cron.py method_direct_trigger): a fully done run moves lastcall
        and nextcall and clears the failures, as _process_job records it. Code the sim
        cannot run comes back as Odoo's display_exception client action, counted a failure."""
        self.ensure_one()
        self.env.check_access(self._spec, "write")
        row = self.env.db.execute(
            "SELECT s.code, m.model, c.interval_number, c.interval_type, c.nextcall, "
            "c.failure_count, c.first_failure_date FROM ir_cron c "
            "JOIN ir_actions_server s ON s.id = c.ir_actions_server_id "
            "JOIN ir_model m ON m.id = s.model_id WHERE c.id = ?",
            (self.ids[0],),
        ).fetchone()
        code, model, number, unit, nextcall, failures, first_failure = row
        runner = CRON_CODE.get((model, (code or "").strip()))
        now = self.env.shared["now"].replace(tzinfo=None)
        if runner is None:
            message = f"odoo-sim does not run server action code; {model}: {code!r}"
            BaseModel.write(
                self,
                {
                    "failure_count": int(failures or 0) + 1,
                    "first_failure_date": first_failure or now.strftime(DATETIME_FORMAT),
                },
            )
            return {
                "type": "ir.actions.client",
                "tag": "display_exception",
                "params": {
                    "code": 0,
                    "message": "Odoo Server Error",
                    "data": {
                        "name": "builtins.RuntimeError",
                        "message": message,
                        "arguments": [message],
                        "context": {},
                        "debug": f"RuntimeError: {message}\n",
                    },
                },
            }
        runner(self.env)
        following = datetime.strptime(nextcall, DATETIME_FORMAT)
        if unit == "never":
            following = following.replace(year=2099)
        elif unit == "months":
            while following <= now:
                month = following.month + int(number)
                year = following.year + (month - 1) // 12
                following = following.replace(year=year, month=(month - 1) % 12 + 1)
        else:
            while following <= now:
                following += INTERVALS[unit](int(number))
        BaseModel.write(
            self,
            {
                "lastcall": now.strftime(DATETIME_FORMAT),
                "nextcall": following.strftime(DATETIME_FORMAT),
                "failure_count": 0,
                "first_failure_date": False,
            },
        )
        return True


# -- ir.ui.menu ---------------------------------------------------------------------------


class IrUiMenu(BaseModel):
    def _compute_complete_name(self, ids: list[int]) -> dict[int, Any]:
        """ir_ui_menu.py _get_full_name: the names from the root, joined by '/'."""
        rows = {
            r[0]: (r[1], r[2])
            for r in self.env.db.execute("SELECT id, name, parent_id FROM ir_ui_menu")
        }
        out: dict[int, Any] = {}
        for rid in ids:
            names, seen, current = [], set(), rid
            while current and current in rows and current not in seen:
                seen.add(current)
                names.append(rows[current][0] or "")
                current = rows[current][1]
            out[rid] = "/".join(reversed(names))
        return out

    def _after_write(self, fields: set[str]) -> None:
        """ir_ui_menu.py _check_parent_id: no menu may be its own ancestor."""
        if "parent_id" not in fields:
            return
        for rid in self.ids:
            seen: set[int] = set()
            current: int | None = rid
            while current:
                if current in seen:
                    raise ValidationError("Error! You cannot create recursive menus.")
                seen.add(current)
                row = self.env.db.execute(
                    "SELECT parent_id FROM ir_ui_menu WHERE id = ?", (current,)
                ).fetchone()
                current = row[0] if row else None


# -- ir.module.module ---------------------------------------------------------------------


class IrModuleModule(BaseModel):
    def button_immediate_install(self) -> dict[str, Any]:
        """ir_module.py button_immediate_install: the modules are installed at once and the
        client told to reload. odoo-sim's registry is fixed, so a module not yet installed
        cannot be added to it."""
        states = self._column_rows(self.ids, "state")
        missing = [rid for rid, state in states.items() if state != "installed"]
        if missing:
            names = self._column_rows(missing, "name")
            raise UserError(
                "odoo-sim cannot install modules; its models are fixed: "
                + ", ".join(sorted(str(n) for n in names.values()))
            )
        root = self.env.db.execute(
            "SELECT id FROM ir_ui_menu WHERE parent_id IS NULL ORDER BY sequence, id LIMIT 1"
        ).fetchone()
        return {
            "type": "ir.actions.client",
            "tag": "reload",
            "params": {"menu_id": root[0] if root else False},
        }

    def _by_module(self, ids: list[int], model: str, label: str) -> dict[int, Any]:
        """ir_module.py _get_views: the module's records of `model`, from ir.model.data."""
        out: dict[int, Any] = {}
        for rid, (name, state) in self._name_states(ids).items():
            if state not in ("installed", "to upgrade", "to remove"):
                out[rid] = ""
                continue
            res_ids = [
                r[0]
                for r in self.env.db.execute(
                    "SELECT res_id FROM ir_model_data WHERE module = ? AND model = ?", (name, model)
                )
            ]
            if not res_ids:
                out[rid] = ""
                continue
            records = self.env[model].sudo().browse(res_ids).exists()
            labels = records._field_values(records._f(label), records.ids, None)
            out[rid] = "\n".join(sorted(str(v or "") for v in labels.values()))
        return out

    def _name_states(self, ids: list[int]) -> dict[int, tuple[str, str]]:
        marks = ", ".join("?" * len(ids))
        rows = self.env.db.execute(
            f"SELECT id, name, state FROM ir_module_module WHERE id IN ({marks})", ids
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def _compute_menus_by_module(self, ids: list[int]) -> dict[int, Any]:
        return self._by_module(ids, "ir.ui.menu", "complete_name")

    def _compute_reports_by_module(self, ids: list[int]) -> dict[int, Any]:
        return self._by_module(ids, "ir.actions.report", "name")

    def _compute_views_by_module(self, ids: list[int]) -> dict[int, Any]:
        """odoo-sim has no ir.ui.view: every installed module lists no views."""
        return dict.fromkeys(ids, "")


# -- res.lang -----------------------------------------------------------------------------


class ResLang(BaseModel):
    @api_model
    @readonly
    def get_installed(self) -> list[tuple[str, str]]:
        """res_lang.py get_installed: (code, name) of the active languages, by name."""
        rows = self.env.db.execute("SELECT code, name FROM res_lang WHERE active = 1")
        return sorted(((r[0], r[1]) for r in rows), key=lambda pair: pair[1])


# -- res.users ----------------------------------------------------------------------------

PARTNER_MIRRORED = ("name", "email", "lang", "tz")


def _html_escape(text: str) -> str:
    """markupsafe.escape, which odoo.tools.html_escape is."""
    return (
        text.replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


def hsl_from_seed(seed: str) -> str:
    """avatar_mixin.py get_hsl_from_seed."""
    hashed = hashlib.sha512(seed.encode()).hexdigest()
    hue = int(hashed[0:2], 16) * 360 / 255
    sat = int(hashed[2:4], 16) * ((70 - 40) / 255) + 40
    return f"hsl({hue:.0f}, {sat:.0f}%, {45:.0f}%)"


def avatar_svg(name: str, create_date: str | None) -> str:
    """avatar_mixin.py _avatar_generate_svg: the initial on a colour seeded by name and
    creation time, base64-encoded."""
    stamp = ""
    if create_date:
        # create_date is stored with microseconds (cr.now()), and Odoo seeds with all of it.
        stamp = str(datetime.fromisoformat(create_date).replace(tzinfo=UTC).timestamp())
    svg = (
        "<?xml version='1.0' encoding='UTF-8' ?>"
        "<svg height='180' width='180' xmlns='http://www.w3.org/2000/svg' "
        "xmlns:xlink='http://www.w3.org/1999/xlink'>"
        f"<rect fill='{hsl_from_seed(name + stamp)}' height='180' width='180'/>"
        "<text fill='#ffffff' font-size='96' text-anchor='middle' x='90' y='125' "
        f"font-family='sans-serif'>{_html_escape(name[0].upper())}</text>"
        "</svg>"
    )
    return base64.b64encode(svg.encode()).decode("ascii")


class ResUsers(ResUsersBase):
    """res.users with its login records, avatar, home action checks and partner mirror."""

    @api_model
    @readonly
    def context_get(self) -> dict[str, Any]:
        """res_users.py context_get: lang and tz as read (False when unset), the lang replaced
        by the company's, then en_US, when it is not an installed language; and uid."""
        row = self.env.db.execute(
            "SELECT lang, tz, company_id FROM res_users WHERE id = ?", (self.env.uid,)
        ).fetchone()
        if row is None:
            return {}
        installed = {
            r[0] for r in self.env.db.execute("SELECT code FROM res_lang WHERE active = 1")
        }
        lang = row[0]
        if lang not in installed:
            company = self.env.db.execute(
                "SELECT p.lang FROM res_company c JOIN res_partner p ON p.id = c.partner_id "
                "WHERE c.id = ?",
                (row[2],),
            ).fetchone()
            lang = company[0] if company and company[0] in installed else "en_US"
            if lang not in installed and installed:
                lang = sorted(installed)[0]
        return {"lang": lang, "tz": row[1] or False, "uid": self.env.uid}

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        vals = super()._prepare_create(vals)
        vals.setdefault("company_ids", [(6, 0, [vals.get("company_id") or self._company_id()])])
        return vals

    @api_model
    def create(self, vals_list: Any) -> BaseModel:
        """res_users.py create: an internal user without an image gets the initials avatar."""
        users = super().create(vals_list)
        for user in users:
            row = self.env.db.execute(
                "SELECT u.share, p.id, p.name, p.image_1920, p.create_date FROM res_users u "
                "JOIN res_partner p ON p.id = u.partner_id WHERE u.id = ?",
                (user.id,),
            ).fetchone()
            share, partner_id, name, image, created = row
            if not image and not share and name:
                self.env.db.execute(
                    "UPDATE res_partner SET image_1920 = ? WHERE id = ?",
                    (avatar_svg(name, created), partner_id),
                )
        return users

    def write(self, vals: Any) -> bool:
        """res_users.py write: the superuser stays archived, nobody archives themselves; the
        partner's fields follow (they are the user's in Odoo, through _inherits)."""
        if isinstance(vals, Mapping):
            if vals.get("active") and SUPERUSER_ID in self.ids:
                raise UserError("You cannot activate the superuser.")
            if vals.get("active") == False and self.env.uid in self.ids:  # noqa: E712
                raise UserError("You cannot deactivate the user you're currently logged in as.")
            if vals.get("action_id"):
                self._check_action_id(vals["action_id"])
        result = super().write(vals)
        mirrored = {k: v for k, v in dict(vals).items() if k in PARTNER_MIRRORED}
        if mirrored and self.ids:
            partners = sorted({v for v in self._column_rows(self.ids, "partner_id").values() if v})
            self.env["res.partner"].sudo().browse(partners).write(mirrored)
        return result

    def _check_action_id(self, action_id: Any) -> None:
        """res_users.py _check_action_id: no reload action, no action needing a record."""
        if isinstance(action_id, list | tuple) and action_id:
            action_id = action_id[0]
        if not isinstance(action_id, int) or isinstance(action_id, bool):
            return
        row = self.env.db.execute(
            "SELECT name, type FROM ir_actions_actions WHERE id = ?", (action_id,)
        ).fetchone()
        if row is None:
            return
        name, kind = row
        if kind == "ir.actions.client":
            tag = self.env.db.execute(
                "SELECT tag FROM ir_actions_client WHERE id = ?", (action_id,)
            ).fetchone()
            if tag and tag[0] == "reload":
                raise ValidationError(f'The "{name}" action cannot be selected as home action.')
        elif kind == "ir.actions.act_window":
            context = self.env.db.execute(
                "SELECT context FROM ir_actions_act_window WHERE id = ?", (action_id,)
            ).fetchone()
            if context and context[0] and "active_id" in context[0]:
                raise ValidationError(
                    f'The action "{name}" cannot be set as the home action because it requires '
                    "a record to be selected beforehand."
                )

    def _update_last_login(self) -> None:
        """res_users.py _update_last_login: one res.users.log row, created by the user."""
        self.env["res.users.log"].sudo().create({})

    def _compute_login_date(self, ids: list[int]) -> dict[int, Any]:
        """login_date = related('log_ids.create_date'): the latest log (res.users.log is
        ordered id desc)."""
        marks = ", ".join("?" * len(ids))
        rows = self.env.db.execute(
            f"SELECT create_uid, create_date FROM res_users_log WHERE create_uid IN ({marks}) "
            "ORDER BY id",
            ids,
        )
        out: dict[int, Any] = dict.fromkeys(ids, False)
        for uid, created in rows:
            # Stored with microseconds (cr.now()), read as whole seconds (Datetime.to_string).
            out[uid] = created[:19] if created else False
        return out

    def _compute_state(self, ids: list[int]) -> dict[int, Any]:
        dates = self._compute_login_date(ids)
        return {rid: "active" if dates[rid] else "new" for rid in ids}


# -- res.company --------------------------------------------------------------------------


class ResCompany(BaseModel):
    """res_company.py: `logo` is the partner's image_1920; `logo_web` the same picture (Odoo
    scales it to 180 px wide, odoo-sim keeps it as it is)."""

    def write(self, vals: Any) -> bool:
        if isinstance(vals, Mapping) and "logo" in vals:
            partners = sorted({v for v in self._column_rows(self.ids, "partner_id").values() if v})
            self.env["res.partner"].sudo().browse(partners).write({"image_1920": vals["logo"]})
        return super().write(vals)

    def _compute_logo_web(self, ids: list[int]) -> dict[int, Any]:
        logo = self._spec.fields["logo"]
        return self._field_values(logo, ids, None)


TECHNICAL_CLASSES: dict[str, type[BaseModel]] = {
    "ir.actions.actions": IrActionsActions,
    "ir.actions.act_window": IrActionsWindow,
    "ir.actions.act_url": IrActionsUrl,
    "ir.actions.client": IrActionsClient,
    "ir.actions.report": IrActionsReport,
    "ir.actions.server": IrActionsServer,
    "ir.cron": IrCron,
    "ir.ui.menu": IrUiMenu,
    "ir.module.module": IrModuleModule,
    "res.lang": ResLang,
    "res.users": ResUsers,
    "res.company": ResCompany,
}


# -- seed ---------------------------------------------------------------------------------

# (xmlid, name, code, iso/url code, active, date format, decimal point, thousands separator,
# first day of week), after odoo/addons/base/data/res_lang_data.xml and res.lang.csv.
LANGUAGES = (
    ("base.lang_en", "English (US)", "en_US", "en", True, "%m/%d/%Y", ".", ",", "7"),
    ("base.lang_fr", "French / Français", "fr_FR", "fr", False, "%d/%m/%Y", ",", "\u202f", "1"),
    ("base.lang_de", "German / Deutsch", "de_DE", "de", False, "%d.%m.%Y", ",", ".", "1"),
    ("base.lang_es", "Spanish / Español", "es_ES", "es", False, "%d/%m/%Y", ",", ".", "1"),
    ("base.lang_nl", "Dutch / Nederlands", "nl_NL", "nl", False, "%d-%m-%Y", ",", ".", "1"),
)
# The modules whose models odoo-sim has, installed: (name, title, application, first major).
MODULES = (
    ("base", "Base", False, 17),
    ("web", "Web", False, 17),
    ("rpc", "RPC", False, 19),
    ("api_doc", "API Documentation", False, 19),
    ("auth_signup", "Signup", False, 17),
    ("mail", "Discuss", True, 17),
    ("uom", "Units of measure", False, 17),
    ("product", "Products & Pricelists", False, 17),
    ("sales_team", "Sales Teams", False, 17),
    ("sale", "Sales", True, 17),
    ("stock", "Inventory", True, 17),
    ("delivery", "Delivery Costs", False, 17),
    ("stock_delivery", "Delivery - Stock", False, 17),
    ("sale_stock", "Sales and Warehouse Management", False, 17),
    ("account", "Invoicing", True, 17),
    ("base_automation", "Automation Rules", False, 17),
)
# (xmlid, name, model, view_mode, context, domain) of a few act_window actions.
WINDOW_ACTIONS = (
    ("base.action_partner_form", "Contacts", "res.partner", "kanban,list,form", "{}", False),
    ("base.action_res_users", "Users", "res.users", "list,kanban,form", "{}", False),
    (
        "base.ir_cron_act",
        "Scheduled Actions",
        "ir.cron",
        "list,form",
        "{'active_test': False}",
        False,
    ),
    ("base.open_module_tree", "Apps", "ir.module.module", "kanban,list,form", "{}", False),
    (
        "base.res_lang_act_window",
        "Languages",
        "res.lang",
        "list,form",
        "{'active_test': False}",
        False,
    ),
    (
        "sale.action_orders",
        "Sales Orders",
        "sale.order",
        "list,kanban,form",
        "{}",
        "[('state', 'not in', ('draft', 'sent', 'cancel'))]",
    ),
    (
        "stock.action_picking_tree_all",
        "Transfers",
        "stock.picking",
        "list,kanban,form",
        "{}",
        False,
    ),
    (
        "account.action_move_out_invoice_type",
        "Invoices",
        "account.move",
        "list,kanban,form",
        "{'default_move_type': 'out_invoice'}",
        "[('move_type', '=', 'out_invoice')]",
    ),
)
# (xmlid, name, model, report_name) of the reports of web, sale, stock and account.
REPORTS = (
    (
        "web.action_report_internalpreview",
        "Preview Internal Report",
        "res.company",
        "web.preview_internalreport",
    ),
    (
        "web.action_report_externalpreview",
        "Preview External Report",
        "res.company",
        "web.preview_externalreport",
    ),
    ("sale.action_report_saleorder", "Quotation / Order", "sale.order", "sale.report_saleorder"),
    ("stock.action_report_delivery", "Delivery Slip", "stock.picking", "stock.report_deliveryslip"),
    ("stock.action_report_picking", "Picking Operations", "stock.picking", "stock.report_picking"),
    ("account.account_invoices", "PDF", "account.move", "account.report_invoice_with_payments"),
    (
        "account.account_invoices_without_payment",
        "PDF without Payment",
        "account.move",
        "account.report_invoice",
    ),
)
# (xmlid, name, parent xmlid, sequence, action xmlid) of the menus over those actions.
MENUS = (
    ("sale.sale_menu_root", "Sales", None, 30, None),
    ("sale.menu_sale_order", "Orders", "sale.sale_menu_root", 10, "sale.action_orders"),
    ("account.menu_finance", "Invoicing", None, 70, None),
    (
        "account.menu_action_move_out_invoice_type",
        "Invoices",
        "account.menu_finance",
        1,
        "account.action_move_out_invoice_type",
    ),
    ("stock.menu_stock_root", "Inventory", None, 140, None),
    ("stock.all_picking", "Transfers", "stock.menu_stock_root", 5, "stock.action_picking_tree_all"),
    ("base.menu_management", "Apps", None, 500, "base.open_module_tree"),
    ("base.menu_administration", "Settings", None, 550, None),
    ("base.menu_users", "Users & Companies", "base.menu_administration", 4, None),
    ("base.menu_action_res_users", "Users", "base.menu_users", 1, "base.action_res_users"),
    ("base.menu_custom", "Technical", "base.menu_administration", 110, None),
    ("base.menu_ir_cron_act", "Scheduled Actions", "base.menu_custom", 2, "base.ir_cron_act"),
)


def _xmlid(env: Env, xmlid: str, model: str, res_id: int) -> None:
    module, _, name = xmlid.partition(".")
    env.db.execute(
        "INSERT INTO ir_model_data (module, name, complete_name, model, res_id, noupdate, "
        "create_uid, write_uid, create_date, write_date) VALUES (?, ?, ?, ?, ?, 1, 1, 1, ?, ?)",
        (module, name, xmlid, model, res_id, env.now, env.now),
    )


def seed_technical(env: Env, data: Mapping[str, Any]) -> None:
    """What base and the installed modules put in every database, demo data or not: the
    languages, the module list, a few actions, reports and menus, the autovacuum job, and the
    company logo when the data file gives one (`company.logo`, base64)."""
    registry = env.registry
    for xmlid, name, code, iso, active, date_fmt, point, sep, week in LANGUAGES:
        lang = env["res.lang"].create(
            {
                "name": name,
                "code": code,
                "iso_code": iso,
                "url_code": iso,
                "active": active,
                "date_format": date_fmt,
                "decimal_point": point,
                "thousands_sep": sep,
                "week_start": week,
            }
        )
        _xmlid(env, xmlid, "res.lang", int(lang.id))
    for name, title, application, since in MODULES:
        if env.major < since:
            continue
        module = env["ir.module.module"].create(
            {
                "name": name,
                "shortdesc": title,
                "application": application,
                "state": "installed",
                "latest_version": f"{env.major}.0.1.0",
                "author": "Odoo S.A.",
            }
        )
        _xmlid(env, f"base.module_{name}", "ir.module.module", int(module.id))
    for xmlid, name, model, view_mode, context, domain in WINDOW_ACTIONS:
        action = env["ir.actions.act_window"].create(
            {
                "name": name,
                "res_model": model,
                "view_mode": view_mode,
                "context": context,
                "domain": domain,
            }
        )
        _xmlid(env, xmlid, "ir.actions.act_window", int(action.id))
    for xmlid, name, model, report_name in REPORTS:
        report = env["ir.actions.report"].create(
            {
                "name": name,
                "model": model,
                "report_name": report_name,
                "report_file": report_name,
                "binding_model_id": env.model_id(model),
            }
        )
        _xmlid(env, xmlid, "ir.actions.report", int(report.id))
    for xmlid, name, parent, sequence, action_xmlid in MENUS:
        vals: dict[str, Any] = {"name": name, "sequence": sequence}
        if parent:
            vals["parent_id"] = env.ref_id(parent)
        if action_xmlid:
            vals["action"] = f"ir.actions.act_window,{env.ref_id(action_xmlid)}"
        menu = env["ir.ui.menu"].create(vals)
        _xmlid(env, xmlid, "ir.ui.menu", int(menu.id))
    if "ir.autovacuum" in registry:
        # ir_cron_data.xml autovacuum_job.
        cron = env["ir.cron"].create(
            {
                "name": "Base: Auto-vacuum internal data",
                "model_id": env.model_id("ir.autovacuum"),
                "state": "code",
                "code": "model._run_vacuum_cleaner()",
                "interval_number": 1,
                "interval_type": "days",
                "priority": 3,
                "user_id": SUPERUSER_ID,
            }
        )
        _xmlid(env, "base.autovacuum_job", "ir.cron", int(cron.id))
    logo = (data.get("company") or {}).get("logo")
    if logo:
        env["res.company"].browse([1]).write({"logo": logo})
