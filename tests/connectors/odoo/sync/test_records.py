"""Odoo records as they may come back (empty fields read as `false`, many2ones as pairs or
bare ids, hostile text): the sync turns any of them into a row or skips it, never fails."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.connectors.odoo.sync.batch import MODELS, master_row, rate_row

SYNCED = "2026-11-30T00:00:00.000000Z"
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=300),
    st.lists(st.one_of(st.integers(), st.text(max_size=20)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip


def _record(fields: dict[str, Any], record_id: int) -> dict[str, Any]:
    return {**fields, "id": record_id, "write_date": "2026-11-30 10:00:00"}


@settings(max_examples=200, deadline=None)
@given(
    model=st.sampled_from(sorted(MODELS)),
    values=st.dictionaries(st.sampled_from(sorted({f for m in MODELS.values() for f in m.fields})),
                           odd_values, max_size=8),
    record_id=st.integers(min_value=1, max_value=2**31 - 1),
)  # fmt: skip
def test_any_record_becomes_a_row_or_is_skipped(
    model: str, values: dict[str, Any], record_id: int
) -> None:
    spec = MODELS[model]
    record = _record(values, record_id)
    if spec.kind == "currency_rate":
        row = rate_row(record, SYNCED)
        if row is not None:
            assert Decimal(row["rate"]) > 0 and len(row["currency"]) <= 3
            assert row["company_id"] >= 0 and row["odoo_id"] == record_id
        return
    row = master_row(spec, record, SYNCED)
    assert row["odoo_id"] == record_id and 0 < len(row["key"]) <= 256
    assert isinstance(orjson.loads(row["data"]), dict)


def test_odoo_empty_values_and_many2ones_read_as_expected() -> None:
    spec = MODELS["res.partner"]
    row = master_row(
        spec,
        _record({"name": "Azure", "ref": False, "email": False, "country_id": [21, "Belgium"],
                 "parent_id": 7, "active": False, "is_company": True}, 9),
        SYNCED,
    )  # fmt: skip
    data = orjson.loads(row["data"])
    assert row["key"] == "res.partner:9"  # no ref: the Odoo id names it
    assert data["email"] is None and data["active"] is False and data["is_company"] is True
    assert data["country_id"] == {"id": 21, "name": "Belgium"}
    assert data["parent_id"] == {"id": 7, "name": None}


def test_unusable_rates_are_skipped() -> None:
    base = {"name": "2026-01-01", "currency_id": [2, "EUR"], "company_id": False}
    assert rate_row(_record({**base, "rate": 0.92}, 1), SYNCED) == {
        "odoo_id": 1, "currency": "EUR", "company_id": 0, "day": "2026-01-01", "rate": "0.92",
        "write_date": "2026-11-30 10:00:00", "synced_at": SYNCED,
    }  # fmt: skip
    for bad in ({"rate": 0}, {"rate": -1.5}, {"rate": True}, {"rate": "1.1"},
                {"currency_id": False, "rate": 1.0}, {"name": False, "rate": 1.0},
                {"rate": float("inf")}, {"rate": float("nan")}):  # fmt: skip
        assert rate_row(_record({**base, **bad}, 1), SYNCED) is None, bad
