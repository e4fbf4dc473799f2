"""Logging in to the control tower through the company's identity provider: OpenID
Connect's authorization code flow with PKCE, the role read from a group claim.

authlib (the OAuth/OpenID library most Python web frameworks' integrations build on,
maintained by Hsiaoming Yang) does the protocol: discovery, the authorization URL with
`state`, `nonce` and an S256 code challenge, the token request with the verifier, and the
ID token's checks (signature against the provider's JWKS, issuer, audience, expiry,
nonce, at_hash). This module only adds what is ours: where the pending login is kept
(the browser's signed pre-login cookie, `TowerAuth.write_prelogin`), the state check,
which algorithms an ID token may use, and the mapping of groups to a tower role.
"""

from __future__ import annotations

import hmac
import time
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import authlib.deprecate  # noqa: F401 - imported first: it asks to show every deprecation
from joserfc.errors import JoseError

with warnings.catch_warnings():
    # authlib 1.9 asks for httpx2 and falls back to httpx, the hub's pinned HTTP client,
    # with a deprecation warning at import: httpx is what the rest of the hub speaks.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.starlette_client import OAuth

from intermodal.config import TOWER_ROLES, TowerOidc, TowerOidcConfig, TowerRole
from intermodal.errors import Unauthorized

_SIGNING_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
"""What an ID token may be signed with: the provider's public keys only. `none` and the
HMAC family (keyed with the client secret, which the provider's JWKS does not hold) are
never accepted, whatever the discovery document lists."""

PENDING_SECONDS = 600
"""How long a login may stay at the provider before its state is refused."""


class OidcRefused(Unauthorized):
    """The login did not complete; the message is for the log (it holds no token or
    claim value), the person gets a general answer."""


@dataclass(frozen=True)
class OidcUser:
    name: str
    role: TowerRole
    subject: str


def role_from_claims(claims: Mapping[str, Any], config: TowerOidcConfig) -> TowerRole | None:
    """The highest role any of the user's groups maps to; None when none does.

    The claim may be one group or a list of them (providers differ); anything else in it
    (numbers, objects) is no group.
    """
    value = claims.get(config.role_claim)
    groups = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    roles = {config.roles[g] for g in groups if isinstance(g, str) and g in config.roles}
    for role in reversed(TOWER_ROLES):
        if role in roles:
            return role
    return None


def name_from_claims(claims: Mapping[str, Any], config: TowerOidcConfig) -> str | None:
    """The user's name as the tower shows it: the configured claim, a short printable
    string; None when the token has no usable one."""
    value = claims.get(config.name_claim)
    if not isinstance(value, str) or not 0 < len(value) <= 256:
        return None
    if any(unicodedata.category(c)[0] in "CZ" and c != " " for c in value):
        return None  # control characters, line breaks, odd spaces: not a name to show
    return value


class OidcLogin:
    """The tower's client at the identity provider (one per running tower: it keeps the
    discovery document and the signing keys it fetched)."""

    def __init__(self, settings: TowerOidc) -> None:
        self.config = settings.config
        secret = settings.client_secret.value if settings.client_secret else None
        client_kwargs: dict[str, Any] = {
            "scope": " ".join(self.config.scopes),
            "code_challenge_method": "S256",
            "timeout": 10.0,
        }
        if secret is None:  # a public client: PKCE alone
            client_kwargs["token_endpoint_auth_method"] = "none"  # noqa: S105 - a method name
        self.issuer = self.config.issuer.rstrip("/")
        self._client = OAuth().register(
            "tower",
            client_id=self.config.client_id,
            client_secret=secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs=client_kwargs,
        )

    async def _metadata(self) -> dict[str, Any]:
        try:
            metadata: dict[str, Any] = await self._client.load_server_metadata()
        except Exception as exc:  # the provider is down or answers nonsense
            raise OidcRefused(f"cannot read the provider's discovery document: {exc}") from None
        if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
            # OpenID Connect Discovery 4.3: a document naming another issuer is not this one's
            raise OidcRefused("the discovery document names another issuer")
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata["id_token_signing_alg_values_supported"] = [
            alg for alg in offered if alg in _SIGNING_ALGORITHMS
        ] or ["RS256"]
        return metadata

    async def begin(self, redirect_uri: str, target: str) -> tuple[str, dict[str, Any]]:
        """The provider's authorization URL, and what the browser keeps until it comes
        back (state, nonce, PKCE verifier, where to go after)."""
        await self._metadata()
        made = await self._client.create_authorization_url(redirect_uri)
        pending = {
            "state": made["state"],
            "nonce": made["nonce"],
            "verifier": made["code_verifier"],
            "redirect_uri": redirect_uri,
            "next": target,
            "started": time.time(),
        }
        return str(made["url"]), pending

    async def finish(self, query: Mapping[str, str], pending: Mapping[str, Any] | None) -> OidcUser:
        """Check the provider's answer against the pending login, redeem the code (with
        the PKCE verifier), check the ID token, and map its groups to a role."""
        if pending is None:
            raise OidcRefused("no login under way in this browser (or it expired)")
        started = pending.get("started")
        if not isinstance(started, int | float) or time.time() - started > PENDING_SECONDS:
            raise OidcRefused("the login took too long at the provider")
        if "error" in query:
            raise OidcRefused(f"the provider answered {query['error'][:64]!r}")
        state, expected = query.get("state", ""), str(pending.get("state", ""))
        if not expected or not hmac.compare_digest(state.encode(), expected.encode()):
            raise OidcRefused("the state does not match the login this browser started")
        code = query.get("code", "")
        if not code or len(code) > 2048:
            raise OidcRefused("the provider sent no code")
        await self._metadata()
        try:
            token = await self._client.fetch_access_token(
                redirect_uri=str(pending.get("redirect_uri", "")),
                code=code,
                code_verifier=str(pending.get("verifier", "")),
            )
            claims = await self._client.parse_id_token(
                token,
                nonce=str(pending.get("nonce", "")),
                claims_options={
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.config.client_id},
                    "exp": {"essential": True},
                    "nonce": {"essential": True},
                },
            )
        except (OAuthError, JoseError) as exc:
            raise OidcRefused(f"the token exchange or ID token was refused: {_why(exc)}") from None
        except Exception as exc:  # the network, a malformed answer
            raise OidcRefused(f"the token exchange failed: {type(exc).__name__}") from None
        if claims is None:
            raise OidcRefused("the provider sent no ID token")
        name = name_from_claims(claims, self.config)
        if name is None:
            raise OidcRefused(f"the ID token has no usable {self.config.name_claim!r} claim")
        role = role_from_claims(claims, self.config)
        subject = str(claims.get("sub", ""))[:256]
        if role is None:
            raise NoTowerRole(subject)
        return OidcUser(name, role, subject)


class NoTowerRole(OidcRefused):
    """Authenticated at the provider, but in no group the tower maps to a role."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"subject {subject!r} is in no group mapped to a tower role")
        self.subject = subject


def _why(exc: Exception) -> str:
    """An error's kind and description, without anything the provider echoed back."""
    error = getattr(exc, "error", None) or type(exc).__name__
    return str(error)[:80]
