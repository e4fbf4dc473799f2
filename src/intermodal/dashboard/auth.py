"""Who is looking at the control tower, and may they act: sessions kept in the store,
logins with a lockout, roles, CSRF.

A session is a row of `tower_sessions`; the cookie holds only a random id (the row keeps
its SHA-256, so a copy of the database logs nobody in). Ending a session deletes the row,
so a cookie replayed after logout, "log out everywhere" or an admin's "end sessions" is
no session at all. A session ends by itself after `tower.idle_minutes` unused and
`tower.session_hours` after login. Roles of password users are read from the
configuration on every request (demoting a user takes effect at once) and each session
keeps a tag of the password hash it was made with (a new password ends the old
sessions); an OIDC session keeps the role its ID token's groups gave at login.

Each session has its own CSRF token; every POST must echo it (form field `csrf` or header
`X-CSRF-Token`), and the cookie is HttpOnly and SameSite=Strict on top of that. Before
login, the login form's CSRF token (and an OIDC login under way: state, nonce, PKCE
verifier) ride in a separate signed cookie, so an anonymous visitor costs the store
nothing; the signing key is made once and kept in `hub_meta`, shared by every process.

Failed logins are counted in the store per account and per client address
(`Lockout`); an attempt is counted before its password is checked, so fifty concurrent
guesses get no more tries than fifty sequential ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Connection, delete, func, or_, select, update
from starlette.requests import Request
from starlette.responses import Response

from intermodal.config import TOWER_ROLES, TowerLockoutConfig, TowerRole, TowerSettings, TowerUser
from intermodal.dashboard.oidc import OidcLogin
from intermodal.engine.ids import iso, parse_iso, utcnow
from intermodal.security import passwords
from intermodal.security.audit import AuditEntry, append
from intermodal.store import Store
from intermodal.store.tables import hub_meta, tower_login_failures, tower_sessions

COOKIE = "intermodal_tower"
COOKIE_PATH = "/"
"""The whole site: the admin API accepts a tower session too (`session_user`)."""
LOGIN_COOKIE = "intermodal_tower_login"
FLASH_COOKIE = "intermodal_tower_flash"
TOWER_PATH = "/tower"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
LOGIN_COOKIE_SECONDS = 12 * 3600
OIDC_LOGIN_SECONDS = 600
"""How long an OIDC login may take at the provider before its state is refused."""
SELF_REFRESHES = frozenset({"overview"})
"""htmx triggers of a page refreshing itself (the overview's poll): such a request is no
sign of a person, so it does not keep an idle session alive."""
_KEY_NAME = "tower_cookie_key"
_CLEANUP_SECONDS = 60.0

Role = TowerRole
Source = Literal["password", "oidc"]
_RANK = {role: rank for rank, role in enumerate(TOWER_ROLES)}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """A logged-in session (a row of `tower_sessions`), or the pre-login state of a
    browser (`user` None: the login form's CSRF token, an OIDC login under way)."""

    user: str | None
    csrf: str
    flash: str | None = None
    credential: str | None = None
    """The password hash's tag at login: a changed password no longer matches it."""
    role: Role = "viewer"
    """The role at login; what counts for a password user is the configuration's."""
    source: Source = "password"
    key: str | None = None
    """SHA-256 of the cookie's session id: the row's key. None before login."""
    oidc: dict[str, Any] | None = None
    """Before login, an OIDC login under way: state, nonce, verifier, next, started."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role

    def may(self, needed: Role) -> bool:
        """Each role may do what the lower ones may: admin > operator > viewer."""
        return _RANK[self.role] >= _RANK[needed]

    @property
    def may_act(self) -> bool:
        return self.may("operator")


def as_role(value: object) -> Role:
    """A stored role read back; anything unknown is the least one."""
    for role in TOWER_ROLES:
        if value == role:
            return role
    return "viewer"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _plausible_id(value: str | None) -> bool:
    """Only what `secrets.token_urlsafe(32)` makes is looked up in the store."""
    return (
        value is not None
        and 20 <= len(value) <= 64
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in value)
    )


def client_address(request: Request) -> str:
    """The address lockouts count by: the peer (uvicorn puts a trusted proxy's
    X-Forwarded-For there), narrowed to its /64 for IPv6, where one client holds many."""
    host = request.client.host if request.client is not None else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# --- the lockout: a pure rule over one count, and the store that keeps the counts ---


@dataclass(frozen=True)
class FailureCount:
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


def locked(count: FailureCount | None, now: datetime) -> datetime | None:
    """Until when logins under this count are refused; None when they may try."""
    if count is None or count.locked_until is None or count.locked_until <= now:
        return None
    return count.locked_until


def charged(count: FailureCount | None, now: datetime, policy: TowerLockoutConfig) -> FailureCount:
    """The count after one more attempt, charged before its password is checked.

    From `after_failures` on, every attempt opens a window in which the next ones are
    refused: `first_seconds`, doubled per failure beyond, at most `max_seconds`. A count
    quiet for `forget_seconds` starts over.
    """
    quiet = count is None or (now - count.last_failure_at).total_seconds() >= policy.forget_seconds
    failures = 1 if count is None or quiet else count.failures + 1
    until = None
    if failures >= policy.after_failures:
        exponent = min(failures - policy.after_failures, 30)
        window = min(policy.first_seconds * 2**exponent, policy.max_seconds)
        until = now + timedelta(seconds=window)
    return FailureCount(failures, now, until)


def refunded(count: FailureCount, policy: TowerLockoutConfig) -> FailureCount:
    """An address's count after one of its attempts turned out right: that attempt
    was no failure (the account's count is cleared instead)."""
    failures = max(count.failures - 1, 0)
    until = count.locked_until if failures >= policy.after_failures else None
    return FailureCount(failures, count.last_failure_at, until)


def account_key(name: str) -> str:
    """The account's count is keyed by a hash of the typed name: typed names (sometimes a
    password typed into the wrong field) are never stored or logged."""
    return "user:" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def address_key(address: str) -> str:
    return "addr:" + address[:64]


def _read_counts(store: Store, conn: Connection, keys: list[str]) -> dict[str, FailureCount]:
    """The counts of `keys`, their rows locked until the transaction ends (PostgreSQL;
    on SQLite the writer lock already serialises), in one order for every caller."""
    query = (
        select(tower_login_failures)
        .where(tower_login_failures.c.key.in_(keys))
        .order_by(tower_login_failures.c.key)
    )
    rows = conn.execute(store.for_update(query)).all()
    return {
        row.key: FailureCount(
            row.failures,
            parse_iso(row.last_failure_at),
            parse_iso(row.locked_until) if row.locked_until else None,
        )
        for row in rows
    }


def _write_count(store: Store, conn: Connection, key: str, count: FailureCount) -> None:
    values = {
        "failures": count.failures,
        "last_failure_at": iso(count.last_failure_at),
        "locked_until": iso(count.locked_until) if count.locked_until else None,
    }
    changed = conn.execute(
        update(tower_login_failures).where(tower_login_failures.c.key == key).values(**values)
    ).rowcount
    if not changed:
        conn.execute(store.insert_ignoring(tower_login_failures, ["key"]).values(key=key, **values))


# --- the session guard ---


class TowerAuth:
    """Sessions, logins and lockouts of one running tower, over the hub's store."""

    def __init__(self, settings: TowerSettings, store: Callable[[], Store]) -> None:
        self.settings = settings
        self._store = store
        self._serializer: URLSafeTimedSerializer | None = None
        self._key_lock = threading.Lock()
        self._checks = asyncio.Semaphore(max(os.cpu_count() or 1, 1))
        """argon2 verifications at once: each takes 64 MiB, and a crowd of logins would
        otherwise take a thread (and the memory) each."""
        self._cleaned = 0.0
        self.oidc = OidcLogin(settings.oidc) if settings.oidc is not None else None
        """Login through the company's identity provider, when `tower.oidc` is set."""
        passwords.unknown_user_hash()  # made now, so the first unknown name costs no more

    @property
    def store(self) -> Store:
        return self._store()

    # -- cookies signed with the store's key: pre-login state and flash messages --

    def signer(self) -> URLSafeTimedSerializer:
        """The serializer for the small signed cookies, its key made once per store."""
        if self._serializer is None:
            with self._key_lock:
                if self._serializer is None:
                    key = _cookie_key(self.store)
                    self._serializer = URLSafeTimedSerializer(key, salt="intermodal-tower")
        return self._serializer

    def _prelogin(self, request: Request) -> Session | None:
        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw or len(raw) > 4096:
            return None
        try:
            value: Any = self.signer().loads(raw, max_age=LOGIN_COOKIE_SECONDS)
        except BadSignature:  # tampered, foreign or expired: start over
            return None
        if not isinstance(value, dict):
            return None
        csrf, oidc = value.get("c"), value.get("o")
        if not isinstance(csrf, str) or not csrf:
            return None
        return Session(None, csrf, oidc=oidc if isinstance(oidc, dict) else None)

    def write_prelogin(self, response: Response, session: Session) -> None:
        payload: dict[str, Any] = {"c": session.csrf}
        if session.oidc:
            payload["o"] = session.oidc
        response.set_cookie(
            LOGIN_COOKIE,
            self.signer().dumps(payload),
            max_age=LOGIN_COOKIE_SECONDS,
            path=TOWER_PATH,
            httponly=True,
            # Lax, not Strict: the provider's redirect back to the callback is a
            # cross-site navigation, and the state must come with it.
            samesite="lax",
            secure=self.settings.secure_cookie,
        )

    def _clear(self, response: Response, name: str, path: str) -> None:
        response.delete_cookie(
            name, path=path, httponly=True, samesite="strict", secure=self.settings.secure_cookie
        )

    def flash_of(self, request: Request) -> str | None:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw or len(raw) > 2048:
            return None
        try:
            value: Any = self.signer().loads(raw, max_age=600)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    def set_flash(self, response: Response, message: str) -> None:
        """A message shown once on the next page (after an action's redirect)."""
        response.set_cookie(
            FLASH_COOKIE,
            self.signer().dumps(message[:300]),
            max_age=600,
            path=TOWER_PATH,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie,
        )

    def clear_flash(self, response: Response) -> None:
        self._clear(response, FLASH_COOKIE, TOWER_PATH)

    # -- reading a request's session --

    async def read(self, request: Request) -> Session | None:
        """The request's session: logged in (its row found and in time; seen now, unless
        the page is only refreshing itself), else the browser's pre-login state, else None."""
        touch = request.headers.get("hx-trigger") not in SELF_REFRESHES
        session = await asyncio.to_thread(self._read, request, touch)
        if session is None:
            return None
        return replace(session, flash=self.flash_of(request))

    def read_now(self, request: Request) -> Session | None:
        """`read` without touching the row: for callers that cannot await (the admin API's
        dependencies run in a thread pool); a login seen only here does not stay alive."""
        return self._read(request, False)

    def _read(self, request: Request, touch: bool) -> Session | None:
        self.signer()  # made here, in a thread, not later on the event loop
        raw = request.cookies.get(COOKIE)
        if _plausible_id(raw):
            assert raw is not None
            found = self._session(_session_key(raw), touch)
            if found is not None:
                return found
        return self._prelogin(request)

    def _session(self, key: str, touch: bool) -> Session | None:
        now = utcnow()
        with self.store.read() as conn:
            row = conn.execute(
                select(tower_sessions).where(tower_sessions.c.session_hash == key)
            ).first()
        if row is None:
            return None
        seen = parse_iso(row.last_seen_at)
        idle = (now - seen).total_seconds()
        if now >= parse_iso(row.expires_at) or idle >= self.settings.idle_seconds:
            if touch:
                with self.store.write() as conn:
                    conn.execute(delete(tower_sessions).where(tower_sessions.c.session_hash == key))
            return None
        # Seen again: written at most every minute (a quarter of the idle time when that
        # is shorter), not on every page view.
        if touch and idle >= min(60.0, self.settings.idle_seconds / 4):
            with self.store.write() as conn:
                conn.execute(
                    update(tower_sessions)
                    .where(tower_sessions.c.session_hash == key)
                    .values(last_seen_at=iso(now))
                )
        source: Source = "oidc" if row.source == "oidc" else "password"
        return Session(row.user, row.csrf, None, row.credential, as_role(row.role), source, key)

    def operator(self, session: Session) -> Operator | None:
        """Who a logged-in session is now, or None (logged out, user removed, password
        changed, OIDC switched off)."""
        if session.user is None or session.key is None:
            return None
        if session.source == "oidc":
            return Operator(session.user, session.role) if self.settings.oidc else None
        user = self.settings.users.get(session.user)
        if user is None:  # removed from the configuration since logging in
            return None
        tag = user.credential
        if tag is None or session.credential is None:
            return None
        if not hmac.compare_digest(tag, session.credential):  # password changed since
            return None
        return Operator(user.name, user.role)

    # -- starting and ending sessions --

    async def start(
        self,
        response: Response,
        user: str,
        role: Role,
        source: Source,
        credential: str | None = None,
    ) -> Session:
        """A new session for `user` (a fresh id and CSRF token, so nothing from before
        login is of use after it), its cookie set on `response`."""
        session_id = secrets.token_urlsafe(32)
        session = Session(
            user, secrets.token_urlsafe(32), None, credential, role, source,
            _session_key(session_id),
        )  # fmt: skip
        await asyncio.to_thread(self._insert, session)
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=int(self.settings.session_seconds),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie,
        )
        self._clear(response, LOGIN_COOKIE, TOWER_PATH)
        return session

    def _insert(self, session: Session) -> None:
        now = utcnow()
        with self.store.write() as conn:
            conn.execute(
                tower_sessions.insert().values(
                    session_hash=session.key,
                    user=session.user,
                    source=session.source,
                    role=session.role,
                    credential=session.credential,
                    csrf=session.csrf,
                    created_at=iso(now),
                    last_seen_at=iso(now),
                    expires_at=iso(now + timedelta(seconds=self.settings.session_seconds)),
                )
            )
            if time.monotonic() - self._cleaned > _CLEANUP_SECONDS:
                self._cleaned = time.monotonic()
                self._clean(conn, now)

    def _clean(self, conn: Connection, now: datetime) -> None:
        """Forget sessions past their time and counts nobody needs any more."""
        idle_since = iso(now - timedelta(seconds=self.settings.idle_seconds))
        conn.execute(
            delete(tower_sessions).where(
                or_(
                    tower_sessions.c.expires_at <= iso(now),
                    tower_sessions.c.last_seen_at <= idle_since,
                )
            )
        )
        quiet_since = iso(now - timedelta(seconds=self.settings.lockout.forget_seconds))
        conn.execute(
            delete(tower_login_failures).where(
                tower_login_failures.c.last_failure_at <= quiet_since,
                or_(
                    tower_login_failures.c.locked_until.is_(None),
                    tower_login_failures.c.locked_until <= iso(now),
                ),
            )
        )

    def end_cookie(self, response: Response) -> None:
        self._clear(response, COOKIE, COOKIE_PATH)

    async def end(self, session: Session) -> None:
        """End one session: its cookie, replayed, is no session any more."""
        if session.key is not None:
            await asyncio.to_thread(self._delete, tower_sessions.c.session_hash == session.key)

    async def end_all(self, user: str, actor: str) -> int:
        """End every session of `user` (every browser, every login method), an audit
        entry naming `actor`; how many were live."""
        audit = AuditEntry(actor, "tower.sessions.end", user, {})
        return await asyncio.to_thread(self._delete, tower_sessions.c.user == user, audit)

    def _delete(self, where: Any, audit: AuditEntry | None = None) -> int:
        with self.store.write() as conn:
            ended = int(conn.execute(delete(tower_sessions).where(where)).rowcount or 0)
            if audit is not None:
                append(self.store, conn, [replace(audit, detail={"sessions": ended})])
            return ended

    def sessions(self, user: str | None) -> list[dict[str, Any]]:
        """Live sessions, newest first: one user's, or everybody's (`user` None)."""
        now = utcnow()
        idle_since = iso(now - timedelta(seconds=self.settings.idle_seconds))
        query = (
            select(
                tower_sessions.c.session_hash,
                tower_sessions.c.user,
                tower_sessions.c.source,
                tower_sessions.c.created_at,
                tower_sessions.c.last_seen_at,
                tower_sessions.c.expires_at,
            )
            .where(
                tower_sessions.c.expires_at > iso(now),
                tower_sessions.c.last_seen_at > idle_since,
            )
            .order_by(tower_sessions.c.created_at.desc())
            .limit(500)
        )
        if user is not None:
            query = query.where(tower_sessions.c.user == user)
        with self.store.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def count_sessions(self) -> dict[str, int]:
        """Live sessions per user (the admin's list)."""
        now = utcnow()
        idle_since = iso(now - timedelta(seconds=self.settings.idle_seconds))
        query = (
            select(tower_sessions.c.user, func.count())
            .where(
                tower_sessions.c.expires_at > iso(now),
                tower_sessions.c.last_seen_at > idle_since,
            )
            .group_by(tower_sessions.c.user)
        )
        with self.store.read() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(query)}

    # -- logging in with a password --

    async def check_login(self, name: str, password: str, address: str) -> TowerUser | None:
        """The user when `password` is theirs and neither the account nor the address is
        locked out; None otherwise, for every reason alike (the caller answers the same).

        The attempt is counted in the store before the password is checked, so however
        many arrive at once, no more are checked than the lockout allows.
        """
        keys = sorted({account_key(name), address_key(address)})
        verdict = await asyncio.to_thread(self._charge, keys)
        user = self.settings.users.get(name)
        if verdict is not None:
            log.warning(
                "control tower: login refused for %s: %s",
                _who(user),
                verdict,
            )
            return None
        async with self._checks:
            if user is None or user.password_hash is None:
                await asyncio.to_thread(passwords.burn, password)
                matches = False
            else:
                matches = await asyncio.to_thread(passwords.verify, user.password_hash, password)
        if not matches or user is None:
            log.warning("control tower: failed login for %s", _who(user))
            return None
        await asyncio.to_thread(self._succeeded, account_key(name), address_key(address))
        return user

    def _charge(self, keys: list[str]) -> str | None:
        """Count one attempt against every key, unless one of them is locked: then count
        nothing and say why (for the log only; the person trying sees "wrong password")."""
        policy = self.settings.lockout
        with self.store.write() as conn:
            now = utcnow()
            for key in keys:  # rows to lock, in one order for every transaction
                conn.execute(
                    self.store.insert_ignoring(tower_login_failures, ["key"]).values(
                        key=key, failures=0, last_failure_at=iso(now), locked_until=None
                    )
                )
            counts = _read_counts(self.store, conn, keys)
            for key in keys:
                until = locked(counts.get(key), now)
                if until is not None:
                    kind = "this account" if key.startswith("user:") else "this address"
                    seconds = (until - now).total_seconds()
                    return f"{kind} is locked out for {seconds:.0f} s more"
            for key in keys:
                after = charged(counts.get(key), now, policy)
                _write_count(self.store, conn, key, after)
                if after.locked_until is not None and after.failures == policy.after_failures:
                    what = "an account" if key.startswith("user:") else key.removeprefix("addr:")
                    log.warning(
                        "control tower: %d failed logins for %s: refusing logins for %.0f s",
                        after.failures,
                        what,
                        (after.locked_until - now).total_seconds(),
                    )
        return None

    def _succeeded(self, account: str, address: str) -> None:
        with self.store.write() as conn:
            conn.execute(delete(tower_login_failures).where(tower_login_failures.c.key == account))
            count = _read_counts(self.store, conn, [address]).get(address)
            if count is not None:
                _write_count(self.store, conn, address, refunded(count, self.settings.lockout))


def _who(user: TowerUser | None) -> str:
    """How a login names its user in the log: a configured name, never what was typed."""
    return user.name if user is not None else "an unknown user"


def _cookie_key(store: Store) -> str:
    """The key that signs the tower's small cookies, made once and kept in the store so
    that every worker, node and restart signs with the same one."""
    query = select(hub_meta.c.value).where(hub_meta.c.name == _KEY_NAME)
    with store.read() as conn:
        found = conn.execute(query).scalar_one_or_none()
    if found is not None:
        return str(found)
    with store.write() as conn:
        conn.execute(
            store.insert_ignoring(hub_meta, ["name"]).values(
                name=_KEY_NAME, value=secrets.token_urlsafe(32)
            )
        )
        return str(conn.execute(query).scalar_one())


def new_session() -> Session:
    """An anonymous session: only the CSRF token of the login form."""
    return Session(None, secrets.token_urlsafe(32))


def csrf_ok(session: Session | None, request: Request, form: dict[str, list[str]]) -> bool:
    """The request echoes the session's CSRF token (form field or htmx header), and comes
    from our own site when the browser says where it comes from.

    Behind a reverse proxy that rewrites Host, the proxy's X-Forwarded-Host is accepted as
    our own name too: a cross-site page cannot set that header on a browser's request.
    """
    if session is None:
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        ours = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
        if origin.split("://", 1)[-1] not in ours - {""}:
            return False  # another site (or an opaque "null" origin) posting into ours
    expected = _digest(session.csrf)
    given = [request.headers.get(CSRF_HEADER, ""), *form.get(CSRF_FIELD, [])[:1]]
    # Every candidate is compared, so the time taken does not say which one was close.
    matches = [hmac.compare_digest(_digest(g), expected) for g in given if g]
    return any(matches)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_user(request: Request) -> tuple[str, Role] | None:
    """The tower user a request comes from, by its session cookie, with their role now;
    None without a live session. For the admin API, which accepts a tower session as
    well as the admin token.

    A request that changes something (any method but GET, HEAD, OPTIONS) must also carry
    the session's CSRF token in `X-CSRF-Token`: the cookie alone would let another site's
    form act in the operator's name. It reads the store but never writes (it runs in the
    API's thread pool): a session used only through the API still ends when idle.
    """
    auth = _auth_for(request)
    if auth is None:
        return None
    session = auth.read_now(request)
    if session is None or session.user is None:
        return None
    if request.method not in _SAFE_METHODS and not csrf_ok(session, request, {}):
        return None
    operator = auth.operator(session)
    return (operator.name, operator.role) if operator is not None else None


def _auth_for(request: Request) -> TowerAuth | None:
    """The tower's guard: the tower app's own, or one kept on the hub's app state."""
    state = request.app.state
    tower = getattr(state, "tower", None)
    if tower is not None:
        auth: TowerAuth = tower.auth
        return auth
    found: TowerAuth | None = getattr(state, "tower_auth", None)
    if found is not None:
        return found
    settings = getattr(state, "settings", None)
    if settings is None or settings.tower is None:
        return None
    made = TowerAuth(settings.tower, lambda: state.hub.store)
    state.tower_auth = made
    return made
