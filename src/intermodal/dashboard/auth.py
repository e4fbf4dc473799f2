"""Who is looking at the control tower, and may they act: login, session cookie, CSRF.

The session is a cookie signed with itsdangerous (nothing is stored server-side), so a
restart with a configured `tower.session_secret` keeps operators logged in. Each session
carries its own CSRF token; every POST must echo it (form field `csrf` or header
`X-CSRF-Token`), and the cookie is HttpOnly and SameSite=Strict on top of that. Roles are
read from the configuration on every request, so demoting a user takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from intermodal.config import TowerSettings, TowerUser

COOKIE = "intermodal_tower"
COOKIE_PATH = "/tower"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

Role = Literal["viewer", "operator"]


@dataclass(frozen=True)
class Session:
    """What the signed cookie says: the user (None before login), the CSRF token, a flash."""

    user: str | None
    csrf: str
    flash: str | None = None
    credential: str | None = None
    """A tag of the password/token the user logged in with: changing it ends the session."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role

    @property
    def may_act(self) -> bool:
        return self.role == "operator"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


# Compared against when the user name is unknown, so a wrong name costs the same time.
_NOBODY = _digest(secrets.token_hex(32))


class TowerAuth:
    """Checks credentials and reads/writes the session cookie for one running tower."""

    def __init__(self, settings: TowerSettings) -> None:
        self.settings = settings
        key = settings.session_secret.value if settings.session_secret else secrets.token_hex(32)
        self._serializer = URLSafeTimedSerializer(key, salt="intermodal-tower-session")
        self._key = key.encode()

    def credential_tag(self, user: TowerUser) -> str | None:
        """A keyed, non-reversible tag of the user's current password or token."""
        if user.secret is None:
            return None
        return hmac.new(self._key, _digest(user.secret.value), hashlib.sha256).hexdigest()[:32]

    def login(self, user: TowerUser) -> Session:
        """A fresh session for `user`: a new CSRF token, so a pre-login one is useless."""
        return Session(user.name, secrets.token_urlsafe(32), None, self.credential_tag(user))

    def check_login(self, name: str, credential: str) -> TowerUser | None:
        """The user when `credential` is their password or token; constant time either way.

        Both sides are hashed first, so neither the length nor the content of the stored
        secret shows in how long a wrong guess takes.
        """
        user = self.settings.users.get(name)
        expected = (
            _digest(user.secret.value) if user is not None and user.secret is not None else _NOBODY
        )
        matches = hmac.compare_digest(expected, _digest(credential))
        return user if matches and user is not None and user.secret is not None else None

    def operator(self, session: Session) -> Operator | None:
        if session.user is None:
            return None
        user = self.settings.users.get(session.user)
        if user is None:  # removed from the configuration since logging in
            return None
        tag = self.credential_tag(user)
        if tag is None or session.credential is None:
            return None
        if not hmac.compare_digest(tag, session.credential):  # password changed since
            return None
        return Operator(user.name, user.role)

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            value: Any = self._serializer.loads(raw, max_age=int(self.settings.session_seconds))
        except BadSignature:  # tampered, foreign or expired: start over
            return None
        if not isinstance(value, dict):
            return None
        user, csrf, flash, tag = value.get("u"), value.get("c"), value.get("f"), value.get("k")
        if (
            not isinstance(csrf, str)
            or not csrf
            or (user is not None and not isinstance(user, str))
        ):
            return None
        return Session(
            user,
            csrf,
            flash if isinstance(flash, str) else None,
            tag if isinstance(tag, str) else None,
        )

    def write(self, response: Response, session: Session) -> None:
        payload: dict[str, Any] = {"u": session.user, "c": session.csrf}
        if session.flash:
            payload["f"] = session.flash[:300]
        if session.credential:
            payload["k"] = session.credential
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(payload),
            max_age=int(self.settings.session_seconds),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie,
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie,
        )


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
