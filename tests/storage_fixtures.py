"""Database fixtures for the storage tests (loaded with ``pytest_plugins``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from aggregator.storage import Database
from aggregator.storage.migrate import upgrade_database
from tests.conftest import POSTGRES_ENV, create_postgres_database, drop_postgres_database

TABLES = (
    "feeds, feed_item_indexes, entries, articles, topics, entry_topics, fetch_log, users,"
    " scheduler_state"
)


@pytest.fixture(scope="session")
def shared_postgres_url() -> Iterator[str | None]:
    """One migrated PostgreSQL database per test session (emptied before each test)."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        yield None
        return
    url, name = create_postgres_database(base)
    try:
        upgrade_database(url)
        yield url
    finally:
        drop_postgres_database(base, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("storage-template") / "template.sqlite3"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(name="db", params=["sqlite", "postgres"])
async def db_fixture(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    shared_postgres_url: str | None,
) -> AsyncIterator[Database]:
    """A migrated, empty database: a fresh SQLite file, and PostgreSQL (emptied)."""
    if request.param == "sqlite":
        target = tmp_path / "aggregator.sqlite3"
        shutil.copyfile(sqlite_template, target)
        database = await Database.open(f"sqlite+aiosqlite:///{target}")
    else:
        if shared_postgres_url is None:
            pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (set by .ci/run)")
        database = await Database.open(shared_postgres_url)
        async with database.transaction() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    try:
        yield database
    finally:
        await database.close()
