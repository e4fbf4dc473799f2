"""The `intermodal` command: serve the hub, inspect and replay, verify the audit chain."""

from __future__ import annotations

import secrets as _secrets

import typer

app = typer.Typer(
    name="intermodal",
    help="Integration hub for logistics companies that run Odoo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

secret_app = typer.Typer(help="Generate partner secrets.", no_args_is_help=True)
app.add_typer(secret_app, name="secret")


@secret_app.command("new")
def secret_new() -> None:
    """Print a fresh Standard Webhooks secret (`whsec_` + base64 of 32 random bytes)."""
    import base64

    typer.echo("whsec_" + base64.b64encode(_secrets.token_bytes(32)).decode())


def main() -> None:
    app()
