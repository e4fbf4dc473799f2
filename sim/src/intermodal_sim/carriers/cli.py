"""`intermodal sim carrier --kind parcelpro|freightline`: a carrier simulator in the
foreground, scriptable over HTTP (`POST /_sim/control`, `GET /_sim/labels`)."""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Annotated

import typer
import uvicorn

from intermodal_sim.carriers import freightline, parcelpro
from intermodal_sim.carriers.script import TRACKING_FAULTS, CarrierScript

sim_app = typer.Typer(help="Run partner simulators on loopback.", no_args_is_help=True)


@sim_app.callback()
def simulators() -> None:
    """Partner simulators: real HTTP servers on loopback for tests, benchmarks and demos."""


class CarrierKind(StrEnum):
    PARCELPRO = "parcelpro"
    FREIGHTLINE = "freightline"


@sim_app.command("carrier")
def carrier(
    kind: Annotated[CarrierKind, typer.Option(help="Which carrier API to simulate.")],
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8090,
    host: Annotated[str, typer.Option(help="Address to bind; keep loopback unless needed.")] = (
        "127.0.0.1"
    ),
    secret: Annotated[
        str | None,
        typer.Option(help="API key (parcelpro) or password (freightline); printed if unset."),
    ] = None,
    username: Annotated[str, typer.Option(help="FreightLine Basic-auth user.")] = "intermodal",
    latency_ms: Annotated[float, typer.Option(help="Delay added to every answer.")] = 0.0,
    outage: Annotated[bool, typer.Option(help="Start in an outage (503 to everything).")] = False,
    tracking_faults: Annotated[
        str, typer.Option(help="Comma list of duplicates,gaps,reorder,exception.")
    ] = "",
) -> None:
    """Serve one simulated carrier until interrupted."""
    faults = {f.strip() for f in tracking_faults.split(",") if f.strip()}
    if unknown := faults - TRACKING_FAULTS:
        raise typer.BadParameter(
            f"unknown faults {sorted(unknown)}", param_hint="--tracking-faults"
        )
    script = CarrierScript(outage=outage, latency_ms=latency_ms, tracking_faults=faults)
    if secret is None:
        secret = secrets.token_urlsafe(18)
        typer.echo(f"{kind.value} secret: {secret}")
    if kind is CarrierKind.PARCELPRO:
        app = parcelpro.create_app(script, api_key=secret)
    else:
        app = freightline.create_app(script, username=username, password=secret)
    typer.echo(f"{kind.value} simulator on http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
