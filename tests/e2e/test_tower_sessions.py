"""The control tower's operators: sessions kept in the store (logout, a replayed cookie,
idle and absolute timeouts, log out everywhere, an admin ending someone's sessions), the
lockout under concurrent guessing, roles on every action, argon2 hashes, and
`session_user` for the admin API. Through a running hub, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import importlib
import itertools
import logging
import pkgutil
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

import intermodal.dashboard.pages
from intermodal.config import (
    ConfigError,
    Settings,
    TowerLockoutConfig,
    TowerOidcConfig,
    load_config,
)
from intermodal.dashboard.auth import (
    FailureCount,
    account_key,
    charged,
    locked,
    refunded,
    session_user,
)
from intermodal.dashboard.oidc import name_from_claims, role_from_claims
from intermodal.engine.ids import parse_iso
from intermodal.security.passwords import check_hash, hash_password, verify
from intermodal.store import Store, open_store
from intermodal.store.tables import audit, tower_login_failures, tower_sessions
from intermodal_sim.oidc import Account, OidcProvider, s256
from intermodal_sim.testing import running_hub, serve_in_thread
from tests.e2e.conftest import csrf_of

ADMIN = ("ada", "admin-password-0123")
OPERATOR = ("olga", "operator-password-0123")
VIEWER = ("victor", "viewer-password-0123")
WRONG = "Unknown user or wrong password."


@functools.cache
def _hashes() -> dict[str, str]:
    """One argon2 hash per user for the whole module (each costs a fraction of a second)."""
    return {name: hash_password(password) for name, password in (ADMIN, OPERATOR, VIEWER)}


@dataclass
class Tower:
    url: str
    settings: Settings
    store: Store

    def client(self, address: str | None = None) -> httpx.Client:
        """A browser-like client; `address` is the client address the hub sees (uvicorn
        takes X-Forwarded-For from a proxy on loopback, which the tests are)."""
        headers = {"x-forwarded-for": address} if address else {}
        return httpx.Client(base_url=self.url, timeout=60, follow_redirects=False, headers=headers)

    def attempt(self, client: httpx.Client, who: tuple[str, str]) -> httpx.Response:
        """One login, as a browser makes it: the form first (its CSRF token), then the post."""
        csrf = csrf_of(client.get("/tower/login").text)
        return client.post(
            "/tower/login",
            data={"username": who[0], "password": who[1], "csrf": csrf, "next": "/tower/"},
        )

    def login(self, who: tuple[str, str], address: str | None = None) -> httpx.Client:
        client = self.client(address)
        answer = self.attempt(client, who)
        assert answer.status_code == 303, answer.text[:300]
        return client

    def sessions_of(self, user: str) -> int:
        with self.store.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(tower_sessions)
                    .where(tower_sessions.c.user == user)
                ).scalar_one()
            )


@contextlib.contextmanager
def tower(database: str, folder: Path, **options: Any) -> Iterator[Tower]:
    """A hub whose tower has an admin, an operator and a viewer (by argon2 hash)."""
    roles = {ADMIN[0]: "admin", OPERATOR[0]: "operator", VIEWER[0]: "viewer"}
    users = {
        name: {"role": roles[name], "password_hash": hashed} for name, hashed in _hashes().items()
    }
    config = {"hub": {"database": database}, "tower": {"users": users, **options}}
    path = folder / "intermodal.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = load_config(path)
    with running_hub(settings, dispatch=False) as url:
        store = open_store(settings.hub.database, migrate=False)
        try:
            yield Tower(url, settings, store)
        finally:
            store.dispose()


def test_a_cookie_replayed_after_logout_is_sent_to_the_login(db_url: str, tmp_path: Path) -> None:
    with tower(db_url, tmp_path) as t:
        client = t.login(VIEWER)
        session_id = client.cookies["intermodal_tower"]
        assert len(session_id) >= 40 and "victor" not in session_id  # a random id, nothing more
        with t.store.read() as conn:
            stored = conn.execute(select(tower_sessions.c.session_hash)).scalars().all()
        assert session_id not in stored  # the store keeps only its hash
        csrf = csrf_of(client.get("/tower/").text)
        assert client.post("/tower/logout", data={"csrf": csrf}).status_code == 303
        assert t.sessions_of("victor") == 0
        replayed = t.client()
        replayed.cookies.set("intermodal_tower", session_id, path="/")
        answer = replayed.get("/tower/dead-letters")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/tower/login?next=%2Ftower%2Fdead-letters"
        assert replayed.post("/tower/sessions/end-mine", data={"csrf": csrf}).status_code == 401


def test_an_idle_session_ends_and_a_used_one_lives_on(db_url: str, tmp_path: Path) -> None:
    with tower(db_url, tmp_path, idle_minutes=0.05) as t:  # 3 s
        client = t.login(VIEWER)
        for _ in range(4):  # 3.6 s in all, never 3 s without a request
            time.sleep(0.9)
            assert client.get("/tower/").status_code == 200
        # The overview refreshing itself is no sign of a person: it keeps nothing alive.
        poll = {"hx-request": "true", "hx-trigger": "overview"}
        for _ in range(2):
            time.sleep(0.9)
            assert client.get("/tower/", headers=poll).status_code == 200
        time.sleep(1.8)
        assert client.get("/tower/", headers=poll).status_code == 401
        assert client.get("/tower/").status_code == 303
        assert t.sessions_of("victor") == 0  # ended in the store, not only in the browser


def test_a_session_ends_at_its_absolute_time_however_busy(db_url: str, tmp_path: Path) -> None:
    with tower(db_url, tmp_path, session_hours=4 / 3600) as t:
        client = t.login(OPERATOR)
        began = time.monotonic()
        # The cookie sent by hand: the browser's own expiry of it must not be what ends it.
        replay = t.client()
        headers = {"cookie": f"intermodal_tower={client.cookies['intermodal_tower']}"}
        answers = []
        while time.monotonic() - began < 7:
            answers.append((time.monotonic() - began, replay.get("/tower/", headers=headers)))
            time.sleep(0.3)
        alive = [at for at, answer in answers if answer.status_code == 200]
        ended = [at for at, answer in answers if answer.status_code == 303]
        assert alive and ended and max(alive) < min(ended)
        assert 3.0 < min(ended) < 6.5, answers


def test_log_out_everywhere_ends_every_session_of_the_user_only(
    db_url: str, tmp_path: Path
) -> None:
    with tower(db_url, tmp_path) as t:
        laptop, phone, colleague = t.login(VIEWER), t.login(VIEWER), t.login(OPERATOR)
        page = laptop.get("/tower/sessions").text
        assert page.count("<tr") - 1 == 2 and "this one" in page
        assert "all-sessions" not in page  # only an admin sees everyone's
        answer = laptop.post("/tower/sessions/end-mine", data={"csrf": csrf_of(page)})
        assert answer.status_code == 303 and answer.headers["location"] == "/tower/login"
        assert "2 session(s) ended" in laptop.get("/tower/login").text
        assert phone.get("/tower/").status_code == 303
        assert colleague.get("/tower/").status_code == 200
        assert t.sessions_of("victor") == 0 and t.sessions_of("olga") == 1
        with t.store.read() as conn:
            entry = conn.execute(
                select(audit.c.actor, audit.c.subject, audit.c.detail).where(
                    audit.c.action == "tower.sessions.end"
                )
            ).one()
        assert entry.actor == "tower:victor" and entry.subject == "victor"
        assert orjson.loads(entry.detail) == {"sessions": 2}


def test_an_admin_ends_another_users_sessions_and_an_operator_cannot(
    db_url: str, tmp_path: Path
) -> None:
    with tower(db_url, tmp_path) as t:
        victim, admin, operator = t.login(VIEWER), t.login(ADMIN), t.login(OPERATOR)
        page = admin.get("/tower/sessions").text
        assert 'id="all-sessions"' in page and "<td>victor</td>" in page
        csrf = csrf_of(operator.get("/tower/sessions").text)
        refused = operator.post("/tower/sessions/end", data={"user": "victor", "csrf": csrf})
        assert refused.status_code == 403 and "needs the admin role" in refused.text
        assert victim.get("/tower/").status_code == 200
        answer = admin.post("/tower/sessions/end", data={"user": "victor", "csrf": csrf_of(page)})
        assert answer.status_code == 303
        assert "ended 1 session(s) of victor" in admin.get(answer.headers["location"]).text
        assert victim.get("/tower/").status_code == 303
        assert (
            operator.get("/tower/").status_code == 200 and admin.get("/tower/").status_code == 200
        )


def test_fifty_concurrent_wrong_passwords_lock_the_account_even_for_the_right_one(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="intermodal.dashboard")
    # The window opens when the fifth guess is counted, before its password is checked:
    # long enough here to outlast five argon2 checks on a busy test machine.
    with tower(db_url, tmp_path, lockout={"after_failures": 5, "first_seconds": 12}) as t:

        async def guess() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=t.url, timeout=120) as client:
                csrf = csrf_of((await client.get("/tower/login")).text)
                return await asyncio.gather(
                    *(
                        client.post(
                            "/tower/login",
                            data={"username": "olga", "password": f"guess-{i}", "csrf": csrf},
                        )
                        for i in range(50)
                    )
                )

        answers = asyncio.run(guess())
        assert {a.status_code for a in answers} == {401}
        assert all(WRONG in a.text for a in answers)
        logged = [r.getMessage() for r in caplog.records]
        # Counted before checking: only as many passwords were checked as the lockout allows.
        assert logged.count("control tower: failed login for olga") == 5
        assert sum("login refused for olga" in line for line in logged) == 45
        assert not any("guess-" in line for line in logged)
        client = t.client()
        right = t.attempt(client, OPERATOR)
        assert right.status_code == 401 and WRONG in right.text  # refused like a wrong one
        wrong = t.attempt(client, ("olga", "guess-again-0123"))
        assert right.text == wrong.text  # nothing tells a locked account from a wrong password
        with t.store.read() as conn:
            counts = conn.execute(select(tower_login_failures)).all()
        until = max(parse_iso(row.locked_until) for row in counts if row.locked_until)
        now = datetime.now(UTC)
        assert timedelta(seconds=1) < until - now <= timedelta(seconds=12)
        time.sleep((until - now).total_seconds() + 0.3)
        assert t.attempt(t.client(), OPERATOR).status_code == 303
        with t.store.read() as conn:
            after = {row.key: row for row in conn.execute(select(tower_login_failures)).all()}
        assert account_key("olga") not in after  # a right password clears the account's count


def test_the_lockout_counts_per_address_and_per_account(db_url: str, tmp_path: Path) -> None:
    with tower(db_url, tmp_path, lockout={"after_failures": 3, "first_seconds": 60}) as t:
        # One address trying many names: the address is locked, for every account.
        sprayer = t.client("203.0.113.7")
        for name in ("root", "admin", "olga"):
            assert t.attempt(sprayer, (name, "Winter2026!!")).status_code == 401
        assert t.attempt(sprayer, VIEWER).status_code == 401
        assert t.attempt(t.client("198.51.100.9"), VIEWER).status_code == 303
        # Many addresses trying one account: the account is locked, from every address.
        for i in range(3):
            assert t.attempt(t.client(f"192.0.2.{i + 1}"), ("victor", "x" * 12)).status_code == 401
        assert t.attempt(t.client("192.0.2.200"), VIEWER).status_code == 401
        assert t.attempt(t.client("192.0.2.200"), OPERATOR).status_code == 303
        # IPv6 clients are counted by their /64: one machine has a whole one to itself.
        for i in range(3):
            answer = t.attempt(t.client(f"2001:db8:1:2::{i + 1}"), ("ghost", "y" * 12))
            assert answer.status_code == 401
        assert t.attempt(t.client("2001:db8:1:2::99"), ADMIN).status_code == 401
        assert t.attempt(t.client("2001:db8:1:3::1"), ADMIN).status_code == 303


NEEDS = {
    "/login": None,
    "/logout": None,
    "/sessions/end-mine": "viewer",
    "/dead-letters/replay": "operator",
    "/quarantine/replay": "operator",
    "/cases/{case_id}/close": "operator",
    "/sessions/end": "admin",
}
"""Every POST route of the tower and the least role it needs (None: no session needed).
A new route fails the test below until it is listed here: someone decides who may use it."""


def _post_routes() -> set[str]:
    found = set()
    for module in pkgutil.iter_modules(intermodal.dashboard.pages.__path__):
        loaded = importlib.import_module(f"intermodal.dashboard.pages.{module.name}")
        for route in getattr(loaded, "routes", []):
            if isinstance(route, Route) and "POST" in (route.methods or set()):
                found.add(route.path)
    return found


def test_every_tower_action_is_refused_to_the_roles_below_it(db_url: str, tmp_path: Path) -> None:
    assert _post_routes() == set(NEEDS)
    with tower(db_url, tmp_path) as t:
        clients = {role: t.login(who) for role, who in
                   (("viewer", VIEWER), ("operator", OPERATOR), ("admin", ADMIN))}  # fmt: skip
        csrfs = {role: csrf_of(c.get("/tower/").text) for role, c in clients.items()}
        order = ["viewer", "operator", "admin"]
        for path, needs in NEEDS.items():
            if needs is None:
                continue
            url = "/tower" + path.replace("{case_id}", "no-such-case")
            for role in order[: order.index(needs)]:
                answer = clients[role].post(url, data={"csrf": csrfs[role], "user": "nobody"})
                assert answer.status_code == 403, (path, role)
        # An admin may do what an operator may.
        answer = clients["admin"].post(
            "/tower/dead-letters/replay", data={"csrf": csrfs["admin"], "ids": "none"}
        )
        assert answer.status_code == 303
        assert "replayed 0 dead letter" in clients["admin"].get(answer.headers["location"]).text


def test_session_user_names_the_user_and_role_for_the_admin_api(
    db_url: str, tmp_path: Path
) -> None:
    with tower(db_url, tmp_path) as t:
        api = Starlette()
        api.state.settings = t.settings
        api.state.hub = SimpleNamespace(store=t.store)

        def request(method: str, cookie: str | None, csrf: str = "") -> Request:
            headers = [(b"host", b"hub.example")]
            if cookie is not None:
                headers.append((b"cookie", f"intermodal_tower={cookie}".encode()))
            if csrf:
                headers.append((b"x-csrf-token", csrf.encode()))
            scope = {"type": "http", "method": method, "path": "/v1/admin/dead-letters",
                     "headers": headers, "app": api}  # fmt: skip
            return Request(scope)

        admin, viewer = t.login(ADMIN), t.login(VIEWER)
        admin_id, viewer_id = admin.cookies["intermodal_tower"], viewer.cookies["intermodal_tower"]
        csrf = csrf_of(admin.get("/tower/").text)
        assert session_user(request("GET", None)) is None
        assert session_user(request("GET", "x" * 43)) is None
        assert session_user(request("GET", admin_id)) == ("ada", "admin")
        assert session_user(request("GET", viewer_id)) == ("victor", "viewer")
        # A change needs the session's CSRF token too: the cookie alone could be another
        # site's form acting in the admin's name.
        assert session_user(request("POST", admin_id)) is None
        assert session_user(request("POST", admin_id, "not-the-token")) is None
        assert session_user(request("POST", admin_id, csrf)) == ("ada", "admin")
        assert admin.post("/tower/logout", data={"csrf": csrf}).status_code == 303
        assert session_user(request("GET", admin_id)) is None
        assert session_user(request("POST", admin_id, csrf)) is None
        assert session_user(request("GET", viewer_id)) == ("victor", "viewer")


def test_password_hashes_from_the_cli_and_from_references(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "intermodal.cli", "tower", "hash-password"],
        input="correct horse battery staple\n",
        capture_output=True,
        text=True,
        check=True,
    )
    hashed = made.stdout.strip()
    check_hash(hashed)
    assert hashed.startswith("$argon2id$v=19$") and "correct" not in made.stdout + made.stderr
    assert verify(hashed, "correct horse battery staple")
    assert not verify(hashed, "correct horse battery stapler")
    short = subprocess.run(
        [sys.executable, "-m", "intermodal.cli", "tower", "hash-password"],
        input="hunter2\n",
        capture_output=True,
        text=True,
    )
    assert short.returncode == 1 and short.stdout == ""
    assert "use at least 12 characters" in short.stderr and "hunter2" not in short.stderr
    # A reference is hashed at load; the settings keep the hash, never the password.
    (tmp_path / "pw").write_text("a-long-enough-password")
    config = {
        "tower": {
            "users": {
                "olga": {"role": "operator", "password": "file:pw"},
                "ada": {"role": "admin", "password_hash": hashed},
            }
        }
    }
    (tmp_path / "intermodal.yaml").write_text(yaml.safe_dump(config))
    settings = load_config(tmp_path / "intermodal.yaml")
    assert settings.tower is not None
    olga = settings.tower.users["olga"]
    assert olga.password_hash is not None and verify(olga.password_hash, "a-long-enough-password")
    assert "a-long-enough-password" not in repr(settings)
    assert settings.tower.users["ada"].password_hash == hashed
    # The same reference gives the same hash in every process (workers, restarts), so the
    # sessions' tag of it does not change under them.
    again = load_config(tmp_path / "intermodal.yaml")
    assert again.tower is not None and again.tower.users["olga"].credential == olga.credential


POLICY = TowerLockoutConfig(after_failures=5, first_seconds=30, max_seconds=900)
START = datetime(2026, 12, 1, tzinfo=UTC)


@given(gaps=st.lists(st.floats(min_value=0, max_value=400), min_size=1, max_size=60))
def test_guessing_never_gets_more_tries_than_the_windows_allow(gaps: list[float]) -> None:
    """Whatever the pace of wrong guesses, each one past the first `after_failures` waited
    out the whole window the one before it opened."""
    count: FailureCount | None = None
    now = START
    allowed: list[FailureCount] = []
    for gap in gaps:
        now += timedelta(seconds=gap)
        if locked(count, now) is not None:
            continue
        count = charged(count, now, POLICY)
        allowed.append(count)
    for before, after in itertools.pairwise(allowed):
        if before.locked_until is not None and after.failures > 1:
            assert after.last_failure_at >= before.locked_until
    for c in allowed:
        if c.failures >= POLICY.after_failures:
            assert c.locked_until is not None
            window = (c.locked_until - c.last_failure_at).total_seconds()
            assert POLICY.first_seconds <= window <= POLICY.max_seconds
        else:
            assert c.locked_until is None


@given(failures=st.integers(min_value=0, max_value=10_000))
def test_a_right_password_refunds_only_its_own_attempt(failures: int) -> None:
    count = charged(FailureCount(failures, START, None), START, POLICY)
    after = refunded(count, POLICY)
    assert after.failures == failures
    assert (after.locked_until is None) == (failures < POLICY.after_failures)


# --- login through the company's identity provider (OpenID Connect) ---

ALICE = Account("sub-alice", "alice@example.com", "Alice", ("logistics",))
BOB = Account("sub-bob", "bob@example.com", "Bob", ("logistics", "tower-admins"))
CAROL = Account("sub-carol", "carol@example.com", "Carol", ("finance",))
CALLBACK = "/tower/login/oidc/callback"


@contextlib.contextmanager
def company_tower(database: str, folder: Path) -> Iterator[tuple[Tower, OidcProvider]]:
    """A hub whose tower also logs in through a local OpenID Connect provider."""
    accounts = {"alice": ALICE, "bob": BOB, "carol": CAROL}
    provider = OidcProvider("intermodal-tower", "provider-secret-0123456789", accounts)
    with serve_in_thread(provider.app()) as served:
        # By another name than the hub's 127.0.0.1: another site to the browser, as a
        # company's identity provider is, so coming back from it is a cross-site navigation.
        issuer = served.replace("127.0.0.1", "localhost")
        provider.issuer = issuer
        (folder / "oidc.secret").write_text(str(provider.client_secret))
        oidc = {
            "issuer": issuer,
            "client_id": provider.client_id,
            "client_secret": "file:oidc.secret",
            "scopes": ["openid", "email", "groups"],
            "roles": {"logistics": "operator", "tower-admins": "admin"},
        }
        with tower(database, folder, oidc=oidc) as t:
            provider.redirect_uris.append(t.url + CALLBACK)
            yield t, provider


@dataclass
class Pending:
    """A company login sent to the provider and signed in there, not yet back."""

    request: dict[str, str]
    callback: str


def sign_in(t: Tower, provider: OidcProvider, client: httpx.Client, login: str) -> Pending:
    start = client.get("/tower/login/oidc", params={"next": "/tower/cases"})
    assert start.status_code == 303, start.text[:300]
    authorize = start.headers["location"]
    assert authorize.startswith(provider.issuer + "/authorize?")
    request = dict(parse_qsl(urlsplit(authorize).query))
    assert httpx.get(authorize).status_code == 200  # the sign-in form
    back = httpx.post(f"{provider.issuer}/authorize", data={**request, "login": login})
    assert back.status_code == 302
    assert back.headers["location"].startswith(t.url + CALLBACK + "?")
    return Pending(request, back.headers["location"])


def test_company_login_end_to_end_with_the_role_from_the_groups(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with company_tower(db_url, tmp_path) as (t, provider):
        client = t.client()
        assert 'id="oidc-login"' in client.get("/tower/login").text
        pending = sign_in(t, provider, client, "alice")
        assert pending.request["code_challenge_method"] == "S256"
        assert pending.request["nonce"] and pending.request["state"]
        landed = client.get(pending.callback)
        assert landed.status_code == 200
        assert 'http-equiv="refresh" content="0; url=/tower/cases"' in landed.text
        page = client.get("/tower/cases")
        assert page.status_code == 200
        assert "alice@example.com" in page.text and "role-operator" in page.text
        # The hub redeemed the code with the verifier of the challenge it sent.
        (redeemed,) = provider.token_requests
        assert s256(redeemed["code_verifier"]) == pending.request["code_challenge"]
        assert redeemed["redirect_uri"] == t.url + CALLBACK
        with t.store.read() as conn:
            row = conn.execute(select(tower_sessions)).one()
        assert (row.user, row.source, row.role) == ("alice@example.com", "oidc", "operator")
        # The highest role of all of a user's groups; a user in no mapped group gets none.
        admin = t.client()
        client_bob = admin.get(sign_in(t, provider, admin, "bob").callback)
        assert client_bob.status_code == 200
        assert 'id="all-sessions"' in admin.get("/tower/sessions").text
        stranger = t.client()
        refused = stranger.get(sign_in(t, provider, stranger, "carol").callback)
        assert refused.status_code == 401 and "no role in the control tower" in refused.text
        assert t.sessions_of("carol@example.com") == 0
        # Logging out ends a company-login session like any other.
        csrf = csrf_of(page.text)
        session_id = client.cookies["intermodal_tower"]
        assert client.post("/tower/logout", data={"csrf": csrf}).status_code == 303
        replayed = t.client()
        replayed.cookies.set("intermodal_tower", session_id, path="/")
        assert replayed.get("/tower/").status_code == 303
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "@example.com" not in logged and "Alice" not in logged  # subjects, not people
        assert "company login for subject 'sub-alice' (operator)" in logged


def _tampered_payload(token: str) -> str:
    """The same signature over a payload that now says the user is an admin."""
    header, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["groups"] = ["tower-admins"]
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_company_login_refuses_a_wrong_state_a_foreign_verifier_and_bad_id_tokens(
    db_url: str, tmp_path: Path
) -> None:
    with company_tower(db_url, tmp_path) as (t, provider):

        def refused(answer: httpx.Response) -> bool:
            return answer.status_code == 401 and "did not complete" in answer.text

        # A state that is not the one this browser's login sent.
        browser = t.client()
        pending = sign_in(t, provider, browser, "alice")
        assert refused(browser.get(pending.callback.replace("state=", "state=x")))
        assert refused(browser.get(pending.callback))  # the pending login was used up
        # The provider's answer taken to another browser, which started no login.
        browser = t.client()
        pending = sign_in(t, provider, browser, "alice")
        assert refused(t.client().get(pending.callback))
        # A code intercepted and brought to the attacker's own login: the hub redeems it
        # with the attacker's PKCE verifier, which does not match the victim's challenge.
        victim, attacker = t.client(), t.client()
        stolen = sign_in(t, provider, victim, "bob")
        own = attacker.get("/tower/login/oidc")
        state = dict(parse_qsl(urlsplit(own.headers["location"]).query))["state"]
        code = dict(parse_qsl(urlsplit(stolen.callback).query))["code"]
        assert refused(attacker.get(CALLBACK, params={"code": code, "state": state}))
        verifier = provider.token_requests[-1]["code_verifier"]
        assert s256(verifier) != stolen.request["code_challenge"]
        # ID tokens that must not be believed.
        other_key = RSAKey.generate_key(2048, parameters={"kid": provider.key.kid})
        for claims_hook, token_hook in [
            (lambda c: {**c, "nonce": "another-login"}, None),
            (lambda c: {**c, "aud": "another-client"}, None),
            (lambda c: {**c, "iss": "https://evil.example"}, None),
            (lambda c: {**c, "exp": int(time.time()) - 3600}, None),
            (None, _tampered_payload),
            (None, lambda token: jwt.encode({"alg": "RS256", "kid": other_key.kid},
                                            {"sub": "sub-bob", "aud": "intermodal-tower",
                                             "iss": provider.issuer}, other_key)),
        ]:  # fmt: skip
            provider.claims_hook, provider.token_hook = claims_hook, token_hook
            browser = t.client()
            assert refused(browser.get(sign_in(t, provider, browser, "alice").callback))
        with t.store.read() as conn:
            assert conn.execute(select(func.count()).select_from(tower_sessions)).scalar() == 0
        # With an honest provider again, the same steps log in: the refusals were the checks.
        provider.claims_hook = provider.token_hook = None
        browser = t.client()
        assert browser.get(sign_in(t, provider, browser, "alice").callback).status_code == 200
        assert browser.get("/tower/").status_code == 200


def test_company_login_in_chromium(tmp_path: Path, chromium: Path) -> None:
    """In a real browser: the provider's redirect back is a cross-site navigation, after
    which the new SameSite=Strict cookie must still reach the tower's pages."""
    from playwright.sync_api import expect, sync_playwright

    with (
        company_tower(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path) as (t, _provider),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{t.url}/tower/cases")
            page.get_by_role("link", name="Company login").click()
            page.get_by_label("Account").select_option("bob")
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{t.url}/tower/cases")
            expect(page.locator("header .user")).to_contain_text("bob@example.com")
            expect(page.locator("header .role")).to_have_text("admin")
            page.locator("header").get_by_role("link", name="Sessions").click()
            page.get_by_role("button", name="Log out everywhere").click()
            expect(page).to_have_url(re.compile(r"/tower/login$"))
            page.goto(f"{t.url}/tower/cases")
            expect(page).to_have_url(re.compile(r"/tower/login\?next="))
        finally:
            browser.close()


def test_oidc_configuration_mistakes_are_named(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("a-client-secret")
    base = {"issuer": "https://login.example.com", "client_id": "tower",
            "roles": {"ops": "operator"}}  # fmt: skip
    for oidc, expected in [
        ({**base, "issuer": "http://login.example.com"}, "tower.oidc.issuer: use https://"),
        ({**base, "redirect_url": "http://hub.example.com/cb"}, "tower.oidc.redirect_url: use"),
        ({**base, "scopes": ["email"]}, "tower.oidc.scopes: include 'openid'"),
        ({**base, "roles": {}}, "tower.oidc.roles: map at least one group"),
        ({**base, "roles": {"ops": "root"}}, "tower.oidc.roles.ops"),
        ({**base, "client_secret": "file:missing"}, "tower.oidc.client_secret"),
    ]:
        path = tmp_path / "intermodal.yaml"
        path.write_text(yaml.safe_dump({"tower": {"oidc": oidc}}))
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert expected in str(caught.value), str(caught.value)
    # Company login alone is a tower: no password users needed; loopback may be plain http.
    path = tmp_path / "intermodal.yaml"
    alone = {**base, "issuer": "http://127.0.0.1:9999", "client_secret": "file:s"}
    path.write_text(yaml.safe_dump({"tower": {"oidc": alone}}))
    settings = load_config(path)
    assert settings.tower is not None and settings.tower.users == {}
    assert settings.tower.oidc is not None and "a-client-secret" not in repr(settings)


OIDC_CONFIG = TowerOidcConfig(
    issuer="https://login.example.com",
    client_id="tower",
    roles={"ops": "operator", "admins": "admin", "readers": "viewer"},
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(groups=json_values | st.lists(st.sampled_from(["ops", "admins", "readers", "x"])))
def test_any_group_claim_maps_to_the_highest_mapped_role_or_none(groups: Any) -> None:
    role = role_from_claims({"groups": groups}, OIDC_CONFIG)
    named = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
    mapped = {OIDC_CONFIG.roles[g] for g in named if isinstance(g, str) and g in OIDC_CONFIG.roles}
    order = ["viewer", "operator", "admin"]
    assert role == (max(mapped, key=order.index) if mapped else None)


@given(name=json_values)
def test_a_name_claim_is_shown_only_when_it_is_a_short_printable_string(name: Any) -> None:
    shown = name_from_claims({"email": name}, OIDC_CONFIG)
    if shown is not None:
        assert shown == name and isinstance(name, str) and 0 < len(name) <= 256
        assert all(c.isprintable() for c in shown)
