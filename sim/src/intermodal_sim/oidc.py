"""A small OpenID Connect provider, the company's identity provider as the control tower
sees it: discovery, JWKS, an authorization endpoint with a sign-in form, and a token
endpoint that issues RS256-signed ID tokens (joserfc, authlib's JOSE layer).

It is strict where a real provider is, so a test passing against it means something: the
client and its redirect URI must be registered, PKCE (S256) is required, a code is used
once, within a minute, by the client it was issued to, with the redirect URI and the
verifier of its request. Tests reach in through a few hooks: `claims_hook` changes what
the next ID tokens say (a wrong nonce, audience or issuer), `token_hook` changes the
signed token itself (tampering), and every token request is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_SECONDS = 60
TOKEN_SECONDS = 300


@dataclass(frozen=True)
class Account:
    """A person at the provider: what their ID token says about them."""

    subject: str
    email: str
    name: str
    groups: tuple[str, ...] = ()


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    account: Account
    nonce: str | None
    challenge: str
    scope: str
    issued: float


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636, 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _half_hash(value: str) -> str:
    """at_hash: the left half of the token's SHA-256, base64url (OpenID Connect 3.1.3.6)."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


@dataclass
class OidcProvider:
    """One provider with one registered client. Serve `app()` (e.g. with
    `intermodal_sim.testing.serve_in_thread`) and set `issuer` to the URL it got."""

    client_id: str
    client_secret: str | None
    accounts: dict[str, Account]
    redirect_uris: list[str] = field(default_factory=list)
    issuer: str = ""
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(
            2048, parameters={"kid": secrets.token_hex(4), "use": "sig", "alg": "RS256"}
        )
    )
    claims_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    token_hook: Callable[[str], str] | None = None
    token_requests: list[dict[str, str]] = field(default_factory=list)
    """Every token request's form, the client secret left out."""
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, _Grant] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize_form, methods=["GET"]),
                Route("/authorize", self._authorize, methods=["POST"]),
                Route("/token", self._token, methods=["POST"]),
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile", "groups"],
                "token_endpoint_auth_methods_supported": (
                    ["client_secret_basic", "client_secret_post"]
                    if self.client_secret
                    else ["none"]
                ),
                "grant_types_supported": ["authorization_code"],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    def _check_request(self, params: dict[str, str]) -> str | None:
        """Why an authorization request cannot go on to sign-in; None when it can."""
        if params.get("response_type") != "code":
            return "unsupported_response_type"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "invalid_request"  # PKCE is required
        return None

    def _registered(self, params: dict[str, str]) -> bool:
        return (
            params.get("client_id") == self.client_id
            and params.get("redirect_uri") in self.redirect_uris
        )

    async def _authorize_form(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if not self._registered(params):  # never redirect to an unknown address
            return HTMLResponse("<h1>unknown client or redirect URI</h1>", status_code=400)
        problem = self._check_request(params)
        if problem is not None:
            return _back(params, {"error": problem})
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        choices = "".join(
            f'<option value="{html.escape(login)}">{html.escape(account.email)}</option>'
            for login, account in self.accounts.items()
        )
        return HTMLResponse(
            "<!doctype html><title>Sign in</title><h1>Company sign-in</h1>"
            f'<form method="post" action="/authorize">{hidden}'
            f'<label>Account <select name="login">{choices}</select></label>'
            '<button type="submit">Sign in</button></form>'
        )

    async def _authorize(self, request: Request) -> Response:
        form = await _form(request)
        login = form.pop("login", "")
        if not self._registered(form):
            return HTMLResponse("<h1>unknown client or redirect URI</h1>", status_code=400)
        problem = self._check_request(form)
        if problem is not None:
            return _back(form, {"error": problem})
        account = self.accounts.get(login)
        if account is None:
            return _back(form, {"error": "access_denied"})
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(
            form["client_id"],
            form["redirect_uri"],
            account,
            form.get("nonce"),
            form["code_challenge"],
            form["scope"],
            time.time(),
        )
        return _back(form, {"code": code})

    async def _token(self, request: Request) -> Response:
        form = await _form(request)
        client_id, secret = _client_credentials(request, form)
        self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
        if client_id != self.client_id or (
            self.client_secret is not None
            and (secret is None or not secrets.compare_digest(secret, self.client_secret))
        ):
            return _error(401, "invalid_client", "unknown client or wrong secret")
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type", "only authorization_code")
        grant = self._codes.pop(form.get("code", ""), None)  # used once, even if refused
        if grant is None or time.time() - grant.issued > CODE_SECONDS:
            return _error(400, "invalid_grant", "unknown, used or expired code")
        if grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            return _error(400, "invalid_grant", "the code was issued to another client or URI")
        verifier = form.get("code_verifier", "")
        if not verifier or not secrets.compare_digest(s256(verifier), grant.challenge):
            return _error(400, "invalid_grant", "the PKCE verifier does not match")
        access_token = secrets.token_urlsafe(32)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS,
                "scope": grant.scope,
                "id_token": self.id_token(grant, access_token),
            },
            headers={"cache-control": "no-store"},
        )

    def id_token(self, grant: _Grant, access_token: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.account.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + TOKEN_SECONDS,
            "auth_time": now,
            "email": grant.account.email,
            "email_verified": True,
            "name": grant.account.name,
            "groups": list(grant.account.groups),
            "at_hash": _half_hash(access_token),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if self.claims_hook is not None:
            claims = self.claims_hook(claims)
        token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
        return self.token_hook(token) if self.token_hook is not None else token


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the hub does not ship python-multipart, which Starlette's own
    form parser needs); a repeated field keeps its first value."""
    fields: dict[str, str] = {}
    for key, value in parse_qsl((await request.body()).decode("utf-8", "replace")):
        fields.setdefault(key, value)
    return fields


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """client_secret_basic, else client_secret_post, else a public client's client_id."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return None, None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return form.get("client_id"), form.get("client_secret")


def _back(params: dict[str, str], answer: dict[str, str]) -> Response:
    """To the client's redirect URI with `answer` and the request's state."""
    if params.get("state"):
        answer = {**answer, "state": params["state"]}
    return RedirectResponse(f"{params['redirect_uri']}?{urlencode(answer)}", status_code=302)


def _error(status: int, error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
