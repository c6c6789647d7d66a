"""Curator accounts: `users add NAME` (password prompted twice, or read from stdin),
`users passwd NAME`, `users list`."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC

import click

from aggregator import storage
from aggregator.cli.runtime import database
from aggregator.config import Settings
from aggregator.errors import AggregatorError
from aggregator.types import User
from web.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password

MAX_NAME_CHARS = 255


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: the password (a trailing newline from `echo` is not part of it).
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            "Password", hide_input=True, confirmation_prompt="Repeat the password"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AggregatorError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AggregatorError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise AggregatorError("a user name needs 1 to 255 printable characters")
    return name


@click.group("users")
def users_group() -> None:
    """Curator accounts for the web view."""


@users_group.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def add_user(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Create curator NAME; asks for the password twice (or reads it with --password-stdin)."""
    settings: Settings = ctx.obj.settings
    name = _check_name(name)
    password_hash = hash_password(_read_password(password_stdin))

    async def run() -> None:
        async with database(settings) as db:
            await storage.add_user(db, name, password_hash)

    asyncio.run(run())
    click.echo(f"curator {name} added; sign in at /login")


@users_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def change_password(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a new password for curator NAME (and lift any lockout)."""
    settings: Settings = ctx.obj.settings
    password_hash = hash_password(_read_password(password_stdin))

    async def run() -> bool:
        async with database(settings) as db:
            return await storage.set_password_hash(db, name, password_hash)

    if not asyncio.run(run()):
        raise AggregatorError(f"there is no curator named {name!r} (see `aggregator users list`)")
    click.echo(f"password of {name} changed")


@users_group.command("list")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    """List curators."""
    settings: Settings = ctx.obj.settings

    async def run() -> list[User]:
        async with database(settings) as db:
            return await storage.list_users(db)

    for user in asyncio.run(run()):
        locked = ""
        if user.locked_until is not None:
            locked = f"  (locked until {user.locked_until.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
        click.echo(f"{user.name}{locked}")


commands: list[click.Command] = [users_group]
