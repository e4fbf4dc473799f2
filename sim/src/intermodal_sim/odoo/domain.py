"""Odoo's domain language compiled to SQL, the way odoo/osv/expression.py (17) does it.

A domain is Polish notation over leaves `(path, operator, value)`: `&` and `|` take two
operands, `!` one, and consecutive terms are implicitly and-ed. Semantics worth knowing:
`=`/`in` with `False` match NULL; negative operators (`!=`, `not in`, `not like`,
`not ilike`) also match NULL; `like`/`ilike` wrap the value in `%` after escaping it while
`=like`/`=ilike` use it as the pattern; a dotted path through a many2one matches the records
whose target matches (archived targets included, as Odoo searches them with
`active_test=False`); a string compared to a relational field is a name search on its target.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from intermodal_sim.odoo.errors import DataError
from intermodal_sim.odoo.schema import Field, Model

TERM_OPERATORS = (
    "=", "!=", "<>", "<=", "<", ">", ">=", "=?", "=like", "=ilike", "like", "not like",
    "ilike", "not ilike", "in", "not in", "child_of", "parent_of", "any", "not any",
)  # fmt: skip
DOMAIN_OPERATORS = ("&", "|", "!")
# odoo/osv/expression.py TERM_OPERATORS_NEGATION
NEGATIONS = {
    "<": ">=", ">": "<=", "<=": ">", ">=": "<", "=": "!=", "!=": "=", "<>": "=",
    "in": "not in", "not in": "in", "like": "not like", "not like": "like",
    "ilike": "not ilike", "not ilike": "ilike", "any": "not any", "not any": "any",
}  # fmt: skip
TRUE_LEAF = (1, "=", 1)
FALSE_LEAF = (0, "=", 1)
NEGATIVE = ("!=", "not in", "not like", "not ilike")
INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")

Node = tuple[Any, ...]


def normalize(domain: Any) -> list[Any]:
    """odoo/osv/expression.py normalize_domain: add the implicit '&' and check the arity."""
    if not isinstance(domain, list | tuple):
        raise ValueError(f"Invalid domain: {domain!r}")
    if not domain:
        return [TRUE_LEAF]
    result: list[Any] = []
    expected = 1
    arity = {"!": 1, "&": 2, "|": 2}
    for token in domain:
        if expected == 0:
            result[0:0] = ["&"]
            expected = 1
        if isinstance(token, list | tuple):
            expected -= 1
            result.append(tuple(token))
        elif isinstance(token, str) and token in arity:
            expected += arity[token] - 1
            result.append(token)
        else:
            raise ValueError(f"Invalid leaf {token!r}")
    if expected:
        raise ValueError(f"Domain {list(domain)!r} is syntactically not correct.")
    return result


def parse(domain: Any) -> Node:
    """The normalized prefix list as a tree of ('&', a, b), ('|', a, b), ('!', a), ('leaf', t)."""
    tokens = iter(normalize(domain))

    def take() -> Node:
        token = next(tokens)
        if token == "!":  # noqa: S105 - a domain operator, not a secret
            return ("!", take())
        if token in ("&", "|"):
            left = take()
            return (token, left, take())
        return ("leaf", token)

    return take()


def leaves(domain: Any) -> list[tuple[Any, ...]]:
    return [t for t in normalize(domain) if isinstance(t, tuple)]


def like_pattern(value: Any, wrap: bool) -> str:
    text = str(value)
    if not wrap:
        return text
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _scalar(value: Any, leaf: tuple[Any, ...]) -> Any:
    if value is None or value is False:
        return None
    if value is True:
        return 1
    if isinstance(value, int | float | str):
        return value
    raise ValueError(f"Invalid value {value!r} in leaf {leaf!r}")


def format_timestamp(value: datetime) -> str:
    """A `timestamp` as PostgreSQL prints it: microseconds only when there are some, so that
    text order is time order and a whole second still equals its `YYYY-MM-DD HH:MM:SS`."""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


class Compiler:
    """Turns (model, domain) into a WHERE clause; one instance per registry and major (19's
    odoo/orm/domains.py optimizations differ from 17/18's odoo/osv/expression.py)."""

    def __init__(self, registry: dict[str, Model], major: int = 19) -> None:
        self.registry = registry
        self.major = major
        self._aliases = itertools.count()

    def where(self, model: Model, domain: Any, active_test: bool = True) -> tuple[str, list[Any]]:
        alias = "t0"
        sql, params = self._with_active(model, alias, domain, active_test)
        return sql, params

    def select_ids(self, model: Model, domain: Any, active_test: bool) -> tuple[str, list[Any]]:
        alias = self._alias()
        sql, params = self._with_active(model, alias, domain, active_test)
        return f"SELECT {alias}.id FROM {model.table} {alias} WHERE {sql}", params

    def _alias(self) -> str:
        return f"t{next(self._aliases) % 1_000_000 + 1}"

    def _with_active(
        self, model: Model, alias: str, domain: Any, active_test: bool
    ) -> tuple[str, list[Any]]:
        tree = parse(domain)
        # odoo/models.py _where_calc: add ('active', '=', True) unless a leaf names it.
        if (
            active_test
            and "active" in model.fields
            and not any(leaf[0] == "active" for leaf in leaves(domain))
        ):
            tree = ("&", ("leaf", ("active", "=", True)), tree)
        return self._node(model, alias, tree)

    def _node(self, model: Model, alias: str, node: Node) -> tuple[str, list[Any]]:
        kind = node[0]
        if kind == "!":
            return self._negated(model, alias, node[1])
        if kind in ("&", "|"):
            left, lp = self._node(model, alias, node[1])
            right, rp = self._node(model, alias, node[2])
            joiner = "AND" if kind == "&" else "OR"
            return f"({left} {joiner} {right})", lp + rp
        return self._leaf(model, alias, node[1])

    def _negated(self, model: Model, alias: str, node: Node) -> tuple[str, list[Any]]:
        """expression.py distribute_not: push '!' down to the leaves, negating operators, so
        that `!` over `name = 'x'` matches NULL names exactly as `name != 'x'` does."""
        kind = node[0]
        if kind == "!":
            return self._node(model, alias, node[1])
        if kind in ("&", "|"):
            flipped = "|" if kind == "&" else "&"
            return self._node(model, alias, (flipped, ("!", node[1]), ("!", node[2])))
        leaf = node[1]
        if isinstance(leaf, tuple) and len(leaf) == 3 and isinstance(leaf[1], str):
            negation = NEGATIONS.get(leaf[1].lower())
            if negation is not None:
                return self._leaf(model, alias, (leaf[0], negation, leaf[2]))
        sql, params = self._node(model, alias, node)
        return f"(NOT {sql})", params

    def _leaf(self, model: Model, alias: str, leaf: tuple[Any, ...]) -> tuple[str, list[Any]]:
        if leaf == TRUE_LEAF or list(leaf) == [1, "=", 1]:
            return "1=1", []
        if leaf == FALSE_LEAF or list(leaf) == [0, "=", 1]:
            return "1=0", []
        if len(leaf) != 3 or not isinstance(leaf[0], str) or not isinstance(leaf[1], str):
            raise ValueError(f"Invalid leaf {leaf!r}")
        path, operator, value = leaf
        operator = operator.lower()
        if operator == "<>":
            operator = "!="
        if operator == "==" and self.major >= 19:
            operator = "="  # domains.py _operator_equals (deprecated, still accepted)
        if operator not in TERM_OPERATORS:
            raise ValueError(f"Invalid leaf {leaf!r}")
        if self.major >= 19 and operator in ("=", "!=") and isinstance(value, list | tuple):
            # odoo/orm/domains.py _operator_equal_as_in: `=` with a collection is `in`, and
            # an empty one compares with False.
            operator = "in" if operator == "=" else "not in"
            value = list(value) or [False]
        return self._path(model, alias, path.split("."), operator, value, leaf)

    def _field(self, model: Model, name: str, leaf: tuple[Any, ...]) -> Field:
        if name == "display_name" and model.rec_name in model.fields:
            name = model.rec_name
        fld = model.fields.get(name)
        if fld is None or (name == "display_name"):
            raise ValueError(f"Invalid field {model.name}.{name} in leaf {leaf!r}")
        return fld

    def _path(
        self,
        model: Model,
        alias: str,
        path: list[str],
        op: str,
        value: Any,
        leaf: tuple[Any, ...],
    ) -> tuple[str, list[Any]]:
        if path == ["display_name"]:
            return self._display_name(model, alias, op, value, leaf)
        fld = self._field(model, path[0], leaf)
        if fld.related:
            return self._path(model, alias, fld.related.split(".") + path[1:], op, value, leaf)
        if len(path) > 1:
            if fld.relation is None:
                raise ValueError(f"Invalid field {model.name}.{'.'.join(path)} in leaf {leaf!r}")
            comodel = self.registry[fld.relation]
            sub_alias = self._alias()
            inner, params = self._path(comodel, sub_alias, path[1:], op, value, leaf)
            if fld.type == "many2one":
                sub = f"SELECT {sub_alias}.id FROM {comodel.table} {sub_alias} WHERE {inner}"
                return f'{alias}."{fld.name}" IN ({sub})', params
            if "active" in comodel.fields:
                inner = f"({inner} AND {sub_alias}.active = 1)"
            return self._x2many_in(model, alias, fld, comodel, sub_alias, inner), params
        if not fld.store:
            raise ValueError(f"Non-stored field {model.name}.{fld.name} cannot be searched.")
        if op in ("child_of", "parent_of"):
            return self._hierarchy(model, alias, fld, op, value, leaf)
        if op in ("any", "not any"):
            return self._any(model, alias, fld, op, value, leaf)
        if fld.type in ("one2many", "many2many"):
            return self._x2many(model, alias, fld, op, value, leaf)
        if fld.type == "many2one" and isinstance(value, str) and op not in ("=?",):
            return self._name_match(model, alias, fld, op, value, leaf)
        column = f'{alias}."{fld.name}"' if fld.name != "id" else f"{alias}.id"
        op, value = self._typed(fld, op, value, leaf)
        return self._compare(column, fld, op, value, leaf)

    def _display_name(
        self, model: Model, alias: str, op: str, value: Any, leaf: tuple[Any, ...]
    ) -> tuple[str, list[Any]]:
        """odoo/models.py _search_display_name: the `_rec_names_search` fields (else the
        rec_name) or-ed, and-ed for a negative operator; `like ''` matches everything."""
        names = [n for n in model.rec_names_search or (model.rec_name,) if n in model.fields]
        if not names:
            raise ValueError(f"Invalid field {model.name}.display_name in leaf {leaf!r}")
        negative = op in NEGATIVE
        if op.endswith("like") and not op.startswith("=") and value in ("", None, False):
            return ("1=0" if negative else "1=1"), []
        parts = [self._path(model, alias, [name], op, value, leaf) for name in names]
        if len(parts) == 1:
            return parts[0]
        joiner = " AND " if negative else " OR "
        return f"({joiner.join(sql for sql, _ in parts)})", [p for _, ps in parts for p in ps]

    def _typed(self, fld: Field, op: str, value: Any, leaf: tuple[Any, ...]) -> tuple[str, Any]:
        """A value as the column's type takes it: PostgreSQL casts text to integer, number and
        timestamp, and refuses text that is none (psycopg2 DataError); 19's domains.py
        `_optimize_type_date(time)` parses dates itself."""
        if op.endswith("like") or value is None or value is False:
            return op, value
        kind = "integer" if fld.name == "id" else fld.type
        if kind not in ("integer", "float", "monetary", "date", "datetime"):
            return op, value
        if op in ("in", "not in"):
            values = value if isinstance(value, list | tuple) else [value]
            typed = [v if v is False or v is None else self._cast(kind, op, v, leaf)[0]
                     for v in values]  # fmt: skip
            return op, typed
        cast, is_day = self._cast(kind, op, value, leaf)
        if is_day and self.major >= 19 and op in (">", "<="):
            # _optimize_type_datetime: a day compares as the whole day.
            assert isinstance(cast, str)
            cast = format_timestamp(datetime.fromisoformat(cast) + timedelta(days=1))
            op = ">=" if op == ">" else "<"
        return op, cast

    def _cast(self, kind: str, op: str, value: Any, leaf: tuple[Any, ...]) -> tuple[Any, bool]:
        if kind == "integer":
            if isinstance(value, str):
                if not INTEGER_TEXT.fullmatch(value):
                    raise DataError(
                        "InvalidTextRepresentation",
                        f'invalid input syntax for type integer: "{value}"',
                    )
                return int(value), False
            return value, False
        if kind in ("float", "monetary"):
            if isinstance(value, str):
                try:
                    return float(value), False
                except ValueError:
                    raise DataError(
                        "InvalidTextRepresentation",
                        f'invalid input syntax for type double precision: "{value}"',
                    ) from None
            return value, False
        if kind == "date":
            return self._date(value), False
        return self._datetime(op, value)

    def _date(self, value: Any) -> str:
        try:
            if not isinstance(value, str):
                raise ValueError(f"Failed to cast {value!r} into a date")
            if len(value) <= 10:
                return date.fromisoformat(value).isoformat()
            return datetime.fromisoformat(value).date().isoformat()
        except ValueError as exc:
            if self.major >= 19:
                raise
            raise DataError(
                "InvalidDatetimeFormat", f'invalid input syntax for type date: "{value}"'
            ) from exc

    def _datetime(self, op: str, value: Any) -> tuple[str, bool]:
        """A timestamp as stored (format_timestamp); True when a bare day was given.

        17/18 (odoo/osv/expression.py): a 'YYYY-MM-DD' gets ' 23:59:59' for `>` and `<=`,
        ' 00:00:00' otherwise, and PostgreSQL parses the text. 19 (domains.py
        _value_to_datetime): datetime.fromisoformat, a day being its midnight.
        """
        if not isinstance(value, str):
            if self.major >= 19:
                raise ValueError(f"Failed to cast {value!r} into a datetime")
            raise DataError(
                "InvalidDatetimeFormat", f'invalid input syntax for type timestamp: "{value}"'
            )
        is_day = len(value) == 10
        text = value
        if is_day and self.major <= 18:
            text += " 23:59:59" if op in (">", "<=") else " 00:00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            if self.major >= 19:
                raise
            raise DataError(
                "InvalidDatetimeFormat", f'invalid input syntax for type timestamp: "{value}"'
            ) from None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return format_timestamp(parsed), is_day

    def _compare(
        self, column: str, fld: Field, op: str, value: Any, leaf: tuple[Any, ...]
    ) -> tuple[str, list[Any]]:
        is_bool = fld.type == "boolean"
        if op == "=?":
            if value is None or value is False:
                return "1=1", []
            op = "="
        if op in ("in", "not in"):
            if not isinstance(value, list | tuple):
                value = [value]
            items = [_scalar(v, leaf) for v in value]
            has_null = any(v is None for v in items) or (is_bool and 0 in items)
            present = [v for v in items if v is not None]
            if is_bool:
                present = [v for v in present if v]
            if op == "in":
                parts, params = [], []
                if present:
                    parts.append(f"{column} IN ({', '.join('?' * len(present))})")
                    params += present
                if has_null:
                    parts.append(
                        f"{column} IS NULL"
                        if not is_bool
                        else f"({column} IS NULL OR {column} = 0)"
                    )
                return (f"({' OR '.join(parts)})" if parts else "1=0"), params
            if not present and not has_null:
                return "1=1", []
            parts, params = [], []
            if present:
                parts.append(f"{column} NOT IN ({', '.join('?' * len(present))})")
                params += present
            if has_null:
                parts.append(f"{column} IS NOT NULL" if not is_bool else f"{column} = 1")
                return f"({' AND '.join(parts)})", params
            return f"({parts[0]} OR {column} IS NULL)", params
        if op in ("like", "ilike", "=like", "=ilike", "not like", "not ilike"):
            if value is None or value is False:
                value = ""
            if not isinstance(value, str | int | float):
                raise ValueError(f"Invalid value {value!r} in leaf {leaf!r}")
            pattern = like_pattern(value, wrap=not op.startswith("="))
            lhs, rhs = column, "?"
            if "ilike" in op:
                lhs, rhs = f"py_lower({column})", "py_lower(?)"
            match = f"{lhs} LIKE {rhs} ESCAPE '\\'"
            if op.startswith("not"):
                return f"(NOT ({match}) OR {column} IS NULL)", [pattern]
            return match, [pattern]
        scalar = _scalar(value, leaf)
        if op == "=":
            if scalar is None:
                return (
                    f"({column} IS NULL OR {column} = 0)" if is_bool else f"{column} IS NULL"
                ), []
            if is_bool and not scalar:
                return f"({column} IS NULL OR {column} = 0)", []
            return f"{column} = ?", [scalar]
        if op == "!=":
            if scalar is None or (is_bool and not scalar):
                return (f"{column} = 1" if is_bool else f"{column} IS NOT NULL"), []
            if is_bool:
                return f"({column} IS NULL OR {column} = 0)", []
            return f"({column} != ? OR {column} IS NULL)", [scalar]
        return f"{column} {op} ?", [scalar]

    def _ids_of(self, model: Model, value: Any, leaf: tuple[Any, ...]) -> tuple[str, list[Any]]:
        """A subquery for the ids a relational value names: ids, a list of them, or a name."""
        alias = self._alias()
        if isinstance(value, str):
            rec = self._field(model, model.rec_name, leaf)
            column = self._column_expr(model, alias, rec)
            return (
                f"SELECT {alias}.id FROM {model.table} {alias} "
                f"WHERE py_lower({column}) LIKE py_lower(?) ESCAPE '\\'",
                [like_pattern(value, True)],
            )
        values = value if isinstance(value, list | tuple) else [value]
        ids = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if len(ids) != len([v for v in values if v is not False and v is not None]):
            raise ValueError(f"Invalid value {value!r} in leaf {leaf!r}")
        if not ids:
            return "SELECT NULL WHERE 0", []
        return f"SELECT id FROM {model.table} WHERE id IN ({', '.join('?' * len(ids))})", ids

    def _column_expr(self, model: Model, alias: str, fld: Field) -> str:
        """The SQL expression of a column, following related chains through many2ones."""
        if not fld.related:
            return f'{alias}."{fld.name}"'
        first, _, rest = fld.related.partition(".")
        link = model.fields[first]
        assert link.relation
        comodel = self.registry[link.relation]
        sub = self._alias()
        inner = self._column_expr(comodel, sub, comodel.fields[rest])
        return f'(SELECT {inner} FROM {comodel.table} {sub} WHERE {sub}.id = {alias}."{first}")'

    def _name_match(
        self, model: Model, alias: str, fld: Field, op: str, value: str, leaf: tuple[Any, ...]
    ) -> tuple[str, list[Any]]:
        assert fld.relation
        comodel = self.registry[fld.relation]
        positive = {"!=": "=", "not like": "like", "not ilike": "ilike", "not in": "in"}
        sub_alias = self._alias()
        # domains.py _value_to_ids: a name is looked up as the target's display_name.
        inner, params = self._path(
            comodel, sub_alias, ["display_name"], positive.get(op, op), value, leaf
        )
        sub = f"SELECT {sub_alias}.id FROM {comodel.table} {sub_alias} WHERE {inner}"
        if op in positive:
            return f'({alias}."{fld.name}" NOT IN ({sub}) OR {alias}."{fld.name}" IS NULL)', params
        return f'{alias}."{fld.name}" IN ({sub})', params

    def _hierarchy(
        self, model: Model, alias: str, fld: Field, op: str, value: Any, leaf: tuple[Any, ...]
    ) -> tuple[str, list[Any]]:
        target = model if fld.name == "id" else self.registry[fld.relation or model.name]
        seed, params = self._ids_of(target, value, leaf)
        parent = target.parent_name
        if parent is None:
            ids_sql = seed
        elif op == "child_of":
            ids_sql = (
                f"WITH RECURSIVE h(id) AS ({seed} UNION SELECT c.id FROM {target.table} c "
                f'JOIN h ON c."{parent}" = h.id) SELECT id FROM h'
            )
        else:
            ids_sql = (
                f'WITH RECURSIVE h(id) AS ({seed} UNION SELECT c."{parent}" FROM {target.table} c '
                f'JOIN h ON c.id = h.id WHERE c."{parent}" IS NOT NULL) SELECT id FROM h'
            )
        if fld.name == "id":
            return f"{alias}.id IN ({ids_sql})", params
        if fld.type == "many2one":
            return f'{alias}."{fld.name}" IN ({ids_sql})', params
        comodel = self.registry[fld.relation or model.name]
        sub_alias = self._alias()
        inner = f"{sub_alias}.id IN ({ids_sql})"
        return self._x2many_in(model, alias, fld, comodel, sub_alias, inner), params

    def _any(
        self, model: Model, alias: str, fld: Field, op: str, value: Any, leaf: tuple[Any, ...]
    ) -> tuple[str, list[Any]]:
        if fld.relation is None:
            raise ValueError(f"Invalid leaf {leaf!r}: {op} needs a relational field")
        comodel = self.registry[fld.relation]
        sub_alias = self._alias()
        inner, params = self._with_active(
            comodel, sub_alias, value, active_test=fld.type != "many2one"
        )
        if fld.type == "many2one":
            sub = f"SELECT {sub_alias}.id FROM {comodel.table} {sub_alias} WHERE {inner}"
            sql = f'{alias}."{fld.name}" IN ({sub})'
        else:
            sql = self._x2many_in(model, alias, fld, comodel, sub_alias, inner)
        return (f"(NOT {sql})" if op == "not any" else sql), params

    def _x2many_in(
        self, model: Model, alias: str, fld: Field, comodel: Model, sub_alias: str, inner: str
    ) -> str:
        if fld.type == "one2many":
            inv = f'{sub_alias}."{fld.inverse_name}"'
            return (
                f"{alias}.id IN (SELECT {inv} FROM {comodel.table} {sub_alias} "
                f"WHERE {inv} IS NOT NULL AND {inner})"
            )
        rel = fld.relation_table
        return (
            f"{alias}.id IN (SELECT r.{fld.column1} FROM {rel} r WHERE r.{fld.column2} IN "
            f"(SELECT {sub_alias}.id FROM {comodel.table} {sub_alias} WHERE {inner}))"
        )

    def _x2many(
        self, model: Model, alias: str, fld: Field, op: str, value: Any, leaf: tuple[Any, ...]
    ) -> tuple[str, list[Any]]:
        assert fld.relation
        comodel = self.registry[fld.relation]
        sub_alias = self._alias()
        active = f" AND {sub_alias}.active = 1" if "active" in comodel.fields else ""
        if op in ("=", "!=") and (value is False or value is None):
            sql = self._x2many_in(model, alias, fld, comodel, sub_alias, f"1=1{active}")
            return (f"(NOT {sql})" if op == "=" else sql), []
        negative = op in ("!=", "not in", "not like", "not ilike")
        positive = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike"}.get(op, op)
        if isinstance(value, str):
            inner, params = self._path(comodel, sub_alias, ["display_name"], positive, value, leaf)
        else:
            values = value if isinstance(value, list | tuple) else [value]
            ids = [_scalar(v, leaf) for v in values if v is not False and v is not None]
            if positive not in ("=", "in"):
                raise ValueError(f"Invalid leaf {leaf!r}")
            if not ids:
                return ("1=1" if negative else "1=0"), []
            inner = f"{sub_alias}.id IN ({', '.join('?' * len(ids))})"
            params = ids
        sql = self._x2many_in(model, alias, fld, comodel, sub_alias, inner + active)
        return (f"(NOT {sql})" if negative else sql), params


def order_terms(model: Model, order: Any) -> list[tuple[Field, bool]]:
    """Parse 'name desc, id' into (field, descending) pairs, rejecting what Odoo rejects."""
    if order is None or order is False or order == "":
        order = model.order
    if not isinstance(order, str):
        raise ValueError(f"Invalid order {order!r}")
    terms: list[tuple[Field, bool]] = []
    for part in order.split(","):
        words = part.split()
        if not words or len(words) > 4:
            raise_invalid_order(order)
        fname = words[0].strip('"')
        direction = words[1].lower() if len(words) > 1 else "asc"
        if direction not in ("asc", "desc"):
            raise_invalid_order(order)
        if len(words) > 2 and [w.lower() for w in words[2:]] not in (
            ["nulls", "first"],
            ["nulls", "last"],
        ):
            raise_invalid_order(order)
        fld = model.fields.get(fname)
        if fld is None:
            raise ValueError(f"Invalid field {fname!r} on model {model.name!r}")
        terms.append((fld, direction == "desc"))
    return terms


def raise_invalid_order(order: str) -> None:
    from intermodal_sim.odoo.errors import UserError

    raise UserError(
        f'Invalid "order" specified ({order}). A valid "order" specification is a '
        "comma-separated list of valid field names (optionally followed by asc/desc for the "
        "direction)"
    )


def order_sql(compiler: Compiler, model: Model, order: Any, alias: str = "t0") -> str:
    """ORDER BY with PostgreSQL's NULL placement (last when ascending, first when descending)."""
    parts: list[str] = []
    names: list[str] = []
    for fld, desc in order_terms(model, order):
        names.append(fld.name)
        if fld.name == "id":
            expr = f"{alias}.id"
        elif not fld.store or fld.type in ("one2many", "many2many"):
            continue
        elif fld.related:
            expr = compiler._column_expr(model, alias, fld)
        elif fld.type == "many2one" and fld.relation:
            comodel = compiler.registry[fld.relation]
            rec = comodel.fields.get(comodel.rec_name)
            if rec is None or not rec.store:
                expr = f'{alias}."{fld.name}"'
            else:
                sub = compiler._alias()
                inner = compiler._column_expr(comodel, sub, rec)
                expr = (
                    f"(SELECT {inner} FROM {comodel.table} {sub} "
                    f'WHERE {sub}.id = {alias}."{fld.name}")'
                )
        else:
            expr = f'{alias}."{fld.name}"'
        collate = " COLLATE NOCASE" if fld.type in ("char", "text", "selection") else ""
        if desc:
            parts.append(f"({expr} IS NULL) DESC, {expr}{collate} DESC")
        else:
            parts.append(f"({expr} IS NULL) ASC, {expr}{collate} ASC")
    if "id" not in names:
        parts.append(f"{alias}.id ASC")
    return ", ".join(parts)
