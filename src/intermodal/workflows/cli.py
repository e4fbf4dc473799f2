"""`intermodal flows`: list the flows, check flow files, regenerate docs/flows.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intermodal.workflows.docs import flows_markdown, mermaid, write
from intermodal.workflows.spec import FlowError, load_flows, parse_flow

flows_app = typer.Typer(help="The order-to-cash flows (docs/flows.md).", no_args_is_help=True)


@flows_app.command("list")
def list_flows() -> None:
    """Each flow with its states and transitions."""
    for flow in load_flows().values():
        names = ", ".join(t.name for t in flow.transitions)
        typer.echo(f"{flow.flow}: states {', '.join(flow.states)}; transitions {names}")


@flows_app.command("check")
def check(files: Annotated[list[Path], typer.Argument(help="flow files (YAML)")]) -> None:
    """Check flow files; exit 1 naming the file, flow and field of each mistake."""
    failed = False
    for path in files:
        try:
            flow = parse_flow(path.read_text(encoding="utf-8"), path.name)
        except (OSError, FlowError) as exc:
            typer.echo(f"error: {exc}", err=True)
            failed = True
            continue
        typer.echo(f"{path.name}: flow '{flow.flow}' ok ({len(flow.transitions)} transitions)")
    raise typer.Exit(1 if failed else 0)


@flows_app.command("diagram")
def diagram(name: Annotated[str, typer.Argument(help="a flow's name")]) -> None:
    """A flow's mermaid state diagram."""
    flows = load_flows()
    if name not in flows:
        typer.echo(f"error: no flow named '{name}' (known: {', '.join(flows)})", err=True)
        raise typer.Exit(1)
    typer.echo(mermaid(flows[name]))


@flows_app.command("docs")
def docs(
    path: Annotated[Path, typer.Option(help="the document to update")] = Path("docs/flows.md"),
    write_file: Annotated[bool, typer.Option("--write", help="update the file in place")] = False,
) -> None:
    """Print the generated part of docs/flows.md, or (--write) update the file."""
    if not write_file:
        typer.echo(flows_markdown(), nl=False)
        return
    changed = write(path)
    typer.echo(f"{path}: {'updated' if changed else 'up to date'}")
