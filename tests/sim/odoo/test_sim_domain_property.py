"""Property: the SQL-compiled domain agrees with a plain Python reading of the same domain.

The reference below states the semantics of odoo/osv/expression.py (17) in the most direct
way: NULL matches `= False` and every negative operator, `like` is a case-sensitive
substring test, `ilike` a case-insensitive one, `=like` a pattern, archived records are
left out unless a leaf names `active`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal_sim.odoo.service import OdooSim

COUNTRIES = {1: "US", 2: "BE", 3: "DE", 4: "NL"}
TEXT = st.one_of(st.none(), st.text(alphabet="aAb%_", max_size=3))


class Rollback(Exception):
    pass


@pytest.fixture(scope="module")
def sim() -> Iterator[OdooSim]:
    yield OdooSim()


records_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "name": TEXT,
            "customer_rank": st.integers(0, 3),
            "is_company": st.booleans(),
            "active": st.booleans(),
            "country_id": st.sampled_from([None, *COUNTRIES]),
            "parent": st.one_of(st.none(), st.integers(0, 7)),
        }
    ),
    min_size=1,
    max_size=8,
)


def leaf_strategy(size: int) -> st.SearchStrategy[tuple[Any, ...]]:
    ids = st.integers(0, size - 1)
    return st.one_of(
        st.tuples(
            st.just("name"),
            st.sampled_from(
                ["=", "!=", "like", "ilike", "not like", "not ilike", "=like", "=ilike"]
            ),
            st.one_of(st.text(alphabet="aAb%_", max_size=2), st.just(False)),
        ),
        st.tuples(
            st.just("name"),
            st.sampled_from(["in", "not in"]),
            st.lists(st.one_of(st.text(alphabet="aAb", max_size=2), st.just(False)), max_size=3),
        ),
        st.tuples(
            st.just("customer_rank"),
            st.sampled_from(["=", "!=", "<", ">", "<=", ">="]),
            st.integers(0, 3),
        ),
        st.tuples(
            st.just("customer_rank"),
            st.sampled_from(["in", "not in"]),
            st.lists(st.integers(0, 3), max_size=3),
        ),
        st.tuples(st.just("is_company"), st.sampled_from(["=", "!="]), st.booleans()),
        st.tuples(st.just("active"), st.sampled_from(["=", "!="]), st.booleans()),
        st.tuples(
            st.just("country_id"),
            st.sampled_from(["=", "!="]),
            st.one_of(st.just(False), st.sampled_from(list(COUNTRIES))),
        ),
        st.tuples(
            st.just("country_id"),
            st.sampled_from(["in", "not in"]),
            st.lists(st.one_of(st.just(False), st.sampled_from(list(COUNTRIES))), max_size=2),
        ),
        st.tuples(
            st.just("country_id.code"),
            st.sampled_from(["=", "!=", "in"]),
            st.sampled_from(["US", "BE", ["NL", "DE"]]),
        ).filter(lambda t: (t[1] == "in") == isinstance(t[2], list)),
        st.tuples(st.just("id"), st.sampled_from(["child_of", "parent_of"]), ids),
    )


@st.composite
def domain_strategy(draw: st.DrawFn, size: int, depth: int = 0) -> list[Any]:
    kinds = ["leaf", "leaf"] + (["&", "|", "!", "implicit"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        return [draw(leaf_strategy(size))]
    if kind == "!":
        return ["!", *draw(domain_strategy(size, depth + 1))]
    left = draw(domain_strategy(size, depth + 1))
    right = draw(domain_strategy(size, depth + 1))
    return [*left, *right] if kind == "implicit" else [kind, *left, *right]


def like(pattern: str, value: str, flags: int = 0) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


def reference(records: dict[int, dict[str, Any]], domain: list[Any]) -> set[int]:
    def leaf(rec: dict[str, Any], field: str, op: str, value: Any) -> bool:
        if field == "id":
            related = closure(value, op)
            return rec["id"] in related
        if field == "country_id.code":
            code = COUNTRIES.get(rec["country_id"])
            if code is None:
                return False
            if op in ("in", "not in"):
                return (code in value) == (op == "in")
            return code == value if op == "=" else code != value
        v = rec[field]
        if op in ("=", "!="):
            if field in ("is_company", "active"):
                result = bool(v) == bool(value)
            elif value is False:
                result = v is None
            else:
                result = v is not None and v == value
            if op == "=":
                return result
            if field in ("is_company", "active") or value is False:
                return not result
            return v is None or v != value
        if op in ("<", ">", "<=", ">="):
            return {"<": v < value, ">": v > value, "<=": v <= value, ">=": v >= value}[op]
        if op in ("in", "not in"):
            present = [x for x in value if x is not False]
            has_null = len(present) != len(value)
            inside = (v is not None and v in present) or (has_null and v is None)
            if op == "in":
                return inside
            if has_null:
                return v is not None and v not in present
            return v is None or v not in present
        text = "" if value is False else value
        if op in ("like", "ilike", "not like", "not ilike"):
            if v is None:
                return op.startswith("not")
            flags = re.IGNORECASE if "ilike" in op else 0
            found = (
                like("%" + text.replace("\\", "") + "%", v, flags)
                if "%" not in text and "_" not in text
                else (text.lower() if flags else text) in (v.lower() if flags else v)
            )
            return not found if op.startswith("not") else found
        if op in ("=like", "=ilike"):
            return v is not None and like(text, v, re.IGNORECASE if op == "=ilike" else 0)
        raise AssertionError(op)

    def closure(start: int, op: str) -> set[int]:
        found = {start}
        changed = True
        while changed:
            changed = False
            for rid, rec in records.items():
                link = (rec["parent_id"] in found) if op == "child_of" else (rid in found)
                target = rid if op == "child_of" else rec["parent_id"]
                if link and target is not None and target not in found:
                    found.add(target)
                    changed = True
        return found

    negations = {
        "=": "!=",
        "!=": "=",
        "<": ">=",
        ">": "<=",
        "<=": ">",
        ">=": "<",
        "in": "not in",
        "not in": "in",
        "like": "not like",
        "not like": "like",
        "ilike": "not ilike",
        "not ilike": "ilike",
    }

    def evaluate(rec: dict[str, Any], tokens: list[Any], negate: bool) -> tuple[bool, list[Any]]:
        # '!' is pushed down to the leaves as Odoo's expression.distribute_not does.
        head, rest = tokens[0], tokens[1:]
        if head == "!":
            return evaluate(rec, rest, not negate)
        if head in ("&", "|"):
            left, rest = evaluate(rec, rest, negate)
            right, rest = evaluate(rec, rest, negate)
            conjunction = (head == "&") != negate
            return (left and right) if conjunction else (left or right), rest
        field, op, value = head
        if not negate:
            return leaf(rec, field, op, value), rest
        if op in negations:
            return leaf(rec, field, negations[op], value), rest
        if field == "name" and rec["name"] is None:
            return False, rest  # NOT (NULL LIKE x) is NULL in SQL: no match
        return not leaf(rec, field, op, value), rest

    terms = [t for t in domain if isinstance(t, tuple)]
    normalized: list[Any] = []
    expected = 1
    for token in domain:
        if expected == 0:
            normalized.insert(0, "&")
            expected = 1
        expected += {"!": 0, "&": 1, "|": 1}.get(token, -1) if isinstance(token, str) else -1
        normalized.append(token)
    if not any(t[0] == "active" for t in terms):
        normalized = ["&", ("active", "=", True), *normalized]
    return {rid for rid, rec in records.items() if evaluate(rec, normalized, False)[0]}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), raw=records_strategy)
def test_compiled_domain_matches_reference(
    sim: OdooSim, data: st.DataObject, raw: list[dict[str, Any]]
) -> None:
    env = sim.env(1, {"active_test": True})
    try:
        with sim.db.transaction():
            records: dict[int, dict[str, Any]] = {}
            order: list[int] = []
            for index, vals in enumerate(raw):
                parent = (
                    order[vals["parent"]]
                    if vals["parent"] is not None and vals["parent"] < index
                    else None
                )
                cursor = sim.db.execute(
                    # A nameless partner must not be a contact: res_partner_check_name.
                    "INSERT INTO res_partner (name, customer_rank, is_company, active, "
                    "country_id, parent_id, ref, type) VALUES (?, ?, ?, ?, ?, ?, 'PROP', ?)",
                    (
                        vals["name"],
                        vals["customer_rank"],
                        vals["is_company"],
                        vals["active"],
                        vals["country_id"],
                        parent,
                        "contact" if vals["name"] is not None else "other",
                    ),
                )
                rid = int(cursor.lastrowid or 0)
                order.append(rid)
                records[rid] = {**vals, "id": rid, "parent_id": parent}
            domain = data.draw(domain_strategy(len(order)))
            domain = [
                (t[0], t[1], order[t[2]]) if isinstance(t, tuple) and t[0] == "id" else t
                for t in domain
            ]
            found = (
                set(env["res.partner"].search([("ref", "=", "PROP"), *domain]).ids)
                if domain
                else set()
            )
            expected = reference(records, domain)
            assert found == expected, (domain, records)
            raise Rollback
    except Rollback:
        pass
