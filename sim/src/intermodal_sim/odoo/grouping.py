"""Grouping for formatted_read_group: group keys, aggregates, `having` and group order in SQL.

Odoo 19 reads groups with `_read_group` and formats them for the web client in
odoo/orm/models.py `_web_read_group_format` / `_web_read_group_groupby_formatter`; this module
is that pair over the sim's SQLite tables. Timestamps are stored as ISO text, so date
granularities truncate text (`substr`) where PostgreSQL would call `date_trunc`.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from intermodal_sim.odoo.domain import Compiler, parse
from intermodal_sim.odoo.schema import Field, Model

TRUE_DOMAIN: list[Any] = [(1, "=", 1)]
FALSE_DOMAIN: list[Any] = [(0, "=", 1)]

# The first day of each granularity's group, from an ISO date or timestamp text. Weeks start
# on Sunday, as en_US's week_start ('7') makes Odoo's `_read_group_groupby` shift them.
TRUNCATE = {
    "day": "substr({c}, 1, 10)",
    "week": "date(substr({c}, 1, 10), '-5 days', 'weekday 1', '-1 day')",
    "month": "substr({c}, 1, 7) || '-01'",
    "quarter": (
        "substr({c}, 1, 5) || printf('%02d', ((CAST(substr({c}, 6, 2) AS INTEGER) - 1) / 3) "
        "* 3 + 1) || '-01'"
    ),
    "year": "substr({c}, 1, 4) || '-01-01'",
}
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
AGGREGATES = {
    "sum": "SUM({c})",
    "avg": "AVG({c})",
    "min": "MIN({c})",
    "max": "MAX({c})",
    "count": "COUNT({c})",
    "count_distinct": "COUNT(DISTINCT {c})",
    "bool_and": "MIN({c})",
    "bool_or": "MAX({c})",
    "array_agg": "json_group_array({c})",
    "array_agg_distinct": "json_group_array(DISTINCT {c})",
}
COMPARISONS = ("=", "!=", "<", ">", "<=", ">=")


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return day.replace(year=day.year + index // 12, month=index % 12 + 1)


def _week_label(start: date) -> str:
    """babel's week number for en_US (Sunday weeks, week 1 holds January 1st), as
    odoo/tools/date_utils.py weeknumber gives it: 'W<week> <year>'."""

    def first_week(year: int) -> date:
        jan1 = date(year, 1, 1)
        return jan1 - timedelta(days=(jan1.weekday() + 1) % 7)

    year = (start + timedelta(days=6)).year
    if start < first_week(year):
        year = start.year
    return f"W{(start - first_week(year)).days // 7 + 1} {year:04}"


def _range(granularity: str, start: date) -> tuple[date, str]:
    """The end of a group and its label in READ_GROUP_DISPLAY_FORMAT (en_US)."""
    if granularity == "day":
        label = f"{start.day:02d} {MONTHS[start.month - 1][:3]} {start.year}"
        return start + timedelta(days=1), label
    if granularity == "week":
        return start + timedelta(days=7), _week_label(start)
    if granularity == "month":
        return _add_months(start, 1), f"{MONTHS[start.month - 1]} {start.year}"
    if granularity == "quarter":
        return _add_months(start, 3), f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return start.replace(year=start.year + 1), f"{start.year}"


@dataclass(frozen=True)
class GroupKey:
    """One groupby spec: its field, its SQL and how its raw value is shown."""

    spec: str
    field: Field
    sql: str
    granularity: str | None = None

    def format(self, raw: Any, labels: dict[int, str]) -> tuple[Any, list[Any]]:
        """`_web_read_group_groupby_formatter`: the value and the group's domain part."""
        name = self.field.name
        if self.field.type == "many2one":
            if not raw:
                return False, [(name, "=", False)]
            return [raw, labels.get(raw, "")], [(name, "=", raw)]
        if self.granularity:
            if not raw:
                return False, [(name, "=", False)]
            start = date.fromisoformat(str(raw))
            end, label = _range(self.granularity, start)
            if self.field.type == "datetime":
                low, high = f"{start} 00:00:00", f"{end} 00:00:00"
            else:
                low, high = start.isoformat(), end.isoformat()
            return [low, label], ["&", (name, ">=", low), (name, "<", high)]
        if self.field.type == "boolean":
            value: Any = bool(raw)
        else:
            value = False if raw is None else raw
        return value, [(name, "=", value)]


def _column(compiler: Compiler, model: Model, fld: Field) -> str:
    return compiler._column_expr(model, "t0", fld) if fld.related else f't0."{fld.name}"'


def group_key(compiler: Compiler, model: Model, spec: str) -> GroupKey:
    """`_read_group_groupby`: a stored field of the model, a date(time) with a granularity."""
    fname, _, granularity = spec.partition(":")
    fld = model.fields.get(fname)
    if fld is None:
        raise ValueError(f"Invalid field {fname!r} on model {model.name!r}")
    if not fld.store or fld.type in ("one2many", "many2many"):
        raise ValueError(f"Field {fname!r} of model {model.name!r} cannot be grouped by")
    column = _column(compiler, model, fld)
    if fld.type in ("date", "datetime"):
        if not granularity:
            raise ValueError(f"Granularity not set on a date(time) field: {spec!r}")
        if granularity not in TRUNCATE:
            raise ValueError(f"{granularity!r} isn't a valid granularity")
        return GroupKey(spec, fld, TRUNCATE[granularity].format(c=column), granularity)
    if granularity:
        raise ValueError(f"Granularity set on a no-datetime field or property: {spec!r}")
    return GroupKey(spec, fld, column)


def aggregate_sql(compiler: Compiler, model: Model, spec: str) -> tuple[str, str]:
    """`_read_group_select`: '__count' or '<field>:<function>'."""
    if spec == "__count":
        return "COUNT(*)", "count"
    fname, _, func = spec.partition(":")
    if not func:
        raise ValueError(f"Aggregate method is mandatory for {fname!r}")
    fld = model.fields.get(fname)
    if fld is None:
        raise ValueError(f"Invalid field {fname!r} on model {model.name!r}")
    if func not in AGGREGATES:
        raise ValueError(f"Invalid aggregate method {func!r} for {spec!r}.")
    if not fld.store or fld.type in ("one2many", "many2many"):
        raise ValueError(f"Cannot aggregate field {fname!r} of model {model.name!r}")
    return AGGREGATES[func].format(c=_column(compiler, model, fld)), func


def aggregate_value(func: str, raw: Any) -> Any:
    if func in ("bool_and", "bool_or"):
        return bool(raw)
    if func.startswith("array_agg"):
        return json.loads(raw) if raw else []
    return raw


def having_clause(having: Any, aggregates: dict[str, tuple[str, str]]) -> tuple[str, list[Any]]:
    """The `having` domain, whose fields are the query's aggregate specs."""
    if not having:
        return "", []

    def node(tree: tuple[Any, ...]) -> tuple[str, list[Any]]:
        if tree[0] == "!":
            sql, params = node(tree[1])
            return f"(NOT {sql})", params
        if tree[0] in ("&", "|"):
            left, lp = node(tree[1])
            right, rp = node(tree[2])
            return f"({left} {'AND' if tree[0] == '&' else 'OR'} {right})", lp + rp
        leaf = tree[1]
        if list(leaf) == [1, "=", 1]:
            return "1=1", []
        if list(leaf) == [0, "=", 1]:
            return "1=0", []
        spec, op, value = leaf
        if spec not in aggregates:
            raise ValueError(f"Invalid having clause {leaf!r}: {spec!r} is not an aggregate")
        expr = aggregates[spec][0]
        if op in ("in", "not in") and isinstance(value, list | tuple):
            if not value:
                return ("1=0" if op == "in" else "1=1"), []
            marks = ", ".join("?" * len(value))
            return f"{expr} {op.upper()} ({marks})", list(value)
        if op in COMPARISONS:
            if value is None or value is False:
                return (f"{expr} IS NULL" if op == "=" else f"{expr} IS NOT NULL"), []
            return f"{expr} {op} ?", [value]
        raise ValueError(f"Invalid having clause {leaf!r}")

    return node(parse(having))


def group_order(
    compiler: Compiler,
    order: str,
    keys: list[GroupKey],
    aggregates: list[str],
    aggs: list[tuple[str, str]],
) -> str:
    """ORDER BY over groupby and aggregate specs; a many2one follows its target's name."""
    parts: list[str] = []
    for term in order.split(","):
        words = term.split()
        if not words:
            continue
        spec = words[0]
        direction = words[1].upper() if len(words) > 1 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise ValueError(f"Invalid order {order!r} for formatted_read_group")
        key = next((k for k in keys if k.spec == spec), None)
        if key is not None:
            exprs = [key.sql]
            if key.field.type == "many2one" and key.field.relation:
                comodel = compiler.registry[key.field.relation]
                rec = comodel.fields.get(comodel.rec_name)
                if rec is not None and rec.store:
                    inner = compiler._column_expr(comodel, "g", rec)
                    target = f"(SELECT {inner} FROM {comodel.table} g WHERE g.id = {key.sql})"
                    exprs.insert(0, target)
        elif spec in aggregates:
            exprs = [aggs[aggregates.index(spec)][0]]
        else:
            raise ValueError(f"Order term {spec!r} is not a valid aggregate nor valid groupby")
        for expr in exprs:
            parts.append(f"({expr} IS NULL) {direction}, {expr} {direction}")
    return ", ".join(parts) or "1"


def and_domains(domains: list[list[Any]]) -> list[Any]:
    """odoo/osv/expression.py AND: prefix '&'s, the true domain when there is nothing."""
    result: list[Any] = []
    count = 0
    for domain in domains:
        if domain == TRUE_DOMAIN:
            continue
        if domain == FALSE_DOMAIN:
            return list(FALSE_DOMAIN)
        if domain:
            result += domain
            count += 1
    return ["&"] * (count - 1) + result if result else list(TRUE_DOMAIN)
