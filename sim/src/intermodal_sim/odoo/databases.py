"""The `db` service of one odoo-sim server (odoo/service/db.py): the databases it holds and
the master password that guards creating, copying, dumping, restoring and dropping them.

odoo-sim serves one database from its start (`--db`, in memory or in `--storage`); the ones
this service creates, duplicates or restores are SQLite files in a temporary folder that
lives as long as the server. Odoo 19.0 still answers the service over RPC (it leaves RPC in
19.1, odoo/odoo PR #238399). Like `dispatch` in db.py, `list`, `db_exist`, `list_lang` and
`server_version` are free and every other method takes the master password first
(`check_super`); with the database manager disabled (`list_db = False`) they are refused with
AccessDenied (`check_db_management_enabled`), and so is `list`.

Each `exp_*` function below has the name and parameters of its db.py namesake, so a call
with missing or extra arguments fails with the same TypeError text Odoo's does; the server
they act on is the context variable `dispatch` sets.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import sqlite3
import tempfile
import threading
import zipfile
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from intermodal_sim.odoo.errors import AccessDenied, DatabaseMissing, OdooError
from intermodal_sim.odoo.orm import SUPERUSER_ID
from intermodal_sim.odoo.seed import load_data
from intermodal_sim.odoo.service import OdooSim, SimConfig
from intermodal_sim.odoo.technical import LANGUAGES

# odoo/addons/web/controllers/database.py DBNAME_PATTERN: what a database may be called.
DBNAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
# PostgreSQL cuts identifiers at NAMEDATALEN - 1 bytes.
MAX_NAME = 63
# A bound on what one test server keeps in its temporary folder.
MAX_DATABASES = 32
FREE_METHODS = ("db_exist", "list", "list_lang", "server_version")
# SQL a dump may run when it is restored: what `sqlite3.Connection.iterdump` writes.
ALLOWED_PRAGMAS = {"foreign_keys", "defer_foreign_keys"}


class DatabaseExists(OdooError):
    """odoo/service/db.py DatabaseExists, raised by _create_empty_database."""

    odoo_name = "odoo.service.db.DatabaseExists"


class DuplicateDatabase(OdooError):
    """PostgreSQL refusing CREATE DATABASE for a name in use (duplicate_database)."""

    odoo_name = "psycopg2.errors.DuplicateDatabase"


class ManagerError(OdooError):
    """The bare `Exception(...)` db.py raises (drop, restore), named builtins.Exception."""

    odoo_name = "builtins.Exception"


class InvalidCatalogName(OdooError):
    """PostgreSQL refusing CREATE DATABASE ... TEMPLATE of a database that does not exist."""

    odoo_name = "psycopg2.errors.InvalidCatalogName"


# The server an exp_ function serves: a context variable, so that each function keeps the
# exact parameters of its db.py namesake (and the TypeError texts they give).
_SERVER: ContextVar[DatabaseServer] = ContextVar("odoo_sim_database_server")


class DatabaseServer:
    """The databases of one server, by name; the main one is the sim the server started with."""

    def __init__(self, main: OdooSim) -> None:
        self.main = main
        self.major = main.major
        self.list_db = main.config.list_db
        self.master_password = main.config.master_password
        self.databases: dict[str, OdooSim] = {main.config.db: main}
        self.lock = threading.RLock()
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    # -- lookups --------------------------------------------------------------------------

    def get(self, name: Any) -> OdooSim | None:
        with self.lock:
            return self.databases.get(name) if isinstance(name, str) else None

    def names(self) -> list[str]:
        with self.lock:
            return sorted(self.databases)

    def monodb(self) -> OdooSim | None:
        """odoo/http.py db_monodb: the database when the server has exactly one."""
        with self.lock:
            if len(self.databases) == 1:
                return next(iter(self.databases.values()))
        return None

    # -- the service ----------------------------------------------------------------------

    def dispatch(self, method: Any, params: list[Any]) -> Any:
        """odoo/service/db.py dispatch."""
        func = SERVICE.get(f"exp_{method}") if isinstance(method, str) else None
        if func is None:
            raise KeyError(f"Method not found: {method}")
        if method not in FREE_METHODS:
            passwd, params = params[0], params[1:]
            self.check_super(passwd)
        token = _SERVER.set(self)
        try:
            return func(*params)
        finally:
            _SERVER.reset(token)

    def check_super(self, passwd: Any) -> bool:
        """db.py check_super: the master password, or AccessDenied."""
        if (
            passwd
            and isinstance(passwd, str)
            and secrets.compare_digest(passwd.encode(), self.master_password.encode())
        ):
            return True
        raise AccessDenied()

    def check_management(self) -> None:
        """db.py check_db_management_enabled."""
        if not self.list_db:
            raise AccessDenied()

    # -- storage --------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="odoo-sim-databases-")
        return Path(self._folder.name) / f"{name}.sqlite"

    def _check_new(self, name: Any) -> str:
        if not isinstance(name, str) or not DBNAME_PATTERN.match(name) or len(name) > MAX_NAME:
            # web/controllers/database.py create: the database manager's own refusal.
            raise ManagerError(
                "Invalid database name. Only alphanumerical characters, underscore, hyphen and "
                "dot are allowed."
            )
        if len(self.databases) >= MAX_DATABASES:
            raise ManagerError(f"odoo-sim keeps at most {MAX_DATABASES} databases")
        return name

    def _open(self, name: str, path: Path, data: Path | None = None) -> OdooSim:
        config = SimConfig(
            db=name,
            version=self.major,
            data=data,
            storage=str(path),
            list_db=self.list_db,
            master_password=self.master_password,
        )
        sim = OdooSim(config)
        self.databases[name] = sim
        return sim

    def _forget(self, name: str) -> Path | None:
        sim = self.databases.pop(name)
        for sid, session in list(self.main.sessions.items()):
            if session.db == name:
                self.main.sessions.pop(sid, None)
        sim.db.close()
        return Path(sim.config.storage) if sim.config.storage else None

    def close(self) -> None:
        with self.lock:
            for name in [n for n in self.databases if self.databases[n] is not self.main]:
                self._forget(name)
            if self._folder is not None:
                self._folder.cleanup()
                self._folder = None


def _refuse_main(server: DatabaseServer, name: str, verb: str) -> None:
    if server.databases.get(name) is server.main:
        raise ManagerError(
            f"Couldn't {verb} database {name}: odoo-sim serves it as its main database"
        )


# -- free methods ---------------------------------------------------------------------------


def exp_db_exist(db_name: Any) -> bool:
    server = _SERVER.get()
    return server.get(db_name) is not None


def exp_list(document: Any = False) -> list[str]:
    server = _SERVER.get()
    if not server.list_db:
        raise AccessDenied()
    return server.names()


def exp_list_lang() -> list[list[str]]:
    """scan_languages: (code, name) of the languages a database can install, by name."""
    return sorted(([code, name] for _x, name, code, *_rest in LANGUAGES), key=lambda p: p[1])


def exp_server_version() -> str:
    server = _SERVER.get()
    return server.main.server_version


# -- master password ------------------------------------------------------------------------


def exp_list_countries() -> list[list[str]]:
    server = _SERVER.get()
    with server.main.db.lock:
        rows = server.main.db.execute("SELECT code, name FROM res_country ORDER BY name")
        return [[row[0], row[1]] for row in rows]


def exp_create_database(
    db_name: Any,
    demo: Any,
    lang: Any,
    user_password: Any = "admin",  # noqa: S107 - db.py exp_create_database default
    login: Any = "admin",
    country_code: Any = None,
    phone: Any = None,
) -> bool:
    """A new database with the server's data file: all of it with `demo`, else only the
    company, groups, access rules and the admin user; then _initialize_db's admin login,
    password and language, and the company's country, phone and email."""
    server = _SERVER.get()
    server.check_management()
    with server.lock:
        if server.get(db_name) is not None:
            raise DatabaseExists(f"database {db_name!r} already exists!")
        name = server._check_new(db_name)
        data = load_data(server.main.config.data)
        if not demo:
            admin = [u for u in data.get("users", []) if u.get("xmlid") == "base.user_admin"]
            data = {key: data.get(key) for key in ("company", "groups", "access")}
            data["users"] = admin or data.get("users", [])[:1]
        path = server._path(name)
        data_file = path.with_suffix(".json")
        data_file.write_text(json.dumps(data), "utf-8")
        sim = server._open(name, path, data_file)
    _initialize(sim, lang, user_password, login, country_code, phone)
    return True


def _initialize(
    sim: OdooSim, lang: Any, password: Any, login: Any, country_code: Any, phone: Any
) -> None:
    """db.py _initialize_db, after the registry is loaded."""
    with sim.db.transaction():
        env = sim.env(SUPERUSER_ID)
        admin = env.ref_id("base.user_admin")
        company = env["res.company"].browse([1])
        if isinstance(lang, str) and lang:
            langs = env["res.lang"].with_env(env.with_context({"active_test": False}))
            langs.search([("code", "=", lang)]).write({"active": True})
        if isinstance(country_code, str) and country_code:
            country = env["res.country"].search([("code", "=ilike", country_code)], limit=1)
            if country:
                company.write({"country_id": country.id})
        if isinstance(phone, str) and phone:
            company.write({"phone": phone})
        if isinstance(login, str) and "@" in login:
            company.write({"email": login})
        if admin:
            if isinstance(login, str) and login:
                vals: dict[str, Any] = {"login": login}
                if "@" in login:
                    vals["email"] = login
                env["res.users"].browse([admin]).write(vals)
            if isinstance(password, str):
                sim.db.execute(
                    "UPDATE sim_user_password SET password = ? WHERE uid = ?", (password, admin)
                )


def exp_duplicate_database(
    db_original_name: Any,
    db_name: Any,
    neutralize_database: Any = False,
) -> bool:
    """CREATE DATABASE ... TEMPLATE: a copy of every table, users, keys and passwords."""
    server = _SERVER.get()
    server.check_management()
    with server.lock:
        source = server.get(db_original_name)
        if source is None:
            raise InvalidCatalogName(f'template database "{db_original_name}" does not exist')
        if server.get(db_name) is not None:
            raise DuplicateDatabase(f'database "{db_name}" already exists')
        name = server._check_new(db_name)
        path = server._path(name)
        target = sqlite3.connect(path)
        try:
            with source.db.lock:
                source.db.conn.backup(target)
        finally:
            target.close()
        server._open(name, path)
    return True


def exp_drop(db_name: Any) -> bool:
    """False for a database the server does not have, as exp_drop answers."""
    server = _SERVER.get()
    server.check_management()
    with server.lock:
        if server.get(db_name) is None:
            return False
        _refuse_main(server, db_name, "drop")
        path = server._forget(db_name)
    if path is not None:
        for leftover in (path, path.with_suffix(".json"), Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
    return True


def exp_dump(db_name: Any, format: Any) -> str:
    """dump_db in the zip format: the SQL (SQLite's, not pg_dump's) as dump.sql, then the
    manifest.json dump_db_manifest writes; base64, as exp_dump returns it."""
    server = _SERVER.get()
    server.check_management()
    sim = server.get(db_name)
    if sim is None:
        # dump_db_manifest connects to the database before pg_dump runs.
        raise DatabaseMissing(str(db_name))
    if format != "zip":
        raise ManagerError("odoo-sim dumps databases in the zip format only")
    with sim.db.lock:
        sql = "\n".join(sim.db.conn.iterdump())
        modules = dict(
            sim.db.execute(
                "SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'"
            ).fetchall()
        )
    info = sim.version()
    manifest = {
        "odoo_dump": "1",
        "db_name": db_name,
        "version": info["server_version"],
        "version_info": info["server_version_info"],
        "major_version": info["server_serie"],
        "pg_version": None,
        "sqlite_version": sqlite3.sqlite_version,
        "modules": modules,
    }
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dump.sql", sql)
        archive.writestr("manifest.json", json.dumps(manifest, indent=4))
    return base64.b64encode(stream.getvalue()).decode()


def _only_dump_sql(action: int, arg1: str | None, *_rest: Any) -> int:
    """Authorizer for restoring: no ATTACH (it writes files) and no PRAGMA beyond the ones a
    dump sets; everything else a dump is made of may run in the new database."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg1 not in ALLOWED_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _schema_matches(conn: sqlite3.Connection, sim_tables: dict[str, set[str]]) -> bool:
    for table, columns in sim_tables.items():
        found = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
        if not columns <= found:
            return False
    return True


def exp_restore(db_name: Any, data: Any, copy: Any = False) -> bool:
    """exp_restore + restore_db: the base64 is decoded first, then a database that exists is
    refused; a zip's dump.sql is run in a new database. A dump that is not odoo-sim's SQL for
    this major (pg_dump output, another major's tables) is "Couldn't restore database"."""
    server = _SERVER.get()
    server.check_management()
    raw = base64.b64decode(data)
    with server.lock:
        if server.get(db_name) is not None:
            raise ManagerError("Database already exists")
        name = server._check_new(db_name)
        if not zipfile.is_zipfile(io.BytesIO(raw)):
            raise ManagerError("Couldn't restore database")
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            if "dump.sql" not in archive.namelist():
                raise ManagerError("Couldn't restore database")
            script = archive.read("dump.sql").decode("utf-8", "replace")
        path = server._path(name)
        tables = {
            model.table: {f for f, fld in model.fields.items() if fld.column}
            for model in server.main.registry.values()
        }
        conn = sqlite3.connect(path)
        try:
            conn.set_authorizer(_only_dump_sql)
            conn.executescript(script)
            conn.set_authorizer(None)
            restored = _schema_matches(conn, tables)
        except sqlite3.Error:
            restored = False
        finally:
            conn.close()
        if not restored:
            path.unlink(missing_ok=True)
            raise ManagerError("Couldn't restore database")
        server._open(name, path)
    return True


def exp_rename(old_name: Any, new_name: Any) -> bool:
    server = _SERVER.get()
    server.check_management()
    with server.lock:
        if server.get(old_name) is None:
            raise DatabaseMissing(str(old_name))
        _refuse_main(server, old_name, "rename")
        if server.get(new_name) is not None:
            raise DuplicateDatabase(f'database "{new_name}" already exists')
        name = server._check_new(new_name)
        old_path = server._forget(old_name)
        assert old_path is not None
        new_path = server._path(name)
        old_path.rename(new_path)
        server._open(name, new_path)
    return True


def exp_change_admin_password(new_password: Any) -> bool:
    server = _SERVER.get()
    server.check_management()
    if not isinstance(new_password, str):
        # passlib's CryptContext.hash, which config.set_admin_password calls.
        raise TypeError(f"secret must be unicode or bytes, not {type(new_password).__name__}")
    server.master_password = new_password
    return True


def exp_migrate_databases(databases: Any) -> bool:
    """Odoo updates `base` in each; odoo-sim's schema is the server's, so there is nothing
    to update, but a database that does not exist still fails to load."""
    server = _SERVER.get()
    server.check_management()
    for name in databases:
        if server.get(name) is None:
            raise DatabaseMissing(str(name))
    return True


SERVICE: dict[str, Callable[..., Any]] = {
    name: func for name, func in globals().items() if name.startswith("exp_") and callable(func)
}
