"""Configuration: one YAML file plus `INTERMODAL_*` environment overrides, checked at start.

Everything the hub does differently per deployment is here: its partners and their
credentials (by reference, see `security.secrets`), which partner is the system of record
for which milestone, and where outgoing commands go. `load_config` reports every mistake
at once, each with its path in the file, so a newcomer fixes the file in one pass.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from intermodal.canonical.model import MilestoneType
from intermodal.connectors.odoo.sync.settings import SyncConfig
from intermodal.engine.apply import OwnershipPolicy
from intermodal.errors import ConfigurationError
from intermodal.ingress.vendor_signatures import PRESETS, VendorSignature
from intermodal.observe.logs import credential_parameter
from intermodal.security.passwords import (
    PasswordError,
    check_hash,
    credential_tag,
    hash_password,
    reference_salt,
)
from intermodal.security.secrets import Secret, SecretError, resolve_secret, webhook_key
from intermodal.security.tokens import TokenGrant, token_hash, weak_token_problem
from intermodal.workflows.notifications import NotifyEvent
from intermodal.workflows.reconcile.settings import ReconcileConfig
from intermodal.workflows.vocabulary import CaseKind
from intermodal.yaml_loader import load_yaml

PartnerName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
SecretRef = Annotated[str, StringConstraints(pattern=r"^(env|file):.+$")]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
SignatureKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
STANDARD_WEBHOOKS = "standard-webhooks"

DEFAULT_DATABASE = "sqlite:///var/intermodal.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


READ_SCOPE = "shipments:read"
WRITE_SCOPE = "events:write"


def _day_is_midnight_utc(value: Any) -> Any:
    """A plain date (`2027-03-31`, which YAML reads as a date, or the same quoted) is
    that day's start in UTC."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            return value  # pydantic names the field and the problem
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


class TokenConfig(_Strict):
    token: SecretRef
    scopes: list[Literal["events:write", "shipments:read"]] = ["events:write", "shipments:read"]
    customers: (
        Annotated[
            list[Annotated[str, StringConstraints(min_length=1, max_length=128)]],
            Field(min_length=1),
        ]
        | None
    ) = None
    """A customer portal's token: it reads only the shipments of these customers (their
    reference or name on the shipment's customer or bill-to party), not the ones its
    partner took part in."""
    expires_at: Annotated[AwareDatetime, BeforeValidator(_day_is_midnight_utc)] | None = None
    """From then on the token is refused (401, counted and audited as `expired`): a date,
    or a time with its zone (`2027-03-31T18:00:00Z`)."""


class PollConfig(_Strict):
    """Pull changes from a partner that cannot push them (Odoo without automation webhooks)."""

    endpoint: PartnerName
    """The endpoint whose connection (URL, database, credentials) the poller reuses."""
    interval_seconds: Annotated[float, Field(ge=1, le=86_400)] = 30.0
    overlap_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0


def _duration_seconds(value: Any) -> Any:
    """'90s', '30m', '48h', '2d' or a number of seconds, as seconds."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
        if match is None:
            raise ValueError("a duration is a number with s, m, h or d (e.g. '48h')")
        return (
            float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        )
    return value


Duration = Annotated[float, BeforeValidator(_duration_seconds), Field(gt=0, le=366 * 86400)]


class EdiConfig(_Strict):
    """How a partner exchanges EDI: its standard, how strict the hub is with its
    envelopes, whether received interchanges are acknowledged (997 / CONTRL) and where."""

    format: Literal["x12", "edifact"]
    mode: Literal["reject", "warn"] = "reject"
    ack: bool = False
    ack_endpoint: PartnerName | None = None
    """The endpoint (kind `edi`) acknowledgements are delivered to through the outbox."""
    inbox_folder: str | None = None
    """A folder the hub watches for this partner's files (relative to the config file)."""
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    control_numbers: Literal["reject", "reuse_after"] = "reject"
    """What a control number already used by this sender for a different interchange
    means: `reject` answers 409; `reuse_after` stores it as a new interchange once the
    earlier one is older than `control_number_reuse_after` (partners that roll over or
    reuse their numbers). Byte-identical resends are duplicates either way."""
    control_number_reuse_after: Duration | None = None
    """With `control_numbers: reuse_after`: how old ('30d', '12h') the latest interchange
    with that number must be before the number may be used again."""
    envelope: Literal["required", "optional"] = "required"
    """EDIFACT: `optional` also accepts bare messages (UNH..UNT without UNB/UNZ), read as
    one interchange from this partner and not answered by a CONTRL. X12 ignores it."""


class PartnerDocumentsConfig(_Strict):
    """A partner that sends documents (proofs of delivery, freight invoices): `{}` for
    HTTP only, or a folder the hub watches for its files."""

    inbox_folder: str | None = None
    """A folder the hub watches for this partner's documents (relative to the config file)."""
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 2.0


class SignatureConfig(_Strict):
    """How a partner signs its webhooks when it does not speak Standard Webhooks: a vendor
    `preset`, or `scheme: hmac` and the fields that describe it. Fields given next to a
    preset override the preset's (docs/partners.md, "Signature schemes")."""

    preset: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    """standard-webhooks, easypost, shopify, aftership or shippo."""
    scheme: Literal["standard-webhooks", "hmac"] | None = None
    header: HeaderName | None = None
    algorithm: Literal["sha1", "sha256", "sha512"] | None = None
    encoding: Literal["hex", "base64"] | None = None
    prefix: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    signed: Literal["body", "timestamp.body"] | None = None
    timestamp_header: HeaderName | None = None
    timestamp_key: SignatureKey | None = None
    signature_key: SignatureKey | None = None
    tolerance_seconds: Annotated[int, Field(ge=1, le=86_400)] | None = None
    secret_normalization: Literal["none", "nfkd"] | None = None
    id_header: HeaderName | None = None


class RateLimitConfig(_Strict):
    """A partner's ingress budget: `per_second` requests on average, up to `burst` at once
    (a token bucket). Absent: no limit (see docs/security.md, "Pages and rate limits")."""

    per_second: Annotated[float, Field(gt=0, le=1_000_000)]
    burst: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    """Requests taken at once after a quiet spell; default: one second's worth."""

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else max(1, math.ceil(self.per_second))


class PositionsConfig(_Strict):
    """How the hub keeps a partner's telematics fixes (foresight/positions.py): the thinned
    track, and the fixes it refuses. Defaults suit trucks on roads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    track_interval: Duration = 300.0
    """A track point at least this often ('5m') while the vehicle stands still..."""
    track_distance_km: Annotated[float, Field(gt=0, le=1000)] = 2.0
    """...and at least every this many kilometres while it moves."""
    max_speed_kmh: Annotated[float, Field(gt=0, le=2000)] = 200.0
    """A fix implying a faster move from the fixes beside it is refused (a GPS jump)."""
    max_accuracy_m: Annotated[float, Field(gt=0, le=1_000_000)] = 250.0
    """A fix less sure than this (its accuracy radius, metres) is refused."""
    jump_slack_m: Annotated[float, Field(ge=0, le=100_000)] = 50.0
    """Jitter forgiven before speed is implied: two fixes seconds apart are metres apart."""
    future_tolerance: Duration = 300.0
    """How far ahead of the hub's clock a fix may be (device clocks drift) before it is
    refused: a fix from the future would hold the latest position forever."""


class PartnerConfig(_Strict):
    """A partner: who it is, how it proves it, and which milestones it is the record for."""

    kind: Literal[
        "carrier", "tms", "wms", "customs", "portal", "odoo", "billing", "telematics", "other"
    ] = "other"
    webhook_secrets: list[SecretRef] = []
    tokens: list[TokenConfig] = []
    owns: list[MilestoneType] = []
    poll: PollConfig | None = None
    mapping: str | None = None
    """The partner's inbound mapping (YAML, relative to the config file)."""
    edi: EdiConfig | None = None
    signature: SignatureConfig | None = None
    """How its webhooks are signed; absent: Standard Webhooks."""
    rate_limit: RateLimitConfig | None = None
    """Requests per second it may send to the ingress routes (webhooks, batches, EDI);
    more are answered 429 with Retry-After. Absent: unlimited."""
    positions: PositionsConfig = PositionsConfig()
    """How its position fixes are kept (any partner may send them; `telematics` ones do)."""
    documents: PartnerDocumentsConfig | None = None
    """It sends proofs of delivery and freight invoices (`POST /v1/documents/{partner}`,
    or a watched folder); absent: it sends none (docs/visibility.md, "Documents")."""


def _no_credentials_in_url(url: str) -> str:
    """Refuse a URL that carries credentials: the configuration file would hold them in
    clear, and every line and span naming the endpoint would carry them."""
    for server in url.split(","):  # a nats endpoint lists its servers
        try:
            parts = urlsplit(server.strip())
        except ValueError:
            raise PydanticCustomError("url", "not a URL") from None
        if "@" in parts.netloc:
            raise PydanticCustomError(
                "credentials_in_url",
                "no credentials in the URL (user:password@); give them as env: or file:"
                " references: a webhook's options.headers, the other kinds' own options",
            )
        query = parse_qsl(parts.query, keep_blank_values=True)
        named = sorted({name for name, _ in query if credential_parameter(name)})
        if named:
            raise PydanticCustomError(
                "credentials_in_url",
                "no credentials in the URL's query ({named}); send them as a header from"
                " an env: or file: reference (a webhook's options.headers)",
                {"named": ", ".join(named)},
            )
    return url


class EndpointConfig(_Strict):
    """Where outgoing commands go. `webhook` (the default) posts signed CloudEvents; other
    kinds (e.g. `odoo`) are provided by connectors and read their own `options`."""

    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = "webhook"
    url: Annotated[
        str,
        StringConstraints(pattern=r"^(https?|nats|tls)://.+"),
        AfterValidator(_no_credentials_in_url),
    ]
    """http(s):// for every kind but `nats`, whose servers are nats:// or tls://. Never
    with credentials (`user:password@`, `?api_key=`): they come as references."""
    options: dict[str, Any] = {}
    secret: SecretRef | None = None
    milestones: list[MilestoneType] | None = None
    secrets: list[SecretRef] = []
    """More signing secrets (rotation): each signs, one `v1,` entry per secret."""
    events: list[NotifyEvent] | None = None
    """What this subscriber receives (default: milestones only)."""
    subjects: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] | None = None
    """Shell-style patterns on the shipment key (`SHP-*`)."""
    customers: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] | None = None
    """Customer references or names on the shipment (parties customer/bill_to)."""
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    rate_per_second: Annotated[float, Field(gt=0, le=100_000)] = 200.0
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 1


class DeliveryConfig(_Strict):
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 10
    backoff_base_seconds: Annotated[float, Field(gt=0, le=3600)] = 0.5
    backoff_max_seconds: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    breaker_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    breaker_reset_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16
    # How long a claimed command is reserved for the process that claimed it. After a
    # crash, its claimed commands (and later ones for the same shipment) wait this long
    # before another pass may deliver them; keep it above the longest delivery pass.
    lease_seconds: Annotated[float, Field(gt=0, le=3600)] = 120.0
    keep_delivered: Duration | None = 30 * 86400.0
    """How long a delivered command stays in the outbox ('30d', '12h' or seconds); the hub
    deletes older ones hourly (outbox/retention.py). `null` keeps them all."""


MAX_DEFAULT_WORKERS = 8
MIN_CORES_FOR_WORKERS = 4


def default_workers() -> int:
    """The cores this process may run on (its affinity, e.g. a container's cpuset), at
    most `MAX_DEFAULT_WORKERS`: beyond that the store, not ingest, bounds a node (on 16
    cores 4 workers answered more than 8, BENCHMARKS.md). One below
    `MIN_CORES_FOR_WORKERS`: one worker and its applier already keep two cores busy, and
    on two cores a second worker answered fewer webhooks, not more."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if cores < MIN_CORES_FOR_WORKERS:
        return 1
    return min(cores, MAX_DEFAULT_WORKERS)


class LimitsConfig(_Strict):
    """What one HTTP client may hold of the server (`hub.limits`; api/limits.py).

    The defaults suit partners that are machines posting webhooks of a few KiB: a
    signed webhook's headers take well under 2 KiB, and a sender that needs more than 10 s
    for its headers or 30 s for its body is stuck or hostile. Behind a reverse proxy every
    client has the proxy's address: raise `max_connections_per_client` to what the proxy
    opens, or set it to null."""

    max_header_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 16 * 1024
    """The request line and all header fields together; more is a 431."""
    max_headers: Annotated[int, Field(ge=8, le=1000)] = 100
    """Header fields in one request; more is a 431."""
    header_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    """From a request's first byte (a connection's opening, for its first request) to the
    end of its headers; later is a 408 and the connection closed."""
    body_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """From the end of the headers to the end of the body; later is a 408 and a close."""
    keep_alive_seconds: Annotated[int, Field(ge=1, le=300)] = 5
    """How long an idle connection is kept open between requests."""
    max_connections_per_client: Annotated[int, Field(ge=1, le=1_000_000)] | None = 128
    """Open connections from one client address, per server process (`hub.workers`
    processes share a port: a client may hold this many on each); one more is a 429.
    null: no cap."""


class HubConfig(_Strict):
    database: str = DEFAULT_DATABASE
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    signature_tolerance_seconds: Annotated[int, Field(ge=1, le=86_400)] = 300
    max_body_bytes: Annotated[int, Field(ge=1024, le=256 * 1024 * 1024)] = 16 * 1024 * 1024
    max_batch_events: Annotated[int, Field(ge=1, le=100_000)] = 10_000
    admin_token: SecretRef | None = None
    metrics_public: bool = False
    """Serve `/metrics` without credentials (a scraper on a private network). Off: a scrape
    needs the admin token or a control-tower session, like every other read."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    applier: Literal["auto", "thread", "process"] = "auto"
    """Where the applier runs. `process`: a child process of its own, so ingest and apply
    each get a core (what `intermodal serve` does under `auto`); `thread`: inside the
    hub's process (what an embedded hub, e.g. in tests, does under `auto`)."""
    lease_seconds: Annotated[float, Field(ge=1, le=300)] = 10.0
    """How long the leader's lease lasts unrenewed (renewed every third of it): when the
    node running the singletons (timers, pollers, sync, reconciliation, retention) dies,
    another takes them over within this time (docs/operations.md)."""
    workers: Annotated[int, Field(ge=1, le=64)] = Field(default_factory=lambda: default_workers())
    """How many ingest processes `intermodal serve` runs on its port (intermodal/serve.py);
    default: the cores this process may use, at most 8, and one below four cores. An
    embedded hub ignores it."""
    appliers: Annotated[int, Field(ge=1, le=64)] | None = None
    """How many applier processes `intermodal serve` runs on this node, each holding a
    share of the partitions (engine/partitions.py); default: one per four workers, at
    least one. Nodes on one PostgreSQL database share the partitions among all their
    appliers."""
    ingest_commits: Annotated[int, Field(ge=1, le=16)] = 2
    """On PostgreSQL, how many group commits each worker keeps open at once: one group is
    inserted while the one before waits for its commit. SQLite takes one writer at a time,
    so there it is always one (engine/inbox.py, `GroupCommitter`)."""
    partitions: Annotated[int, Field(ge=1, le=4096)] = 64
    """How many partitions the shipments are hashed into: the most appliers that can
    apply side by side. The same on every node; change it only with an empty inbox."""
    audit_key: SecretRef | None = None
    """The key of the audit chains' HMACs (at least 32 characters), kept where the
    database's users cannot read it: without it, anyone who can write the audit table can
    append rows with correctly computed hashes or delete a chain's newest rows unseen
    (docs/security.md, "Audit chain")."""
    audit_previous_keys: list[SecretRef] = []
    """Retired audit keys, to verify the rows and checkpoints they signed."""
    audit_checkpoint: Path = Path("var/audit-checkpoint.json")
    """Where the leader writes the signed checkpoint of each chain's newest row (relative
    to the working directory, like the default database); `intermodal audit verify`
    compares the table with it. Keep it where the database's users cannot write."""
    audit_checkpoint_seconds: Annotated[float, Field(ge=1, le=86_400)] = 60.0
    """How often the leader writes the checkpoint: rows newer than the last checkpoint
    can still be deleted unseen."""
    limits: LimitsConfig = LimitsConfig()
    """Header size and count, read timeouts and connections per client (api/limits.py)."""

    def applier_count(self) -> int:
        """`appliers`, or its default for `workers`."""
        return self.appliers if self.appliers is not None else max(1, self.workers // 4)


TowerRole = Literal["viewer", "operator", "admin"]
TOWER_ROLES: tuple[TowerRole, ...] = ("viewer", "operator", "admin")
"""Lowest first: each role may do what the ones before it may."""


class TowerUserConfig(_Strict):
    """An operator of the control tower: a role and exactly one credential."""

    role: TowerRole = "viewer"
    password_hash: str | None = None
    """An argon2id hash (`intermodal tower hash-password`): the file then holds no secret
    and no reference to one. Preferred over `password`."""
    password: SecretRef | None = None
    token: SecretRef | None = None


class TowerLockoutConfig(_Strict):
    """Back-off after failed logins, counted per account and per client address in the
    store (so every worker and node shares the count)."""

    after_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    """Failures (in a row, none forgotten yet) before logins are refused for a while."""
    first_seconds: Annotated[float, Field(gt=0, le=86_400)] = 30.0
    """The first refusal window; each failure after that doubles it."""
    max_seconds: Annotated[float, Field(gt=0, le=86_400)] = 900.0
    """The longest window."""
    forget_seconds: Annotated[float, Field(gt=0, le=30 * 86_400)] = 3600.0
    """A count with no failure for this long starts over."""


class TowerOidcConfig(_Strict):
    """Login through the company's identity provider (OpenID Connect, authorization code
    flow with PKCE); the role comes from a claim of the ID token."""

    issuer: Annotated[str, StringConstraints(pattern=r"^https?://[^\s?#]+$")]
    """The provider's issuer URL; its discovery document is at
    `<issuer>/.well-known/openid-configuration`."""
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    client_secret: SecretRef | None = None
    """None for a public client (PKCE alone); otherwise sent as client_secret_basic."""
    scopes: list[Annotated[str, StringConstraints(pattern=r"^[!#-\[\]-~]{1,64}$")]] = [
        "openid",
        "email",
        "profile",
    ]
    name_claim: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "email"
    """The ID token claim shown as the user's name (and by which sessions are ended)."""
    role_claim: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "groups"
    """The claim holding a group name or a list of them."""
    roles: dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], TowerRole]
    """Group (claim value) -> role; a user in several groups gets the highest role, one
    in none is refused."""
    label: Annotated[str, StringConstraints(min_length=1, max_length=80)] = "Company login"
    """The login page's button."""
    redirect_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s?#]+$")] | None = None
    """The callback URL registered at the provider (`.../tower/login/oidc/callback`);
    by default built from the request, which is right unless a proxy rewrites Host."""


class TowerConfig(_Strict):
    """The control tower (operator web UI under /tower/); off when absent."""

    users: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,64}$")], TowerUserConfig
    ] = {}
    session_secret: SecretRef | None = None
    """No longer used (sessions live in the store); refused with a message saying so."""
    idle_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 30.0
    """A session unused this long ends."""
    session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 12.0
    """A session ends this long after login however busy it is."""
    secure_cookie: bool = False
    """Mark the session cookie Secure (set it when the tower is served over HTTPS)."""
    lockout: TowerLockoutConfig = TowerLockoutConfig()
    oidc: TowerOidcConfig | None = None


class WorkflowRoles(_Strict):
    """Which endpoint plays which part in the flows (an endpoint name each)."""

    odoo: PartnerName | None = None
    """An `odoo` endpoint: picking updates, chatter notes, activities, invoices."""
    tms: PartnerName | None = None
    """Where dispatch jobs go: a `webhook` endpoint (tms_mode rest) or `edi` (tms_mode x12)."""
    tms_mode: Literal["rest", "x12"] = "rest"
    notify: PartnerName | None = None
    """A `webhook` endpoint that receives customer notifications (`intermodal.notify`)."""
    customs: PartnerName | None = None
    """A `webhook` endpoint (the customs broker) that receives customs filings for
    cross-border shipments (`intermodal.customs.filing`)."""


class TenderX12Config(_Strict):
    """Envelope identities of the X12 204 load tenders sent to the TMS."""

    sender_qualifier: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2}$")] = "ZZ"
    sender_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,15}$")] = "INTERMODAL"
    receiver_qualifier: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2}$")] = "ZZ"
    receiver_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,15}$")] = "TMS"
    scac: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,4}$")] = "XXXX"


class ServiceLevelConfig(_Strict):
    """Expected-by offsets per milestone, counted from the booking (or from the
    next day's midnight UTC when booked after the cut-off time)."""

    expected: dict[MilestoneType, Duration] = {}
    cutoff: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = (
        None
    )


class BillingConfig(_Strict):
    """How customer invoices are made."""

    post: bool = True
    """Post the invoice in Odoo (true) or leave it draft for an accountant (false)."""
    hold_on_dispute: bool = True
    """A final freight charge above the quote by more than the tolerance holds the invoice."""
    tolerance_percent: Annotated[float, Field(ge=0, le=1000)] = 2.0
    partner_tolerance_percent: dict[PartnerName, Annotated[float, Field(ge=0, le=1000)]] = {}
    """Per partner (the one that sent the final charge) overrides of `tolerance_percent`."""
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    # -- products and late charges (connectors/odoo/mappings/account_move.py) --
    products: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")],
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")],
    ] = {}
    """Charge code, or charge kind (freight, fuel, duty...), -> the internal reference of
    the Odoo product its invoice line is: Odoo then takes the line's income account and
    taxes from the product and the customer's fiscal position. The code wins over the kind;
    a charge with neither has no product (the journal's account, no taxes)."""
    late_charges: Literal["amend", "separate", "report"] = "amend"
    """A final charge that changes an invoice already sent: `amend` adds it to the invoice
    while it is a draft in Odoo, else bills the difference with a supplementary invoice
    (more) or a credit note (less); `separate` always makes that separate document;
    `report` leaves it to reconciliation."""


class WorkflowsConfig(_Strict):
    """The order-to-cash flows (see docs/flows.md). Absent: no flows run."""

    flows: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]] | None = None
    """Which of the flow files run (default: all of them)."""
    roles: WorkflowRoles = WorkflowRoles()
    teams: dict[CaseKind, Annotated[str, StringConstraints(min_length=1, max_length=64)]] = {}
    """The team that owns each kind of case (default: operations; billing for disputes)."""
    service_levels: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64)], ServiceLevelConfig
    ] = {}
    default_service_level: str | None = None
    billing: BillingConfig = BillingConfig()
    tender_x12: TenderX12Config = TenderX12Config()
    timer_poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0


# -- foresight: anomalies in partners' event streams, classification of exception texts ------
# (foresight/anomalies.py and foresight/classify.py; docs/visibility.md says what each does)
Minutes = Annotated[float, Field(gt=0, le=366 * 24 * 60)]
CLASSIFY_LABELS_DEFAULT: tuple[CaseKind, ...] = (
    "delivery_failed", "carrier_exception", "customs_hold", "billing_dispute", "sla_breach",
)  # fmt: skip


class QuietPartnerConfig(_Strict):
    """A partner that sends nothing for far longer than its usual gap between messages."""

    enabled: bool = True
    factor: Annotated[float, Field(ge=1, le=1000)] = 3.0
    """Raised when the silence is longer than `factor` times its p99 gap ..."""
    min_gap_minutes: Minutes = 15.0
    """... and longer than this (a chatty partner's p99 gap of seconds is no alarm)."""
    min_expected: Annotated[float, Field(ge=0, le=1_000_000)] = 5.0
    """Messages its usual rate at these hours of the day would have brought in the silence:
    below this, the partner is usually quiet now (nights, weekends) and nothing is raised."""
    min_messages: Annotated[int, Field(ge=2, le=10_000_000)] = 50
    sample: Annotated[int, Field(ge=10, le=10_000_000)] = 5000
    """The newest messages per partner whose gaps are measured."""


class BurstConfig(_Strict):
    """Exceptions per partner and per lane in the last window, far above their usual count."""

    enabled: bool = True
    window_minutes: Minutes = 60.0
    z: Annotated[float, Field(gt=0, le=1000)] = 6.0
    """Robust z-score: (count - usual) / spread, usual the larger of the windows' median and
    EWMA, spread 1.4826 MAD with a Poisson floor (sqrt of the usual count, at least 1)."""
    min_count: Annotated[int, Field(ge=1, le=1_000_000)] = 5
    min_windows: Annotated[int, Field(ge=2, le=100_000)] = 24
    """Past windows needed before a key is judged at all."""
    milestones: list[MilestoneType] = [MilestoneType.EXCEPTION, MilestoneType.DELIVERY_FAILED]
    ewma_alpha: Annotated[float, Field(gt=0, le=1)] = 0.1


class DwellConfig(_Strict):
    """A shipment sitting at a milestone far longer than shipments of its lane usually do."""

    enabled: bool = True
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.95
    factor: Annotated[float, Field(ge=1, le=1000)] = 2.0
    """Raised when the dwell is longer than `factor` times the lane's `quantile` dwell ..."""
    min_dwell_minutes: Minutes = 60.0
    """... and longer than this."""
    min_samples: Annotated[int, Field(ge=2, le=1_000_000)] = 20
    """Past dwells a lane needs at that milestone; with fewer, the milestone's dwells on
    every lane are the measure, and with fewer of those nothing is raised."""


class OrderConfig(_Strict):
    """A carrier reporting milestones out of the order it usually reports them in."""

    enabled: bool = True
    window_minutes: Minutes = 60.0
    usual: Annotated[float, Field(gt=0.5, le=1)] = 0.95
    """Milestone a is usually before b when at least this share of the shipments that got
    both from the carrier got a first."""
    min_support: Annotated[int, Field(ge=1, le=1_000_000)] = 20
    """Shipments a pair needs before its usual order counts."""
    min_count: Annotated[int, Field(ge=1, le=1_000_000)] = 3
    factor: Annotated[float, Field(ge=1, le=1_000_000)] = 5.0
    """Raised when the window's share of reports out of order is `factor` times the usual."""


class AnomaliesConfig(_Strict):
    """The anomaly detectors (foresight/anomalies.py): a leader job every `interval_seconds`."""

    enabled: bool = True
    interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 60.0
    history_days: Annotated[float, Field(gt=0, le=366)] = 14.0
    min_history_hours: Annotated[float, Field(ge=0, le=366 * 24)] = 24.0
    """A partner (or lane, or carrier) seen for less than this gets no case."""
    max_reports: Annotated[int, Field(ge=100, le=100_000_000)] = 200_000
    """The newest milestone events read per pass."""
    lane_by: Literal["country", "city"] = "country"
    quiet: QuietPartnerConfig = QuietPartnerConfig()
    bursts: BurstConfig = BurstConfig()
    dwell: DwellConfig = DwellConfig()
    order: OrderConfig = OrderConfig()


def _classify_labels(labels: list[str]) -> list[str]:
    """A text is classified among at least two kinds, none of them the detectors' own."""
    if "anomaly" in labels:
        raise ValueError("'anomaly' cases come from the detectors, not from exception texts")
    if len(set(labels)) < 2:
        raise ValueError("name at least two case kinds to choose between")
    return list(dict.fromkeys(labels))


class ClassifyConfig(_Strict):
    """Exception texts -> case kind, owner and next step (foresight/classify.py)."""

    enabled: bool = True
    interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 60.0
    kinds: list[CaseKind] = ["delivery_failed", "carrier_exception", "customs_hold"]
    """The cases whose text is classified (those opened from a partner's milestone)."""
    labels: Annotated[list[CaseKind], AfterValidator(_classify_labels)] = list(
        CLASSIFY_LABELS_DEFAULT
    )
    """What a text can be classified as (and what the learned model learns)."""
    retrain_hours: Annotated[float, Field(gt=0, le=24 * 366)] = 24.0
    min_training_cases: Annotated[int, Field(ge=10, le=10_000_000)] = 50
    """Cases closed by a person (with their final kind) before a model is trained."""
    holdout_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.25
    margin: Annotated[float, Field(ge=0, le=1)] = 0.0
    """The model decides only when its held-out accuracy beats the rules' by more than this."""
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.9
    """Below this probability the model defers to a code or keyword rule that matched (the
    model knows the wordings it was trained on; the rules were written for new ones)."""
    max_training_cases: Annotated[int, Field(ge=10, le=10_000_000)] = 50_000


class InvoiceToleranceConfig(_Strict):
    """How far a freight invoice may differ from the shipment's quote and the carrier's
    210 before a billing_dispute case opens: a difference within the larger of the two
    allowances is accepted (a few cents on a small invoice, a rounding on a large one)."""

    absolute: Annotated[float, Field(ge=0, le=1_000_000)] = 5.0
    """In the invoice's currency."""
    percent: Annotated[float, Field(ge=0, le=1000)] = 2.0
    """Of the amount it is compared with."""


class DocumentsConfig(_Strict):
    """Documents read for the operators (docs/visibility.md, "Documents"): limits on what
    is taken, the time and memory one reading may use, and the invoice tolerance."""

    max_bytes: Annotated[int, Field(ge=1024, le=256 * 1024 * 1024)] = 20 * 1024 * 1024
    """A larger file is answered 413 (and a larger file in a folder is moved to rejected/)."""
    max_pixels: Annotated[int, Field(ge=10_000, le=400_000_000)] = 40_000_000
    """An image (or a page image inside a PDF) with more pixels is refused: a small file
    can declare a huge picture (a decompression bomb)."""
    max_pages: Annotated[int, Field(ge=1, le=500)] = 20
    """Pages read of one PDF; the rest are named as not read."""
    read_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    """The time budget of one reading (text, OCR, extraction): past it the reading
    process is stopped and the document is marked unreadable, never retried by itself."""
    memory_mb: Annotated[int, Field(ge=256, le=65_536)] = 3072
    """The reading process's address space: a hostile file that makes it grow past this
    fails its reading, not the hub."""
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    """How often the reader looks for documents not yet read."""
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.6
    """Below this confidence a reading asserts nothing: its fields are kept for a person
    (status `incomplete`), not applied as events or used to open a dispute."""
    invoice_tolerance: InvoiceToleranceConfig = InvoiceToleranceConfig()


class TelemetryConfig(_Strict):
    """Traces and the cost of the scrape-time gauges (docs/operations.md).

    Traces are exported over OTLP/HTTP when `otlp_endpoint` (or the standard
    OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variable) is set;
    otherwise tracing is off and costs nothing.
    """

    otlp_endpoint: Annotated[str, StringConstraints(pattern=r"^https?://.+")] | None = None
    service_name: Annotated[str, StringConstraints(min_length=1, max_length=128)] = "intermodal"
    sample_ratio: Annotated[float, Field(ge=0, le=1)] = 1.0
    metrics_cache_seconds: Annotated[float, Field(ge=0, le=3600)] = 5.0
    """How long the business gauges (cases, not invoiced, freshness) are reused between scrapes."""


# -- foresight: arrival times and early warning (foresight/eta*.py, foresight/warnings.py) --
class EtaModelConfig(_Strict):
    """The learned arrival-time model (foresight/eta_model.py): retrained by the leader on
    the hub's delivered shipments, used only while it beats the baseline on held-out
    history."""

    enabled: bool = True
    retrain_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 24.0
    """How often the leader trains a new version (and once shortly after it starts leading
    when there is no version yet)."""
    history_days: Annotated[float, Field(gt=0, le=3650)] = 90.0
    """How far back delivered shipments are read to train on."""
    min_trips: Annotated[int, Field(ge=10, le=10_000_000)] = 200
    """Delivered trips (with placeable stops) needed before a model is trained."""
    held_out: Annotated[float, Field(gt=0, lt=1)] = 0.2
    """The newest share of trips kept out of training to judge the model on."""
    min_gain: Annotated[float, Field(ge=0, lt=1)] = 0.05
    """How much lower than the baseline's the held-out MAE must be (a share)."""
    max_iter: Annotated[int, Field(ge=10, le=5000)] = 300
    threads: Annotated[int, Field(ge=1, le=256)] = 1
    """CPU threads a training may use (the leader trains beside its appliers)."""


class EtaConfig(_Strict):
    """Arrival times per active shipment (docs/visibility.md#arrival-times)."""

    enabled: bool = True
    refresh_seconds: Annotated[float, Field(ge=1, le=3600)] = 60.0
    default_speed_kmh: Annotated[float, Field(gt=0, le=150)] = 65.0
    """The baseline's speed on a lane with no history and a truck with no recent speed."""
    min_speed_kmh: Annotated[float, Field(ge=0, le=150)] = 15.0
    """A recent speed below this is a truck standing, not its pace: the lane's speed is used."""
    dwell_per_stop_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 30.0
    baseline_low: Annotated[float, Field(gt=0, le=1)] = 0.85
    baseline_high: Annotated[float, Field(ge=1, le=20)] = 1.5
    """The baseline's interval as factors of its minutes, until a training calibrates it."""
    change_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = 30.0
    """An ETA that moves by at least this much from the one last sent is sent again."""
    odoo: Literal["scheduled_date", "off"] = "scheduled_date"
    """What a changed ETA does in Odoo: the delivery's `scheduled_date`, or nothing."""
    notify: bool = True
    """Tell customers: the `notify` role and endpoints subscribed to `eta.changed`."""
    model: EtaModelConfig = EtaModelConfig()


class EarlyWarningConfig(_Strict):
    """`predicted_delay` cases before an SLA breach (docs/visibility.md#early-warning)."""

    enabled: bool = True
    confidence: Literal["p10", "p50"] = "p10"
    """Which arrival must pass the deadline to warn: p10 (the early end of the interval,
    so 90% sure) or p50 (the ETA itself, more warnings, earlier, less sure)."""
    open_margin_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 0.0
    open_after: Annotated[int, Field(ge=1, le=100)] = 1
    """Refreshes in a row past the deadline before the case opens."""
    close_margin_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 15.0
    """The ETA must be this much before the deadline for the warning to count as recovered."""
    close_after: Annotated[int, Field(ge=1, le=100)] = 2
    """Refreshes in a row recovered before the case closes."""
    odoo_activity: bool = True
    notify: bool = True


class ForesightConfig(_Strict):
    """The foresight assists (docs/visibility.md); absent: none runs. Each has its
    `enabled` switch."""

    eta: EtaConfig = EtaConfig()
    warnings: EarlyWarningConfig = EarlyWarningConfig()
    anomalies: AnomaliesConfig = AnomaliesConfig()
    classify: ClassifyConfig = ClassifyConfig()

    @model_validator(mode="after")
    def _warnings_need_etas(self) -> ForesightConfig:
        if self.warnings.enabled and not self.eta.enabled:
            raise ValueError("warnings.enabled needs eta.enabled: warnings are read from ETAs")
        return self


# -- end of foresight: arrival times and early warning --


class FileConfig(_Strict):
    hub: HubConfig = HubConfig()
    partners: dict[PartnerName, PartnerConfig] = {}
    endpoints: dict[PartnerName, EndpointConfig] = {}
    delivery: DeliveryConfig = DeliveryConfig()
    sync: SyncConfig | None = None  # master-data sync from Odoo
    reconcile: ReconcileConfig | None = None  # scheduled reconciliation
    telemetry: TelemetryConfig = TelemetryConfig()
    tower: TowerConfig | None = None
    workflows: WorkflowsConfig | None = None
    foresight: ForesightConfig | None = None  # the assists: docs/visibility.md
    documents: DocumentsConfig = DocumentsConfig()


@dataclass(frozen=True)
class Partner:
    name: str
    kind: str
    webhook_keys: tuple[bytes, ...]
    """The HMAC keys of its active webhook secrets, derived as its signature scheme says."""
    owns: frozenset[MilestoneType]
    poll: PollConfig | None = None
    mapping: Path | None = None  # resolved against the config file's folder
    edi: EdiConfig | None = None
    inbox_folder: Path | None = None  # edi.inbox_folder, resolved likewise
    signature: VendorSignature | None = None
    """How its webhooks are signed; None: Standard Webhooks."""
    rate_limit: RateLimitConfig | None = None
    """Its ingress budget per process (ingress.rate_limit); None: unlimited."""
    positions: PositionsConfig = dataclasses.field(default_factory=PositionsConfig)
    """How its position fixes are kept (foresight/positions.py)."""
    documents: PartnerDocumentsConfig | None = None
    """It sends documents (ingress/documents.py); None: it sends none."""
    documents_folder: Path | None = None  # documents.inbox_folder, resolved


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: str
    url: str
    secret_key: bytes | None
    milestones: frozenset[MilestoneType] | None
    max_attempts: int
    rate_per_second: float
    timeout_seconds: float
    batch_size: int
    options: dict[str, Any]
    base_dir: Path | None = None
    """The configuration file's folder: relative `file:` secrets in `options` start here."""
    secret_keys: tuple[bytes, ...] = ()
    """Every active signing key (`secret` first, then `secrets`)."""
    events: frozenset[str] | None = None
    subjects: tuple[str, ...] | None = None
    customers: frozenset[str] | None = None

    @property
    def signing_keys(self) -> tuple[bytes, ...]:
        """Every key to sign an outgoing message with: a receiver in the middle of a
        rotation accepts any of them (one `v1,` signature each in the header)."""
        if self.secret_keys:
            return self.secret_keys
        return (self.secret_key,) if self.secret_key is not None else ()


@dataclass(frozen=True)
class TowerUser:
    name: str
    role: TowerRole
    password_hash: str | None
    """argon2id; None only when secrets were not resolved (offline commands)."""

    @property
    def credential(self) -> str | None:
        """The tag of the current hash each session keeps: a new password ends them."""
        return credential_tag(self.password_hash) if self.password_hash else None


@dataclass(frozen=True)
class TowerOidc:
    """`tower.oidc` with its client secret resolved."""

    config: TowerOidcConfig
    client_secret: Secret | None


@dataclass(frozen=True)
class TowerSettings:
    users: dict[str, TowerUser]
    idle_seconds: float = 30 * 60.0
    session_seconds: float = 12 * 3600.0
    secure_cookie: bool = False
    lockout: TowerLockoutConfig = dataclasses.field(default_factory=TowerLockoutConfig)
    oidc: TowerOidc | None = None


@dataclass(frozen=True)
class Settings:
    """The validated, resolved configuration the running hub uses."""

    hub: HubConfig
    delivery: DeliveryConfig
    partners: dict[str, Partner]
    endpoints: dict[str, Endpoint]
    tokens: dict[str, TokenGrant]
    """sha256(token) -> what the configured token grants (security/tokens.py): lookups
    never compare secrets directly."""
    admin_token: Secret | None
    ownership: OwnershipPolicy
    source: Path | None = None
    sync: SyncConfig | None = None
    """The `sync` section; None: no scheduled master-data sync."""
    reconcile: ReconcileConfig | None = None
    """The `reconcile` section; None: no scheduled reconciliation."""
    telemetry: TelemetryConfig | None = None
    """The `telemetry` section (None: defaults)."""
    tower: TowerSettings | None = None
    """The control tower's users and session settings; None = tower off."""
    workflows: WorkflowsConfig | None = None
    """None when the file has no `workflows` section: no flows run."""
    audit_key: Secret | None = None
    """`hub.audit_key`, resolved; None without one, or when secrets were not resolved."""
    audit_previous_keys: tuple[Secret, ...] = ()
    foresight: ForesightConfig | None = None
    """The `foresight` section; None: no assist runs (no ETAs, warnings, anomaly detection
    or exception classification)."""
    documents: DocumentsConfig = dataclasses.field(default_factory=DocumentsConfig)
    """Limits and tolerance of the documents read (foresight/documents*.py)."""


class ConfigError(ConfigurationError, ValueError):
    """Every problem found in the configuration, each with its path."""

    def __init__(self, problems: list[str], source: Path | None = None) -> None:
        self.problems = problems
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} configuration problem(s){where}:\n{lines}")


_ENV_OVERRIDES: dict[str, tuple[str, type]] = {
    "INTERMODAL_DATABASE": ("database", str),
    "INTERMODAL_HOST": ("host", str),
    "INTERMODAL_PORT": ("port", int),
    "INTERMODAL_ADMIN_TOKEN_REF": ("admin_token", str),
    "INTERMODAL_LOG_LEVEL": ("log_level", str),
    "INTERMODAL_SIGNATURE_TOLERANCE_SECONDS": ("signature_tolerance_seconds", int),
    "INTERMODAL_APPLIER": ("applier", str),
    "INTERMODAL_WORKERS": ("workers", int),
    "INTERMODAL_APPLIERS": ("appliers", int),
    "INTERMODAL_INGEST_COMMITS": ("ingest_commits", int),
}


def load_config(
    path: Path | None = None, overrides: dict[str, Any] | None = None, resolve_secrets: bool = True
) -> Settings:
    """Read, validate and resolve the configuration; raise ConfigError naming each mistake.

    Precedence: explicit overrides (CLI flags) > environment > file > defaults. Offline
    commands (dead letters, audit) pass `resolve_secrets=False`: they need the database,
    not the partners' credentials.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = load_yaml(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError([f"cannot read {path}: {exc.strerror}"]) from None
        except yaml.YAMLError as exc:
            raise ConfigError([f"not valid YAML: {exc}"], path) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                ["the file must hold a mapping (hub, partners, endpoints, ...)"], path
            )
        # A section holding only comments parses as None: treat it as empty.
        raw = {key: value for key, value in loaded.items() if value is not None}
    hub = dict(raw.get("hub") or {}) if isinstance(raw.get("hub") or {}, dict) else raw.get("hub")
    if isinstance(hub, dict):
        for env, (key, _kind) in _ENV_OVERRIDES.items():
            if env in os.environ:
                hub[key] = os.environ[env]
        for key, value in (overrides or {}).items():
            if value is not None:
                hub[key] = value
        raw = {**raw, "hub": hub}
    try:
        parsed = FileConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise ConfigError(problems, path) from None
    return _resolve(parsed, path, resolve_secrets)


def _resolve(parsed: FileConfig, path: Path | None, resolve_secrets: bool) -> Settings:
    base = path.parent if path is not None else None
    problems: list[str] = []

    def secret(ref: str, where: str) -> Secret | None:
        if not resolve_secrets:
            return None
        try:
            return resolve_secret(ref, base)
        except SecretError as exc:
            problems.append(f"{where}: {exc}")
            return None

    def hmac_key(ref: str, where: str) -> bytes | None:
        value = secret(ref, where)
        if value is None:
            return None
        try:
            return webhook_key(value)
        except SecretError as exc:
            problems.append(f"{where}: {exc}")
            return None

    partners: dict[str, Partner] = {}
    tokens: dict[str, TokenGrant] = {}
    owners: dict[MilestoneType, set[str]] = {}
    for name, p in parsed.partners.items():
        before = len(problems)
        scheme = _signature(name, p, parsed.hub.signature_tolerance_seconds, problems)
        keys: list[bytes | None] = []
        if len(problems) == before:
            for i, ref in enumerate(p.webhook_secrets):
                where = f"partners.{name}.webhook_secrets.{i}"
                if scheme is None:
                    keys.append(hmac_key(ref, where))
                elif (value := secret(ref, where)) is not None:
                    keys.append(scheme.key(value.value))
        for i, t in enumerate(p.tokens):
            value = secret(t.token, f"partners.{name}.tokens.{i}.token")
            if value is not None:
                if (weak := weak_token_problem(value.value)) is not None:
                    problems.append(f"partners.{name}.tokens.{i}.token: {weak}")
                digest = token_hash(value.value)
                if digest in tokens:
                    problems.append(
                        f"partners.{name}.tokens.{i}: the same token is given to two partners"
                    )
                if t.customers is not None and READ_SCOPE not in t.scopes:
                    problems.append(
                        f"partners.{name}.tokens.{i}.customers: only limits reads; give the"
                        f" token the '{READ_SCOPE}' scope or drop 'customers'"
                    )
                customers = frozenset(t.customers) if t.customers is not None else None
                expires = t.expires_at.timestamp() if t.expires_at is not None else None
                tokens[digest] = TokenGrant(name, frozenset(t.scopes), customers, expires)
        for milestone in p.owns:
            owners.setdefault(milestone, set()).add(name)
        partners[name] = Partner(
            name=name,
            kind=p.kind,
            webhook_keys=tuple(k for k in keys if k is not None),
            owns=frozenset(p.owns),
            poll=p.poll,
            mapping=_relative(base, p.mapping),
            edi=p.edi,
            inbox_folder=_relative(base, p.edi.inbox_folder if p.edi else None),
            signature=scheme,
            rate_limit=p.rate_limit,
            positions=p.positions,
            documents=p.documents,
            documents_folder=_relative(base, p.documents.inbox_folder if p.documents else None),
        )
        problems.extend(_partner_edi_problems(name, p, parsed.endpoints, base))
        if p.poll is not None:
            problems.extend(
                _endpoint_reference_problems(
                    f"partners.{name}.poll.endpoint",
                    p.poll.endpoint,
                    parsed.endpoints,
                    "odoo",
                    "polling reads from an odoo endpoint",
                )
            )
    endpoints: dict[str, Endpoint] = {}
    for name, e in parsed.endpoints.items():
        if e.kind != "nats" and not e.url.startswith(("http://", "https://")):
            problems.append(f"endpoints.{name}.url: a {e.kind} endpoint takes an http(s):// URL")
        refs: list[tuple[str, str]] = [(f"endpoints.{name}.secret", e.secret)] if e.secret else []
        refs += [(f"endpoints.{name}.secrets.{i}", ref) for i, ref in enumerate(e.secrets)]
        signing: list[bytes] = []
        for where, ref in refs:
            if (key := hmac_key(ref, where)) is not None:
                signing.append(key)
        endpoints[name] = Endpoint(
            name=name,
            kind=e.kind,
            url=e.url,
            secret_key=signing[0] if signing else None,
            secret_keys=tuple(signing),
            events=frozenset(e.events) if e.events is not None else None,
            subjects=tuple(e.subjects) if e.subjects is not None else None,
            customers=frozenset(e.customers) if e.customers is not None else None,
            milestones=frozenset(e.milestones) if e.milestones is not None else None,
            max_attempts=e.max_attempts or parsed.delivery.max_attempts,
            rate_per_second=e.rate_per_second,
            timeout_seconds=e.timeout_seconds,
            batch_size=e.batch_size,
            options=dict(e.options),
            base_dir=base,
        )
    if parsed.sync is not None:
        why = "master data is read from an odoo endpoint"
        problems.extend(
            _endpoint_reference_problems(
                "sync.endpoint", parsed.sync.endpoint, parsed.endpoints, "odoo", why
            )
        )
    admin = secret(parsed.hub.admin_token, "hub.admin_token") if parsed.hub.admin_token else None
    audit_key, audit_previous = _audit_keys(parsed.hub, secret, problems)
    if admin is not None and (weak := weak_token_problem(admin.value)) is not None:
        problems.append(f"hub.admin_token: {weak}")
    tower = _tower(parsed.tower, secret, problems) if parsed.tower is not None else None
    if parsed.workflows is not None:
        problems.extend(_workflow_problems(parsed.workflows, parsed.endpoints))
    if problems:
        raise ConfigError(problems, path)
    return Settings(
        hub=parsed.hub,
        delivery=parsed.delivery,
        partners=partners,
        endpoints=endpoints,
        tokens=tokens,
        admin_token=admin,
        ownership=OwnershipPolicy({m: frozenset(ps) for m, ps in owners.items()}),
        source=path,
        sync=parsed.sync,
        reconcile=parsed.reconcile,
        telemetry=parsed.telemetry,
        tower=tower,
        workflows=parsed.workflows,
        audit_key=audit_key,
        audit_previous_keys=audit_previous,
        foresight=parsed.foresight,
        documents=parsed.documents,
    )


AUDIT_KEY_MIN_CHARS = 32


def _audit_keys(
    hub: HubConfig, secret: Callable[[str, str], Secret | None], problems: list[str]
) -> tuple[Secret | None, tuple[Secret, ...]]:
    """`hub.audit_key` and `hub.audit_previous_keys`, resolved and long enough to be a key
    rather than a password (an HMAC key is only as strong as it is unguessable)."""
    if hub.audit_key is None:
        if hub.audit_previous_keys:
            problems.append("hub.audit_previous_keys: give hub.audit_key too (the key in use)")
        return None, ()
    refs = [("hub.audit_key", hub.audit_key)]
    refs += [(f"hub.audit_previous_keys.{i}", r) for i, r in enumerate(hub.audit_previous_keys)]
    found: list[Secret] = []
    for where, ref in refs:
        value = secret(ref, where)
        if value is not None and len(value.value) < AUDIT_KEY_MIN_CHARS:
            problems.append(f"{where}: use at least {AUDIT_KEY_MIN_CHARS} characters")
        elif value is not None:
            found.append(value)
    if len(found) < len(refs):
        return None, ()
    return found[0], tuple(found[1:])


def resolve_audit_keys(settings: Settings) -> Settings:
    """The settings with the audit keys resolved, for commands that read the rest of the
    configuration without secrets (`resolve_secrets=False`) but open the store: every
    process that appends to a keyed audit chain, or verifies one, needs its key."""
    hub = settings.hub
    if hub.audit_key is None or settings.audit_key is not None:
        return settings
    base = settings.source.parent if settings.source is not None else None
    problems: list[str] = []

    def secret(ref: str, where: str) -> Secret | None:
        try:
            return resolve_secret(ref, base)
        except SecretError as exc:
            problems.append(f"{where}: {exc}")
            return None

    key, previous = _audit_keys(hub, secret, problems)
    if problems:
        raise ConfigError(problems, settings.source)
    return dataclasses.replace(settings, audit_key=key, audit_previous_keys=previous)


def _tower(
    config: TowerConfig, secret: Callable[[str, str], Secret | None], problems: list[str]
) -> TowerSettings:
    """Users with an argon2id hash each (given, or made here from the password or token
    reference, which is then dropped); each needs exactly one credential."""
    if not config.users and config.oidc is None:
        problems.append(
            "tower.users: give at least one user or an oidc section (or remove the tower section)"
        )
    if config.session_secret is not None:
        problems.append(
            "tower.session_secret: no longer used: sessions are kept in the store (they"
            " survive restarts and hold across workers); remove this line"
        )
    users: dict[str, TowerUser] = {}
    for name, user in config.users.items():
        given = [k for k in ("password_hash", "password", "token") if getattr(user, k) is not None]
        where = f"tower.users.{name}"
        if len(given) != 1:
            problems.append(f"{where}: give exactly one of 'password_hash', 'password' or 'token'")
            continue
        users[name] = TowerUser(name, user.role, _tower_hash(name, user, secret, problems))
    oidc = None
    if config.oidc is not None:
        oidc_secret = config.oidc.client_secret
        oidc = TowerOidc(
            config.oidc,
            secret(oidc_secret, "tower.oidc.client_secret") if oidc_secret else None,
        )
        if "openid" not in config.oidc.scopes:
            problems.append("tower.oidc.scopes: include 'openid' (it asks for the ID token)")
        if not config.oidc.roles:
            problems.append("tower.oidc.roles: map at least one group to a role")
        for key in ("issuer", "redirect_url"):
            if problem := _insecure_url(f"tower.oidc.{key}", getattr(config.oidc, key)):
                problems.append(problem)
    return TowerSettings(
        users,
        config.idle_minutes * 60,
        config.session_hours * 3600,
        config.secure_cookie,
        config.lockout,
        oidc,
    )


def _insecure_url(where: str, url: str | None) -> str:
    """Plain http only to this machine: an identity provider's answers and the callback's
    code must not cross a network in the clear."""
    if url is None or url.startswith("https://"):
        return ""
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost", "[::1]"):
        return ""
    return f"{where}: use https:// (plain http only to 127.0.0.1 or localhost)"


def _tower_hash(
    name: str,
    user: TowerUserConfig,
    secret: Callable[[str, str], Secret | None],
    problems: list[str],
) -> str | None:
    where = f"tower.users.{name}"
    if user.password_hash is not None:
        try:
            check_hash(user.password_hash)
        except PasswordError as exc:
            problems.append(f"{where}.password_hash: {exc}")
            return None
        return user.password_hash
    kind = "password" if user.password is not None else "token"
    ref = user.password or user.token
    assert ref is not None
    value = secret(ref, f"{where}.{kind}")
    if value is None:
        return None
    try:
        return hash_password(value.value, reference_salt(name))
    except PasswordError as exc:
        problems.append(f"{where}.{kind}: {exc}")
        return None


def _relative(base: Path | None, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else base / path


def _endpoint_reference_problems(
    where: str, name: str, endpoints: dict[str, EndpointConfig], kind: str, why: str
) -> list[str]:
    """A partner setting that names an endpoint: it must exist and be of `kind`."""
    target = endpoints.get(name)
    if target is None:
        return [f"{where}: no endpoint named '{name}'"]
    if target.kind != kind:
        return [f"{where}: '{name}' is a {target.kind} endpoint; {why}"]
    return []


def _signature(
    name: str, p: PartnerConfig, tolerance: int, problems: list[str]
) -> VendorSignature | None:
    """The partner's webhook signature scheme, its preset filled in and overridden by the
    fields given; None for Standard Webhooks (no `signature`, or that preset)."""
    given = p.signature
    if given is None:
        return None
    where = f"partners.{name}.signature"
    known = ", ".join([STANDARD_WEBHOOKS, *sorted(PRESETS)])
    fields: dict[str, Any] = given.model_dump(exclude_none=True, exclude={"preset", "scheme"})
    if given.preset is not None and given.preset not in (STANDARD_WEBHOOKS, *PRESETS):
        problems.append(f"{where}.preset: no preset named '{given.preset}' (known: {known})")
        return None
    if STANDARD_WEBHOOKS in (given.preset, given.scheme):
        if given.preset not in (None, STANDARD_WEBHOOKS) or given.scheme == "hmac":
            problems.append(f"{where}: preset '{given.preset}' is not scheme '{given.scheme}'")
        elif fields:
            problems.append(
                f"{where}: standard-webhooks takes no other settings (given: "
                f"{', '.join(fields)}); its tolerance is hub.signature_tolerance_seconds"
            )
        return None
    if given.preset is None and given.scheme is None:
        problems.append(f"{where}: give a preset ({known}) or 'scheme: hmac' and its fields")
        return None
    if given.preset is not None:
        base = PRESETS[given.preset]
    else:
        missing = [field for field in ("header", "encoding") if field not in fields]
        if missing:
            problems.append(f"{where}: scheme hmac needs {' and '.join(missing)}")
            return None
        base = VendorSignature(header=fields["header"])
    for field in ("header", "timestamp_header", "id_header"):
        if field in fields:  # ASGI gives header names in lower case
            fields[field] = fields[field].lower()
    if "secret_normalization" in fields:
        fields["normalization"] = fields.pop("secret_normalization")
    if "tolerance_seconds" not in fields:
        fields["tolerance_seconds"] = tolerance
    elif fields.get("signed", base.signed) != "timestamp.body":
        problems.append(f"{where}.tolerance_seconds: only a signed timestamp can be too old")
    scheme = dataclasses.replace(base, **fields)
    problems.extend(f"{where}: {problem}" for problem in scheme.problems())
    if not p.webhook_secrets:
        problems.append(
            f"partners.{name}.webhook_secrets: a {scheme.name} signature needs the secret"
            " it is made with"
        )
    return scheme


def _partner_edi_problems(
    name: str, p: PartnerConfig, endpoints: dict[str, EndpointConfig], base: Path | None
) -> list[str]:
    """Mistakes in a partner's mapping and EDI settings, one message each."""
    problems: list[str] = []
    mapping = _relative(base, p.mapping)
    if mapping is not None and not mapping.is_file():
        problems.append(f"partners.{name}.mapping: no mapping file at {mapping}")
    if p.edi is None:
        return problems
    if p.edi.ack and p.edi.ack_endpoint is None:
        problems.append(
            f"partners.{name}.edi.ack_endpoint: 'ack: true' needs the endpoint (kind edi)"
            " that acknowledgements are sent to"
        )
    if p.edi.ack_endpoint is not None:
        wrong = _endpoint_reference_problems(
            f"partners.{name}.edi.ack_endpoint",
            p.edi.ack_endpoint,
            endpoints,
            "edi",
            "acknowledgements go to an edi endpoint",
        )
        problems.extend(wrong)
        if not wrong and endpoints[p.edi.ack_endpoint].milestones != []:
            problems.append(
                f"endpoints.{p.edi.ack_endpoint}.milestones: an edi endpoint takes EDI documents,"
                " not milestone CloudEvents; set 'milestones: []'"
            )
    reuse = p.edi.control_number_reuse_after
    if p.edi.control_numbers == "reuse_after" and reuse is None:
        problems.append(
            f"partners.{name}.edi.control_number_reuse_after: 'control_numbers: reuse_after'"
            " needs the age after which a number may be used again (e.g. '30d')"
        )
    if p.edi.control_numbers == "reject" and reuse is not None:
        problems.append(
            f"partners.{name}.edi.control_number_reuse_after: has no effect unless"
            " 'control_numbers: reuse_after'"
        )
    return problems


def _workflow_problems(w: WorkflowsConfig, endpoints: dict[str, EndpointConfig]) -> list[str]:
    """Roles must name endpoints of the right kind; the flow files must load."""
    problems: list[str] = []
    tms_kind = "edi" if w.roles.tms_mode == "x12" else "webhook"
    for role, name, kind, why in (
        ("odoo", w.roles.odoo, "odoo", "the odoo role writes to Odoo"),
        ("tms", w.roles.tms, tms_kind, f"tms_mode {w.roles.tms_mode} sends to a {tms_kind}"
         " endpoint"),
        ("notify", w.roles.notify, "webhook", "notifications are signed webhooks"),
        ("customs", w.roles.customs, "webhook", "filings are signed webhooks"),
    ):  # fmt: skip
        if name is not None:
            problems.extend(
                _endpoint_reference_problems(f"workflows.roles.{role}", name, endpoints, kind, why)
            )
    if w.default_service_level is not None and w.default_service_level not in w.service_levels:
        problems.append(
            f"workflows.default_service_level: '{w.default_service_level}' is not one of"
            f" service_levels ({', '.join(sorted(w.service_levels)) or 'none defined'})"
        )
    from intermodal.workflows.spec import FlowError, load_flows

    try:
        flows = load_flows()
    except FlowError as exc:
        return [*problems, f"workflows: {exc}"]
    for i, name in enumerate(w.flows or []):
        if name not in flows:
            problems.append(
                f"workflows.flows.{i}: no flow named '{name}' (known: {', '.join(sorted(flows))})"
            )
    return problems
