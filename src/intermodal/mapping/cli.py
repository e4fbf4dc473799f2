"""`intermodal mapping try` and `intermodal quarantine list|show|replay`.

`mapping try` is how a newcomer writes a mapping: run a partner's sample through it and
read the canonical events, or the one error with its path, without starting a hub. It
reads the mapping file from disk each time, so edit, try, edit again. Without `-c` it finds
the partner in the configurations a checkout has (`DEFAULT_CONFIGS`), so the examples in
the README and docs/partners.md run as typed from the repository root. Neither command ever
prints a traceback: a mistake is a message and exit status 1 (2 for a bad configuration).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from intermodal.cli_options import ConfigOption, DbOption, errors, settings_or_exit, store_or_exit
from intermodal.config import Partner
from intermodal.engine.normalize import NormalizeError, canonical
from intermodal.mapping.quarantine import get_quarantined, list_quarantined, replay
from intermodal.mapping.spec import MappingError, load_mapping

mapping_app = typer.Typer(help="Try partner mappings on sample messages.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Messages that could not be mapped: list, show, replay.", no_args_is_help=True
)

console = Console()

DEFAULT_CONFIGS: tuple[Path, ...] = (
    Path("intermodal.yaml"),
    Path("examples/intermodal.yaml"),
    Path("examples/partners/hub.yaml"),
    Path("var/demo/intermodal.yaml"),
)
"""Where `mapping try` looks for a partner when no configuration is given (relative to the
current folder, first match wins): a hub's own file, the example hub `make serve` runs,
the example partners of docs/partners.md, and the configuration `intermodal demo` wrote.
A newcomer trying a sample should not first have to learn which file names the partner."""


def _fail(message: str) -> typer.Exit:
    errors.print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(1)


@mapping_app.command("try")
def mapping_try(
    partner: Annotated[str, typer.Argument(help="the partner whose mapping to use")],
    file: Annotated[Path, typer.Argument(help="a sample message (JSON, X12 or EDIFACT)")],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array")] = False,
) -> None:
    """Print the canonical events FILE maps to, or the error with its path.

    Without -c (or INTERMODAL_CONFIG) the partner is looked up in intermodal.yaml,
    examples/intermodal.yaml, examples/partners/hub.yaml and var/demo/intermodal.yaml.
    """
    found, source = _find_partner(partner, config)
    try:
        body = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from None
    try:
        if found.mapping is None:
            normalized = canonical(partner, "webhook", "application/json", body)
            how = "no mapping: read as canonical CloudEvents"
        else:
            mode = found.edi.mode if found.edi is not None else "reject"
            normalized = load_mapping(found.mapping, partner, mode).normalize(body)
            how = f"mapping {found.mapping}"
    except MappingError as exc:
        raise _fail(str(exc)) from None
    except NormalizeError as exc:
        for other in exc.skipped[1:]:
            errors.print(f"{file}: also: {other}", markup=False, highlight=False)
        raise _fail(f"{file}: {exc} (quarantined: this message would not be applied)") from None
    except Exception as exc:  # a partner's own reader: report it, never a traceback
        raise _fail(f"{file}: the mapping failed: {type(exc).__name__}: {exc}") from None
    events: list[Any] = [
        orjson.loads(event.model_dump_json(exclude_none=True)) for event, _ in normalized
    ]
    if as_json:
        typer.echo(json.dumps(events, indent=2))
    else:
        errors.print(
            f"{len(events)} event(s) from {file} ({how}; partner '{partner}' from {source})",
            markup=False,
            highlight=False,
        )
        for event in events:
            typer.echo(json.dumps(event, separators=(",", ":")))
    if normalized.skipped:  # the hub applies the others and lists these on the receipt
        for item in normalized.skipped:
            errors.print(f"{file}: skipped: {item}", markup=False, highlight=False)
        raise _fail(
            f"{file}: {len(normalized.skipped)} item(s) cannot be read (quarantined: the"
            " hub would apply the other events and list these on the message's receipt)"
        )


def _find_partner(partner: str, config: Path | None) -> tuple[Partner, Path]:
    """The partner and the configuration file that named it; the message for a partner
    found nowhere says which files were read and what they name, and how to point at
    another one."""
    how = "give the configuration that names it with -c FILE (or INTERMODAL_CONFIG)"
    if config is not None:
        settings = settings_or_exit(config, resolve_secrets=False)
        found = settings.partners.get(partner)
        if found is None:
            raise _fail(
                f"no partner named '{partner}' in {config} ({_names(settings.partners)}); {how}"
            )
        return found, config
    read: list[str] = []
    for candidate in DEFAULT_CONFIGS:
        if not candidate.is_file():
            read.append(f"{candidate} (not found)")
            continue
        settings = settings_or_exit(candidate, resolve_secrets=False)
        found = settings.partners.get(partner)
        if found is not None:
            return found, candidate
        read.append(f"{candidate} ({_names(settings.partners)})")
    raise _fail(
        f"no partner named '{partner}': no configuration given, and none of the default ones"
        f" in {Path.cwd()} names it: {'; '.join(read)}. Run from the repository root, or {how}"
    )


def _names(partners: dict[str, Partner]) -> str:
    return f"partners: {', '.join(sorted(partners))}" if partners else "no partners"


@quarantine_app.command("list")
def quarantine_list(
    config: ConfigOption = None,
    db: DbOption = None,
    partner: Annotated[str | None, typer.Option(help="only this partner")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List quarantined (rejected) messages, oldest first, with the reason."""

    items, total = list_quarantined(store_or_exit(config, db), partner, limit)
    if as_json:
        typer.echo(json.dumps({"total": total, "items": items}, indent=2))
        return
    table = Table(title=f"quarantined messages: {total}")
    for column in ("receipt_id", "partner", "channel", "received_at", "error"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            item["receipt_id"],
            item["partner"],
            item["channel"],
            item["received_at"],
            (item["error"] or "")[:200],
        )
    console.print(table)


@quarantine_app.command("show")
def quarantine_show(receipt_id: str, config: ConfigOption = None, db: DbOption = None) -> None:
    """One quarantined message: the reason and the raw message as received."""

    found = get_quarantined(store_or_exit(config, db), receipt_id)
    if found is None:
        raise _fail(f"no quarantined message '{receipt_id}'")
    typer.echo(json.dumps(found, indent=2))


@quarantine_app.command("replay")
def quarantine_replay(
    config: ConfigOption = None,
    db: DbOption = None,
    receipt_id: Annotated[
        list[str] | None, typer.Option("--id", help="a receipt id (repeatable)")
    ] = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="every quarantined message (with --partner: of one)")
    ] = False,
    partner: Annotated[str | None, typer.Option(help="only this partner")] = None,
) -> None:
    """Send quarantined messages through normalize again (after fixing the mapping)."""

    if not replay_all and not receipt_id:
        errors.print("give --id RECEIPT (repeatable) or --all")
        raise typer.Exit(2)
    store = store_or_exit(config, db)
    count = replay(store, f"cli:{getpass.getuser()}", receipt_id, replay_all, partner)
    console.print(f"replayed {count} quarantined message(s)")
    if receipt_id and not replay_all and count < len(receipt_id):
        raise typer.Exit(1)
