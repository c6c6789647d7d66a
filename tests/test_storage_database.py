"""The Database handle: SQLite settings, URL helpers, PostgreSQL row locking for leases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from aggregator import storage
from aggregator.errors import ConfigError
from aggregator.storage import Database, default_sqlite_url, sqlite_path
from aggregator.storage.migrate import upgrade
from aggregator.storage.models import feeds_table
from aggregator.types import NewFeed
from tests.storage_helpers import NOW


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new' / 'dir' / 'aggregator.sqlite3'}"
    db = await Database.open(url)  # creates the missing parent directories
    try:
        await db.ping()
        assert db.dialect == "sqlite"
        async with db.read() as conn:
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert pragmas == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": 5000,
            "synchronous": 1,  # NORMAL
        }
    finally:
        await db.close()
    assert (tmp_path / "new" / "dir" / "aggregator.sqlite3").is_file()


async def test_foreign_keys_cascade_on_sqlite(sqlite_url: str) -> None:
    db = await Database.open(sqlite_url)
    try:
        await upgrade(db)
        feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
        async with db.transaction() as conn:
            await conn.execute(
                text(
                    "INSERT INTO fetch_log (feed_id, started_at, outcome, duration_s, bytes_read,"
                    " new_entries, updated_entries) VALUES (:f, '2026-01-01', 'ok', 0, 0, 0, 0)"
                ),
                {"f": feed.id},
            )
        await storage.remove_feed(db, feed.url)
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM fetch_log"))).scalar_one() == 0
    finally:
        await db.close()


async def test_sqlite_timestamps_are_stored_as_one_sortable_text(sqlite_url: str) -> None:
    # SQLite compares timestamps as text ("is this feed due?"): every writer must produce
    # the same fixed format, in UTC, whatever the offset of the value it was given.
    db = await Database.open(sqlite_url)
    try:
        await upgrade(db)
        offset = timezone(timedelta(hours=-5))
        moments = [
            datetime(2026, 3, 1, 7, 0, tzinfo=offset),  # 12:00 UTC
            datetime(2026, 3, 1, 12, 0, 0, 123, tzinfo=UTC),
            datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        ]
        for n, moment in enumerate(moments):
            await storage.add_feed(db, NewFeed(f"https://a.example/{n}"), now=moment)
        async with db.read() as conn:
            stored = (
                await conn.execute(text("SELECT created_at FROM feeds ORDER BY id"))
            ).scalars()
            assert list(stored) == [
                "2026-03-01 12:00:00.000000",
                "2026-03-01 12:00:00.000123",
                "0999-01-02 03:04:05.000006",
            ]
            read_back = (
                await conn.execute(select(feeds_table.c.created_at).order_by(feeds_table.c.id))
            ).scalars()
            assert list(read_back) == [m.astimezone(UTC) for m in moments]
    finally:
        await db.close()


def test_url_helpers(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'aggregator.sqlite3'}"
    assert sqlite_path(url) == tmp_path.resolve() / "aggregator.sqlite3"
    assert sqlite_path("postgresql+asyncpg://u@h/db") is None
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None


async def test_unsupported_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="postgresql\\+asyncpg://"):
        await Database.open("mysql+aiomysql://u@h/db")


async def test_claims_skip_rows_locked_by_another_postgresql_transaction(
    postgres_url: str,
) -> None:
    """FOR UPDATE SKIP LOCKED: a claimer neither waits for nor takes rows another holds."""
    setup = await Database.open(postgres_url)
    other = await Database.open(postgres_url)
    try:
        await upgrade(setup)
        feeds, _ = await storage.add_feeds(
            setup, [NewFeed(f"https://f{n}.example/") for n in range(6)], now=NOW
        )
        locked_ids = [feeds[0].id, feeds[1].id]
        async with other.transaction() as conn:
            await conn.execute(
                select(feeds_table.c.id).where(feeds_table.c.id.in_(locked_ids)).with_for_update()
            )
            # The guard only turns a hang into a failure; nothing is timed.
            claimed = await asyncio.wait_for(
                storage.claim_due_feeds(setup, now=NOW, limit=10, owner="w", lease_s=60),
                timeout=30,
            )
        assert sorted(f.id for f in claimed) == sorted(f.id for f in feeds[2:])
        rest = await storage.claim_due_feeds(setup, now=NOW, limit=10, owner="w2", lease_s=60)
        assert sorted(f.id for f in rest) == sorted(locked_ids)
    finally:
        await other.close()
        await setup.close()


async def test_postgresql_connections_recover_after_the_server_drops_them(
    postgres_url: str,
) -> None:
    """A restarted server kills pooled connections; the next call must simply work."""
    db = await Database.open(postgres_url)
    admin = await Database.open(postgres_url)
    try:
        await upgrade(db)
        await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
        async with admin.transaction() as conn:
            killed = await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert any(killed.scalars())
        assert [f.url for f in await storage.list_feeds(db)] == ["https://a.example/feed"]
    finally:
        await admin.close()
        await db.close()


async def test_write_rolls_back_everything_on_an_error(database_url: str) -> None:
    """Database.write (the path of every poll write) is all-or-nothing on both dialects."""
    from sqlalchemy.engine import Connection

    db = await Database.open(database_url)
    try:
        await upgrade(db)

        def half_done(conn: Connection) -> None:
            conn.execute(feeds_table.insert().values(url="https://a.example/", created_at=NOW))
            raise RuntimeError("crash between two statements")

        with pytest.raises(RuntimeError, match="crash between"):
            await db.write(half_done)
        assert await storage.list_feeds(db) == []

        def count_feeds(conn: Connection) -> int:
            return len(conn.execute(select(feeds_table.c.id)).all())

        await storage.add_feed(db, NewFeed("https://b.example/"), now=NOW)
        assert await db.read_with(count_feeds) == 1
    finally:
        await db.close()


async def test_in_memory_sqlite_works_end_to_end() -> None:
    """Handy for quick experiments: every path, sync writer included, sees one database."""
    from aggregator.types import EntryPlan
    from tests.storage_helpers import entry_data, ok_log, ok_update

    db = await Database.open("sqlite+aiosqlite://")
    try:
        await upgrade(db)
        feed = await storage.add_feed(db, NewFeed("https://a.example/"), now=NOW)
        written = await storage.apply_poll(
            db,
            feed_id=feed.id,
            owner="w",
            update=ok_update(),
            plan=EntryPlan(new=(entry_data("a"),)),
            log=ok_log(feed.id),
            now=NOW,
        )
        assert [f.entry_count for f in await storage.list_feeds(db)] == [1]
        assert set(await storage.entry_states(db, feed.id, ["a"])) == {"a"}
        assert len(written.new_entry_ids) == 1
    finally:
        await db.close()
