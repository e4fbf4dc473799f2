"""`intermodal edi parse FILE`: what an X12 or EDIFACT file holds, or why it cannot be read.

For the operator holding a partner's file: it prints the interchanges, groups and
transaction sets (messages) with their control numbers and segment counts, or exits 1 with
one line naming the segment number and element position. It never prints a traceback,
whatever the bytes: a partner's file is not a reason for a stack dump.

Registered by the main CLI as `app.add_typer(edi_app, name="edi")`; also runnable alone as
`python -m intermodal.edi.cli parse FILE`.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from intermodal.edi import edifact, x12
from intermodal.edi.errors import EdiError, EdiSyntaxError, Location, Mode

edi_app = typer.Typer(
    help="Read X12 and EDIFACT documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class ModeChoice(StrEnum):
    reject = "reject"
    warn = "warn"


@edi_app.callback()
def _edi() -> None:
    """Read X12 (004010) and EDIFACT (D00B/D01B) documents."""


def parse_document(
    data: bytes,
    mode: Mode = "reject",
    partner: str | None = None,
    document: str | None = None,
    envelope: edifact.Envelope = "required",
) -> x12.X12Document | edifact.EdifactDocument:
    """X12 or EDIFACT, told apart by the first segment (ISA, or UNA/UNB; UNH too when
    `envelope` is optional, as for a partner with `edi.envelope: optional`)."""
    if x12.looks_like_x12(data):
        return x12.parse_x12(data, mode, partner=partner, document=document)
    if edifact.looks_like_edifact(data) or envelope == "optional":
        return edifact.parse_edifact(
            data, mode, partner=partner, document=document, envelope=envelope
        )
    raise EdiSyntaxError(
        "syntax",
        "neither X12 (starts with ISA) nor EDIFACT (starts with UNA or UNB)",
        Location(partner=partner, document=document, segment_number=1),
    )


def summary(doc: x12.X12Document | edifact.EdifactDocument) -> dict[str, Any]:
    """The `--json` shape: interchanges -> groups -> transactions, and the warnings."""
    interchanges: list[dict[str, Any]] = []
    if isinstance(doc, x12.X12Document):
        for ic in doc.interchanges:
            interchanges.append(
                {
                    "standard": "X12",
                    "version": ic.version,
                    "control_number": ic.control_number,
                    "sender": ic.sender,
                    "sender_qualifier": ic.sender_qualifier,
                    "receiver": ic.receiver,
                    "receiver_qualifier": ic.receiver_qualifier,
                    "usage": ic.usage,
                    "segment": ic.number,
                    "groups": [
                        {
                            "control_number": g.control_number,
                            "functional_id": g.functional_id,
                            "version": g.version,
                            "sender": g.sender,
                            "receiver": g.receiver,
                            "segment": g.number,
                            "transactions": [
                                {
                                    "set": t.set_id,
                                    "control_number": t.control_number,
                                    "segments": t.segment_count,
                                    "segment": t.number,
                                }
                                for t in g.transactions
                            ],
                        }
                        for g in ic.groups
                    ],
                }
            )
    else:
        for eic in doc.interchanges:
            interchanges.append(
                {
                    "standard": "EDIFACT",
                    "version": f"{eic.syntax_id}:{eic.syntax_version}",
                    "control_number": eic.control_reference,
                    "sender": eic.sender,
                    "receiver": eic.recipient,
                    "segment": eic.number,
                    "groups": [
                        {
                            "control_number": eg.reference,
                            "functional_id": eg.functional_id,
                            "implicit": eg.implicit,
                            "segment": eg.number,
                            "transactions": [
                                {
                                    "set": m.type,
                                    "directory": m.directory,
                                    "control_number": m.reference,
                                    "segments": m.segment_count,
                                    "segment": m.number,
                                }
                                for m in eg.messages
                            ],
                        }
                        for eg in eic.groups
                    ],
                }
            )
    return {"interchanges": interchanges, "warnings": [w.to_dict() for w in doc.warnings]}


def _tree(data: dict[str, Any], name: str) -> Tree:
    root = Tree(Text(name, style="bold"))
    for ic in data["interchanges"]:
        groups = ic["groups"]
        label = Text.assemble(
            ("interchange ", "bold"),
            (ic["control_number"] or "(none)", "cyan"),
            f"  {ic['standard']} {ic['version']}  {ic['sender']} -> {ic['receiver']}",
            f"  ({len(groups)} group{'s' if len(groups) != 1 else ''})",
        )
        branch = root.add(label)
        for group in groups:
            txs = group["transactions"]
            kind = "implicit group" if group.get("implicit") else "group"
            glabel = Text.assemble(
                (f"{kind} ", "bold"),
                (group["control_number"] or "-", "cyan"),
                f"  {group['functional_id']}",
                f"  ({len(txs)} transaction set{'s' if len(txs) != 1 else ''})",
            )
            gbranch = branch.add(glabel)
            for tx in txs:
                gbranch.add(
                    Text.assemble(
                        (tx["set"] or "?", "green"),
                        f" {tx.get('directory', '')}".rstrip(),
                        "  control ",
                        (tx["control_number"] or "-", "cyan"),
                        f"  {tx['segments']} segments (from segment {tx['segment']})",
                    )
                )
    return root


@edi_app.command("parse")
def parse_command(
    file: Annotated[Path, typer.Argument(help="an X12 or EDIFACT file")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a tree")] = False,
    mode: Annotated[
        ModeChoice, typer.Option(help="reject: stop at the first problem; warn: list them")
    ] = ModeChoice.reject,
    partner: Annotated[str | None, typer.Option(help="partner name for the report")] = None,
    bare: Annotated[
        bool,
        typer.Option(
            "--bare",
            help="also read EDIFACT messages without UNB/UNZ (a partner's edi.envelope: optional)",
        ),
    ] = False,
) -> None:
    """Print the interchanges, groups and transaction sets FILE holds, or why it is rejected."""
    # Not a terminal (a pipe, a log, a test): wide enough that no label is cut.
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        data = file.read_bytes()
    except OSError as exc:
        err.print(Text(f"error: cannot read {file}: {exc.strerror or exc}", style="red"))
        raise typer.Exit(1) from None
    try:
        doc = parse_document(
            data, mode.value, partner, file.name, "optional" if bare else "required"
        )
    except EdiError as exc:
        if as_json:
            sys.stdout.write(orjson.dumps({"error": exc.to_dict()}).decode() + "\n")
        err.print(Text(f"error: {exc}", style="red"))
        raise typer.Exit(1) from None
    except Exception as exc:  # a parser bug must still not print a traceback to an operator
        err.print(Text(f"error: internal error reading {file}: {exc!r}", style="red"))
        raise typer.Exit(1) from None
    result = summary(doc)
    if as_json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    out.print(_tree(result, str(file)))
    for warning in doc.warnings:
        out.print(Text(f"warning: {warning}", style="yellow"))


def main() -> None:
    edi_app(prog_name="intermodal edi")


if __name__ == "__main__":
    main()
