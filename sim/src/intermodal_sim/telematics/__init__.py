"""A telematics provider: trucks driving the freight lanes, their devices reporting fixes.

`fleet.py` plans the day from a seed (routes, stops, traffic, a stalled truck, and the
noise of real devices: jitter, gaps, duplicates, late batches, GPS jumps); `player.py`
plays it against a hub through the partner's signed webhooks (one fix, or a batch) and
`POST /v1/events`. `intermodal sim telematics` runs it from the command line; the demo
calls `drive_demo_fleet` (below) with its orders, after adding `partner_config(...)` to
the hub's partners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from intermodal_sim.partner import HubLink
from intermodal_sim.telematics.fleet import Noise, demo_trips, plan_fleet
from intermodal_sim.telematics.player import FleetTally, play


async def drive_demo_fleet(
    link: HubLink,
    orders: Sequence[tuple[str, str]],
    seconds: float,
    seed: int = 7,
    stalled: Iterable[str] = (),
    virtual_hours: float = 8.0,
    progress: Callable[[float], None] | None = None,
    vehicles: Mapping[str, str] | None = None,
) -> FleetTally:
    """Drive a truck for each demo order `(shipment key, customer reference)` for about
    `seconds` of wall time, `virtual_hours` of the trucks' time compressed into it; the
    `stalled` shipments' trucks break down on the way; `vehicles` names an order's truck
    (e.g. the TMS's, whose dispatch assigns it). `link` is the hub's telematics partner
    (examples/partners/telematics/hub.yaml), with its webhook key and token."""
    spread = virtual_hours * 3600 * 0.25
    trips = demo_trips(orders, seed, spread_s=spread, stalled=stalled, vehicles=vehicles)
    horizon = virtual_hours * 3600
    plan = plan_fleet(trips, Noise(), seed, until_s=horizon)
    return await play(link, plan, speedup=max(1.0, horizon / seconds), progress=progress)


def partner_config(examples: Path, secret: str, token: str) -> dict[str, Any]:
    """The hub's `partners.telematics` entry for the simulator, as
    examples/partners/telematics/hub.yaml declares it: `secret` and `token` are references
    (`env:NAME`), `examples` the examples/partners folder."""
    return {
        "kind": "telematics",
        "webhook_secrets": [secret],
        "tokens": [{"token": token, "scopes": ["events:write"]}],
        "mapping": str(examples / "telematics" / "mapping.yaml"),
    }


__all__ = ["drive_demo_fleet", "partner_config"]
