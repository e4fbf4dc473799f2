"""`where_one_of`, `rows_in` and `rows_for_pairs`: "column is one of these values" bound as one
parameter finds exactly the rows a plain `IN` list finds, on both stores, whatever the
values hold; the statements composed for it are made once per statement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, select

from intermodal.store import Store, open_store
from intermodal.store.store import (
    json_values,
    rows_for_pairs,
    rows_in,
    where_one_of,
)

from .tables import store_with

meta = MetaData()
keyed = Table(
    "test_keyed",
    meta,
    Column("id", Integer, primary_key=True),
    Column("key", String(16), nullable=False, unique=True),
    Column("number", BigInteger),
)
paired = Table(
    "test_paired",
    meta,
    Column("id", Integer, primary_key=True),
    Column("a", String(16), nullable=False),
    Column("b", String(16), nullable=False),
)
_PAIRED = select(paired.c.a, paired.c.b)  # one statement for every example, as callers hold


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with store_with(db_url, meta) as s:
        yield s


def _keys(with_nul: bool) -> st.SearchStrategy[str]:
    # PostgreSQL text cannot hold NUL at all; SQLite's JSON functions cut text at one.
    excluded = () if with_nul else ("\x00",)
    return st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters=excluded), max_size=16
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
@example(data=None)
def test_rows_in_finds_exactly_the_rows_a_python_filter_finds(
    store: Store, data: st.DataObject | None
) -> None:
    with_nul = store.is_sqlite
    if data is None:  # the values JSON would carry wrongly, and look-alikes of them
        stored = ["a\x00b", "a", "\\u0000", "\u2028", "x'y\"z", "12", " 12"]
        wanted = ["a\x00b", "a\x00", "\\u0000", "\u2028", "12", "12.0", "x'y\"z", "zz"]
        if not with_nul:
            stored = [k for k in stored if "\x00" not in k]
            wanted = [k for k in wanted if "\x00" not in k]
    else:
        stored = data.draw(st.lists(_keys(with_nul), unique=True, max_size=12))
        wanted = data.draw(
            st.lists(
                st.one_of(st.sampled_from(stored or ["?"]), _keys(with_nul)),
                unique=True,  # as callers pass them: a value in two chunks finds its row twice
                max_size=12,
            )
        )
    with store.write() as conn:
        conn.execute(keyed.delete())
        if stored:
            conn.execute(keyed.insert(), [{"key": k} for k in stored])
        found = [r.key for r in rows_in(conn, select(keyed.c.key), keyed.c.key, wanted, chunk=5)]
    assert sorted(found) == sorted(set(stored) & set(wanted))


def test_thousands_of_values_are_found_across_chunks(store: Store) -> None:
    keys = [f"k{n}" for n in range(1_200)]
    with store.write() as conn:
        conn.execute(keyed.insert(), [{"key": k, "number": n} for n, k in enumerate(keys)])
        found = {r.key for r in rows_in(conn, select(keyed.c.key), keyed.c.key, keys[::-1])}
        numbers = list(range(0, 1_200, 7))
        by_number = [
            r.number for r in rows_in(conn, select(keyed.c.number), keyed.c.number, numbers)
        ]
    assert found == set(keys)
    assert sorted(by_number) == numbers


def test_values_json_would_carry_wrongly_go_as_a_plain_list() -> None:
    assert json_values(["a", 1]) == '["a",1]'
    assert json_values(["a\x00b"]) is None  # SQLite's JSON functions cut text at a NUL
    assert json_values([2**70]) is None  # over 64 bits
    assert json_values([b"raw"]) is None


def test_the_statement_is_the_same_whatever_the_values(store: Store) -> None:
    """What the one parameter is for: SQLAlchemy's compiled statement cache serves every
    call, where an IN of placeholders is rendered for each."""
    with store.read() as conn:
        texts = set()
        for values in (["a"], ["a", "b", "c"], [f"k{n}" for n in range(300)]):
            statement, _ = where_one_of(conn, select(keyed.c.key), keyed.c.key, values)
            texts.add(str(statement.compile(dialect=conn.dialect)))
    assert len(texts) == 1


def test_a_column_whose_type_converts_its_values_gets_them_converted(sqlite_url: str) -> None:
    """A type with a bind processor (here: times, which SQLAlchemy stores on SQLite as
    `2026-12-02 00:00:00.000000` where JSON would say `2026-12-02T00:00:00`) still sees
    each value: such a column goes as a plain IN list, not through JSON."""
    from datetime import datetime

    from sqlalchemy import DateTime

    dated = Table("test_dated", MetaData(), Column("day", DateTime, primary_key=True))
    store = open_store(sqlite_url)
    dated.create(store.engine)
    try:
        with store.write() as conn:
            conn.execute(dated.insert(), [{"day": datetime(2026, 12, d)} for d in (1, 2, 3)])
            wanted = [datetime(2026, 12, 2), datetime(2026, 12, 3), datetime(2026, 12, 9)]
            found = [r.day for r in rows_in(conn, select(dated.c.day), dated.c.day, wanted)]
        assert sorted(found) == wanted[:2]
    finally:
        store.dispose()


def test_a_sqlite_without_json_functions_is_named_when_the_store_connects(
    sqlite_url: str,
) -> None:
    """A SQLite built without JSON1 cannot run `where_one_of`: the hub says so when it connects,
    not in the middle of applying. Such a SQLite cannot be had here, so json_each is
    refused to this one (an authorizer, before the hub's own connect hook runs)."""
    import sqlite3

    from sqlalchemy import event

    from intermodal.errors import ConfigurationError

    store = open_store(sqlite_url)

    def refuse_json(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        def check(action: int, first: str | None, *_: object) -> int:
            return sqlite3.SQLITE_DENY if first == "json_each" else sqlite3.SQLITE_OK

        dbapi_conn.set_authorizer(check)

    for engine in (store.engine, store.reader):  # the writers' and the readers' pools
        engine.dispose()
        event.listen(engine, "connect", refuse_json, insert=True)
    try:
        with pytest.raises(ConfigurationError, match="no JSON functions"), store.read():
            pass
        with pytest.raises(ConfigurationError, match=r"SQLite 3\.38 or newer"), store.write():
            pass
    finally:
        store.dispose()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_rows_for_pairs_finds_exactly_the_pairs_asked_for(
    store: Store, data: st.DataObject
) -> None:
    """The composed `a = :pair_first AND b IN (...)` is made once and bound per value of
    `a`: each example asks it with other values, and it finds only their pairs."""
    short = st.text(st.sampled_from("ab'\"%_ \u00e9"), max_size=3)
    stored = data.draw(st.lists(st.tuples(short, short), unique=True, max_size=12))
    wanted = data.draw(
        st.lists(st.one_of(st.sampled_from(stored or [("?", "?")]), st.tuples(short, short)),
                 unique=True, max_size=12)
    )  # fmt: skip
    with store.write() as conn:
        conn.execute(paired.delete())
        if stored:
            conn.execute(paired.insert(), [{"a": a, "b": b} for a, b in stored])
        found = [
            (r.a, r.b) for r in rows_for_pairs(conn, _PAIRED, paired.c.a, paired.c.b, wanted, 4)
        ]
    assert sorted(found) == sorted(set(stored) & set(wanted))


def test_a_composed_statement_is_made_once_and_lives_as_long_as_its_statement(
    store: Store,
) -> None:
    import gc
    import weakref

    query = select(keyed.c.key)
    with store.read() as conn:
        first, first_params = where_one_of(conn, query, keyed.c.key, ["a"])
        again, again_params = where_one_of(conn, query, keyed.c.key, ["b", "c"])
        other, _ = where_one_of(conn, query, keyed.c.number, [1])
    assert again is first  # composed once: SQLAlchemy's cache key is memoized on it
    assert first_params != again_params
    assert other is not first
    composed = weakref.ref(first)
    del query, first, again, other
    gc.collect()
    assert composed() is None  # the cache holds no statement its caller let go
