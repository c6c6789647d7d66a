"""`aggregator db upgrade|current|backup`: schema migrations and online backups."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from aggregator.storage import Database, backup_sqlite
from aggregator.storage.migrate import schema_status, upgrade


def _database_url(ctx: click.Context) -> str:
    url: str = ctx.obj.settings.database_url
    return url


def _shown(url: str) -> str:
    """The URL without its password, for printing."""
    return make_url(url).render_as_string(hide_password=True)


@click.group("db")
def db_group() -> None:
    """Database schema and backups."""


@db_group.command("upgrade")
@click.pass_context
def upgrade_command(ctx: click.Context) -> None:
    """Apply every pending migration (creates the database if needed)."""
    url = _database_url(ctx)

    async def run() -> tuple[str | None, str | None, str]:
        db = await Database.open(url)
        try:
            before, head = await schema_status(db)
            await upgrade(db)
            after, _ = await schema_status(db)
            return before, after, head
        finally:
            await db.close()

    before, after, head = asyncio.run(run())
    if before == after:
        click.echo(f"{_shown(url)}: already at {after} (head)")
    else:
        click.echo(f"{_shown(url)}: upgraded from {before or 'empty'} to {after} (head {head})")


@db_group.command("current")
@click.pass_context
def current_command(ctx: click.Context) -> None:
    """Show the database's schema revision and the one this code expects."""
    url = _database_url(ctx)

    async def run() -> tuple[str | None, str]:
        db = await Database.open(url)
        try:
            return await schema_status(db)
        finally:
            await db.close()

    current, head = asyncio.run(run())
    state = "up to date" if current == head else "out of date: run `aggregator db upgrade`"
    click.echo(f"{_shown(url)}: at {current or 'empty (no tables)'}, code expects {head}; {state}")


@db_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup_command(ctx: click.Context, file: Path) -> None:
    """Write a consistent copy of the live SQLite database to FILE (safe while running)."""
    url = _database_url(ctx)

    async def run() -> Path:
        db = await Database.open(url)
        try:
            return await backup_sqlite(db, file)
        finally:
            await db.close()

    target = asyncio.run(run())
    click.echo(f"backup written to {target} ({target.stat().st_size:,} bytes)")


commands: list[click.Command] = [db_group]
