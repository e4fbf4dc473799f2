"""`Store.execute_many`: the batch writes of the apply path give the same rows as one
statement per row would, on both stores, whatever the values hold.

On PostgreSQL an insert, or an update by key, is one statement reading the rows from a
JSON document (store/store.py, `_over_arrays`); these tests hold it to what SQLAlchemy's
executemany does with the same statement and rows, which is the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    exc,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from intermodal.store import Store, open_store
from intermodal.store.store import driver_tuples

from .tables import store_with

meta = MetaData()
things = Table(
    "test_things",
    meta,
    Column("seq", BigInteger().with_variant(sqlite.INTEGER(), "sqlite"), primary_key=True),
    Column("key", String(16), nullable=False, unique=True),
    Column("time", String(40)),  # a column named like a type
    Column("type", String(64)),
    Column("count", Integer),
    Column("note", Text),
)
blobs = Table(
    "test_blobs",
    meta,
    Column("key", String(16), primary_key=True),
    Column("body", LargeBinary),
)
UPDATE = (
    update(things)
    .where(things.c.key == bindparam("b_key"))
    .values({name: bindparam(name) for name in ("time", "type", "count", "note")})
)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with store_with(db_url, meta) as s:
        yield s


def _insert(store: Store) -> Any:
    if store.is_sqlite:
        return sqlite.insert(things).on_conflict_do_nothing(index_elements=["key"])
    return postgresql.insert(things).on_conflict_do_nothing(index_elements=["key"])


def _rows(conn: Connection) -> list[tuple[Any, ...]]:
    query = select(things.c.key, things.c.time, things.c.type, things.c.count, things.c.note)
    return [tuple(r) for r in conn.execute(query.order_by(things.c.seq))]


# Lone surrogates never reach a store: orjson refuses them in the JSON it parses.
texts = st.one_of(
    st.none(),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=30),
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from([f"k{n}" for n in range(12)]),
            "time": texts,
            "type": texts.map(lambda t: None if t is None else t[:64]),
            "count": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
            "note": texts,
        }
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=rows, second=rows)
def test_inserts_and_updates_match_a_statement_per_row(
    store: Store, first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> None:
    """Insert-or-skip a batch (repeats within it too), then update by key: the rows and
    their order are those of SQLAlchemy's executemany of the same statements."""
    for key in ("fast", "reference"):
        with store.write() as conn:
            conn.execute(things.delete())
            if key == "fast":
                store.execute_many(conn, _insert(store), first)
            else:
                conn.execute(_insert(store), first)
            updates = {row["key"]: row for row in second}  # one update per row, by key
            batch = [
                {"b_key": k, **{c: v for c, v in r.items() if c != "key"}}
                for k, r in updates.items()
            ]
            if key == "fast":
                store.execute_many(conn, UPDATE, batch)
            else:
                conn.execute(UPDATE, batch)
            if key == "fast":
                fast = _rows(conn)
            else:
                reference = _rows(conn)
    assert fast == reference
    assert [r[0] for r in fast] == list(dict.fromkeys(r["key"] for r in first))


def test_an_update_naming_a_row_twice_applies_both_in_order(store: Store) -> None:
    """One UPDATE ... FROM changes a row once; such a batch goes row by row, so the
    last one wins as it would one statement at a time."""
    with store.write() as conn:
        store.execute_many(conn, _insert(store), [{"key": "k1", "count": 0}])
        batch = [
            {"b_key": "k1", "count": n, "time": None, "type": None, "note": None} for n in (1, 2, 3)
        ]
        store.execute_many(conn, UPDATE, batch)
        assert conn.execute(select(things.c.count)).scalar_one() == 3


def test_a_write_prepared_before_its_transaction_writes_what_execute_many_does(
    store: Store,
) -> None:
    """The applier prepares its rows with no connection (before SQLite's writer lock) and
    runs them in the transaction; several prepared writes of one statement keep their own
    rows, and an empty one writes nothing."""
    rows = [{"key": f"k{n}", "count": n, "time": None, "type": "t", "note": "n"} for n in range(3)]
    first = store.prepare_many(_insert(store), rows[:2])
    second = store.prepare_many(_insert(store), rows[2:])
    nothing = store.prepare_many(UPDATE, [])
    with store.write() as conn:
        second.run(conn)
        first.run(conn)
        nothing.run(conn)
        got = _rows(conn)
    assert got == [("k2", None, "t", 2, "n"), ("k0", None, "t", 0, "n"), ("k1", None, "t", 1, "n")]


def test_binary_columns_are_written_as_bytes(store: Store) -> None:
    rows = [
        {"key": "a", "body": b"\x00\xff raw"},
        {"key": "b", "body": None},
        {"key": "c", "body": b""},
    ]
    with store.write() as conn:
        store.execute_many(conn, blobs.insert(), rows)
        got = dict(conn.execute(select(blobs.c.key, blobs.c.body)).all())
    assert {k: None if v is None else bytes(v) for k, v in got.items()} == {
        "a": b"\x00\xff raw",
        "b": None,
        "c": b"",
    }


def test_a_value_the_column_cannot_hold_is_refused_and_nothing_is_written(pg_url: str) -> None:
    """Too long for its column, or U+0000 in text: PostgreSQL's refusal, as from a
    statement per row (the group committer and the applier tell it from an outage by
    its class), and the transaction writes nothing. SQLite holds both."""
    store = open_store(pg_url)
    meta.create_all(store.engine)
    try:
        for row in ({"key": "x" * 17, "note": "n"}, {"key": "k2", "note": "nul \x00 here"}):
            with pytest.raises(exc.DataError), store.write() as conn:
                store.execute_many(conn, _insert(store), [{"key": "k1", "note": "ok"}, row])
            with store.read() as conn:
                assert _rows(conn) == []
    finally:
        store.dispose()


@given(
    st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8).flatmap(
        lambda order: st.tuples(
            st.just(order),
            st.lists(
                st.fixed_dictionaries(
                    {k: st.one_of(st.none(), st.integers(), st.text()) for k in "abcdefgh"}
                ),
                max_size=5,
            ),
        )
    )
)
def test_driver_tuples_are_each_rows_values_in_the_statements_order(
    case: tuple[list[str], list[dict[str, Any]]],
) -> None:
    """No columns, one or several: always tuples, in the compiled parameter order."""
    order, rows = case
    assert driver_tuples(rows, order) == [tuple(row[k] for k in order) for row in rows]
