"""The ORM calls an integration makes, with Odoo's signatures, results and errors.

Models are Python classes whose public methods carry Odoo's exact parameter names, so that
call binding, `TypeError` texts, JSON-2's named arguments and `/doc-bearer` introspection
all come from one place: `inspect.signature`, exactly as Odoo's own `call_kw`
(odoo/service/model.py) and JSON-2 controller (addons/rpc/controllers/json2.py) use it.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

import ast
import base64
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from intermodal_sim.odoo.domain import Compiler, format_timestamp, order_sql
from intermodal_sim.odoo.errors import (
    AccessError,
    MissingError,
    UserError,
    ValidationError,
)
from intermodal_sim.odoo.grouping import (
    aggregate_sql,
    aggregate_value,
    and_domains,
    group_key,
    group_order,
    having_clause,
)
from intermodal_sim.odoo.schema import (
    COMPANY,
    CURRENCY,
    NOW,
    NUMERIC,
    TODAY,
    UID,
    Field,
    Model,
)
from intermodal_sim.odoo.store import Database

F = TypeVar("F", bound=Callable[..., Any])
SUPERUSER_ID = 1
MAGIC_COLUMNS = frozenset(
    {"id", "display_name", "create_uid", "create_date", "write_uid", "write_date"}
)
DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def api_model(func: F) -> F:
    """@api.model: called without ids; JSON-2 refuses ids for it, introspection says 'model'."""
    func._api_model = True  # type: ignore[attr-defined]
    return func


def readonly(func: F) -> F:
    func._readonly = True  # type: ignore[attr-defined]
    return func


def private(func: F) -> F:
    """@api.private: callable in Python, refused over RPC like a `_` method."""
    func._api_private = True  # type: ignore[attr-defined]
    return func


def since(major: int) -> Callable[[F], F]:
    """A method that first appears in `major` (e.g. formatted_read_group in 19): older
    servers answer it as a missing method."""

    def mark(func: F) -> F:
        func._since = major  # type: ignore[attr-defined]
        return func

    return mark


def returns_id(func: F) -> F:
    """@api.returns(..., lambda r: r.id): an int up to 18; 19's call_kw returns `.ids`."""
    func._returns_id = True  # type: ignore[attr-defined]
    return func


class Env:
    """One call's view of the database: the user, the context and the pending side effects."""

    def __init__(
        self,
        db: Database,
        registry: dict[str, Model],
        classes: dict[str, type[BaseModel]],
        major: int,
        uid: int,
        context: Mapping[str, Any] | None = None,
        su: bool = False,
        shared: dict[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.classes = classes
        self.major = major
        self.uid = uid
        self.context: dict[str, Any] = dict(context or {})
        self.su = su or uid == SUPERUSER_ID
        self.compiler = Compiler(registry, major)
        self.shared: dict[str, Any] = (
            shared
            if shared is not None
            else {"now": datetime.now(UTC), "changes": [], "access": {}}
        )

    @property
    def now(self) -> str:
        """fields.Datetime.now(): whole seconds, the value of `default=fields.Datetime.now`
        and of the dates business methods stamp (odoo/fields.py Datetime.now)."""
        return str(self.shared["now"].strftime(DATETIME_FORMAT))

    @property
    def cr_now(self) -> str:
        """cr.now(), the transaction's `now() AT TIME ZONE 'UTC'` (odoo/sql_db.py
        BaseCursor.now): microseconds included. Odoo 17, 18 and 19 all stamp create_date and
        write_date with it, into `timestamp` columns (fields.Datetime._column_type), while
        `read` gives whole seconds (Datetime.to_string): two records written in the same
        second read alike and still compare apart in a domain."""
        return format_timestamp(self.shared["now"])

    @property
    def today(self) -> str:
        return str(self.shared["now"].strftime(DATE_FORMAT))

    @property
    def changes(self) -> list[tuple[str, str, int, frozenset[str]]]:
        """(event, model, id, fields) for every create/write/unlink, for automation rules."""
        changes: list[tuple[str, str, int, frozenset[str]]] = self.shared["changes"]
        return changes

    def __getitem__(self, model: str) -> BaseModel:
        if model not in self.classes:
            raise KeyError(model)
        return self.classes[model](self, self.registry[model], [])

    def __contains__(self, model: str) -> bool:
        return model in self.classes

    def with_context(self, context: Mapping[str, Any]) -> Env:
        return Env(
            self.db, self.registry, self.classes, self.major, self.uid,
            {**self.context, **context}, self.su, self.shared,
        )  # fmt: skip

    def sudo(self) -> Env:
        return Env(
            self.db, self.registry, self.classes, self.major, self.uid,
            self.context, True, self.shared,
        )  # fmt: skip

    def ref_id(self, xmlid: str) -> int | None:
        module, _, name = xmlid.partition(".")
        row = self.db.execute(
            "SELECT res_id FROM ir_model_data WHERE module = ? AND name = ?", (module, name)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def model_id(self, model: str) -> int:
        row = self.db.execute("SELECT id FROM ir_model WHERE model = ?", (model,)).fetchone()
        if row is None:
            raise ValueError(f"Model {model!r} is not registered")
        return int(row[0])

    def has_access(self, model: str, mode: str) -> bool:
        """ir.model.access: any active row for the model whose group the user has, or no group."""
        if self.su:
            return True
        key = (model, mode)
        cache: dict[tuple[str, str], bool] = self.shared["access"]
        if key not in cache:
            row = self.db.execute(
                f"SELECT MAX(a.perm_{mode}) FROM ir_model_access a "
                "JOIN ir_model m ON m.id = a.model_id "
                "LEFT JOIN res_groups_users_rel r ON r.gid = a.group_id AND r.uid = ? "
                "WHERE m.model = ? AND a.active = 1 AND (a.group_id IS NULL OR r.uid IS NOT NULL)",
                (self.uid, model),
            ).fetchone()
            cache[key] = bool(row and row[0])
        return cache[key]

    def user_company_ids(self) -> list[int]:
        """res.users _get_company_ids: the user's companies (and always its main one)."""
        rows = self.db.execute(
            "SELECT cid FROM res_company_users_rel WHERE user_id = ? UNION "
            "SELECT company_id FROM res_users WHERE id = ? AND company_id IS NOT NULL",
            (self.uid, self.uid),
        )
        return sorted(int(row[0]) for row in rows)

    def allowed_company_ids(self) -> list[Any]:
        """odoo/api.py Environment.company/companies: `allowed_company_ids` from the context,
        refused when it names a company the user does not have (unless in sudo)."""
        company_ids = self.context.get("allowed_company_ids") or []
        if company_ids and not self.su and set(company_ids) - set(self.user_company_ids()):
            raise AccessError("Access to unauthorized or invalid companies.")
        return list(company_ids)

    def company_id(self) -> int | bool:
        """env.company: the first allowed company, else the user's main company."""
        allowed = self.allowed_company_ids()
        if allowed:
            return int(allowed[0])
        row = self.db.execute(
            "SELECT company_id FROM res_users WHERE id = ?", (self.uid,)
        ).fetchone()
        if row and row[0]:
            return int(row[0])
        row = self.db.execute("SELECT id FROM res_company ORDER BY id").fetchone()
        return int(row[0]) if row else False

    def check_access(self, model: Model, mode: str) -> None:
        # Odoo reads env.company(ies) on its first access check (record rules, defaults),
        # which is where a bad `allowed_company_ids` surfaces.
        self.allowed_company_ids()
        if self.has_access(model.name, mode):
            return
        verbs = {"read": "access", "write": "modify", "create": "create", "unlink": "delete"}
        groups = [
            row[0]
            for row in self.db.execute(
                f"SELECT DISTINCT g.full_name FROM ir_model_access a "
                "JOIN ir_model m ON m.id = a.model_id JOIN res_groups g ON g.id = a.group_id "
                f"WHERE m.model = ? AND a.perm_{mode} = 1 ORDER BY g.full_name",
                (model.name,),
            )
        ]
        if groups:
            info = "This operation is allowed for the following groups:\n" + "\n".join(
                f"\t- {g}" for g in groups
            )
        else:
            info = "No group currently allows this operation."
        # odoo/addons/base/models/ir_model.py IrModelAccess._make_access_error
        raise AccessError(
            f"You are not allowed to {verbs[mode]} '{model.description}' ({model.name}) "
            f"records.\n\n{info}\n\nContact your administrator to request access if necessary."
        )


# odoo/tools/safe_eval.py _UNSAFE_ATTRIBUTES: 19's get_public_method refuses these names too.
UNSAFE_ATTRIBUTES = frozenset({
    "f_builtins", "f_code", "f_globals", "f_locals", "func_code", "func_globals", "co_code",
    "_co_code_adaptive", "mro", "tb_frame", "gi_code", "gi_frame", "gi_yieldfrom", "cr_await",
    "cr_code", "cr_frame", "ag_await", "ag_code", "ag_frame",
})  # fmt: skip


def check_method_name(major: int, name: str) -> None:
    """17's odoo/models.py check_method_name, which odoo/service/model.py execute() runs
    before it even looks the model up: `^(_.*|init)$` is refused, naming the method alone."""
    if major <= 17 and (name.startswith("_") or name == "init"):
        raise AccessError(f"Private methods (such as {name}) cannot be called remotely.")


def get_public_method(rec: BaseModel, name: str) -> Callable[..., Any]:
    """The method an RPC may call, refused in the order each major refuses it.

    17: check_method_name first (odoo/models.py), then call_kw's AttributeError
    (odoo/api.py call_kw). 18: odoo/service/model.py get_public_method looks the method up
    first, so a missing `_x` is an AttributeError and an existing one an AccessError.
    19: get_public_method refuses `_x` and _UNSAFE_ATTRIBUTES before any lookup, so every
    `_x` is an AccessError (JSON-2 403) and only a public name can be missing (JSON-2 404).
    """
    major = rec.env.major
    private_msg = f"Private methods (such as '{rec._name}.{name}') cannot be called remotely."
    check_method_name(major, name)
    if major >= 19 and (name.startswith("_") or name in UNSAFE_ATTRIBUTES):
        raise AccessError(private_msg)
    method = getattr(type(rec), name, None)
    if not callable(method) or getattr(method, "_since", 0) > major:
        if major <= 17:
            raise AttributeError(f"The method '{name}' does not exist on the model '{rec._name}'")
        raise AttributeError(f"The method '{rec._name}.{name}' does not exist")
    if name.startswith("_") or getattr(method, "_api_private", False):
        raise AccessError(private_msg)
    return method  # type: ignore[no-any-return]


def call_kw(env: Env, model: str, name: str, args: Any, kwargs: dict[str, Any]) -> Any:
    """odoo/service/model.py call_kw (18, 19) / odoo/api.py call_kw (17), as reached from
    object.execute_kw and /web/dataset/call_kw.

    `args` is what Odoo hands over: a tuple up to 18 (execute_kw spreads it through
    `execute(*args)`), the JSON list itself in 19 (dispatch unpacks `args, kw`). `create`
    reads `args[0]` *after* the records were made to choose `.id` or `.ids`, so values sent
    as the `vals_list` keyword fail with IndexError ("tuple index out of range" up to 18,
    "list index out of range" in 19) and the transaction rolls back: nothing is created.
    """
    rec = env[model]
    method = get_public_method(rec, name)
    kwargs = dict(kwargs)
    context = kwargs.pop("context", None)
    if isinstance(context, Mapping):
        rec = rec.with_env(env.with_context(context))
    if getattr(method, "_api_model", False):
        result = method(rec, *args, **kwargs)
    else:
        ids, rest = args[0], args[1:]
        result = method(rec.browse(ids), *rest, **kwargs)
    if name == "create":
        assert isinstance(result, BaseModel)
        return result.id if isinstance(args[0], Mapping) else result.ids
    if isinstance(result, BaseModel):
        if env.major <= 18 and getattr(method, "_returns_id", False):
            # @api.returns('self', lambda value: value.id): value.id needs a singleton.
            if len(result) > 1:
                raise ValueError(f"Expected singleton: {result!r}")
            return result.id
        return result.ids
    return result


def _check_date(value: str, fmt: str) -> str:
    return datetime.strptime(value, fmt).strftime(fmt)


class BaseModel:
    """A recordset: a model, an environment and ids, with Odoo's public ORM methods."""

    def __init__(self, env: Env, spec: Model, ids: list[int]) -> None:
        self.env = env
        self._spec = spec
        self._name = spec.name
        self.ids = ids

    # -- recordset plumbing (not callable remotely) ---------------------------------------

    def __iter__(self) -> Iterator[BaseModel]:
        for rid in self.ids:
            yield self.browse([rid])

    def __len__(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __repr__(self) -> str:
        return f"{self._name}{tuple(self.ids)!r}"

    @property
    def id(self) -> int | bool:
        return self.ids[0] if self.ids else False

    @private
    def browse(self, ids: Any = ()) -> BaseModel:
        """odoo/models.py browse: ids are taken as given, strings included (JSON-2 passes its
        `ids` straight in); SQL casts a numeric string where it compares ids, but a record
        browsed as "7" is not record 7, so exists() drops it and write/unlink find it
        missing, as in Odoo."""
        if ids is None or ids is False:
            ids = []
        if isinstance(ids, int | str) and not isinstance(ids, bool):
            ids = [ids]
        if not isinstance(ids, list | tuple) or not all(
            isinstance(i, int | str) and not isinstance(i, bool) for i in ids
        ):
            raise ValueError(f"Invalid ids {ids!r} for model {self._name!r}")
        return type(self)(self.env, self._spec, list(ids))

    @private
    def with_env(self, env: Env) -> BaseModel:
        return type(self)(env, self._spec, self.ids)

    @private
    def sudo(self) -> BaseModel:
        return self.with_env(self.env.sudo())

    @private
    def ensure_one(self) -> BaseModel:
        if len(self.ids) != 1:
            raise ValueError(f"Expected singleton: {self!r}")
        return self

    def _f(self, name: str) -> Field:
        fld = self._spec.fields.get(name)
        if fld is None:
            raise ValueError(f"Invalid field {name!r} on model {self._name!r}")
        return fld

    @property
    def _active_test(self) -> bool:
        return bool(self.env.context.get("active_test", True))

    # -- search ---------------------------------------------------------------------------

    def _search_ids(
        self, domain: Any, offset: Any = 0, limit: Any = None, order: Any = None
    ) -> list[int]:
        self.env.check_access(self._spec, "read")
        where, params = self.env.compiler.where(self._spec, domain, self._active_test)
        sql = f"SELECT t0.id FROM {self._spec.table} t0 WHERE {where}"
        sql += f" ORDER BY {order_sql(self.env.compiler, self._spec, order)}"
        if limit is not None and limit is not False:
            sql += " LIMIT ?"
            params.append(int(limit))
        elif offset:
            sql += " LIMIT -1"
        if offset:
            sql += " OFFSET ?"
            params.append(int(offset))
        return [row[0] for row in self.env.db.execute(sql, params)]

    @api_model
    @readonly
    def search(
        self, domain: Any, offset: int = 0, limit: int | None = None, order: str | None = None
    ) -> BaseModel:
        return self.browse(self._search_ids(domain, offset, limit, order))

    @api_model
    @readonly
    def search_count(self, domain: Any, limit: int | None = None) -> int:
        self.env.check_access(self._spec, "read")
        where, params = self.env.compiler.where(self._spec, domain, self._active_test)
        sql = f"SELECT t0.id FROM {self._spec.table} t0 WHERE {where}"
        if limit is not None and limit is not False:
            sql += " LIMIT ?"
            params.append(int(limit))
        row = self.env.db.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()
        return int(row[0])

    @api_model
    @readonly
    def search_read(
        self,
        domain: Any = None,
        fields: list[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        **read_kwargs: Any,
    ) -> list[dict[str, Any]]:
        records = self.browse(self._search_ids(domain or [], offset, limit, order))
        if not records:
            return []
        return records.read(fields, **read_kwargs)

    @api_model
    @readonly
    def name_search(
        self,
        name: str = "",
        domain: Any = None,
        operator: str = "ilike",
        limit: int = 100,
    ) -> list[tuple[int, str]]:
        return self._name_search_impl(name, domain, operator, limit)

    def _name_search_impl(
        self, name: str, domain: Any, operator: str, limit: int
    ) -> list[tuple[int, str]]:
        domain = list(domain or [])
        if name or operator not in ("ilike", "like", "=like", "=ilike"):
            domain = ["&", *(domain or [(1, "=", 1)]), ("display_name", operator, name)]
        ids = self._search_ids(domain, 0, limit, None)
        names = self.browse(ids)._display_names()
        return [(rid, names[rid]) for rid in ids]

    @readonly
    def exists(self) -> BaseModel:
        if not self.ids:
            return self
        rows = self.env.db.execute(
            f"SELECT id FROM {self._spec.table} WHERE id IN ({', '.join('?' * len(self.ids))})",
            self.ids,
        )
        found = {row[0] for row in rows}
        return self.browse([i for i in self.ids if i in found])

    # -- read -----------------------------------------------------------------------------

    @readonly
    def read(
        self, fields: list[str] | None = None, load: str | None = "_classic_read"
    ) -> list[dict[str, Any]]:
        self.env.check_access(self._spec, "read")
        if isinstance(fields, str):
            fields = [fields]
        names = [f for f in (fields or []) if f != "id"] or [
            f for f in self._spec.fields if f != "id"
        ]
        for fname in names:
            self._f(fname)
        existing = self.exists()
        if not existing:
            return []
        columns = {
            fname: self._field_values(self._spec.fields[fname], existing.ids, load)
            for fname in names
        }
        out = []
        for rid in self.ids:
            if rid not in set(existing.ids):
                continue
            row: dict[str, Any] = {"id": rid}
            for fname in names:
                row[fname] = columns[fname][rid]
            out.append(row)
        return out

    def _column_rows(self, ids: list[int], column: str) -> dict[int, Any]:
        marks = ", ".join("?" * len(ids))
        rows = self.env.db.execute(
            f'SELECT id, "{column}" FROM {self._spec.table} WHERE id IN ({marks})', ids
        )
        return {row[0]: row[1] for row in rows}

    def _field_values(self, fld: Field, ids: list[int], load: str | None) -> dict[int, Any]:
        if not ids:
            return {}
        if fld.name == "display_name":
            return dict(self.browse(ids)._display_names())
        if fld.related:
            first, _, rest = fld.related.partition(".")
            links = self._column_rows(ids, first)
            link = self._spec.fields[first]
            assert link.relation
            target = self.env[link.relation].sudo()
            target_ids = sorted({v for v in links.values() if v})
            values = target._field_values(target._f(rest), target_ids, load)
            empty = _empty(fld)
            return {rid: values.get(links[rid], empty) if links[rid] else empty for rid in ids}
        if not fld.store:
            computed = getattr(self, f"_compute_{fld.name}", None)
            if computed is None:
                return dict.fromkeys(ids, _empty(fld))
            result: dict[int, Any] = computed(ids)
            return result
        if fld.type == "one2many":
            return self._one2many_values(fld, ids)
        if fld.type == "many2many":
            return self._many2many_values(fld, ids)
        raw = self._column_rows(ids, fld.name)
        if fld.type == "many2one":
            assert fld.relation
            if load == "_classic_read":
                targets = sorted({v for v in raw.values() if v})
                names = self.env[fld.relation].sudo().browse(targets)._display_names()
                return {
                    rid: ([raw[rid], names.get(raw[rid], "")] if raw[rid] else False) for rid in ids
                }
            return {rid: raw[rid] or False for rid in ids}
        return {rid: _to_read(fld, raw[rid]) for rid in ids}

    def _one2many_values(self, fld: Field, ids: list[int]) -> dict[int, Any]:
        assert fld.relation and fld.inverse_name
        comodel = self.env[fld.relation]
        spec = comodel._spec
        marks = ", ".join("?" * len(ids))
        active = " AND t0.active = 1" if "active" in spec.fields and self._active_test else ""
        order = order_sql(self.env.compiler, spec, None)
        rows = self.env.db.execute(
            f'SELECT t0.id, t0."{fld.inverse_name}" FROM {spec.table} t0 '
            f'WHERE t0."{fld.inverse_name}" IN ({marks}){active} ORDER BY {order}',
            ids,
        )
        out: dict[int, Any] = {rid: [] for rid in ids}
        for child, parent in rows:
            out[parent].append(child)
        return out

    def _many2many_values(self, fld: Field, ids: list[int]) -> dict[int, Any]:
        assert fld.relation
        spec = self.env.registry[fld.relation]
        marks = ", ".join("?" * len(ids))
        active = " AND t0.active = 1" if "active" in spec.fields and self._active_test else ""
        order = order_sql(self.env.compiler, spec, None)
        rows = self.env.db.execute(
            f"SELECT r.{fld.column1}, t0.id FROM {fld.relation_table} r "
            f"JOIN {spec.table} t0 ON t0.id = r.{fld.column2} "
            f"WHERE r.{fld.column1} IN ({marks}){active} ORDER BY {order}",
            ids,
        )
        out: dict[int, Any] = {rid: [] for rid in ids}
        for parent, child in rows:
            out[parent].append(child)
        return out

    def _display_names(self) -> dict[int, str]:
        if not self.ids:
            return {}
        rec = self._spec.fields.get(self._spec.rec_name)
        if rec is None:
            return {rid: f"{self._name},{rid}" for rid in self.ids}
        values = self._field_values(rec, self.ids, None)
        return {rid: (str(v) if v else "") for rid, v in values.items()}

    # -- write ----------------------------------------------------------------------------

    def _defaults(self, vals: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for fname, fld in self._spec.fields.items():
            if fname in vals or fname in ("id",) or fld.type in ("one2many",):
                continue
            key = f"default_{fname}"
            if key in self.env.context:
                out[fname] = self.env.context[key]
            elif fld.default is not None:
                out[fname] = self._resolve_default(fld.default)
        return out

    def _resolve_default(self, default: Any) -> Any:
        if default == NOW:
            return self.env.now
        if default == TODAY:
            return self.env.today
        if default == UID:
            return self.env.uid
        if default == COMPANY:
            return self._company_id()
        if default == CURRENCY:
            row = self.env.db.execute("SELECT currency_id FROM res_company ORDER BY id").fetchone()
            return row[0] if row else False
        return default

    def _company_id(self) -> int | bool:
        return self.env.company_id()

    @private
    def default_values(self, vals: Mapping[str, Any]) -> dict[str, Any]:
        return {**self._defaults(dict(vals)), **vals}

    def _convert(self, fld: Field, value: Any) -> Any:
        """convert_to_column of odoo/fields.py, and the errors it raises."""
        kind = fld.type
        if kind in ("char", "text", "html"):
            return None if value is False or value is None else str(value)
        if kind == "selection":
            if value is False or value is None:
                return None
            if value not in {v for v, _ in fld.selection}:
                raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")
            return value
        if kind in ("integer", "many2one_reference"):
            return int(value or 0)
        if kind in ("float", "monetary"):
            return float(value or 0.0)
        if kind == "boolean":
            return 1 if value else 0
        if kind == "date":
            if not value:
                return None
            if not isinstance(value, str):
                raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")
            return _check_date(value[:10], DATE_FORMAT)
        if kind == "datetime":
            if not value:
                return None
            if not isinstance(value, str):
                raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")
            if len(value) == 10:
                return _check_date(value, DATE_FORMAT) + " 00:00:00"
            return _check_date(value[:19], DATETIME_FORMAT)
        if kind == "binary":
            return self._convert_binary(fld, value)
        if kind == "reference":
            return self._convert_reference(fld, value)
        if kind == "many2one":
            if isinstance(value, list | tuple) and value:
                value = value[0]
            if value is False or value is None or value == 0:
                return None
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")
            assert fld.relation
            table = self.env.registry[fld.relation].table
            if self.env.db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (value,)).fetchone():
                return value
            raise foreign_key_violation(self.env.major, self._spec, fld)
        raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")

    def _convert_binary(self, fld: Field, value: Any) -> str | None:
        """fields.Binary keeps the decoded bytes (ir.attachment) and reads them back as canonical
        base64; fields.Image also refuses what is not an image (odoo/tools/image.py
        ImageProcess). Invalid base64 fails in b64decode, as in ir.attachment _inverse_datas."""
        if value is False or value is None:
            return None
        raw = base64.b64decode(value)
        if not raw:
            return None
        if fld.image and not _looks_like_image(raw):
            raise UserError("This file could not be decoded as an image file.")
        return base64.b64encode(raw).decode("ascii")

    def _convert_reference(self, fld: Field, value: Any) -> str | None:
        """fields.Reference convert_to_cache (odoo/fields.py): 'model,id' for a model of the
        selection; a record that does not exist stores nothing."""
        if not value:
            return None
        if not isinstance(value, str):
            raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")
        res_model, res_id = value.split(",")
        if res_model not in {v for v, _ in fld.selection}:
            raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")
        rid = int(res_id)
        if res_model not in self.env or not self.env[res_model].sudo().browse([rid]).exists():
            return None
        return f"{res_model},{rid}"

    def _insert_id(self, columns: dict[str, Any]) -> int | None:
        """The id a new row must take, when the model shares an id sequence (ir.actions.*)."""
        return None

    def _split(
        self, vals: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
        """Own columns, x2many commands, and values that belong to a parent (_inherits)."""
        if not isinstance(vals, Mapping):
            raise ValueError(f"Invalid values {vals!r} for model {self._name!r}")
        columns: dict[str, Any] = {}
        x2many: dict[str, Any] = {}
        parents: dict[str, dict[str, Any]] = {}
        for fname, value in vals.items():
            fld = self._f(fname)
            if fname in ("id", "display_name", "create_uid", "create_date", "write_uid",
                         "write_date"):  # fmt: skip
                continue
            if fld.related:
                # Only _inherits fields write through; other related fields are read-only here.
                first, _, rest = fld.related.partition(".")
                if first in self._spec.inherits.values():
                    parents.setdefault(first, {})[rest] = value
                continue
            if not fld.store:
                continue
            if fld.type in ("one2many", "many2many"):
                x2many[fname] = value
            else:
                columns[fname] = self._convert(fld, value)
        return columns, x2many, parents

    def _integrity(self, exc: sqlite3.IntegrityError) -> Exception:
        """What `retrying` (odoo/service/model.py) makes of the IntegrityError SQLite raised:
        a named constraint gives its message (17 `_as_validation_error`, 18+
        `_sql_error_to_message`), a NOT NULL the per-major generic text."""
        text = str(exc)
        registry = self.env.registry
        if text.startswith("NOT NULL constraint failed: "):
            table, _, column = text.removeprefix("NOT NULL constraint failed: ").partition(".")
            model = next((m for m in registry.values() if m.table == table), self._spec)
            return not_null_violation(self.env.major, model, model.fields.get(column), column)
        if text.startswith("CHECK constraint failed: "):
            name = text.removeprefix("CHECK constraint failed: ")
            for model in registry.values():
                for constraint in model.constraints:
                    if f"{model.table}_{constraint.name}" == name:
                        return ValidationError(
                            f"The operation cannot be completed: {constraint.message}"
                        )
        if text.startswith("UNIQUE constraint failed: "):
            columns = text.removeprefix("UNIQUE constraint failed: ").split(", ")
            table = columns[0].partition(".")[0]
            names = [c.partition(".")[2] for c in columns]
            for model in registry.values():
                if model.table != table:
                    continue
                for constraint in model.constraints:
                    if constraint.definition.replace(" ", "") == f"UNIQUE({','.join(names)})":
                        return ValidationError(
                            f"The operation cannot be completed: {constraint.message}"
                        )
        return ValidationError(f"The operation cannot be completed: {text}")

    @api_model
    def create(self, vals_list: Any) -> BaseModel:
        if isinstance(vals_list, Mapping):
            vals_list = [vals_list]
        if not isinstance(vals_list, list | tuple):
            raise ValueError(f"Invalid values {vals_list!r} for model {self._name!r}")
        self.env.check_access(self._spec, "create")
        ids = [self._create_one(dict(v) if isinstance(v, Mapping) else v) for v in vals_list]
        records = self.browse(ids)
        records._after_write(set().union(*(set(v) for v in vals_list if isinstance(v, Mapping))))
        for rid, vals in zip(ids, vals_list, strict=True):
            self.env.changes.append(("create", self._name, rid, frozenset(vals)))
        return records

    def _create_one(self, vals: Any) -> int:
        if not isinstance(vals, dict):
            raise ValueError(f"Invalid values {vals!r} for model {self._name!r}")
        vals = self._prepare_create(dict(vals))
        vals = {**self._defaults(vals), **vals}
        columns, x2many, parents = self._split(vals)
        for parent_model, link in self._spec.inherits.items():
            if not columns.get(link):
                parent = self.env[parent_model].sudo().create(parents.get(link, {}))
                columns[link] = parent.id
            elif parents.get(link):
                self.env[parent_model].sudo().browse(columns[link]).write(parents[link])
        now = self.env.cr_now
        columns.update(create_uid=self.env.uid, create_date=now, write_uid=self.env.uid,
                       write_date=now)  # fmt: skip
        shared_id = self._insert_id(columns)
        if shared_id is not None:
            columns["id"] = shared_id
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        try:
            cursor = self.env.db.execute(
                f"INSERT INTO {self._spec.table} ({names}) VALUES ({marks})", list(columns.values())
            )
        except sqlite3.IntegrityError as exc:
            raise self._integrity(exc) from None
        rid = int(cursor.lastrowid or 0)
        record = self.browse([rid])
        for fname, commands in x2many.items():
            record._write_x2many(self._spec.fields[fname], commands)
        return rid

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        """Per-model defaults that depend on other values (sequences, descriptions)."""
        return vals

    def _after_write(self, fields: set[str]) -> None:
        """Per-model recomputation of stored computed fields after a create or write."""

    def write(self, vals: Any) -> bool:
        if not isinstance(vals, Mapping):
            raise ValueError(f"Invalid values {vals!r} for model {self._name!r}")
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        if not self.ids:
            return True
        columns, x2many, parents = self._split(vals)
        for link, parent_vals in parents.items():
            link_fld = self._spec.fields[link]
            assert link_fld.relation
            parent_ids = sorted({v for v in self._column_rows(self.ids, link).values() if v})
            self.env[link_fld.relation].sudo().browse(parent_ids).write(parent_vals)
        columns.update(write_uid=self.env.uid, write_date=self.env.cr_now)
        sets = ", ".join(f'"{c}" = ?' for c in columns)
        marks = ", ".join("?" * len(self.ids))
        try:
            self.env.db.execute(
                f"UPDATE {self._spec.table} SET {sets} WHERE id IN ({marks})",
                [*columns.values(), *self.ids],
            )
        except sqlite3.IntegrityError as exc:
            raise self._integrity(exc) from None
        for fname, commands in x2many.items():
            for record in self:
                record._write_x2many(self._spec.fields[fname], commands)
        self._after_write(set(vals))
        for rid in self.ids:
            self.env.changes.append(("write", self._name, rid, frozenset(vals)))
        return True

    def _ensure_exist(self) -> None:
        found = set(self.exists().ids)
        missing = [i for i in dict.fromkeys(self.ids) if i not in found]
        if missing:
            # odoo/models.py _check_access / fields.py __get__: the MissingError text.
            raise MissingError(
                "Record does not exist or has been deleted.\n"
                f"(Record: {self._name}({', '.join(repr(i) for i in missing)},), "
                f"User: {self.env.uid})"
            )

    def _write_x2many(self, fld: Field, commands: Any) -> None:
        """The x2many command protocol (odoo/fields.py Command) for one record."""
        assert fld.relation
        rid = self.ids[0]
        comodel = self.env[fld.relation]
        if commands is False or commands is None:
            commands = [(5, 0, 0)]
        if not isinstance(commands, list | tuple):
            raise ValueError(f"Wrong value for {self._name}.{fld.name}: {commands!r}")
        if commands and all(isinstance(c, int) and not isinstance(c, bool) for c in commands):
            commands = [(6, 0, list(commands))]
        for command in commands:
            if not isinstance(command, list | tuple) or not command:
                raise ValueError(f"Wrong value for {self._name}.{fld.name}: {command!r}")
            code = command[0]
            arg1: Any = command[1] if len(command) > 1 else 0
            arg2: Any = command[2] if len(command) > 2 else 0
            if code == 0:
                vals = dict(arg2 or {})
                if fld.type == "one2many":
                    assert fld.inverse_name
                    vals[fld.inverse_name] = rid
                    comodel.create(vals)
                else:
                    child = comodel.create(vals)
                    self._link(fld, [int(child.id)])
            elif code == 1:
                comodel.browse(arg1).write(dict(arg2 or {}))
            elif code == 2:
                comodel.browse(arg1).unlink()
            elif code == 3:
                self._unlink_rel(fld, comodel, [arg1])
            elif code == 4:
                comodel.browse(arg1)._ensure_exist()
                self._link(fld, [arg1])
            elif code == 5:
                self._unlink_rel(fld, comodel, self._field_values(fld, [rid], None)[rid])
            elif code == 6:
                wanted = list(arg2 or [])
                comodel.browse(wanted)._ensure_exist()
                current = self._field_values(fld, [rid], None)[rid]
                self._unlink_rel(fld, comodel, [c for c in current if c not in wanted])
                self._link(fld, [w for w in wanted if w not in current])
            else:
                raise ValueError(f"Wrong value for {self._name}.{fld.name}: {command!r}")

    def _link(self, fld: Field, ids: list[int]) -> None:
        rid = self.ids[0]
        if fld.type == "one2many":
            assert fld.relation and fld.inverse_name
            self.env[fld.relation].browse(ids).write({fld.inverse_name: rid})
            return
        for child in ids:
            self.env.db.execute(
                f"INSERT OR IGNORE INTO {fld.relation_table} ({fld.column1}, {fld.column2}) "
                "VALUES (?, ?)",
                (rid, child),
            )

    def _unlink_rel(self, fld: Field, comodel: BaseModel, ids: list[int]) -> None:
        if not ids:
            return
        if fld.type == "one2many":
            assert fld.inverse_name
            inverse = comodel._spec.fields[fld.inverse_name]
            if inverse.required or inverse.ondelete == "cascade":
                comodel.browse(ids).unlink()
            else:
                comodel.browse(ids).write({fld.inverse_name: False})
            return
        marks = ", ".join("?" * len(ids))
        self.env.db.execute(
            f"DELETE FROM {fld.relation_table} WHERE {fld.column1} = ? AND {fld.column2} IN "
            f"({marks})",
            [self.ids[0], *ids],
        )

    def unlink(self) -> bool:
        self.env.check_access(self._spec, "unlink")
        self._ensure_exist()
        if not self.ids:
            return True
        self._check_unlink()
        for rid in self.ids:
            self.env.changes.append(("unlink", self._name, rid, frozenset()))
        marks = ", ".join("?" * len(self.ids))
        try:
            self.env.db.execute(f"DELETE FROM {self._spec.table} WHERE id IN ({marks})", self.ids)
        except sqlite3.IntegrityError:
            model, fld = self._restricting_field()
            raise foreign_key_violation(self.env.major, model, fld) from None
        self.env.db.execute(
            f"DELETE FROM ir_model_data WHERE model = ? AND res_id IN ({marks})",
            [self._name, *self.ids],
        )
        return True

    def _restricting_field(self) -> tuple[Model, Field]:
        """The `ondelete='restrict'` column still pointing at one of these records."""
        for model in self.env.registry.values():
            for fld in model.fields.values():
                if fld.relation == self._name and fld.column and fld.ondelete == "restrict":
                    marks = ", ".join("?" * len(self.ids))
                    if self.env.db.execute(
                        f'SELECT 1 FROM {model.table} WHERE "{fld.name}" IN ({marks}) LIMIT 1',
                        self.ids,
                    ).fetchone():
                        return model, fld
        return self._spec, self._spec.fields["id"]

    def _check_unlink(self) -> None:
        """Business rules that forbid deleting some records (overridden per model)."""

    # -- metadata -------------------------------------------------------------------------

    @api_model
    @readonly
    def fields_get(
        self, allfields: list[str] | None = None, attributes: list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        self.env.check_access(self._spec, "read")
        out: dict[str, dict[str, Any]] = {}
        for fname, fld in self._spec.fields.items():
            if allfields and fname not in allfields:
                continue
            desc = field_description(self.env.registry, self._spec, fld)
            if attributes:
                desc = {k: v for k, v in desc.items() if k in attributes}
            out[fname] = desc
        return out

    @api_model
    @readonly
    def default_get(self, fields: list[str]) -> dict[str, Any]:
        defaults = self._defaults({})
        return {f: _to_read(self._f(f), v) for f, v in defaults.items() if f in (fields or [])}

    @api_model
    @readonly
    def read_group(
        self,
        domain: Any,
        fields: list[str],
        groupby: Any,
        offset: int = 0,
        limit: int | None = None,
        orderby: str | bool = False,
        lazy: bool = True,
    ) -> list[dict[str, Any]]:
        """read_group where it is cheap: stored fields, sum/min/max/avg/count aggregates."""
        self.env.check_access(self._spec, "read")
        groupby = [groupby] if isinstance(groupby, str) else list(groupby or [])
        if lazy:
            groupby = groupby[:1]
        group_fields: list[Field] = []
        for spec in groupby:
            fld = self._f(str(spec).split(":")[0])
            if not fld.column:
                raise ValueError(f"Cannot group by non-stored field {fld.name!r}")
            group_fields.append(fld)
        aggregates: list[tuple[str, str, str]] = []
        for spec in fields or []:
            name, _, func = str(spec).partition(":")
            alias = name
            if "(" in func:
                func, _, rest = func.partition("(")
                name = rest.rstrip(")")
            agg_field = self._spec.fields.get(name)
            if agg_field is None or not agg_field.column or name in {g.name for g in group_fields}:
                continue
            if agg_field.type in NUMERIC:
                aggregates.append((alias, func or "sum", name))
        where, params = self.env.compiler.where(self._spec, domain, self._active_test)
        keys = ", ".join(f't0."{g.name}"' for g in group_fields) or "NULL"
        aggs = "".join(
            f', {func.upper() if func != "count" else "COUNT"}(t0."{col}")'
            for _, func, col in aggregates
        )
        sql = (
            f"SELECT {keys}, COUNT(*){aggs} FROM {self._spec.table} t0 WHERE {where} "
            f"GROUP BY {keys} ORDER BY {keys}"
        )
        if limit:
            sql += f" LIMIT {int(limit)}"
        if offset:
            sql += (" LIMIT -1" if not limit else "") + f" OFFSET {int(offset)}"
        result = []
        for row in self.env.db.execute(sql, params):
            group: dict[str, Any] = {}
            sub_domain: list[Any] = list(domain or [])
            for index, gfld in enumerate(group_fields):
                value = row[index]
                if gfld.type == "many2one" and value:
                    assert gfld.relation
                    labels = self.env[gfld.relation].sudo().browse([value])._display_names()
                    group[gfld.name] = [value, labels.get(value, "")]
                else:
                    group[gfld.name] = _to_read(gfld, value)
                sub_domain.append((gfld.name, "=", value if value is not None else False))
            count_key = f"{group_fields[0].name}_count" if lazy and group_fields else "__count"
            group[count_key] = row[len(group_fields)]
            for offset_index, (alias, _, _col) in enumerate(aggregates):
                group[alias] = row[len(group_fields) + 1 + offset_index] or 0
            group["__domain"] = sub_domain
            result.append(group)
        return result

    # -- generic methods integrators and the web client call --------------------------------

    @api_model
    def name_create(self, name: str) -> Any:
        """odoo/models.py name_create: a record from its name alone, as `(id, display_name)`;
        False on a model without a `_rec_name` field."""
        rec_name = self._spec.rec_name
        if rec_name not in self._spec.fields:
            return False
        record = self.create({rec_name: name})
        return (record.id, record._display_names().get(record.ids[0], ""))

    def _copyable(self, fld: Field) -> bool:
        """copy_data's choice (odoo/models.py): stored fields with copy=True; computed ones
        (readonly here) and the magic columns are not copied; of the related fields only
        those an `_inherits` parent provides are, and never the link itself."""
        if fld.name in MAGIC_COLUMNS or not fld.copy or not fld.store or fld.readonly:
            return False
        if fld.name in self._spec.inherits.values():
            return False
        if fld.related:
            return fld.related.partition(".")[0] in self._spec.inherits.values()
        return True

    def copy_data(self, default: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """odoo/models.py copy_data (17+): one dict of values per record, `default` on top;
        many2many copied as (6, 0, ids), one2many with copy=True as (0, 0, child values)."""
        if default is not None and not isinstance(default, Mapping):
            raise ValueError(f"Invalid default {default!r} for model {self._name!r}")
        self._ensure_exist()
        names = [fname for fname, fld in self._spec.fields.items() if self._copyable(fld)]
        rows = self.with_env(self.env.with_context({"active_test": False})).read(names, load=None)
        out = []
        for row in rows:
            vals: dict[str, Any] = {}
            for fname in names:
                fld = self._spec.fields[fname]
                if fld.type == "many2many":
                    vals[fname] = [(6, 0, list(row[fname]))]
                elif fld.type == "one2many":
                    assert fld.relation
                    children = self.env[fld.relation].browse(row[fname]).copy_data()
                    vals[fname] = [
                        (0, 0, {k: v for k, v in child.items() if k != fld.inverse_name})
                        for child in children
                    ]
                else:
                    vals[fname] = row[fname]
            vals.update(default or {})
            out.append(vals)
        return out

    @returns_id
    def copy(self, default: Mapping[str, Any] | None = None) -> BaseModel:
        """odoo/models.py copy: create() over copy_data(); an id up to 18 (@api.returns),
        the new ids in 19."""
        return self.create(self.copy_data(default))

    @readonly
    def web_read(self, specification: Mapping[str, Any]) -> list[dict[str, Any]]:
        """addons/web/models/models.py web_read: read() with load=None, then many2one and
        x2many values expanded as the specification asks (`fields`, `order`, `limit`)."""
        if not isinstance(specification, Mapping):
            raise ValueError(f"Invalid specification {specification!r}")
        names = list(specification) or ["id"]
        if names == ["id"]:
            values: list[dict[str, Any]] = [{"id": rid} for rid in self.ids]
        else:
            values = self.read(names, load=None)
        if not values:
            return values
        for fname, spec in specification.items():
            fld = self._spec.fields.get(fname)
            spec = spec or {}
            if fld is None or not isinstance(spec, Mapping) or not fld.relation:
                continue
            comodel = self.env[fld.relation]
            if fld.type == "many2one":
                if "fields" not in spec:
                    continue
                ids = sorted({v[fname] for v in values if v[fname]})
                sub = dict(spec["fields"] or {})
                with_name = "display_name" in sub
                sub.pop("display_name", None)
                data = {v["id"]: v for v in comodel.browse(ids).web_read(sub)}
                if with_name:
                    labels = comodel.sudo().browse(ids)._display_names()
                    for rid in ids:
                        data.setdefault(rid, {"id": rid})["display_name"] = labels.get(rid, "")
                for v in values:
                    if v[fname]:
                        v[fname] = data.get(v[fname]) or {"id": v[fname]}
            elif fld.type in ("one2many", "many2many"):
                if not spec:
                    continue
                all_ids = list(dict.fromkeys(i for v in values for i in v[fname]))
                if spec.get("order") and all_ids:
                    ranked = comodel.with_env(
                        comodel.env.with_context({"active_test": False})
                    )._search_ids([("id", "in", all_ids)], 0, None, spec["order"])
                    rank = {rid: index for index, rid in enumerate(ranked)}
                    for v in values:
                        v[fname] = sorted((i for i in v[fname] if i in rank), key=rank.__getitem__)
                if "fields" in spec:
                    limit = spec.get("limit")
                    wanted = list(
                        dict.fromkeys(
                            i for v in values for i in (v[fname][:limit] if limit else v[fname])
                        )
                    )
                    data = {d["id"]: d for d in comodel.browse(wanted).web_read(spec["fields"])}
                    for v in values:
                        v[fname] = [data.get(i) or {"id": i} for i in v[fname]]
        return values

    @api_model
    @readonly
    def web_search_read(
        self,
        domain: Any,
        specification: Mapping[str, Any],
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        count_limit: int | None = None,
    ) -> dict[str, Any]:
        """addons/web/models/models.py web_search_read (17+): records by specification and
        the total `length`, counted only when the page is full."""
        records = self.browse(self._search_ids(domain, offset, limit, order))
        values = records.web_read(specification)
        if not values:
            return {"length": 0, "records": []}
        current = len(values) + (offset or 0)
        limit_reached = len(values) == limit
        count_limit_reached = bool(count_limit and count_limit <= current)
        forced = self.env.context.get("force_search_count")
        if limit and ((limit_reached and not count_limit_reached) or forced):
            length = self.search_count(domain, limit=count_limit)
        else:
            length = current
        return {"length": length, "records": values}

    @api_model
    @readonly
    @since(19)
    def formatted_read_group(
        self,
        domain: Any,
        groupby: Any = (),
        aggregates: Any = (),
        having: Any = (),
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        """odoo/orm/models.py formatted_read_group (19, which replaces read_group for the web
        client): one dict per group with each groupby spec (a many2one as [id, name], a
        date(time) granularity as [range start, label]), '__extra_domain' and each aggregate
        ('field:sum', '__count', ...)."""
        self.env.check_access(self._spec, "read")
        groupby = [groupby] if isinstance(groupby, str) else list(groupby or [])
        aggregates = [aggregates] if isinstance(aggregates, str) else list(aggregates or [])
        aggregates = [str(a).replace(":recordset", ":array_agg") for a in aggregates]
        keys = [group_key(self.env.compiler, self._spec, str(spec)) for spec in groupby]
        aggs = [aggregate_sql(self.env.compiler, self._spec, spec) for spec in aggregates]
        where, params = self.env.compiler.where(self._spec, domain, self._active_test)
        columns = [k.sql for k in keys] + [sql for sql, _func in aggs] or ["COUNT(*)"]
        sql = f"SELECT {', '.join(columns)} FROM {self._spec.table} t0 WHERE {where}"
        if keys:
            sql += " GROUP BY " + ", ".join(k.sql for k in keys)
        having_sql, having_params = having_clause(having, dict(zip(aggregates, aggs, strict=True)))
        if having_sql:
            sql += f" HAVING {having_sql}"
            params += having_params
        order = order or ", ".join(groupby)
        if order:
            sql += " ORDER BY " + group_order(self.env.compiler, order, keys, aggregates, aggs)
        if limit:
            sql += f" LIMIT {int(limit)}"
        if offset:
            sql += (" LIMIT -1" if not limit else "") + f" OFFSET {int(offset)}"
        rows = self.env.db.execute(sql, params).fetchall()
        labels: dict[int, dict[int, str]] = {}
        for index, key in enumerate(keys):
            if key.field.type == "many2one" and key.field.relation:
                ids = sorted({row[index] for row in rows if row[index]})
                labels[index] = self.env[key.field.relation].sudo().browse(ids)._display_names()
        result = []
        for row in rows:
            group: dict[str, Any] = {}
            extra: list[list[Any]] = []
            for index, key in enumerate(keys):
                value, sub_domain = key.format(row[index], labels.get(index, {}))
                group[key.spec] = value
                extra.append(sub_domain)
            group["__extra_domain"] = and_domains(extra)
            for offset_index, (spec, (_sql, func)) in enumerate(zip(aggregates, aggs, strict=True)):
                group[spec] = aggregate_value(func, row[len(keys) + offset_index])
            result.append(group)
        return result

    def action_archive(self) -> bool:
        return self.write({"active": False})

    def action_unarchive(self) -> bool:
        return self.write({"active": True})


IMAGE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x01\x00",
)


def _looks_like_image(raw: bytes) -> bool:
    """What PIL would open, recognised by its signature (no Pillow in the sim); SVG starts
    with '<' and WebP with RIFF....WEBP, which ImageProcess also passes through unchanged."""
    if raw[:1] == b"<" or (raw[:4] == b"RIFF" and raw[8:12] == b"WEBP"):
        return True
    return raw.startswith(IMAGE_SIGNATURES)


def not_null_violation(major: int, model: Model, fld: Field | None, column: str) -> Exception:
    """A NOT NULL refusal: 17's odoo/service/model.py _as_validation_error, 18+'s
    BaseModel._sql_error_to_message_generic, both under "The operation cannot be
    completed:"."""
    label = fld.string if fld else "Unknown"
    if major <= 17:
        return ValidationError(
            "The operation cannot be completed:\n"
            "- Create/update: a mandatory field is not set.\n"
            "- Delete: another model requires the record being deleted. "
            "If possible, archive it instead.\n\n"
            f"Model: {model.description} ({model.name})\n"
            f"Field: {label} ({column})\n"
        )
    return ValidationError(
        f"The operation cannot be completed: Missing required value for the field "
        f"'{label}' ({column}).\nModel: '{model.description}' ({model.name})\n"
        "- create/update: a mandatory field is not set\n"
        "- delete: another model requires the record being deleted, you can archive it "
        "instead\n"
    )


def foreign_key_violation(major: int, model: Model, fld: Field) -> Exception:
    """A foreign key refusal on `model.fld` (the referencing column), 17's
    _as_validation_error or 18+'s _sql_error_to_message_generic."""
    if major <= 17:
        return ValidationError(
            "The operation cannot be completed: another model requires the record being "
            "deleted. If possible, archive it instead.\n\n"
            f"Model: {model.description} ({model.name})\n"
            f"Constraint: {model.table}_{fld.name}_fkey\n"
        )
    return ValidationError(
        "The operation cannot be completed: Another model is using the record you are trying "
        f"to delete.\n\nThe troublemaker is: '{model.description}' ({model.name})\n"
        f"Thanks to the following constraint: '{fld.string}' ({fld.name})\n"
        "How about archiving the record instead?"
    )


def _empty(fld: Field) -> Any:
    if fld.type in ("one2many", "many2many"):
        return []
    return _to_read(fld, None)


def _to_read(fld: Field, value: Any) -> Any:
    """convert_to_read of odoo/fields.py: NULL becomes False, 0 or 0.0 by type."""
    kind = fld.type
    if kind in ("integer", "many2one_reference"):
        return int(value or 0)
    if kind in ("float", "monetary"):
        return float(value or 0.0)
    if kind == "boolean":
        return bool(value)
    if kind == "many2one":
        return value or False
    if kind == "datetime" and isinstance(value, str):
        return value[:19]  # Datetime.to_string: no microseconds on the wire
    return False if value is None else value


def field_description(registry: dict[str, Model], model: Model, fld: Field) -> dict[str, Any]:
    """One entry of fields_get (odoo/fields.py get_description)."""
    desc: dict[str, Any] = {
        "type": fld.type,
        "string": fld.string,
        "help": fld.help or False,
        "required": fld.required,
        "readonly": fld.readonly or fld.name in ("id", "display_name"),
        "store": fld.store,
        "searchable": fld.store or fld.name == "display_name",
        "sortable": fld.column or fld.name == "id",
        "manual": False,
        "depends": [],
        "company_dependent": False,
        "name": fld.name,
        "exportable": True,
        "groupable": fld.column,
    }
    if fld.relation:
        desc["relation"] = fld.relation
        desc["context"] = {}
        desc["domain"] = []
    if fld.type == "one2many":
        desc["relation_field"] = fld.inverse_name
    if fld.type == "many2one_reference":
        desc["model_field"] = fld.inverse_name
    if fld.type in ("selection", "reference"):
        desc["selection"] = [list(pair) for pair in fld.selection]
    if fld.related:
        desc["related"] = fld.related
    if fld.type in ("char", "text", "html"):
        desc["translate"] = False
        desc["trim"] = True
    return desc


def literal_domain(text: Any) -> Any:
    """Automation filters are stored as text, as Odoo stores `filter_domain`."""
    if not text:
        return []
    if isinstance(text, list):
        return text
    return ast.literal_eval(str(text))
