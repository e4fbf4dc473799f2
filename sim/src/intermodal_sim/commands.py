"""The commands this distribution adds to `intermodal`: `demo`, `sim` and `odoo-sim`.

Found by the hub's CLI through the `intermodal.commands` entry point, so the hub's own
wheel carries no simulator and still offers the commands once `intermodal-sim` is installed.
"""

from __future__ import annotations

import typer

from intermodal_sim.cli import sim_app
from intermodal_sim.demo.cli import demo
from intermodal_sim.odoo.cli import odoo_sim


def register(app: typer.Typer) -> None:
    app.add_typer(
        sim_app, name="sim", help="Partner simulators: carrier, tms, wms, customs, portal."
    )
    app.command("odoo-sim", help="Run the Odoo test server (JSON-2, JSON-RPC, XML-RPC).")(odoo_sim)
    app.command("demo")(demo)
