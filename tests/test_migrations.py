"""Alembic migrations on SQLite and PostgreSQL: from empty, status, refusal, model agreement."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from aggregator.errors import SchemaOutOfDateError
from aggregator.storage import Database
from aggregator.storage.base import Base
from aggregator.storage.migrate import (
    MIGRATIONS_DIR,
    ensure_schema_current,
    head_revision,
    schema_status,
    upgrade,
    upgrade_database,
)

TABLES = {
    "feeds",
    "entries",
    "articles",
    "topics",
    "entry_topics",
    "fetch_log",
    "users",
    "scheduler_state",
}


def test_migrations_live_in_the_repository_db_directory() -> None:
    assert MIGRATIONS_DIR.name == "migrations" and MIGRATIONS_DIR.parent.name == "db"
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert head_revision()


def test_upgrade_database_from_empty_then_again(database_url: str) -> None:
    upgrade_database(database_url)
    upgrade_database(database_url)  # a second run is a no-op


async def test_schema_status_and_refusal_on_an_empty_database(database_url: str) -> None:
    db = await Database.open(database_url)
    try:
        assert await schema_status(db) == (None, head_revision())
        with pytest.raises(SchemaOutOfDateError) as error:
            await ensure_schema_current(db)
        assert str(error.value) == (
            f"database schema is at empty (no tables), code expects {head_revision()}: "
            "run `aggregator db upgrade`"
        )
        await upgrade(db)
        assert await schema_status(db) == (head_revision(), head_revision())
        await ensure_schema_current(db)

        def tables(connection: Connection) -> set[str]:
            return set(inspect(connection).get_table_names())

        async with db.engine.connect() as conn:
            assert await conn.run_sync(tables) >= TABLES
    finally:
        await db.close()


async def test_an_old_schema_is_refused_with_the_command_to_run(database_url: str) -> None:
    db = await Database.open(database_url)
    try:
        await upgrade(db, "0001")
        assert head_revision() != "0001"
        with pytest.raises(SchemaOutOfDateError) as error:
            await ensure_schema_current(db)
        assert str(error.value) == (
            f"database schema is at 0001, code expects {head_revision()}: "
            "run `aggregator db upgrade`"
        )
        await upgrade(db)
        await ensure_schema_current(db)
        # a revision this code does not know (a newer release ran here) is refused too
        async with db.transaction() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        with pytest.raises(SchemaOutOfDateError, match="schema is at f00d, code expects"):
            await ensure_schema_current(db)
    finally:
        await db.close()


async def test_downgrade_to_base_and_back(database_url: str) -> None:
    db = await Database.open(database_url)
    try:
        await upgrade(db)
        await upgrade_to(db, "base")
        assert (await schema_status(db))[0] is None
        await upgrade(db)
        await ensure_schema_current(db)
    finally:
        await db.close()


async def upgrade_to(db: Database, revision: str) -> None:
    from alembic import command

    from aggregator.storage.migrate import alembic_config

    config = alembic_config(db.url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


def _only_model_objects(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # The search structures (FTS5 tables, expression indexes) are written by hand in the
    # migration and have no model; alembic_version is Alembic's own.
    if type_ == "table" and name and (name.startswith("search_fts") or name == "alembic_version"):
        return False
    if type_ == "column" and name == "search_vector":
        return False
    return not (type_ == "index" and name == "ix_entries_search_vector")


async def test_models_and_migrations_agree(database_url: str) -> None:
    db = await Database.open(database_url)
    try:
        await upgrade(db)

        def diff(connection: Connection) -> list[Any]:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "include_object": _only_model_objects},
            )
            return list(compare_metadata(context, Base.metadata))

        async with db.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.close()


async def test_upgrade_keeps_existing_rows_searchable(database_url: str) -> None:
    """Rows written under revision 0001 are found by search after upgrading (backfill)."""
    from aggregator import storage
    from aggregator.types import Article, ArticleStatus, EntryPlan, NewFeed
    from tests.storage_helpers import NOW, entry_data, ok_log, ok_update

    db = await Database.open(database_url)
    try:
        await upgrade(db, "0001")
        feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
        written = await storage.apply_poll(
            db,
            feed_id=feed.id,
            owner="w",
            update=ok_update(),
            plan=EntryPlan(new=(entry_data("old", title="Embargo announced"),)),
            log=ok_log(feed.id),
            now=NOW,
        )
        [entry_id] = written.new_entry_ids
        await storage.save_article(
            db, Article(entry_id=entry_id, status=ArticleStatus.OK, text="Centrifuges in Natanz")
        )
        await upgrade(db)
        for word in ("embargo", "natanz"):
            assert [h.entry.id for h in await storage.search_entries(db, word)] == [entry_id]
    finally:
        await db.close()
