"""Reading PostgreSQL's plans in tests: a statement as the hub ran it, explained with what
it actually read, so a test can bound the work a hot statement does on a large table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from intermodal.store import Store


def explain(
    store: Store, statement: str, params: Any, before: Sequence[tuple[str, Any]] = ()
) -> dict[str, Any]:
    """`EXPLAIN (ANALYZE, FORMAT JSON)` of `statement` after running `before` (the settings
    and statements that preceded it in its transaction), all in one transaction that is
    rolled back: the top plan node."""
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for earlier, bound in before:
            cursor.execute(earlier, bound)
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
        return dict(cursor.fetchone()[0][0]["Plan"])
    finally:
        raw.rollback()
        raw.close()


def rows_read(plan: dict[str, Any]) -> int:
    """Rows every scan of the plan produced, before any filter threw them away."""
    own = 0
    if "Scan" in plan["Node Type"] and "Function" not in plan["Node Type"]:
        own = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return own + sum(rows_read(child) for child in plan.get("Plans", []))


def searches(plan: dict[str, Any], alias: str) -> int:
    """How many times the plan searched the table named `alias` in the statement."""
    own = plan["Actual Loops"] if plan.get("Alias") == alias else 0
    return own + sum(searches(child, alias) for child in plan.get("Plans", []))
