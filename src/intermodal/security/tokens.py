"""Bearer tokens: which partner presents one, whether it is live, and what it may do.

Tokens come from two places. The configuration (`partners.<p>.tokens`) is the bootstrap
path: a hub with an empty database still lets its first partners in. The store's `tokens`
table holds the tokens the hub issued itself (`intermodal token new`): they can be listed,
given an expiry, rotated with overlap and revoked without a restart.

Both are kept as SHA-256 digests and looked up by digest. A slow password hash (argon2,
bcrypt) exists to make guessing a low-entropy secret expensive; a token of 32 random bytes
cannot be guessed however fast its hash is, while a slow hash would cost every request
tens of milliseconds and hand anyone with a wrong token a way to burn the hub's CPU. The
digest is also the lookup key, so a request never compares secrets byte by byte. That
argument holds only for high-entropy tokens, hence `weak_token_problem` and the minimum
length for configured tokens; tokens the hub issues are `new_token()`'s 256 random bits.

`TokenRegistry.lookup` is the one place a bearer token is checked, for every route:

- configured tokens are a dictionary built at start; issued tokens a snapshot of the
  table, reloaded every `REFRESH_SECONDS` off the request path and never trusted when
  older than `MAX_AGE_SECONDS` (a request then reloads it, or is a 503 if the store does
  not answer): a revocation takes effect on every node within 5 seconds, and a token
  the snapshot does not know reloads it (at most twice a second), so a new one works
  within half a second;
- the last use of an issued token is noted in memory and written at most once a minute
  per token (`LAST_USED_EVERY_SECONDS`), by the same background round: no request writes;
- every failure is counted in `intermodal_auth_failures_total{route, reason}` at once, and
  audited as one `auth.failed` entry per partner, route, reason and token id per minute
  (`AUDIT_EVERY_SECONDS`) with the count and the first and last time: a guessing client
  costs a dictionary increment per attempt, not a write. Neither holds the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Row, bindparam, or_, select, update

from intermodal.engine.ids import iso, sortable_id, utcnow
from intermodal.errors import Conflict, Unauthorized, Unavailable
from intermodal.security.audit import AuditEntry, append
from intermodal.store.tables import tokens as tokens_table

if TYPE_CHECKING:
    from prometheus_client import Counter

    from intermodal.store import Store

log = logging.getLogger(__name__)

TOKEN_PREFIX = "imt_"  # noqa: S105 (a prefix, not a secret)
"""Issued tokens start with it, so a secret scanner (or a person) can tell one in a leak."""
MIN_TOKEN_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 8
REFRESH_SECONDS = 2.0
MAX_AGE_SECONDS = 5.0
"""The bound on how long a revoked issued token may still be accepted by a node."""
MISS_RELOAD_SECONDS = 0.5
LAST_USED_EVERY_SECONDS = 60.0
AUDIT_EVERY_SECONDS = 60.0
TELL_APART_FOR = timedelta(days=30)
"""How long after its expiry or revocation a token is still answered as `expired` or
`revoked` (in the audit and the metric) rather than `unknown`: the snapshot keeps them."""
AUDIT_ACTOR = "hub:auth"

ROUTES = ("webhook", "batch", "edi", "documents", "odoo", "read", "admin", "metrics", "other")
REASONS = ("missing", "unknown", "expired", "revoked", "signature", "wrong_partner")
_ROUTE_PREFIXES = (
    ("/v1/webhooks/", "webhook"),
    ("/v1/events", "batch"),
    ("/v1/edi/", "edi"),
    ("/v1/documents/", "documents"),
    ("/v1/odoo/", "odoo"),
    ("/v1/admin/", "admin"),
    ("/v1/shipments", "read"),
    ("/v1/receipts", "read"),
    ("/metrics", "metrics"),
)
_MESSAGES = {
    "missing": "a bearer token is required",
    "unknown": "the bearer token is not valid",
    "expired": "the bearer token has expired",
    "revoked": "the bearer token has been revoked",
}


def token_hash(token: str) -> str:
    """The lookup key of a bearer token: its SHA-256, hex (see the module's docstring)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    """A fresh token: `imt_` and 32 random bytes in URL-safe base64 (47 characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def weak_token_problem(token: str) -> str | None:
    """Why a configured token is too easy to guess, or None.

    Length is the main rule; the distinct-character floor catches padding such as 32
    times the same letter, and is low enough that a random hex token never trips it."""
    if len(token) < MIN_TOKEN_LENGTH:
        return (
            f"a token must be at least {MIN_TOKEN_LENGTH} characters (this one has"
            f" {len(token)}); make one with `intermodal token generate`"
        )
    if len(set(token)) < MIN_DISTINCT_CHARACTERS:
        return (
            f"a token must use at least {MIN_DISTINCT_CHARACTERS} different characters;"
            " make one with `intermodal token generate`"
        )
    return None


def route_kind(path: str) -> str:
    """The metric's `route` label for a request path: a few fixed kinds, never the path."""
    for prefix, kind in _ROUTE_PREFIXES:
        if path.startswith(prefix):
            return kind
    return "other"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a partner's bearer token allows: who it speaks for, its scopes and, for a
    customer portal, the customers whose shipments it may read (None: not so limited);
    until when, and which issued token it is."""

    partner: str
    scopes: frozenset[str]
    customers: frozenset[str] | None = None
    expires_at: float | None = None
    """Epoch seconds; None: no expiry."""
    token_id: str | None = None
    """The `tokens` row; None for a configured token."""
    revoked_at: float | None = None


class TokenRejected(Unauthorized):
    """A bearer token that does not let anyone in, and why (`reason`, one of REASONS)."""

    code = "unauthorized"

    def __init__(self, reason: str) -> None:
        super().__init__(_MESSAGES.get(reason, "the bearer token is not valid"))
        self.reason = reason


class TokensUnavailable(Unavailable):
    """The issued tokens could not be read and the snapshot is too old to trust."""

    code = "unavailable"


@dataclass
class _Failures:
    count: int
    first: float
    last: float


class TokenRegistry:
    """Every token the hub accepts, checked in memory; see the module's docstring.

    One per hub (each worker process of `serve --workers N` has its own). `run` is the
    background round that reloads issued tokens, writes last-use times and the failures'
    audit entries; `close` writes what is still pending when the hub stops.
    """

    def __init__(
        self,
        store: Store | None,
        configured: Mapping[str, TokenGrant],
        partners: Collection[str],
        failures: Counter | None = None,
    ) -> None:
        self._store = store
        self._configured = dict(configured)
        self._partners = frozenset(partners)
        self._counter = failures
        self._counted: dict[tuple[str, str], Any] = {}
        self._issued: dict[str, TokenGrant] = {}
        self._loaded_at = -math.inf
        self._used: dict[str, float] = {}
        self._written: dict[str, float] = {}
        self._failures: dict[tuple[str | None, str, str, str | None], _Failures] = {}
        self._audited_at = time.monotonic()
        self._lock = threading.Lock()

    # -- the request path ------------------------------------------------------------------
    def lookup(self, token: str | None, route: str, partner: str | None = None) -> TokenGrant:
        """The grant of a live token, else TokenRejected (counted and audited).

        `partner` is the partner the request names (its URL), used for the audit when the
        token itself does not name one. TokensUnavailable when the token is not a
        configured one and the issued tokens cannot be read.
        """
        if token is None:
            raise self.reject(route, "missing", partner)
        digest = token_hash(token)
        grant = self._configured.get(digest)
        if grant is None:
            grant = self._issued_grant(digest)
            if grant is None or grant.partner not in self._partners:
                raise self.reject(route, "unknown", partner)
        now = time.time()
        if grant.revoked_at is not None and grant.revoked_at <= now:
            raise self.reject(route, "revoked", grant.partner, grant.token_id)
        if grant.expires_at is not None and grant.expires_at <= now:
            raise self.reject(route, "expired", grant.partner, grant.token_id)
        if grant.token_id is not None:
            self._used[grant.token_id] = now
        return grant

    def reject(
        self, route: str, reason: str, partner: str | None = None, token_id: str | None = None
    ) -> TokenRejected:
        """Count and note one failure (a token, or a webhook signature); the exception to
        raise. A partner the configuration does not know is recorded as none, so that
        names made up by a client neither reach the audit nor grow this table."""
        self.failed(route, reason, partner, token_id)
        return TokenRejected(reason)

    def failed(
        self, route: str, reason: str, partner: str | None = None, token_id: str | None = None
    ) -> None:
        """Count one authentication failure and keep it for the next audit entry."""
        route = route if route in ROUTES else "other"
        known = partner if partner in self._partners else None
        counted = self._counted.get((route, reason))
        if counted is None and self._counter is not None:
            counted = self._counted[(route, reason)] = self._counter.labels(route, reason)
        if counted is not None:
            counted.inc()
        now = time.time()
        with self._lock:
            key = (known, route, reason, token_id)
            seen = self._failures.get(key)
            if seen is None:
                self._failures[key] = _Failures(1, now, now)
            else:
                seen.count += 1
                seen.last = now

    def _issued_grant(self, digest: str) -> TokenGrant | None:
        """The issued token with this digest from a snapshot at most MAX_AGE_SECONDS old.

        A digest the snapshot lacks may be a token issued since: the snapshot is read
        again, at most once every MISS_RELOAD_SECONDS, so a new token works within half a
        second while a client guessing tokens costs two queries a second, not one a guess.
        """
        if self._store is None:
            return None
        age = time.monotonic() - self._loaded_at
        if age > MAX_AGE_SECONDS:
            self.reload()
            return self._issued.get(digest)
        grant = self._issued.get(digest)
        if grant is None and age > MISS_RELOAD_SECONDS:
            with contextlib.suppress(TokensUnavailable):  # the snapshot is still in bounds
                self.reload()
                grant = self._issued.get(digest)
        return grant

    # -- the background round --------------------------------------------------------------
    def reload(self) -> None:
        """Read the issued tokens (live ones, and those expired or revoked recently enough
        to be told apart); TokensUnavailable when the store does not answer."""
        if self._store is None:
            return
        started = time.monotonic()
        try:
            rows = load_rows(self._store, utcnow() - TELL_APART_FOR)
        except Exception as exc:
            raise TokensUnavailable("the issued tokens cannot be read") from exc
        self._issued = {row.hash: _grant(row) for row in rows}
        self._loaded_at = started

    def flush(self, force: bool = False) -> None:
        """Write due last-use times and, once a minute (or when `force`d), the failures'
        audit entries."""
        if self._store is None:
            return
        self._write_last_used(force)
        if force or time.monotonic() - self._audited_at >= AUDIT_EVERY_SECONDS:
            self._audited_at = time.monotonic()
            self._write_failures()

    async def run(self) -> None:
        """Reload and flush every REFRESH_SECONDS until cancelled. A failed round (the store
        is down) is tried again at the next; the first failure and the recovery are logged,
        not every round in between."""
        failing = False
        while True:
            try:
                await asyncio.to_thread(self._round)
            except Exception as exc:
                if not failing:
                    log.warning("issued tokens cannot be read or written: %s", type(exc).__name__)
                failing = True
            else:
                if failing:
                    log.info("issued tokens are read and written again")
                failing = False
            await asyncio.sleep(REFRESH_SECONDS)

    def _round(self) -> None:
        self.reload()
        self.flush()

    def close(self) -> None:
        """Write everything pending (the hub is stopping); failures are logged, not raised."""
        try:
            self.flush(force=True)
        except Exception as exc:
            log.warning(
                "last token uses and authentication failures not written: %s",
                type(exc).__name__,
            )

    def _write_last_used(self, force: bool) -> None:
        assert self._store is not None
        due = [
            (token_id, at)
            for token_id, at in dict(self._used).items()
            if at - self._written.get(token_id, -math.inf)
            >= (0.0 if force else LAST_USED_EVERY_SECONDS)
            and at > self._written.get(token_id, -math.inf)
        ]
        if not due:
            return
        rows = [{"b_id": token_id, "b_at": _iso_epoch(at)} for token_id, at in due]
        with self._store.write() as conn:
            conn.execute(_TOUCH, rows)
        for token_id, at in due:
            self._written[token_id] = at

    def _write_failures(self) -> None:
        assert self._store is not None
        with self._lock:
            pending, self._failures = self._failures, {}
        if not pending:
            return
        entries = []
        for (partner, route, reason, token_id), seen in sorted(
            pending.items(), key=lambda item: item[1].first
        ):
            detail: dict[str, Any] = {
                "route": route,
                "reason": reason,
                "count": seen.count,
                "first_at": _iso_epoch(seen.first),
                "last_at": _iso_epoch(seen.last),
            }
            if token_id is not None:
                detail["token_id"] = token_id
            entries.append(AuditEntry(AUDIT_ACTOR, "auth.failed", partner, detail))
            log.warning(
                "%d authentication failure(s) on %s routes (%s)",
                seen.count,
                route,
                reason,
                extra={"partner": partner, "token_id": token_id},
            )
        try:
            with self._store.write() as conn:
                append(self._store, conn, entries)
        except Exception:
            with self._lock:  # keep them for the next round
                for key, seen in pending.items():
                    now = self._failures.get(key)
                    if now is None:
                        self._failures[key] = seen
                    else:
                        now.count += seen.count
                        now.first = min(now.first, seen.first)
            raise


_TOUCH = (
    update(tokens_table)
    .where(tokens_table.c.id == bindparam("b_id"))
    .where(
        or_(tokens_table.c.last_used_at.is_(None), tokens_table.c.last_used_at < bindparam("b_at"))
    )
    .values(last_used_at=bindparam("b_at"))
)


def _iso_epoch(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def _epoch(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


def _grant(row: Row[Any]) -> TokenGrant:
    customers = orjson.loads(row.customers) if row.customers is not None else None
    return TokenGrant(
        partner=row.partner,
        scopes=frozenset(orjson.loads(row.scopes)),
        customers=frozenset(customers) if customers is not None else None,
        expires_at=_epoch(row.expires_at),
        token_id=row.id,
        revoked_at=_epoch(row.revoked_at),
    )


def load_rows(store: Store, since: datetime) -> list[Row[Any]]:
    """Issued tokens that are live, or expired or revoked after `since`."""
    t = tokens_table
    cutoff = iso(since)
    query = select(t).where(
        or_(t.c.revoked_at.is_(None), t.c.revoked_at > cutoff),
        or_(t.c.expires_at.is_(None), t.c.expires_at > cutoff),
    )
    with store.read() as conn:
        return list(conn.execute(query))


# -- issuing, listing, revoking (the `intermodal token` commands) ---------------------------
@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A `tokens` row as an operator sees it: everything but the secret."""

    id: str
    partner: str
    scopes: tuple[str, ...]
    customers: tuple[str, ...] | None
    label: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    def status(self, now: datetime | None = None) -> str:
        """live, expired or revoked, as of `now`."""
        at = iso(now or utcnow())
        if self.revoked_at is not None and self.revoked_at <= at:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= at:
            return "expired"
        return "live"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "partner": self.partner,
            "scopes": list(self.scopes),
            "customers": list(self.customers) if self.customers is not None else None,
            "label": self.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "status": self.status(),
        }


def _issued(row: Row[Any]) -> IssuedToken:
    customers = orjson.loads(row.customers) if row.customers is not None else None
    return IssuedToken(
        id=row.id,
        partner=row.partner,
        scopes=tuple(orjson.loads(row.scopes)),
        customers=tuple(customers) if customers is not None else None,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def issue(
    store: Store,
    partner: str,
    scopes: Iterable[str],
    actor: str,
    *,
    customers: Iterable[str] | None = None,
    label: str = "",
    expires_in: timedelta | None = None,
) -> tuple[IssuedToken, str]:
    """Store a new token's digest and return its row and the token, which exists nowhere
    else from here on: the caller shows it once. Audited (without the token)."""
    with store.write() as conn:
        return _issue(store, conn, partner, scopes, actor, customers, label, expires_in)


def _issue(
    store: Store,
    conn: Any,
    partner: str,
    scopes: Iterable[str],
    actor: str,
    customers: Iterable[str] | None,
    label: str,
    expires_in: timedelta | None,
) -> tuple[IssuedToken, str]:
    token = new_token()
    now = utcnow()
    row = IssuedToken(
        id=sortable_id("tok"),
        partner=partner,
        scopes=tuple(sorted(set(scopes))),
        customers=tuple(sorted(set(customers))) if customers is not None else None,
        label=label,
        created_at=iso(now),
        expires_at=iso(now + expires_in) if expires_in is not None else None,
        revoked_at=None,
        last_used_at=None,
    )
    conn.execute(
        tokens_table.insert().values(
            id=row.id,
            partner=row.partner,
            hash=token_hash(token),
            scopes=orjson.dumps(list(row.scopes)).decode(),
            customers=orjson.dumps(list(row.customers)).decode()
            if row.customers is not None
            else None,
            label=row.label,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )
    )
    detail: dict[str, Any] = {"token_id": row.id, "scopes": list(row.scopes)}
    if row.customers is not None:
        detail["customers"] = list(row.customers)
    if row.expires_at is not None:
        detail["expires_at"] = row.expires_at
    append(store, conn, [AuditEntry(actor, "token.issued", partner, detail)])
    return row, token


def list_tokens(store: Store, partner: str | None = None) -> list[IssuedToken]:
    """Issued tokens, oldest first (ids sort by creation time)."""
    query = select(tokens_table).order_by(tokens_table.c.id)
    if partner is not None:
        query = query.where(tokens_table.c.partner == partner)
    with store.read() as conn:
        return [_issued(row) for row in conn.execute(query)]


def find(store: Store, token_id: str) -> IssuedToken | None:
    with store.read() as conn:
        row = conn.execute(select(tokens_table).where(tokens_table.c.id == token_id)).first()
    return _issued(row) if row is not None else None


def _locked(store: Store, conn: Connection, token_id: str) -> Row[Any] | None:
    """The token's row, locked for this transaction (None: no such token)."""
    return conn.execute(
        store.for_update(select(tokens_table).where(tokens_table.c.id == token_id))
    ).first()


def revoke(store: Store, token_id: str, actor: str) -> IssuedToken | None:
    """Revoke a token now (None: no such token; a revoked one stays as it was). Audited."""
    with store.write() as conn:
        row = _locked(store, conn, token_id)
        if row is None:
            return None
        if row.revoked_at is not None:
            return _issued(row)
        at = iso(utcnow())
        conn.execute(
            update(tokens_table).where(tokens_table.c.id == token_id).values(revoked_at=at)
        )
        append(store, conn, [AuditEntry(actor, "token.revoked", row.partner, {"token_id": row.id})])
        row = conn.execute(select(tokens_table).where(tokens_table.c.id == token_id)).one()
        return _issued(row)


class TokenStateError(Conflict, ValueError):
    """A token that cannot be rotated (revoked or expired): issue a new one instead."""


def rotate(
    store: Store,
    token_id: str,
    overlap: timedelta,
    actor: str,
    expires_in: timedelta | None = None,
) -> tuple[IssuedToken, str, IssuedToken] | None:
    """Issue a successor with the same partner, scopes, customers and label, and let the
    old token expire after `overlap` (sooner if it already expires sooner): both work
    until then, so the partner can switch without a gap. None: no such token."""
    with store.write() as conn:
        row = _locked(store, conn, token_id)
        if row is None:
            return None
        old = _issued(row)
        if old.status() != "live":
            raise TokenStateError(f"token {token_id} is {old.status()}; issue a new one instead")
        new, token = _issue(
            store,
            conn,
            old.partner,
            old.scopes,
            actor,
            old.customers,
            old.label,
            expires_in,
        )
        ends = iso(utcnow() + overlap)
        if old.expires_at is None or old.expires_at > ends:
            conn.execute(
                update(tokens_table).where(tokens_table.c.id == token_id).values(expires_at=ends)
            )
        else:
            ends = old.expires_at
        append(
            store,
            conn,
            [
                AuditEntry(
                    actor,
                    "token.rotated",
                    old.partner,
                    {"token_id": old.id, "successor": new.id, "old_expires_at": ends},
                )
            ],
        )
        row = conn.execute(select(tokens_table).where(tokens_table.c.id == token_id)).one()
        return new, token, _issued(row)
