"""Retention, fetch-log trimming, backup, health summary and users on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aggregator import storage
from aggregator.errors import AggregatorError
from aggregator.storage import Database
from aggregator.storage.models import scheduler_state_table
from aggregator.types import (
    EntryPlan,
    ErrorKind,
    FeedStatus,
    FetchLogRecord,
    FetchOutcome,
    MatchState,
    NewFeed,
)
from tests.storage_helpers import NOW, entry_data, ok_log, ok_update

pytest_plugins = ["tests.storage_fixtures"]

OLD = NOW - timedelta(days=100)


async def test_prune_never_deletes_pinned_or_approved(db: Database) -> None:
    await storage.upsert_topic(db, "t", "T", "", "r")
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=OLD)
    names = ["pinned", "approved", "hidden", "auto", "plain"]
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(OLD),
        plan=EntryPlan(new=tuple(entry_data(n, published_at=OLD) for n in names)),
        log=ok_log(feed.id, OLD),
        now=OLD,
    )
    ids = dict(zip(names, result.new_entry_ids, strict=True))
    recent = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(),
        plan=EntryPlan(new=(entry_data("recent", published_at=NOW),)),
        log=ok_log(feed.id),
        now=NOW,
    )
    await storage.set_decision(db, ids["pinned"], "t", MatchState.PINNED, "c", NOW)
    await storage.set_decision(db, ids["approved"], "t", MatchState.APPROVED, "c", NOW)
    await storage.set_decision(db, ids["hidden"], "t", MatchState.HIDDEN, "c", NOW)
    await storage.set_decision(db, ids["auto"], "t", MatchState.AUTO, "c", NOW)

    deleted = await storage.prune_entries(db, older_than=NOW - timedelta(days=30))
    assert deleted == 3
    left = await storage.entry_states(db, feed.id, [*names, "recent"])
    assert set(left) == {"pinned", "approved", "recent"}
    assert left["recent"].entry_id == recent.new_entry_ids[0]
    assert await storage.topic_counts(db) == {"t": 2}


async def test_trim_fetch_log(db: Database) -> None:
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    for days in (40, 20, 1):
        when = NOW - timedelta(days=days)
        await storage.apply_poll(
            db,
            feed_id=feed.id,
            owner="w",
            update=ok_update(when),
            plan=EntryPlan(),
            log=ok_log(feed.id, when),
            now=when,
        )
    assert await storage.trim_fetch_log(db, keep_days=30, now=NOW) == 1
    assert await storage.trim_fetch_log(db, keep_days=30, now=NOW) == 0
    assert await storage.trim_fetch_log(db, keep_days=10, now=NOW) == 1


async def test_status_summary_and_ticks(db: Database) -> None:
    feeds, _ = await storage.add_feeds(
        db, [NewFeed(f"https://f{n}.example/") for n in range(4)], now=NOW - timedelta(hours=2)
    )
    broken = ok_update(
        status=FeedStatus.ERROR,
        error_count=3,
        last_error="HTTP 500 from the server",
        last_error_at=NOW,
        first_error_at=NOW,
        last_success_at=None,
    )
    for feed in feeds[:2]:
        await storage.apply_poll(
            db,
            feed_id=feed.id,
            owner="w",
            update=broken,
            plan=EntryPlan(new=(entry_data(f"x{feed.id}"),)),
            log=FetchLogRecord(
                feed_id=feed.id,
                started_at=NOW,
                outcome=FetchOutcome.ERROR,
                status=500,
                duration_s=0.1,
                bytes_read=0,
                new_entries=0,
                updated_entries=0,
                error="HTTP 500 from the server",
                error_kind=ErrorKind.HTTP,
            ),
            now=NOW,
        )
    await storage.set_feed_disabled(db, feeds[3].id, True)
    assert await storage.last_tick(db) is None
    await storage.record_tick(db, "worker-1", NOW - timedelta(minutes=1))
    await storage.record_tick(db, "worker-2", NOW)
    await storage.record_tick(db, "worker-1", NOW - timedelta(seconds=30))

    await storage.record_tick(db, "gone-worker", NOW - timedelta(days=30))
    await storage.record_tick(db, "worker-2", NOW)  # forgets workers silent for a week
    async with db.read() as conn:
        keys = set((await conn.execute(select(scheduler_state_table.c.key))).scalars())
    assert keys == {"tick:worker-1", "tick:worker-2"}

    summary = await storage.status_summary(db, NOW)
    assert summary.feeds_total == 4
    assert summary.feeds_by_status == {"error": 2, "new": 1, "disabled": 1}
    assert summary.disabled_feeds == 1
    assert summary.due_backlog == 1  # feeds[2]: new, due since two hours
    assert summary.oldest_due_age_s == pytest.approx(7200)
    assert summary.entries_total == 2 and summary.entries_today == 2
    assert summary.top_errors == (("HTTP 500 from the server", 2),)
    assert summary.last_tick == NOW


async def test_users_and_login_lockout(db: Database) -> None:
    user = await storage.add_user(db, "alice", "argon2-hash", now=NOW)
    assert user.failed_logins == 0 and user.created_at == NOW
    with pytest.raises(storage.DuplicateUserError):
        await storage.add_user(db, "alice", "other")
    for _ in range(2):
        failed = await storage.record_login_failure(db, "alice", NOW, max_failures=3)
        assert failed is not None and failed.locked_until is None
    locked = await storage.record_login_failure(db, "alice", NOW, max_failures=3, lockout_s=60)
    assert locked is not None and locked.locked_until == NOW + timedelta(seconds=60)
    await storage.record_login_success(db, "alice")
    fresh = await storage.get_user(db, "alice")
    assert fresh is not None and fresh.failed_logins == 0 and fresh.locked_until is None
    assert await storage.record_login_failure(db, "nobody", NOW) is None
    assert await storage.get_user(db, "nobody") is None


async def test_backup_is_a_consistent_openable_copy(sqlite_url: str, tmp_path: Path) -> None:
    from aggregator.storage.migrate import upgrade

    db = await Database.open(sqlite_url)
    try:
        await upgrade(db)
        feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
        await storage.apply_poll(
            db,
            feed_id=feed.id,
            owner="w",
            update=ok_update(),
            plan=EntryPlan(new=tuple(entry_data(f"e{n}") for n in range(20))),
            log=ok_log(feed.id),
            now=NOW,
        )
        # An open write transaction elsewhere must not leak into the copy.
        async with db.transaction() as conn:
            from aggregator.storage.models import feeds_table

            await conn.execute(
                feeds_table.insert().values(url="https://uncommitted.example/", created_at=NOW)
            )
            target = await storage.backup_sqlite(db, tmp_path / "backups" / "copy.sqlite3")
        with pytest.raises(AggregatorError, match="live database"):
            await storage.backup_sqlite(db, Path(sqlite_url.split("///", 1)[1]))
    finally:
        await db.close()

    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT count(*) FROM entries").fetchone() == (20,)
        assert copy.execute("SELECT url FROM feeds").fetchall() == [("https://a.example/feed",)]
        assert copy.execute("SELECT count(*) FROM search_fts").fetchone() == (20,)
    finally:
        copy.close()
    assert not (tmp_path / "backups" / "copy.sqlite3.partial").exists()


async def test_backup_refuses_postgresql(postgres_url: str, tmp_path: Path) -> None:
    db = await Database.open(postgres_url)
    try:
        with pytest.raises(AggregatorError, match="pg_dump"):
            await storage.backup_sqlite(db, tmp_path / "never-written.sqlite3")
        assert not (tmp_path / "never-written.sqlite3").exists()
    finally:
        await db.close()
