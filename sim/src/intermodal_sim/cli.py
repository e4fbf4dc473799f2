"""`intermodal sim carrier|tms|wms|customs|portal|telematics`: one partner simulator in the
foreground.

Each reports to a hub given by `--hub-url` and `--partner`, with the partner's webhook
secret as a reference (`--secret env:NAME` or `file:PATH`, like the hub's configuration).
Without `--secret` a fresh secret is generated and printed once, for a demo: put it where
the hub's partner config reads it. Without `--hub-url` the simulator runs standalone and
only logs what it would have sent (`GET /_sim/sent`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from intermodal.security.secrets import SecretError, new_webhook_secret
from intermodal_sim.carriers.cli import sim_app
from intermodal_sim.customs.app import CustomsScript, CustomsSimulator, Hold
from intermodal_sim.partner import (
    HubLink,
    InboundAuth,
    resolve_token,
    resolve_webhook_key,
    webhook_key_of,
)
from intermodal_sim.portal.app import Portal
from intermodal_sim.tms.app import TmsScript, TmsSimulator
from intermodal_sim.wms.app import WmsScript, WmsSimulator

__all__ = ["sim_app"]

Host = Annotated[str, typer.Option(help="Address to bind; keep loopback unless needed.")]
HubUrl = Annotated[str | None, typer.Option(help="The hub's base URL, e.g. http://127.0.0.1:8080.")]
SecretOpt = Annotated[
    str | None,
    typer.Option(help="The partner's webhook secret: env:NAME or file:PATH (generated if unset)."),
]
InboundOpt = Annotated[
    list[str] | None,
    typer.Option(help="Secret (env:/file:) the hub signs what it sends here with; repeatable."),
]
Seed = Annotated[int, typer.Option(help="Seed of the simulator's choices (drivers, numbers).")]


def _key(reference: str, option: str) -> bytes:
    try:
        return resolve_webhook_key(reference, Path.cwd())
    except SecretError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _link(
    name: str, hub_url: str | None, partner: str, secret: str | None, token: str | None = None
) -> HubLink:
    """The simulator's link to the hub; a generated secret is printed, never a given one."""
    if secret is not None:
        key = _key(secret, "--secret")
    else:
        generated = new_webhook_secret()
        key = webhook_key_of(generated)
        typer.echo(f"{name} webhook secret for hub partner '{partner}': {generated}")
    bearer = None
    if token is not None:
        try:
            bearer = resolve_token(token, Path.cwd())
        except SecretError as exc:
            raise typer.BadParameter(str(exc), param_hint="--token") from None
    if hub_url is None:
        typer.echo(f"{name}: no --hub-url, running standalone (reports are only logged)")
    return HubLink(hub_url, partner, key=key, token=bearer)


def _inbound(references: list[str] | None) -> InboundAuth:
    return InboundAuth([_key(ref, "--inbound-secret") for ref in references or []])


def _serve(name: str, app: object, host: str, port: int) -> None:
    typer.echo(f"{name} simulator on http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)  # type: ignore[arg-type]


def _problem(exc: ValidationError) -> str:
    """The first option problem in words: `faults.0: Input should be 'duplicates', ...`."""
    err = exc.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    found = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint=option)
        found[key] = rest
    return found


@sim_app.command("tms")
def tms(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8091,
    host: Host = "127.0.0.1",
    hub_url: HubUrl = None,
    partner: Annotated[str, typer.Option(help="The hub partner the TMS reports as.")] = "tms",
    secret: SecretOpt = None,
    token: Annotated[
        str | None, typer.Option(help="Bearer token (env:/file:) for EDI posts without a secret.")
    ] = None,
    reply: Annotated[str, typer.Option(help="x12 (990/214/210) or json (webhooks).")] = "x12",
    decline: Annotated[
        list[str] | None, typer.Option(help="Shipment key whose tender is declined; repeatable.")
    ] = None,
    step_delay_ms: Annotated[float, typer.Option(help="Wait between statuses.")] = 1000.0,
    faults: Annotated[
        str, typer.Option(help="Comma list of duplicates,reorder,exception,stall.")
    ] = "",
    settle: Annotated[str, typer.Option(help="After delivery: none, json or x12.")] = "none",
    scac: Annotated[str, typer.Option(help="The TMS's SCAC in its X12 envelopes.")] = "SIMT",
    seed: Seed = 7,
    inbound_secret: InboundOpt = None,
) -> None:
    """A TMS / dispatch system: 204s at POST /edi, REST jobs at POST /v1/jobs."""
    from intermodal_sim.tms.app import TmsControl
    from intermodal_sim.tms.edi import Identity

    try:
        control = TmsControl.model_validate(
            {
                "reply": reply,
                "settle": settle,
                "step_delay_ms": step_delay_ms,
                "faults": [f.strip() for f in faults.split(",") if f.strip()],
                "decisions": dict.fromkeys(decline or [], "decline"),
            }
        )
    except ValidationError as exc:
        raise typer.BadParameter(_problem(exc)) from None
    script = TmsScript(seed=seed, identity=Identity(scac=scac))
    script.apply(control)
    link = _link("tms", hub_url, partner, secret, token)
    _serve("tms", TmsSimulator(script, link, _inbound(inbound_secret)).app(), host, port)


@sim_app.command("wms")
def wms(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8092,
    host: Host = "127.0.0.1",
    hub_url: HubUrl = None,
    partner: Annotated[str, typer.Option(help="The hub partner the WMS reports as.")] = "wms",
    secret: SecretOpt = None,
    stage_delay_ms: Annotated[float, typer.Option(help="Wait before pick, pack and ship.")] = (
        1000.0
    ),
    stock: Annotated[
        list[str] | None, typer.Option(help="SKU=QTY on hand (others unlimited); repeatable.")
    ] = None,
    seed: Seed = 7,
    inbound_secret: InboundOpt = None,
) -> None:
    """A warehouse: pick/pack/ship requests at POST /v1/orders."""
    levels = {}
    for sku, qty in _pairs(stock, "--stock").items():
        if not qty.isdigit():
            raise typer.BadParameter(
                f"{sku}: quantity must be a whole number", param_hint="--stock"
            )
        levels[sku] = int(qty)
    delays = dict.fromkeys(("pick", "pack", "ship"), max(0.0, stage_delay_ms))
    script = WmsScript(seed=seed, stage_delays_ms=delays, stock=levels)
    link = _link("wms", hub_url, partner, secret)
    _serve("wms", WmsSimulator(script, link, _inbound(inbound_secret)).app(), host, port)


@sim_app.command("customs")
def customs(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8093,
    host: Host = "127.0.0.1",
    hub_url: HubUrl = None,
    partner: Annotated[str, typer.Option(help="The hub partner the broker reports as.")] = (
        "customs"
    ),
    secret: SecretOpt = None,
    decision_delay_ms: Annotated[float, typer.Option(help="Wait before hold or release.")] = (
        2000.0
    ),
    hold: Annotated[
        list[str] | None,
        typer.Option(help="SHIPMENT=REASON held until released over /_sim/control; repeatable."),
    ] = None,
    hold_rate: Annotated[float, typer.Option(help="Share of other filings held (0..1).")] = 0.0,
    format: Annotated[str, typer.Option(help="native (broker JSON) or cloudevents.")] = "native",
    seed: Seed = 7,
    inbound_secret: InboundOpt = None,
) -> None:
    """A customs broker: filings at POST /v1/filings."""
    from intermodal_sim.customs.app import CustomsControl

    try:
        control = CustomsControl.model_validate(
            {
                "decision_delay_ms": decision_delay_ms,
                "hold_rate": hold_rate,
                "format": format,
                "holds": {
                    key: Hold(reason=reason or "selected for examination")
                    for key, reason in _pairs(hold, "--hold").items()
                },
            }
        )
    except ValidationError as exc:
        raise typer.BadParameter(_problem(exc)) from None
    script = CustomsScript(seed=seed)
    script.apply(control)
    link = _link("customs", hub_url, partner, secret)
    _serve("customs", CustomsSimulator(script, link, _inbound(inbound_secret)).app(), host, port)


@sim_app.command("portal")
def portal(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8094,
    host: Host = "127.0.0.1",
    secret: Annotated[
        list[str] | None,
        typer.Option(help="A secret (env:/file:) the hub may sign with; repeat during rotation."),
    ] = None,
    tolerance: Annotated[int, typer.Option(help="Accepted webhook-timestamp skew, seconds.")] = (
        300
    ),
) -> None:
    """A customer portal receiving the hub's notifications at POST /hooks."""
    keys = [_key(ref, "--secret") for ref in secret or []]
    if not keys:
        generated = new_webhook_secret()
        keys = [webhook_key_of(generated)]
        typer.echo(f"portal webhook secret (the hub endpoint's secret): {generated}")
    if not 1 <= tolerance <= 86_400:
        raise typer.BadParameter("between 1 and 86400 seconds", param_hint="--tolerance")
    _serve("portal", Portal(tuple(keys), tolerance_seconds=tolerance).app(), host, port)


@sim_app.command("telematics")
def telematics(
    hub_url: HubUrl = None,
    partner: Annotated[str, typer.Option(help="The hub partner the provider posts as.")] = (
        "telematics"
    ),
    secret: SecretOpt = None,
    token: Annotated[
        str | None,
        typer.Option(help="Bearer token (env:/file:) for canonical events on /v1/events."),
    ] = None,
    trucks: Annotated[int, typer.Option(min=1, max=2000, help="Trucks on the road.")] = 12,
    hours: Annotated[
        float, typer.Option(min=0.05, max=72, help="Hours of the trucks' time to play.")
    ] = 4.0,
    speedup: Annotated[
        float, typer.Option(min=1, max=10_000, help="Trucks' seconds per wall second.")
    ] = 60.0,
    channel: Annotated[
        str, typer.Option(help="mixed, bulk (batches), webhook (a fix each) or events.")
    ] = "mixed",
    prefix: Annotated[str, typer.Option(help="Shipment keys: PREFIX-0001, ...")] = "SIM",
    seed: Seed = 7,
) -> None:
    """A telematics provider: trucks on freight lanes posting GPS fixes, noise and all.

    Plays `--hours` of the fleet's day in `--hours * 3600 / --speedup` seconds, then prints
    what was sent. Fixes carry their true times (always in the past), so the speeds the
    hub implies are the trucks' own whatever the speed-up."""
    import asyncio

    from intermodal_sim.telematics.fleet import CHANNELS, Noise, fleet_trips, plan_fleet
    from intermodal_sim.telematics.player import play

    chosen = {"mixed": CHANNELS, "bulk": ("bulk",), "webhook": ("webhook",), "events": ("events",)}
    if channel not in chosen:
        raise typer.BadParameter("mixed, bulk, webhook or events", param_hint="--channel")
    channels = chosen[channel]
    if token is None and "events" in channels:
        if channel == "events":
            raise typer.BadParameter("canonical events need --token", param_hint="--channel")
        channels = tuple(c for c in channels if c != "events")  # webhooks need no token
    link = _link("telematics", hub_url, partner, secret, token)
    plan = plan_fleet(
        fleet_trips(trucks, seed, prefix, spread_s=min(1800.0, hours * 900), channels=channels),
        Noise(),
        seed,
        until_s=hours * 3600,
    )
    typer.echo(
        f"telematics: {trucks} trucks, {len(plan.deliveries)} messages over"
        f" {plan.horizon_s / 3600:.1f} h of their time, {plan.horizon_s / speedup:.0f} s of yours"
    )
    tally = asyncio.run(play(link, plan, speedup=speedup))
    typer.echo(
        f"sent {tally.messages} messages ({tally.fixes} fixes): {tally.accepted} accepted,"
        f" {tally.duplicates} duplicates, {tally.failed} failed, {tally.logged} only logged"
    )
    for error in tally.errors[:5]:
        typer.echo(f"  {error}")
    if tally.failed:
        raise typer.Exit(1)
