"""Alembic environment for both SQLite and PostgreSQL, driven by the async engine.

`aggregator db upgrade` (aggregator.storage.migrate) hands over an open connection in
``config.attributes["connection"]``; run by hand (`alembic -c db/alembic.ini upgrade head`)
the URL comes from ``sqlalchemy.url`` or AGGREGATOR_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from aggregator.storage import models  # noqa: F401  (registers every table)
from aggregator.storage.base import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:  # run by hand: log like the alembic command does
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables when needed.
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite runs DDL inside transactions too (the engine issues BEGIN itself), so a
        # failed migration leaves nothing half-applied on either database.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("AGGREGATOR_DATABASE_URL")
    if not url:
        raise SystemExit("set AGGREGATOR_DATABASE_URL (or sqlalchemy.url) to migrate by hand")
    return url


async def _run_async() -> None:
    from aggregator.storage.database import Database

    db = await Database.open(_url())
    try:
        async with db.engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await db.close()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
