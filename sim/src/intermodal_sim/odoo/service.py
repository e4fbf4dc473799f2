"""The server side every protocol shares: databases, credentials, one transaction per call.

What differs between JSON-2, JSON-RPC and XML-RPC is only how a call arrives and how its
result or error is written back; this module is the `dispatch_rpc` and `execute_kw` of
odoo/service/{common,model,db}.py behind all of them.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intermodal_sim.odoo.automation import Delivery, pending_webhooks
from intermodal_sim.odoo.errors import (
    AccessDenied,
    DatabaseMissing,
    SerializationFailure,
    UserError,
)
from intermodal_sim.odoo.faults import FaultPlan
from intermodal_sim.odoo.models import build_classes
from intermodal_sim.odoo.orm import SUPERUSER_ID, Env, call_kw, check_method_name
from intermodal_sim.odoo.schema import models_for
from intermodal_sim.odoo.seed import add_automation, hash_key, load_data, seed
from intermodal_sim.odoo.store import Database
from intermodal_sim.odoo.technical import TECHNICAL_CLASSES, with_technical_models

VERSION_INFO = {
    17: [17, 0, 0, "final", 0, ""],
    18: [18, 0, 0, "final", 0, ""],
    19: [19, 0, 0, "final", 0, ""],
}


@dataclass
class SimConfig:
    """Everything `intermodal odoo-sim` takes, with the defaults tests outside rely on."""

    db: str = "intermodal"
    version: int = 19
    data: Path | None = None
    storage: str | None = None
    faults: str | None = None
    api_key: str | None = None
    list_db: bool = True
    # odoo/tools/config.py admin_passwd: the master password of the db service ('admin').
    master_password: str = "admin"  # noqa: S105 - Odoo's documented default


@dataclass
class Session:
    uid: int
    login: str
    db: str
    context: dict[str, Any] = field(default_factory=dict)


class OdooSim:
    """One simulated Odoo server: one database, its users and keys, faults and counters."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.major = self.config.version
        self.api_key = self.config.api_key or secrets.token_hex(20)
        self.registry = models_for(self.major, with_technical_models)
        self.classes = build_classes(self.registry, self.major, TECHNICAL_CLASSES)
        self.db = Database(self.registry, self.config.storage)
        self.faults = FaultPlan.parse(self.config.faults)
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.sessions: dict[str, Session] = {}
        self.deliveries: list[dict[str, Any]] = []
        self._counter_lock = threading.Lock()
        if not self.db.has_schema():
            self.db.create_schema()
            with self.db.transaction():
                seed(self.db, self.env(SUPERUSER_ID), load_data(self.config.data), self.api_key)
        else:
            with self.db.transaction():
                self._ensure_api_key()

    def _ensure_api_key(self) -> None:
        """A reused file keeps its keys; a key given on the command line is added to admin."""
        if self.config.api_key is None:
            return
        row = self.db.execute("SELECT id FROM res_users WHERE login = 'admin'").fetchone()
        if row:
            self.db.execute(
                "INSERT OR IGNORE INTO sim_user_apikey (uid, name, key_hash, scope) "
                "VALUES (?, 'odoo-sim key', ?, NULL)",
                (row[0], hash_key(self.api_key)),
            )

    # -- identity -------------------------------------------------------------------------

    @property
    def server_version(self) -> str:
        return f"{self.major}.0"

    def version(self) -> dict[str, Any]:
        """common.version (odoo/service/common.py exp_version)."""
        return {
            "server_version": self.server_version,
            "server_version_info": VERSION_INFO[self.major],
            "server_serie": self.server_version,
            "protocol_version": 1,
        }

    def env(self, uid: int, context: dict[str, Any] | None = None) -> Env:
        return Env(self.db, self.registry, self.classes, self.major, uid, context)

    def check_db(self, db: Any) -> None:
        if db != self.config.db:
            raise DatabaseMissing(str(db))

    def uid_for_login(self, login: Any, password: Any) -> int | None:
        """res.users _login: the password or, for RPC, an API key of the same user."""
        if not isinstance(login, str) or not isinstance(password, str) or not password:
            return None
        with self.db.lock:
            row = self.db.execute(
                "SELECT u.id, p.password FROM res_users u "
                "LEFT JOIN sim_user_password p ON p.uid = u.id WHERE u.login = ? AND u.active = 1",
                (login,),
            ).fetchone()
            if row is None:
                return None
            if row[1] is not None and secrets.compare_digest(str(row[1]), password):
                return int(row[0])
            key_uid = self.uid_for_api_key(password)
        return int(row[0]) if key_uid == row[0] else None

    def uid_for_api_key(self, key: Any) -> int | None:
        if not isinstance(key, str) or not key:
            return None
        with self.db.lock:
            row = self.db.execute(
                "SELECT k.uid FROM sim_user_apikey k JOIN res_users u ON u.id = k.uid "
                "WHERE k.key_hash = ? AND u.active = 1",
                (hash_key(key.strip()),),
            ).fetchone()
        return int(row[0]) if row else None

    def check_credentials(self, db: Any, uid: Any, password: Any) -> int:
        """odoo/service/security.py check / 19's _check_uid_passwd: AccessDenied on mismatch."""
        self.check_db(db)
        uid = int(uid)
        checked: int = uid
        with self.db.lock:
            row = self.db.execute("SELECT login FROM res_users WHERE id = ?", (uid,)).fetchone()
        if row is None or self.uid_for_login(row[0], password) != uid:
            raise AccessDenied()
        return checked

    def login(self, db: Any, login: Any, password: Any) -> int | bool:
        self.check_db(db)
        return self.uid_for_login(login, password) or False

    # -- calls ----------------------------------------------------------------------------

    def count(self, protocol: str, model: str, method: str) -> None:
        with self._counter_lock:
            self.calls[(protocol, model, method)] += 1

    def execute(
        self,
        uid: int,
        model: Any,
        method: Any,
        args: Any,
        kwargs: Any,
        serialization: bool = False,
        runner: Callable[[Env, str, str, Any, dict[str, Any]], Any] = call_kw,
        execute_kw: bool = True,
    ) -> tuple[Any, list[Delivery]]:
        """One call in one transaction, as odoo/service/model.py execute_cr + retrying.

        `execute_kw`: the call came through the object service, whose 17/18 execute_kw hands
        call_kw its positional arguments as a tuple (`execute(*args)`); /web/dataset/call_kw
        passes the JSON list as it is.
        """
        if runner is call_kw:
            if isinstance(method, str) and execute_kw:
                check_method_name(self.major, method)  # 17: before the model is looked up
            if not isinstance(model, str) or model not in self.registry:
                raise UserError(f"Object {model} doesn't exist")
            if not isinstance(method, str):
                raise TypeError(f"method name must be a string, not {type(method).__name__}")
            if not isinstance(args, list | tuple):
                raise TypeError(f"{type(args).__name__!r} object is not iterable")
            if kwargs is None:
                kwargs = {}
            if not isinstance(kwargs, dict):
                raise TypeError(f"argument after ** must be a mapping, not {type(kwargs).__name__}")
        with self.db.transaction():
            if serialization:
                raise SerializationFailure()
            env = self.env(uid)
            positional = tuple(args) if execute_kw and self.major <= 18 else list(args)
            result = runner(env, model, method, positional, kwargs)
            deliveries = pending_webhooks(env)
        return result, deliveries

    def add_automation(self, spec: dict[str, Any]) -> dict[str, int]:
        with self.db.transaction():
            return add_automation(self.env(SUPERUSER_ID), spec)

    def call_counts(self) -> dict[str, Any]:
        with self._counter_lock:
            items = sorted(self.calls.items())
        nested: dict[str, dict[str, dict[str, int]]] = {}
        for (protocol, model, method), count in items:
            nested.setdefault(protocol, {}).setdefault(model, {})[method] = count
        return {"total": sum(c for _, c in items), "calls": nested}

    def reset_counts(self) -> None:
        with self._counter_lock:
            self.calls.clear()

    def set_faults(self, spec: str | None) -> FaultPlan:
        self.faults = FaultPlan.parse(spec)
        return self.faults
