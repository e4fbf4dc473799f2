"""`intermodal tower hash-password`: the argon2id hash for a tower user's
`password_hash`, so the configuration holds no password and no reference to one."""

from __future__ import annotations

import getpass
import sys

import typer

from intermodal.cli_options import errors
from intermodal.security.passwords import PasswordError, check_length, hash_password

tower_app = typer.Typer(help="The control tower's operators.", no_args_is_help=True)


@tower_app.command("hash-password")
def hash_password_command() -> None:
    """Print the argon2id hash of a password for `tower.users.<name>.password_hash`.

    At a terminal the password is asked twice, unechoed; otherwise it is the first line
    of standard input (`printf %s "$PW" | intermodal tower hash-password`), so it never
    appears in the shell history or the process list.
    """
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            errors.print("error: the two passwords differ; nothing printed", markup=False)
            raise typer.Exit(1)
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    try:
        check_length(password)
    except PasswordError as exc:
        errors.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    typer.echo(hash_password(password))
    if sys.stdout.isatty():
        errors.print(
            'put it in the configuration quoted: password_hash: "$argon2id$..."', markup=False
        )
