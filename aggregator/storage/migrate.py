"""Schema migrations (Alembic scripts in the repository's ``db/migrations``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import aggregator
from aggregator.errors import SchemaOutOfDateError
from aggregator.storage.database import Database

# The project runs from an editable install, so db/ sits beside the aggregator package.
MIGRATIONS_DIR = Path(aggregator.__file__).resolve().parents[1] / "db" / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # "%" would be read as interpolation by configparser.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


async def upgrade(db: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on an open database."""
    config = alembic_config(db.url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with db.engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to date (blocking; not for use inside an event loop)."""

    async def run() -> None:
        db = await Database.open(url)
        try:
            await upgrade(db, revision)
        finally:
            await db.close()

    asyncio.run(run())


async def schema_status(db: Database) -> tuple[str | None, str]:
    """(current revision or None for an empty database, head revision of the code)."""

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as conn:
        revision = await conn.run_sync(current)
    return revision, head_revision()


async def ensure_schema_current(db: Database) -> None:
    """Refuse to run on a schema older (or newer) than the code expects."""
    current, head = await schema_status(db)
    if current != head:
        shown = current or "empty (no tables)"
        raise SchemaOutOfDateError(
            f"database schema is at {shown}, code expects {head}: run `aggregator db upgrade`"
        )
