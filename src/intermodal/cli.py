"""The `intermodal` command: serve the hub, inspect and replay, verify the audit chain,
issue and revoke partner tokens."""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer._click import Command, Context  # typer 0.29 vendors click; these are its types
from typer.core import TyperGroup

from intermodal.cli_options import (
    ConfigOption,
    DbOption,
    errors,
    open_store_or_exit,
    render_flags_as_flags,
    settings_or_exit,
    store_or_exit,
)
from intermodal.config import ConfigError, Settings
from intermodal.connectors.odoo.sync.cli import sync
from intermodal.edi.cli import edi_app
from intermodal.mapping.cli import mapping_app, quarantine_app
from intermodal.security.secrets import (
    Secret,
    SecretError,
    new_webhook_secret,
    resolve_secret,
    write_secret_file,
)
from intermodal.security.tower_cli import tower_app
from intermodal.workflows.cli import flows_app
from intermodal.workflows.reconcile.cli import reconcile

render_flags_as_flags()
SIMULATOR_COMMANDS = ("demo", "sim", "odoo-sim")


class PluginCommands(TyperGroup):
    """The hub's own commands, then those other distributions declare under the
    `intermodal.commands` entry point, loaded only when one of them is run or the commands
    are listed. The simulators import most of their stack, and every process `intermodal
    serve` spawns imports this module again: loading them always cost each about 0.7 s of
    CPU at start."""

    _plugins: dict[str, Command] | None = None

    def plugin_commands(self) -> dict[str, Command]:
        if self._plugins is None:
            extra = typer.Typer()
            add_plugin_commands(extra)
            group = typer.main.get_group(extra)
            self._plugins = {n: c for n, c in group.commands.items() if n not in self.commands}
        return self._plugins

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        own = super().get_command(ctx, cmd_name)
        return own if own is not None else self.plugin_commands().get(cmd_name)

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *self.plugin_commands()]


app = typer.Typer(
    name="intermodal",
    help="Integration hub for logistics companies that run Odoo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=PluginCommands,
)
secret_app = typer.Typer(help="Generate and rotate signing secrets.", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect and replay dead letters.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit chains.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing commands: retention.", no_args_is_help=True)
schemas_app = typer.Typer(help="The canonical model's JSON Schemas.", no_args_is_help=True)
token_app = typer.Typer(
    help="Partner bearer tokens issued by the hub: new, list, rotate, revoke.",
    no_args_is_help=True,
)
app.add_typer(secret_app, name="secret")
app.add_typer(dlq_app, name="dlq")
app.add_typer(audit_app, name="audit")
app.add_typer(outbox_app, name="outbox")
app.add_typer(schemas_app, name="schemas")
app.add_typer(token_app, name="token")

app.add_typer(edi_app, name="edi", help="Inspect X12 and EDIFACT documents.")
app.add_typer(mapping_app, name="mapping")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(flows_app, name="flows")
app.add_typer(tower_app, name="tower")
app.command("reconcile")(reconcile)
app.command("sync")(sync)

console = Console()


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option(help="interface to listen on", envvar="INTERMODAL_HOST")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port (default 8080)", envvar="INTERMODAL_PORT")
    ] = None,
    db: DbOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="ingest processes on the port (default: hub.workers: the cores, 1 to 8)",
            envvar="INTERMODAL_WORKERS",
        ),
    ] = None,
) -> None:
    """Run the hub: HTTP ingress, apply, outbox delivery (SQLite file by default).

    Besides the options' variables it reads INTERMODAL_ADMIN_TOKEN_REF,
    INTERMODAL_LOG_LEVEL, INTERMODAL_SIGNATURE_TOLERANCE_SECONDS, INTERMODAL_APPLIER,
    INTERMODAL_APPLIERS and INTERMODAL_INGEST_COMMITS (hub.admin_token, hub.log_level,
    hub.signature_tolerance_seconds, hub.applier, hub.appliers, hub.ingest_commits). Each
    variable overrides the configuration file; an option overrides both. With more than
    one worker, `serve` supervises them (intermodal/serve.py; docs/operations.md,
    "Processes").
    """
    import uvicorn

    from intermodal.api.app import create_app
    from intermodal.observe.logs import configure_logging
    from intermodal.outbox.sinks import endpoint_problems
    from intermodal.serve import server_config
    from intermodal.wiring import SINK_KINDS

    settings = settings_or_exit(config, host=host, port=port, database=db, workers=workers)
    problems = endpoint_problems(SINK_KINDS, settings.endpoints)
    if settings.hub.workers > 1 and settings.hub.applier == "thread":
        problems.append(
            "hub.applier: 'thread' runs the applier inside one process; with hub.workers"
            f" {settings.hub.workers} it must be a process ('auto' or 'process'), or set"
            " hub.workers: 1"
        )
    if problems:
        errors.print(
            f"error: {ConfigError(problems, settings.source)}", markup=False, highlight=False
        )
        raise typer.Exit(2)
    if settings.audit_key is None:
        _refuse_keyed_chains_without_key(settings)
    configure_logging(settings.hub.log_level)
    if settings.hub.workers > 1 and _shared_by_processes(settings.hub.database):
        _serve_workers(settings)
        return
    application = create_app(settings, applier="process")
    typer.echo(_banner(settings, settings.hub.port))
    server = uvicorn.Server(server_config(application, settings))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # the port was taken, or the hub failed to start: logged
        raise typer.Exit(3)


def _refuse_keyed_chains_without_key(settings: Settings) -> None:
    """A hub refuses to start on keyed audit chains without their key (Hub.create): say
    so here once, as a message and exit status 2, not as every worker's traceback."""
    from intermodal.security.audit import AuditKeyError, check_appendable
    from intermodal.store import open_store

    store = open_store(settings.hub.database)
    try:
        check_appendable(store)
    except AuditKeyError as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        store.dispose()


def _banner(settings: Settings, port: int, more: str = "") -> str:
    """The line `serve` prints once it is about to listen."""
    partners = ", ".join(settings.partners) or "none"
    tower = (
        f"control tower: http://{settings.hub.host}:{port}/tower/"
        if settings.tower is not None
        else "control tower: off (no tower: section)"
    )
    flows = (
        f"flows: {', '.join(settings.workflows.flows or ['all'])}"
        if settings.workflows is not None
        else "flows: off (no workflows: section)"
    )
    return (
        f"intermodal listening on http://{settings.hub.host}:{port} (store:"
        f" {_redact_url(settings.hub.database)}, partners: {partners}; {tower}; {flows}{more})"
    )


def _shared_by_processes(url: str) -> bool:
    """Whether worker processes can open the store: not an in-memory SQLite database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return not (parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"))


def _serve_workers(settings: Settings) -> None:
    """`serve` with hub.workers > 1: supervise the workers (intermodal/serve.py)."""
    import os
    import signal

    from intermodal.serve import Supervisor

    supervisor = Supervisor(settings, settings.hub.workers)
    try:
        port = supervisor.reserve_port()
    except OSError as exc:
        errors.print(
            f"error: cannot listen on {settings.hub.host}:{settings.hub.port}: {exc.strerror}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1) from None
    typer.echo(_banner(settings, port, f"; workers: {settings.hub.workers}"))
    stopped_by = supervisor.run()
    if stopped_by == signal.SIGTERM:  # exit as uvicorn does: by the signal it caught
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _redact_url(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable url>"


def _hand_over(token: str, out: Path | None, force: bool) -> None:
    """The one time a secret or token is shown: on stdout alone (for a pipe), or a 0600 file."""
    if out is None:
        typer.echo(token)
        return
    try:
        write_secret_file(out, token, overwrite=force)
    except FileExistsError:
        errors.print(f"error: {out} exists; keep it, or replace it with --force", markup=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        errors.print(f"error: cannot write {out}: {exc.strerror}", markup=False)
        raise typer.Exit(1) from None


@secret_app.command("new")
def secret_new(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="write it to this file, readable by its owner only (0600)"
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="replace the --out file if it exists")] = False,
) -> None:
    """Print a fresh Standard Webhooks secret (`whsec_` + base64 of 32 random bytes).

    With --out the secret goes to a file made with mode 0600 and is not printed: a shell
    redirection (`> file`) creates the file with the umask's mode, readable by everyone
    on most machines.
    """
    _hand_over(new_webhook_secret(), out, force)
    if out is not None:
        errors.print(
            f"wrote a new webhook secret to {out} (mode 0600)", markup=False, highlight=False
        )


@secret_app.command("rotate")
def secret_rotate(
    partner: Annotated[
        str | None, typer.Option("--partner", help="rotate this partner's webhook secret")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="rotate this endpoint's signing secret")
    ] = None,
    retire: Annotated[
        str | None,
        typer.Option(
            "--retire",
            metavar="OLD",
            help="the second step: the reference (env:... or file:...) to retire",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="where the new secret goes (mode 0600);"
            " default: secrets/<name>-<date>.whsec beside the configuration",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Rotate a signing secret in two steps, with both secrets active in between.

    First, without --retire: writes a new secret and says how to list it next to the
    current one. Once the partner uses the new one: --retire OLD says what to remove.
    The configuration file is not edited: each change is printed for you to make.
    """
    import datetime

    from intermodal.security.rotation import (
        RotationError,
        Section,
        overlap_steps,
        read_holder,
        retire_steps,
    )

    if (partner is None) == (endpoint is None):
        errors.print("error: give --partner NAME or --endpoint NAME (one of them)")
        raise typer.Exit(2)
    settings = settings_or_exit(config, resolve_secrets=False)
    if settings.source is None:
        errors.print("error: give the configuration (--config or INTERMODAL_CONFIG)")
        raise typer.Exit(2)
    source = settings.source
    section: Section = "partners" if partner is not None else "endpoints"
    name = partner or endpoint or ""
    try:
        holder = read_holder(source, section, name)
        if retire is not None:
            typer.echo(retire_steps(holder, retire, source), nl=False)
            return
    except RotationError as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    day = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    target = out or source.parent / "secrets" / f"{name}-{day}.whsec"
    secret = new_webhook_secret()
    try:
        if out is None:
            target.parent.mkdir(mode=0o700, exist_ok=True)
        write_secret_file(target, secret)
    except FileExistsError:
        errors.print(f"error: {target} exists; keep it, or give another --out", markup=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        errors.print(f"error: cannot write {target}: {exc.strerror}", markup=False)
        raise typer.Exit(1) from None
    new_ref = f"file:{_relative_to(target, source.parent)}"
    fingerprints = {new_ref: Secret(secret).fingerprint()}
    for ref in holder.refs:
        with contextlib.suppress(SecretError):  # not readable here: shown without one
            fingerprints[ref] = resolve_secret(ref, source.parent).fingerprint()
    typer.echo(f"wrote a new secret for {holder.who} to {target} (mode 0600)\n")
    typer.echo(overlap_steps(holder, new_ref, fingerprints, source), nl=False)


def _relative_to(path: Path, folder: Path) -> str:
    """`path` as a `file:` reference resolves it: relative to the configuration's folder
    where it lies under it, else absolute."""
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path.resolve())


@app.command("send")
def send(
    body_file: Annotated[
        Path, typer.Argument(help="JSON file with one event or an array ('-' for stdin)")
    ],
    partner: Annotated[str, typer.Option(help="partner name in the hub's configuration")],
    secret_env: Annotated[
        str, typer.Option(help="environment variable holding the partner's whsec_ secret")
    ],
    url: Annotated[str, typer.Option(help="the hub's base URL")] = "http://127.0.0.1:8080",
    message_id: Annotated[
        str | None, typer.Option("--id", help="webhook-id (default: random)")
    ] = None,
) -> None:
    """Sign a message like a partner would (Standard Webhooks) and POST it to the hub."""
    import time

    import httpx

    from intermodal.engine.ids import sortable_id
    from intermodal.ingress.signatures import sign
    from intermodal.security.secrets import SecretError, resolve_secret, webhook_key

    body = sys.stdin.buffer.read() if str(body_file) == "-" else body_file.read_bytes()
    try:
        key = webhook_key(resolve_secret(f"env:{secret_env}"))
    except SecretError as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(2) from None
    msg_id = message_id or sortable_id("msg")
    ts = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(key, msg_id, ts, body),
    }
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/v1/webhooks/{partner}", content=body, headers=headers
        )
    except httpx.HTTPError as exc:
        errors.print(f"error: cannot reach {url}: {exc}")
        raise typer.Exit(1) from None
    typer.echo(f"{response.status_code} {response.text}")
    if response.status_code >= 400:
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(
    config: ConfigOption = None,
    db: DbOption = None,
    partner: Annotated[
        str | None, typer.Option("--partner", "--endpoint", help="only this endpoint")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List dead letters, oldest first."""
    from intermodal.outbox.dead_letters import list_dead_letters

    items, total = list_dead_letters(store_or_exit(config, db), partner, limit)
    if as_json:
        typer.echo(json.dumps({"total": total, "items": items}, indent=2))
        return
    table = Table(title=f"dead letters: {total}")
    for column in ("command_id", "endpoint", "subject", "attempts", "dead_at", "last_error"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            item["command_id"],
            item["endpoint"],
            item["subject"] or "",
            str(item["attempts"]),
            item["dead_at"],
            (item["last_error"] or "")[:80],
        )
    console.print(table)


@dlq_app.command("show")
def dlq_show(command_id: str, config: ConfigOption = None, db: DbOption = None) -> None:
    """Show one dead letter with its payload."""
    from intermodal.outbox.dead_letters import get_dead_letter

    found = get_dead_letter(store_or_exit(config, db), command_id)
    if found is None:
        errors.print(f"no dead letter '{command_id}'")
        raise typer.Exit(1)
    typer.echo(json.dumps(found, indent=2))


@dlq_app.command("replay")
def dlq_replay(
    config: ConfigOption = None,
    db: DbOption = None,
    command_id: Annotated[
        list[str] | None, typer.Option("--id", help="a command id (repeatable)")
    ] = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="every dead letter (with --partner: of one endpoint)")
    ] = False,
    partner: Annotated[
        str | None, typer.Option("--partner", "--endpoint", help="only this endpoint")
    ] = None,
) -> None:
    """Move dead letters back to the outbox with their original idempotency keys."""
    import getpass

    from intermodal.outbox.dead_letters import replay

    if not replay_all and not command_id:
        errors.print("give --id ID (repeatable) or --all")
        raise typer.Exit(2)
    count = replay(
        store_or_exit(config, db), f"cli:{getpass.getuser()}", command_id, replay_all, partner
    )
    console.print(f"replayed {count} dead letter(s)")
    if command_id and not replay_all and count < len(command_id):
        raise typer.Exit(1)


@outbox_app.command("prune")
def outbox_prune(
    config: ConfigOption = None,
    db: DbOption = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="delete commands delivered longer ago than this ('30d', '12h', seconds);"
            " default: delivery.keep_delivered",
        ),
    ] = None,
) -> None:
    """Delete delivered commands from the outbox, as the hub does hourly; audited."""
    import getpass
    from datetime import timedelta

    from pydantic import TypeAdapter, ValidationError

    from intermodal.config import Duration
    from intermodal.outbox.retention import prune_delivered

    settings = settings_or_exit(config, resolve_secrets=False, database=db)
    keep: float | None = settings.delivery.keep_delivered
    if older_than is not None:
        try:
            keep = TypeAdapter(Duration).validate_python(older_than)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]["msg"]
            errors.print(f"error: --older-than {older_than!r}: {problem}")
            raise typer.Exit(2) from None
    if keep is None:
        errors.print("retention is off (delivery.keep_delivered: null); give --older-than")
        raise typer.Exit(2)
    store = open_store_or_exit(settings)  # its audit entry is sealed as the hub's
    count = prune_delivered(store, timedelta(seconds=keep), f"cli:{getpass.getuser()}")
    console.print(f"deleted {count} delivered command(s) older than {timedelta(seconds=keep)}")


CheckpointOption = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help="the signed checkpoint to compare with (a file, or a hub log line carrying"
        " one); default: hub.audit_checkpoint",
    ),
]


@audit_app.command("verify")
def audit_verify(
    config: ConfigOption = None, db: DbOption = None, checkpoint: CheckpointOption = None
) -> None:
    """Walk the audit chains (one per partition) and compare them with the signed
    checkpoint; exit 1 naming the first edited, inserted, deleted, moved or forged row,
    and each chain that lost rows the checkpoint recorded."""
    from intermodal.security.audit import keys_of, verify
    from intermodal.security.audit_checkpoint import CheckpointInvalid, read_checkpoint

    settings = settings_or_exit(config, resolve_secrets=False, database=db)
    store = open_store_or_exit(settings)
    keys = keys_of(store)
    path = checkpoint or settings.hub.audit_checkpoint
    anchored, untrusted = None, None
    if keys is not None:
        try:
            anchored = read_checkpoint(path, keys)
        except CheckpointInvalid as exc:
            untrusted = str(exc)
    report = verify(store, checkpoint=anchored)
    store.dispose()
    if report.ok:
        console.print(f"audit chain intact: {report.rows} row(s) in {report.chains} chain(s)")
    else:
        errors.print(
            f"audit chain broken: {report.problem}", markup=False, highlight=False, soft_wrap=True
        )
        if report.broken_chains > 1:
            errors.print(
                f"{report.broken_chains} chains are broken; the row named is the earliest"
                " (smallest seq) of their first bad rows"
            )
        for found in report.against_checkpoint:
            if found.problem != report.problem:
                errors.print(
                    f"also: {found.problem}", markup=False, highlight=False, soft_wrap=True
                )
    if keys is None:
        errors.print(
            "warning: no hub.audit_key: the chains are plain SHA-256 and no checkpoint is"
            " read, so whoever can write the audit table can delete a chain's newest rows"
            " (or all of them) or append rows with correctly computed hashes, unseen; set"
            ' hub.audit_key (docs/security.md, "Audit chain")',
            soft_wrap=True,
        )
    else:
        console.print(
            f"keyed with key {report.key_id}: {report.keyed_rows} row(s) sealed with an"
            f" HMAC, {report.plain_rows} plain row(s) written before the key",
            soft_wrap=True,
        )
    if untrusted is not None:
        errors.print(
            f"checkpoint untrusted: {untrusted}", markup=False, highlight=False, soft_wrap=True
        )
    elif anchored is not None:
        console.print(
            f"checkpoint {path} of {anchored.written_at}: compared with"
            f" {len(anchored.anchors)} chain(s)",
            soft_wrap=True,
        )
    elif keys is not None:
        errors.print(
            f"warning: no audit checkpoint at {path}: the deletion of a chain's newest"
            " rows, or of all of them, cannot be seen (the leader writes one every"
            " hub.audit_checkpoint_seconds; `intermodal audit checkpoint` writes one now)",
            soft_wrap=True,
        )
    if not report.ok or untrusted is not None:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(config: ConfigOption = None, db: DbOption = None) -> None:
    """Verify the chains, then write the signed checkpoint of each chain's newest row
    now (the leader writes one every hub.audit_checkpoint_seconds); exit 1 without
    writing when the chains or the last checkpoint do not verify."""
    from intermodal.security.audit import keys_of, verify
    from intermodal.security.audit_checkpoint import (
        CheckpointInvalid,
        CheckpointRefused,
        CheckpointWriter,
        read_checkpoint,
    )

    settings = settings_or_exit(config, resolve_secrets=False, database=db)
    store = open_store_or_exit(settings)
    keys = keys_of(store)
    if keys is None:
        errors.print("error: a checkpoint is signed with hub.audit_key, which is not configured")
        raise typer.Exit(2)
    path = settings.hub.audit_checkpoint
    try:
        report = verify(store, checkpoint=read_checkpoint(path, keys))
        if not report.ok:  # anchoring a tampered chain would hide the tampering
            errors.print(
                f"audit chain broken: {report.problem}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        written = CheckpointWriter(store, keys, path, settings.hub.audit_checkpoint_seconds)
        anchored = written.write()
    except (CheckpointInvalid, CheckpointRefused) as exc:
        errors.print(
            f"error: {exc}; not overwritten", markup=False, highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    console.print(
        f"audit checkpoint written to {path}: {len(anchored.anchors)} chain(s),"
        f" key {keys.current.id}"
    )


def _duration_or_exit(flag: str, value: str) -> timedelta:
    from pydantic import TypeAdapter, ValidationError

    from intermodal.config import Duration

    try:
        return timedelta(seconds=TypeAdapter(Duration).validate_python(value))
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]["msg"]
        errors.print(f"error: {flag} {value!r}: {problem}", markup=False)
        raise typer.Exit(2) from None


TokenOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="write the token to this file (mode 0600), not stdout"),
]
TokenForce = Annotated[bool, typer.Option(help="replace the --out file if it exists")]


@token_app.command("new")
def token_new(
    partner: Annotated[str, typer.Option(help="the partner (in the configuration) it acts as")],
    config: ConfigOption = None,
    db: DbOption = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="events:write or shipments:read (repeatable; default: both)"),
    ] = None,
    customer: Annotated[
        list[str] | None,
        typer.Option(help="only this customer's shipments (repeatable; a customer portal)"),
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="refused after this long ('90d', '12h'); default never")
    ] = None,
    label: Annotated[str, typer.Option(help="what it is for, shown by `token list`")] = "",
    out: TokenOut = None,
    force: TokenForce = False,
) -> None:
    """Issue a token for a partner and print it once; the hub keeps only its SHA-256."""
    import getpass

    from intermodal.config import READ_SCOPE, WRITE_SCOPE
    from intermodal.security.tokens import issue

    settings = settings_or_exit(config, resolve_secrets=False, database=db)
    if partner not in settings.partners:
        known = ", ".join(sorted(settings.partners)) or "none: give --config"
        errors.print(f"error: no partner named '{partner}' (known: {known})", markup=False)
        raise typer.Exit(2)
    scopes = scope or [WRITE_SCOPE, READ_SCOPE]
    if unknown := sorted(set(scopes) - {WRITE_SCOPE, READ_SCOPE}):
        errors.print(
            f"error: unknown scope(s) {', '.join(unknown)}: use {WRITE_SCOPE} or {READ_SCOPE}",
            markup=False,
        )
        raise typer.Exit(2)
    if customer and READ_SCOPE not in scopes:
        errors.print(f"error: --customer only limits reads; add --scope {READ_SCOPE}", markup=False)
        raise typer.Exit(2)
    if len(label) > 200:
        errors.print("error: --label takes at most 200 characters", markup=False)
        raise typer.Exit(2)
    lifetime = _duration_or_exit("--expires", expires) if expires is not None else None
    store = open_store_or_exit(settings)  # its audit entry is sealed as the hub's
    row, token = issue(
        store,
        partner,
        scopes,
        f"cli:{getpass.getuser()}",
        customers=customer,
        label=label,
        expires_in=lifetime,
    )
    _hand_over(token, out, force)
    until = f"until {row.expires_at}" if row.expires_at else "with no expiry"
    errors.print(
        f"issued {row.id} for {partner} ({', '.join(row.scopes)}) {until}; it is not shown again",
        markup=False,
        highlight=False,
    )


@token_app.command("list")
def token_list(
    config: ConfigOption = None,
    db: DbOption = None,
    partner: Annotated[str | None, typer.Option(help="only this partner's tokens")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Issued tokens with their status, expiry and last use (never the token itself).

    Tokens from the configuration file are not listed: the file is where they are."""
    from intermodal.security.tokens import list_tokens

    found = list_tokens(store_or_exit(config, db), partner)
    if as_json:
        typer.echo(json.dumps([t.as_dict() for t in found], indent=2))
        return
    table = Table(title=f"issued tokens: {len(found)}")
    columns = ("id", "partner", "label", "scopes", "status", "expires", "last used", "created")
    for column in columns:
        table.add_column(column, overflow="fold")
    for t in found:
        scopes = ", ".join(t.scopes)
        if t.customers is not None:
            scopes += f" (customers: {', '.join(t.customers)})"
        status = t.status()
        if status == "revoked":
            status = f"revoked {t.revoked_at}"
        table.add_row(
            t.id,
            t.partner,
            t.label,
            scopes,
            status,
            t.expires_at or "never",
            t.last_used_at or "never",
            t.created_at,
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: str, config: ConfigOption = None, db: DbOption = None) -> None:
    """Revoke an issued token: every hub refuses it within 5 seconds. Audited."""
    import getpass

    from intermodal.security.tokens import revoke

    found = revoke(store_or_exit(config, db), token_id, f"cli:{getpass.getuser()}")
    if found is None:
        errors.print(f"error: no issued token '{token_id}'", markup=False)
        raise typer.Exit(1)
    console.print(f"{found.id} ({found.partner}) revoked at {found.revoked_at}", markup=False)


@token_app.command("rotate")
def token_rotate(
    token_id: str,
    config: ConfigOption = None,
    db: DbOption = None,
    overlap: Annotated[
        str, typer.Option(help="how long the old token keeps working ('7d', '12h')")
    ] = "7d",
    expires: Annotated[
        str | None, typer.Option(help="the new token's lifetime ('90d'); default never")
    ] = None,
    out: TokenOut = None,
    force: TokenForce = False,
) -> None:
    """Issue a successor (same partner, scopes, customers, label), print it once, and let
    the old token expire after --overlap; revoke the old one early once the partner has
    switched."""
    import getpass

    from intermodal.security.tokens import TokenStateError, rotate

    grace = _duration_or_exit("--overlap", overlap)
    lifetime = _duration_or_exit("--expires", expires) if expires is not None else None
    store = store_or_exit(config, db)
    try:
        done = rotate(store, token_id, grace, f"cli:{getpass.getuser()}", lifetime)
    except TokenStateError as exc:
        errors.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
    if done is None:
        errors.print(f"error: no issued token '{token_id}'", markup=False)
        raise typer.Exit(1)
    new, token, old = done
    _hand_over(token, out, force)
    errors.print(
        f"issued {new.id} for {new.partner}; {old.id} keeps working until {old.expires_at}",
        markup=False,
        highlight=False,
    )


@token_app.command("generate")
def token_generate(out: TokenOut = None, force: TokenForce = False) -> None:
    """Print a fresh token for the configuration file (`partners.<p>.tokens`), stored
    nowhere; the hub issues and stores its own with `token new`."""
    from intermodal.security.tokens import new_token

    _hand_over(new_token(), out, force)


@schemas_app.command("write")
def schemas_write(
    directory: Annotated[Path, typer.Argument(help="output folder")] = Path("schemas/v1"),
) -> None:
    """Regenerate the JSON Schemas of the canonical model."""
    from intermodal.canonical.schemas import write

    for path in write(directory):
        console.print(f"wrote {path}")


def add_plugin_commands(target: typer.Typer) -> None:
    """Add the commands other distributions declare under the `intermodal.commands` entry point.

    The simulators and the demo live in `intermodal-sim` so that the hub's wheel carries none
    of them; where it is not installed, its commands still exist and say how to get them.
    """
    for entry in entry_points(group="intermodal.commands"):
        entry.load()(target)
    known = {c.name for c in target.registered_commands}
    known |= {g.name for g in target.registered_groups}
    for name in SIMULATOR_COMMANDS:
        if name not in known:
            target.command(name, hidden=True, add_help_option=False)(_simulators_missing)


def _simulators_missing() -> None:
    errors.print(
        "error: this command comes with the simulators, which are not installed: "
        "pip install ./sim from a checkout (make run and make test install them)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(2)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
