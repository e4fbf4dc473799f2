"""Engines, dialect differences and migrations for the hub's one relational store."""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    Select,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.sql import operators
from sqlalchemy.sql.dml import Insert, Update, UpdateBase
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnElement
from sqlalchemy.sql.schema import Column

from intermodal.errors import ConfigurationError
from intermodal.store import tables

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_201_511  # arbitrary advisory-lock id: one migrator at a time


def normalize_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and use psycopg 3; SQLite paths as given."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class Store:
    """The hub's database: a write engine, a read engine, and dialect-aware helpers.

    SQLite gets two engines because a write transaction must start with BEGIN IMMEDIATE
    (otherwise two writers that both read first deadlock on the upgrade and one fails
    with "database is locked"), while readers must not take the write lock at all.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        self._file: Path | None = None
        """The SQLite database file; None for PostgreSQL and in-memory or URI SQLite."""
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                self._file = Path(database).expanduser()
                self._file.parent.mkdir(parents=True, exist_ok=True)
                _keep_owner_only(self._file)
            self.engine = _sqlite_engine(self.url, immediate=True)
            self.reader = _sqlite_engine(self.url, immediate=False)
        elif self.dialect == "postgresql":
            self.engine = create_engine(
                self.url,
                pool_size=8,
                max_overflow=8,
                pool_pre_ping=True,
                hide_parameters=True,  # an error's text would quote payload values
            )
            self.reader = self.engine
            event.listen(self.engine, "connect", _custom_plans)
        else:
            raise ValueError(
                f"unsupported database '{parsed.drivername}': use sqlite or postgresql"
            )
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self._lock_fd: int | None = None
        self._turn: int | None = None
        """The thread holding the writer lock across writes (`writer_turn`), if any."""
        self._compiled: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]] = {}

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def shared_by_processes(self) -> bool:
        """Whether other processes can open this same store (not an in-memory SQLite)."""
        return not self.is_sqlite or self._file is not None

    def lock_file(self, name: str) -> Path | None:
        """`<database>-<name>.lock` beside a SQLite file, for locks across processes
        (`writer` here, `applier` in engine/applier_process.py); None without a file."""
        return (
            None if self._file is None else self._file.with_name(f"{self._file.name}-{name}.lock")
        )

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to call from several processes.

        Alembic is imported here, not with the module: only the process that migrates
        (`serve`'s supervisor, a one-process hub, the CLI) needs it, and it took 35-40 ms
        of every other process's start (workers, the inbox writer, appliers)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on exit and rolled back on error.

        On SQLite, writers queue on a lock instead of spinning on SQLITE_BUSY: one writer
        at a time is all SQLite allows anyway. The lock is a thread lock for this
        process's writers plus an `flock` on `<database>-writer.lock` for the other
        processes' (the applier process, CLI commands): SQLite's own busy handler sleeps
        1, 2, 5, 10... ms between tries, so a writer kept waiting by another process
        overslept the release by milliseconds, while `flock` wakes it at once.
        """
        if self._write_lock is None or self._turn == threading.get_ident():
            with self.engine.begin() as conn:
                yield conn
            return
        with self.writer_turn(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def writer_turn(self) -> Iterator[None]:
        """Hold the writer lock (SQLite) across this thread's writes until exit.

        A group committer waits for its turn first and gathers its group after: what
        arrived while another process's writer held the lock goes into this commit, not
        the next one (`serve --workers N`: N committers take turns on one lock).
        Elsewhere, a no-op.
        """
        if self._write_lock is None or self._turn == threading.get_ident():
            yield
            return
        with self._write_lock:
            fd = self._process_lock()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._turn = threading.get_ident()
            try:
                yield
            finally:
                self._turn = None
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _process_lock(self) -> int | None:
        if self._lock_fd is None:  # opened once: every group commit takes this lock
            self._lock_fd = self.open_lock("writer")
        return self._lock_fd

    def open_lock(self, name: str) -> int | None:
        """A descriptor on `lock_file(name)` to `flock`; None without a SQLite file."""
        path = self.lock_file(name)
        if path is None:
            return None
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn:
            yield conn

    def execute_many(
        self, conn: Connection, statement: UpdateBase, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Run one statement for many parameter sets, as fast as the backend allows.

        On SQLite this compiles the statement once and hands plain tuples to the driver's
        executemany: SQLAlchemy's per-row parameter processing cost several times the
        insert itself on the apply path. Parameters must be plain values (str, int,
        bytes, None): no type processing happens on this path. On PostgreSQL an insert,
        or an update of rows by a key, is one statement reading the rows from one JSON
        parameter (`write_many_pg`): psycopg's executemany sends a statement per row,
        which with SQLAlchemy's parameter processing made applying a message cost 1.5
        times its SQLite figure.
        """
        self.prepare_many(statement, rows).run(conn)

    def prepare_many(self, statement: UpdateBase, rows: Sequence[dict[str, Any]]) -> PreparedWrite:
        """`execute_many` in two steps: what can be made before the transaction (the SQL and
        its driver tuples, on SQLite), then `run` in it. The applier prepares its rows
        before it takes SQLite's writer lock, which every ingest commit waits for."""
        if not rows or not self.is_sqlite:
            return PreparedWrite(statement, rows)
        keys = tuple(rows[0])
        dialect = self.engine.dialect

        def compile_it() -> tuple[str, tuple[str, ...]]:
            c = statement.compile(dialect=dialect, column_keys=list(keys))
            return str(c), tuple(c.positiontup or ())

        sql, order = _per_statement(self._compiled, statement, keys, compile_it)
        return PreparedWrite(statement, rows, sql, driver_tuples(rows, order))

    def insert_ignoring(self, table: Table, conflict_columns: Sequence[str]) -> Insert:
        """INSERT that skips rows colliding on `conflict_columns` (the dedup primitive)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(
                index_elements=list(conflict_columns)
            )
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))

    def for_update(self, select: Any, skip_locked: bool = False) -> Any:
        """Row locks where the backend has them (PostgreSQL); SQLite's writer lock suffices."""
        if self.dialect == "postgresql":
            return select.with_for_update(skip_locked=skip_locked)
        return select

    def dispose(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()


_T = TypeVar("_T")
_PG_SQL: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]] = {}


def _per_statement(
    cache: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]],
    statement: Any,
    keys: tuple[str, ...],
    build: Callable[[], _T],
) -> _T:
    """What `build` made for this statement and these parameter names, made once.

    Keyed by `id(statement)`: statements are not hashable by value. Some callers build
    their statement on each call, so a freed statement's id can come back for another
    one; the entry keeps its statement and is made again when that is not this one."""
    cache_key = (id(statement), keys)
    cached = cache.get(cache_key)
    if cached is None or cached[0] is not statement:
        cached = (statement, build())
        cache[cache_key] = cached
    result: _T = cached[1]
    return result


@dataclass(frozen=True, slots=True)
class _OverJson:
    sql: str
    binary: tuple[str, ...]  # columns sent as base64 text
    update_by: str | None  # the key parameter of an update


def write_many_pg(
    conn: Connection, statement: UpdateBase, rows: Sequence[dict[str, Any]]
) -> CursorResult[Any] | None:
    """`statement` for all `rows` on PostgreSQL, as one statement reading the rows from
    one JSON parameter (`ROWS FROM (json_to_recordset ...) WITH ORDINALITY`, so rows go
    in their given order) where it knows the shape, else SQLAlchemy's executemany.

    Why: psycopg's executemany sends a statement per row; with SQLAlchemy's parameter
    processing that made applying a message cost 1.5 times its SQLite figure. JSON, not
    PostgreSQL arrays: psycopg dumps an array element by element in Python (a regular
    expression escapes each), which cost more than the statements it saved, where orjson
    writes the whole batch in C. Bytes travel as base64 and are decoded in the statement.

    An insert keeps its ON CONFLICT DO NOTHING (DO UPDATE falls back: one statement may
    not change a row twice, where executemany would). An update must set columns from
    parameters of their own names and find its row by `column = :parameter`; a batch
    naming one row twice falls back too, since one UPDATE ... FROM changes a row once.
    An insert's RETURNING is kept, and its rows are in the result (None without rows).
    Values must be plain (str, int, float, bool, bytes, None), as for `execute_many`.
    """
    if not rows:
        return None
    keys = tuple(rows[0])
    shape = _per_statement(_PG_SQL, statement, keys, lambda: _over_json(conn, statement, keys))
    by = shape.update_by if shape is not None else None
    if by is not None and len({row[by] for row in rows}) < len(rows):
        shape = None
    if shape is None:
        return conn.execute(statement, list(rows))
    try:
        document = orjson.dumps([_base64(r, shape.binary) for r in rows] if shape.binary else rows)
    except orjson.JSONEncodeError:  # a value JSON cannot hold (an integer over 64 bits):
        return conn.execute(statement, list(rows))  # the driver refuses it as it would alone
    return conn.exec_driver_sql(shape.sql, (document.decode(),))


def _base64(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    out = dict(row)
    for name in columns:
        value = out.get(name)
        if value is not None:
            out[name] = base64.b64encode(value).decode("ascii")
    return out


def _over_json(conn: Connection, statement: UpdateBase, keys: tuple[str, ...]) -> _OverJson | None:
    """The SQL of `write_many_pg` for these parameter names, or None for a shape it does
    not know. Names and types come from the hub's own tables: no input reaches the text."""
    dialect = conn.dialect

    def quote(name: str) -> str:  # always: a column named `time` or `type` reads as a type
        return '"' + name.replace('"', '""') + '"'

    table = statement.table
    if not isinstance(table, Table):
        return None

    def record(types: list[Any]) -> tuple[str, dict[str, str], tuple[str, ...]]:
        """The FROM item, each column's value expression, and the binary columns."""
        binary = tuple(k for k, t in zip(keys, types, strict=True) if isinstance(t, LargeBinary))
        columns = ", ".join(
            f"{quote(k)} {'text' if k in binary else t.compile(dialect=dialect)}"
            for k, t in zip(keys, types, strict=True)
        )
        names = ", ".join(quote(k) for k in keys)
        source = (
            f"ROWS FROM (json_to_recordset(%s::json) AS ({columns}))"
            f" WITH ORDINALITY AS u({names}, o)"
        )
        value = {
            k: f"decode(u.{quote(k)}, 'base64')" if k in binary else f"u.{quote(k)}" for k in keys
        }
        return source, value, binary

    if isinstance(statement, Insert):
        if getattr(statement, "_values", None) or any(k not in table.c for k in keys):
            return None  # values fixed in the statement are not in the rows
        compiled = str(statement.compile(dialect=dialect, column_keys=list(keys)))
        ends = [
            at for at in (compiled.find(" ON CONFLICT"), compiled.find(" RETURNING")) if at >= 0
        ]
        tail = compiled[min(ends) :] if ends else ""  # ON CONFLICT and RETURNING, as given
        if "DO UPDATE" in tail:  # a row named twice: an error in one statement
            return None
        source, value, binary = record([table.c[k].type for k in keys])
        names = ", ".join(quote(k) for k in keys)
        values = ", ".join(value[k] for k in keys)
        sql = f"INSERT INTO {quote(table.name)} ({names}) SELECT {values} FROM {source} ORDER BY o{tail}"  # noqa: S608, E501
        return _OverJson(sql, binary, None)
    if not isinstance(statement, Update) or statement._returning:
        return None
    where = statement.whereclause
    if not (
        isinstance(where, BinaryExpression)
        and where.operator is operators.eq
        and isinstance(where.left, Column)
        and isinstance(where.right, BindParameter)
        and where.right.key in keys
    ):
        return None
    by, column = where.right.key, where.left
    values_set = getattr(statement, "_values", None) or {}
    for target, bound in values_set.items():  # SET col = :col only
        name = getattr(target, "key", target)
        if not (isinstance(bound, BindParameter) and bound.key == name):
            return None
    sets = [k for k in keys if k != by]
    if not sets or any(k not in table.c for k in sets):
        return None
    source, value, binary = record([column.type if k == by else table.c[k].type for k in keys])
    assignments = ", ".join(f"{quote(k)} = {value[k]}" for k in sets)
    match = f"t.{quote(column.name)} = {value[by]}"
    sql = f"UPDATE {quote(table.name)} AS t SET {assignments} FROM {source} WHERE {match}"  # noqa: S608
    return _OverJson(sql, binary, by)


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """One statement for many rows, ready to run in a transaction (`Store.prepare_many`):
    on SQLite its compiled SQL and driver tuples, on PostgreSQL the rows as given."""

    statement: UpdateBase
    rows: Sequence[dict[str, Any]]
    sql: str | None = None
    params: list[tuple[Any, ...]] | None = None

    def run(self, conn: Connection) -> None:
        if not self.rows:
            return
        if self.sql is None or self.params is None:
            write_many_pg(conn, self.statement, self.rows)
        else:
            driver_executemany(conn, self.sql, self.params)


def driver_tuples(rows: Sequence[dict[str, Any]], order: Sequence[str]) -> list[tuple[Any, ...]]:
    """Each row's values in the compiled statement's parameter order, for the driver.

    `itemgetter` picks them in C: the generator it replaced (`tuple(row[k] for k in
    order)`) was a tenth of applying a batch on SQLite, a resumed frame per column."""
    if not order:
        return [() for _ in rows]
    if len(order) == 1:
        (key,) = order
        return [(row[key],) for row in rows]
    pick = itemgetter(*order)
    return [pick(row) for row in rows]


def driver_executemany(conn: Connection, sql: str, params: list[tuple[Any, ...]]) -> None:
    """Hand compiled SQL and plain tuples straight to the SQLite driver's executemany,
    inside `conn`'s transaction: the fast path of `Store.execute_many` and of the outbox's
    `enqueue`, which builds its tuples without a dict per row."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
    finally:
        cursor.close()


def _custom_plans(dbapi_conn: Any, _record: Any) -> None:
    """Plan every statement for the values it runs with (`plan_cache_mode`).

    psycopg prepares a statement on the server once it has run five times; PostgreSQL may
    then plan it once for any values (a generic plan). The hub's queues and dedup are
    found through partial indexes (`... WHERE status = 'pending'`, `... WHERE outcome !=
    'duplicate'`), and SQLAlchemy binds those constants as parameters: a generic plan
    cannot know `$1` is 'duplicate', so it cannot use the index, and scanned the whole
    events table for every applied batch (7 ms a batch of 100 at 5,000 events; the cost
    grows with the table). Custom plans keep the prepared statement (parsed once) and
    plan each run with its values; planning these statements costs tens of microseconds.
    """
    dbapi_conn.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_conn.commit()


def _keep_owner_only(database: Path) -> None:
    """Create a SQLite database file readable by its owner only, or narrow an existing one.

    The store holds raw partner payloads and personal data. SQLite creates a database
    0644 (less the umask) and gives its -wal and -shm files the database file's mode, so
    the file is made 0600 before SQLite opens it and all three stay owner-only. A file
    left wider by an older version, or copied in, is narrowed with its -wal and -shm.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        os.close(os.open(database, flags, 0o600))  # an empty file is an empty database
        return
    except FileExistsError:
        pass
    for path in (database, *(database.with_name(database.name + s) for s in _SIDE_FILES)):
        try:
            mode = path.stat().st_mode
            if mode & 0o077:
                os.chmod(path, mode & 0o700)
        except FileNotFoundError:
            continue
        except OSError as exc:  # another user's file: the hub still runs, the operator hears
            log.warning("cannot make %s readable by its owner only: %s", path, exc.strerror)


_SIDE_FILES = ("-wal", "-shm", "-journal")


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=8,
        hide_parameters=True,  # an error's text would quote payload values
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level: SQLAlchemy's "begin" event below issues BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        try:  # `where_one_of` and the audit chains' tails read lists through json_each
            cursor.execute("SELECT count(*) FROM json_each('[]')")
        except sqlite3.DatabaseError as exc:  # "no such table: json_each" without JSON1
            raise ConfigurationError(
                f"this Python's SQLite ({sqlite3.sqlite_version}) has no JSON functions"
                f" ({exc}): the hub needs SQLite 3.38 or newer, or one built with JSON1"
            ) from None
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def rows_in(
    conn: Connection,
    query: Select[Any],
    column: Any,
    values: Sequence[Any],
    chunk: int = 500,
    params: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """Rows of `query` whose `column` is one of `values`, a bounded `IN (...)` at a time
    (SQLite allows 32,766 parameters a statement; PostgreSQL plans long lists badly), each
    chunk bound as one parameter (`where_one_of`); `params` binds the query's own."""
    for result in _each_chunk(conn, query, column, values, chunk, params):
        yield from result


def execute_in(
    conn: Connection,
    statement: Any,
    column: Any,
    values: Sequence[Any],
    chunk: int = 500,
    params: dict[str, Any] | None = None,
) -> list[CursorResult[Any]]:
    """`statement` (an update, a delete, a select) run on the rows whose `column` is one
    of `values`, as `rows_in` bounds and binds them; each chunk's result, every chunk run
    before this returns."""
    return list(_each_chunk(conn, statement, column, values, chunk, params))


def _each_chunk(
    conn: Connection,
    statement: Any,
    column: Any,
    values: Sequence[Any],
    chunk: int,
    params: dict[str, Any] | None,
) -> Iterator[CursorResult[Any]]:
    for start in range(0, len(values), chunk):
        composed, bound = where_one_of(conn, statement, column, values[start : start + chunk])
        yield conn.execute(composed, {**params, **bound} if params else bound)


_S = TypeVar("_S", Select[Any], Update)

_COMPOSED: weakref.WeakKeyDictionary[Any, dict[tuple[int, str], Any]] = weakref.WeakKeyDictionary()
"""Statements composed from a caller's statement, per statement (while it lives) and per
(column, form): `where_one_of`, `rows_for_pairs`."""


def _composed(statement: Any, column: Any, form: str, make: Callable[[], Any]) -> Any:
    per = _COMPOSED.get(statement)
    if per is None:
        per = _COMPOSED.setdefault(statement, {})
    key = (id(column), form)  # a Column's `==` builds SQL: its id is the key
    found = per.get(key)
    if found is None:
        found = per[key] = make()
    return found


def where_one_of(
    conn: Connection, statement: _S, column: Any, values: Sequence[Any]
) -> tuple[_S, dict[str, Any]]:
    """`statement.where(column is one of values)`, and its parameters, the values bound
    as one parameter: `column = ANY(array)` on PostgreSQL, `column IN (SELECT value FROM
    json_each(?))` on SQLite.

    The statement's text is then the same whatever the values, so SQLAlchemy's compiled
    statement cache (and psycopg's prepared statements) serve it. An `IN` of placeholders
    is rendered anew for every call (SQLAlchemy's `expanding` parameters) and parsed anew
    by the database: a fifth of applying a message on PostgreSQL, a tenth on SQLite. Both
    databases search the column's index once per value, as they do for a list. On SQLite,
    values JSON cannot carry exactly (`json_values`), and columns whose type converts the
    values it binds (`json_each` would hand them over unconverted), go as a plain `IN`
    list, composed anew each time.

    The composed statement is made once per statement and column and kept while the
    statement lives (a module's constant: for ever). Building `select(...).where(...)`
    and its cache key anew for every call cost SQLAlchemy about 60 us a statement, about as
    much as SQLite took to run it, and an apply batch runs several (a third of its fixed
    cost).
    """
    form, params = _one_of_form(conn, column, values)
    if form == "list":
        return statement.where(column.in_(values)), {}
    return _composed(
        statement, column, form, lambda: statement.where(_ONE_OF[form](column))
    ), params


def _one_of_form(
    conn: Connection, column: Any, values: Sequence[Any]
) -> tuple[str, dict[str, Any]]:
    """How `where_one_of` binds `values` here ("any", "json" or "list"), and the parameters."""
    if conn.dialect.name == "postgresql":
        return "any", {"one_of_values": list(values)}
    if column.type._cached_bind_processor(conn.dialect) is not None:
        return "list", {}  # a type that converts what it binds: JSON skips that
    document = json_values(values)
    if document is None:
        return "list", {}
    return "json", {"json_values": document}


_JSON_VALUES: Select[Any] = select(literal_column("value")).select_from(
    func.json_each(bindparam("json_values"))
)
_ONE_OF: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "any": lambda column: (
        column == any_(bindparam("one_of_values", type_=postgresql.ARRAY(column.type)))
    ),
    "json": lambda column: column.in_(_JSON_VALUES),
}


def json_values(values: Sequence[Any]) -> str | None:
    """`values` as a JSON array for SQLite's `json_each`, or None where JSON would not carry
    them exactly: a value orjson refuses (an integer over 64 bits, a lone surrogate, bytes)
    or a NUL, which SQLite's JSON functions cut the text at."""
    try:
        document = orjson.dumps(values)
    except orjson.JSONEncodeError:
        return None
    if b"\\u0000" in document:
        return None
    return document.decode()


def rows_for_pairs(
    conn: Connection,
    query: Select[Any],
    first: Any,
    second: Any,
    pairs: Iterable[tuple[Any, Any]],
    chunk: int = 500,
    params: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """Rows of `query` whose (`first`, `second`) is one of `pairs`; `params` binds the
    query's own.

    On SQLite, one query per value of `first`: SQLite does not use a two-column index for
    a row-value `(a, b) IN (VALUES ...)` and scans the whole table (the crash-safety test
    found the inbox and events scanned on every batch); `a = ? AND b IN (...)` is an index
    search.

    On PostgreSQL, `(a, b) IN (SELECT unnest(:firsts), unnest(:seconds))`, a chunk of
    pairs a query: one index probe per pair whatever the table's statistics say. With
    `a = ? AND b = ANY(?)`, a table not yet analyzed (new, or grown since autovacuum last
    looked) is planned with default selectivities that make `a = ?` look rarer than the
    list, so PostgreSQL searched the index for `a` alone and filtered `b` row by row: the
    applier's lookup of known event ids read all 30,000 of a partner's events (7.5 ms a
    batch instead of 0.24).
    """
    if conn.dialect.name == "postgresql":
        listed = list(pairs)
        paired = _composed(query, first, "pairs", lambda: query.where(_pairs_in(first, second)))
        for start in range(0, len(listed), chunk):
            part = listed[start : start + chunk]
            bound = {"pairs_first": [a for a, _ in part], "pairs_second": [b for _, b in part]}
            yield from conn.execute(paired, {**params, **bound} if params else bound)
        return
    grouped: dict[Any, list[Any]] = {}
    for a, b in pairs:
        grouped.setdefault(a, []).append(b)
    paired = _composed(
        query,
        first,
        "pair",
        lambda: query.where(first == bindparam("pair_first", type_=first.type)),
    )
    for a, bs in grouped.items():
        yield from rows_in(conn, paired, second, bs, chunk, {**(params or {}), "pair_first": a})


def _pairs_in(first: Any, second: Any) -> ColumnElement[bool]:
    """`(first, second) IN (SELECT unnest(:pairs_first), unnest(:pairs_second))`: the two
    arrays' elements taken side by side (PostgreSQL zips set-returning functions of one
    select list)."""
    firsts = bindparam("pairs_first", type_=postgresql.ARRAY(first.type))
    seconds = bindparam("pairs_second", type_=postgresql.ARRAY(second.type))
    return tuple_(first, second).in_(select(func.unnest(firsts), func.unnest(seconds)))


def open_store(url: str, migrate: bool = True) -> Store:
    store = Store(url)
    if migrate:
        store.migrate()
    return store


__all__ = [
    "PreparedWrite",
    "Store",
    "driver_executemany",
    "driver_tuples",
    "normalize_url",
    "open_store",
    "rows_for_pairs",
    "rows_in",
    "tables",
    "where_one_of",
]
