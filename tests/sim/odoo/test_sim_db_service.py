"""The `db` service over JSON-RPC: odoo/service/db.py as Odoo 19.0 still answers it.

Each behaviour cites the function of odoo/service/db.py (repo odoo/odoo) it imitates. These
tests run on a server of their own: they create and drop databases, which the session's
shared sim must not see.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import odoorpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal_sim.odoo.service import OdooSim, SimConfig
from intermodal_sim.odoo.testing import RunningSim, running_sim, serve_in_thread

MASTER = "admin"
Call = Callable[..., dict[str, Any]]


def _caller(url: str) -> Iterator[Call]:
    with httpx.Client(base_url=url, timeout=30) as client:

        def call(service: str, method: str, *args: Any) -> dict[str, Any]:
            response = client.post(
                "/jsonrpc",
                json={
                    "jsonrpc": "2.0",
                    "method": "call",
                    "id": 1,
                    "params": {"service": service, "method": method, "args": list(args)},
                },
            )
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return body

        yield call


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSim]:
    with running_sim() as running:
        yield running


@pytest.fixture(scope="module")
def db(server: RunningSim) -> Iterator[Call]:
    yield from _caller(server.url)


def error_of(body: dict[str, Any]) -> tuple[str, str]:
    data = body["error"]["data"]
    return data["name"], data["message"]


def test_free_methods_need_no_master_password(db: Call, server: RunningSim) -> None:
    """dispatch: list, db_exist, list_lang and server_version take no password."""
    assert db("db", "list")["result"] == [server.db]
    assert db("db", "db_exist", server.db)["result"] is True
    assert db("db", "db_exist", "nowhere")["result"] is False
    assert db("db", "server_version")["result"] == "19.0"
    langs = db("db", "list_lang")["result"]
    assert ["en_US", "English (US)"] in langs
    assert langs == sorted(langs, key=lambda pair: pair[1])


def test_master_password_guards_everything_else(db: Call, server: RunningSim) -> None:
    """check_super runs before the method: AccessDenied for a wrong, empty or non-text one."""
    for password in ("wrong", "", None, 7):
        for method, args in (
            ("dump", [server.db, "zip"]),
            ("drop", ["x"]),
            ("create_database", ["x", False, "en_US"]),
            ("duplicate_database", [server.db, "x"]),
            ("change_admin_password", ["new"]),
        ):
            assert error_of(db("db", method, password, *args)) == (
                "odoo.exceptions.AccessDenied",
                "Access Denied",
            )
    assert db("db", "list")["result"] == [server.db]


def test_unknown_method_and_wrong_arguments(db: Call) -> None:
    """dispatch: KeyError for a method db.py lacks; a wrong argument count fails with
    Python's TypeError for the exp_ function, and no password at all with IndexError."""
    assert error_of(db("db", "format_disk", MASTER)) == (
        "builtins.KeyError",
        "'Method not found: format_disk'",
    )
    name, message = error_of(db("db", "drop", MASTER))
    assert (name, message) == (
        "builtins.TypeError",
        "exp_drop() missing 1 required positional argument: 'db_name'",
    )
    name, message = error_of(db("db", "drop", MASTER, "a", "b"))
    assert message == "exp_drop() takes 1 positional argument but 2 were given"
    assert error_of(db("db", "drop"))[0] == "builtins.IndexError"


def test_create_login_duplicate_rename_and_drop(db: Call, server: RunningSim) -> None:
    """exp_create_database (+ _initialize_db: admin login and password), the new database
    answering logins and calls; exp_duplicate_database; exp_rename; exp_drop True, then
    False for a database the server does not have."""
    created = db(
        "db", "create_database", MASTER, "acme_test", False, "fr_FR", "s3cret", "boss@acme.example"
    )
    assert created["result"] is True
    assert db("db", "list")["result"] == ["acme_test", server.db]
    exists = db("db", "create_database", MASTER, "acme_test", False, "en_US")
    assert error_of(exists) == (
        "odoo.service.db.DatabaseExists",
        "database 'acme_test' already exists!",
    )
    uid = db("common", "login", "acme_test", "boss@acme.example", "s3cret")["result"]
    assert uid
    assert db("common", "login", "acme_test", "admin", "admin")["result"] is False
    company = db(
        "object", "execute_kw", "acme_test", uid, "s3cret", "res.company", "read", [[1], ["email"]]
    )["result"]
    assert company[0]["email"] == "boss@acme.example"
    # demo=False: no demo records, but the modules' data (languages, crons, reports) is there.
    partners = db(
        "object",
        "execute_kw",
        "acme_test",
        uid,
        "s3cret",
        "res.partner",
        "search_count",
        [[("customer_rank", ">", 0)]],
    )["result"]
    assert partners == 0
    french = db(
        "object",
        "execute_kw",
        "acme_test",
        uid,
        "s3cret",
        "res.lang",
        "search_read",
        [[("code", "=", "fr_FR")], ["active"]],
    )["result"]
    assert french[0]["active"] is True
    assert db("db", "duplicate_database", MASTER, "acme_test", "acme_copy")["result"] is True
    assert db("common", "login", "acme_copy", "boss@acme.example", "s3cret")["result"] == uid
    assert error_of(db("db", "duplicate_database", MASTER, "acme_test", "acme_copy")) == (
        "psycopg2.errors.DuplicateDatabase",
        'database "acme_copy" already exists',
    )
    assert error_of(db("db", "duplicate_database", MASTER, "ghost", "acme_2")) == (
        "psycopg2.errors.InvalidCatalogName",
        'template database "ghost" does not exist',
    )
    assert db("db", "rename", MASTER, "acme_copy", "acme_renamed")["result"] is True
    assert db("db", "db_exist", "acme_copy")["result"] is False
    assert db("db", "drop", MASTER, "acme_renamed")["result"] is True
    assert db("db", "drop", MASTER, "acme_test")["result"] is True
    assert db("db", "drop", MASTER, "acme_test")["result"] is False
    gone = db("common", "login", "acme_test", "boss@acme.example", "s3cret")
    assert error_of(gone)[0] == "psycopg2.OperationalError"
    assert db("db", "list")["result"] == [server.db]


def test_main_database_is_not_dropped(db: Call, server: RunningSim) -> None:
    """odoo-sim's one refusal Odoo has not: the database it was started with stays."""
    name, message = error_of(db("db", "drop", MASTER, server.db))
    assert name == "builtins.Exception"
    assert message == (
        f"Couldn't drop database {server.db}: odoo-sim serves it as its main database"
    )


def test_dump_and_restore_round_trip_with_odoorpc(server: RunningSim) -> None:
    """exp_dump (zip: dump.sql first, then manifest.json), exp_restore into a new name, the
    restored copy serving the same records; restoring over an existing name is refused."""
    odoo = odoorpc.ODOO(server.host, port=server.port)
    dump = odoo.db.dump(MASTER, server.db)
    archive = zipfile.ZipFile(io.BytesIO(dump.getvalue()))
    assert archive.namelist() == ["dump.sql", "manifest.json"]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["odoo_dump"] == "1" and manifest["db_name"] == server.db
    assert manifest["version_info"][0] == 19 and manifest["modules"]["sale"]
    odoo.db.restore(MASTER, "restored", io.BytesIO(dump.getvalue()))
    odoo.login("restored", "admin", "admin")
    assert odoo.env["res.partner"].search_count([("ref", "=", "AZ-001")]) == 1
    with pytest.raises(odoorpc.error.RPCError, match="Database already exists"):
        odoo.db.restore(MASTER, "restored", io.BytesIO(dump.getvalue()))
    assert odoo.db.drop(MASTER, "restored") is True
    with pytest.raises(odoorpc.error.RPCError, match='database "wrong_db" does not exist'):
        odoo.db.dump(MASTER, "wrong_db")


def _zip(members: dict[str, str]) -> str:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return base64.b64encode(stream.getvalue()).decode()


def test_hostile_restores_leave_nothing_behind(db: Call, server: RunningSim, tmp_path: Any) -> None:
    """A dump that is not odoo-sim's, or whose SQL would ATTACH a file, is refused
    ("Couldn't restore database") and no database appears; bad base64 fails in b64decode
    first, as exp_restore decodes before restore_db looks at anything."""
    target = tmp_path / "written.sqlite"
    hostile = {
        "not a zip": base64.b64encode(b"PGDMP custom format").decode(),
        "no dump.sql": _zip({"manifest.json": "{}"}),
        "attach": _zip({"dump.sql": f"ATTACH DATABASE '{target}' AS x; CREATE TABLE x.t (a);"}),
        "not sim tables": _zip({"dump.sql": "CREATE TABLE t (a INTEGER);"}),
        "broken sql": _zip({"dump.sql": "CREATE TABLE ("}),
    }
    for label, payload in hostile.items():
        body = db("db", "restore", MASTER, "hostile", payload)
        assert error_of(body) == ("builtins.Exception", "Couldn't restore database"), label
    assert not target.exists()
    assert error_of(db("db", "restore", MASTER, "hostile", "not base64!"))[0] == ("binascii.Error")
    assert db("db", "list")["result"] == [server.db]


def test_bad_database_names_are_refused(db: Call, server: RunningSim) -> None:
    for name in ("", "-lead", "a/b", "a b", "x" * 64, "é" * 3, 5, None, ["a"]):
        body = db("db", "duplicate_database", MASTER, server.db, name)
        assert error_of(body)[1].startswith("Invalid database name."), name
    assert db("db", "list")["result"] == [server.db]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.one_of(st.text(max_size=70), st.integers(), st.none(), st.booleans()))
def test_any_name_gets_an_answer_never_a_crash(db: Call, server: RunningSim, name: Any) -> None:
    """Whatever a client names, db.drop answers False or an error envelope, db.db_exist a
    boolean, and the server's databases do not change."""
    drop = db("db", "drop", MASTER, name)
    assert drop.get("result") is False or "error" in drop
    assert isinstance(db("db", "db_exist", name)["result"], bool)
    assert db("db", "list")["result"] == [server.db]


def test_change_admin_password(db: Call) -> None:
    """exp_change_admin_password: the new master password is the only one accepted."""
    assert db("db", "change_admin_password", MASTER, "n3w-master")["result"] is True
    assert error_of(db("db", "drop", MASTER, "x"))[0] == "odoo.exceptions.AccessDenied"
    assert db("db", "drop", "n3w-master", "x")["result"] is False
    assert error_of(db("db", "change_admin_password", "n3w-master", 12))[0] == (
        "builtins.TypeError"
    )
    assert db("db", "change_admin_password", "n3w-master", MASTER)["result"] is True


def test_database_manager_disabled() -> None:
    """list_db = False: exp_list and every check_db_management_enabled method refuse with
    AccessDenied even with the right master password; the free methods still answer."""
    sim = OdooSim(SimConfig(list_db=False))
    with serve_in_thread(sim) as (host, port):
        for db in _caller(f"http://{host}:{port}"):
            assert error_of(db("db", "list"))[0] == "odoo.exceptions.AccessDenied"
            for method, args in (
                ("dump", ["intermodal", "zip"]),
                ("drop", ["x"]),
                ("create_database", ["x", False, "en_US"]),
                ("restore", ["x", ""]),
            ):
                assert error_of(db("db", method, MASTER, *args)) == (
                    "odoo.exceptions.AccessDenied",
                    "Access Denied",
                )
            assert db("db", "server_version")["result"] == "19.0"
            assert db("db", "db_exist", "intermodal")["result"] is True
    sim.db.close()
