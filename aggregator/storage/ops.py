"""Operations: retention, fetch-log trimming, online backup, health summary, worker ticks."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, func, or_, select

from aggregator.errors import AggregatorError
from aggregator.storage._common import dialect_insert
from aggregator.storage.base import opt_utc, to_utc
from aggregator.storage.database import Database, sqlite_path
from aggregator.storage.models import (
    entries_table,
    entry_topics_table,
    feeds_table,
    fetch_log_table,
    scheduler_state_table,
)
from aggregator.types import FeedStatus, MatchState, StatusSummary

TICK_PREFIX = "tick:"
TICK_RETENTION = timedelta(days=7)
_KEPT_STATES = (MatchState.PINNED.value, MatchState.APPROVED.value)


async def prune_entries(db: Database, older_than: datetime) -> int:
    """Delete entries published and first seen before ``older_than``; returns how many.

    Entries a curator pinned or approved in any topic are kept forever. Their articles and
    matches go with them (foreign keys cascade). Requiring the first-seen time too keeps
    an old entry that a feed still lists from being deleted and re-added on every poll.
    """
    cutoff = to_utc(older_than)
    kept = select(entry_topics_table.c.entry_id).where(entry_topics_table.c.state.in_(_KEPT_STATES))
    async with db.transaction() as conn:
        result = await conn.execute(
            entries_table.delete().where(
                entries_table.c.published_at < cutoff,
                entries_table.c.first_seen_at < cutoff,
                entries_table.c.id.not_in(kept),
            )
        )
    return result.rowcount


async def trim_fetch_log(db: Database, keep_days: int, now: datetime) -> int:
    """Delete fetch-log rows older than ``keep_days``; returns how many."""
    cutoff = to_utc(now) - timedelta(days=keep_days)
    async with db.transaction() as conn:
        result = await conn.execute(
            fetch_log_table.delete().where(fetch_log_table.c.started_at < cutoff)
        )
    return result.rowcount


def _sqlite_backup(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            # One step (pages=-1): the copy is one consistent snapshot even while
            # other processes keep writing (WAL readers do not block writers).
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)  # never leave a half-written backup under the real name


async def backup_sqlite(db: Database, path: str | Path) -> Path:
    """Write a consistent copy of a live SQLite database to ``path`` (replaced if present)."""
    source = sqlite_path(db.url)
    if source is None:
        raise AggregatorError(
            "`db backup` copies SQLite databases; back up PostgreSQL with pg_dump"
        )
    return await asyncio.to_thread(_checked_backup, source, Path(path))


def _checked_backup(source: Path, path: Path) -> Path:
    target = path.expanduser().resolve()
    if target == source.resolve():
        raise AggregatorError(f"the backup file {target} is the live database itself")
    if not source.exists():
        raise AggregatorError(f"database file {source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    _sqlite_backup(source, target)
    return target


async def record_tick(db: Database, worker: str, now: datetime) -> None:
    """Remember that ``worker``'s scheduler ticked at ``now`` (for health checks)."""
    now = to_utc(now)
    statement = dialect_insert(db, scheduler_state_table).values(
        key=f"{TICK_PREFIX}{worker}", value=now.isoformat(), updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["key"], set_={"value": now.isoformat(), "updated_at": now}
    )
    stale = scheduler_state_table.delete().where(
        scheduler_state_table.c.key.like(f"{TICK_PREFIX}%"),
        scheduler_state_table.c.updated_at < now - TICK_RETENTION,
    )
    async with db.transaction() as conn:
        await conn.execute(statement)
        # Worker names change with every start: forget workers gone for a week.
        await conn.execute(stale)


async def last_tick(db: Database) -> datetime | None:
    """The most recent tick of any worker (None: no scheduler ever ran)."""
    async with db.read() as conn:
        value = (
            await conn.execute(
                select(func.max(scheduler_state_table.c.updated_at)).where(
                    scheduler_state_table.c.key.like(f"{TICK_PREFIX}%")
                )
            )
        ).scalar_one_or_none()
    # max() loses the column type on SQLite, so the value may come back as text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return opt_utc(value)


async def status_summary(db: Database, now: datetime, *, top_errors: int = 5) -> StatusSummary:
    now = to_utc(now)
    f = feeds_table
    due = and_(
        f.c.disabled.is_(False),
        or_(f.c.next_poll_at.is_(None), f.c.next_poll_at <= now),
    )
    async with db.read() as conn:
        by_status = {
            row.status: int(row.n)
            for row in await conn.execute(
                select(f.c.status, func.count().label("n")).group_by(f.c.status)
            )
        }
        disabled = (
            await conn.execute(select(func.count()).select_from(f).where(f.c.disabled.is_(True)))
        ).scalar_one()
        backlog = (await conn.execute(select(func.count()).select_from(f).where(due))).scalar_one()
        oldest = (
            await conn.execute(select(f.c.next_poll_at).where(due).order_by(f.c.next_poll_at))
        ).first()
        leased = (
            await conn.execute(
                select(func.count()).select_from(f).where(f.c.lease_expires_at > now)
            )
        ).scalar_one()
        entries_total = (
            await conn.execute(select(func.count()).select_from(entries_table))
        ).scalar_one()
        entries_today = (
            await conn.execute(
                select(func.count())
                .select_from(entries_table)
                .where(entries_table.c.first_seen_at >= now - timedelta(days=1))
            )
        ).scalar_one()
        errors = (
            await conn.execute(
                select(f.c.last_error, func.count().label("n"))
                .where(
                    f.c.last_error.is_not(None),
                    f.c.status.in_((FeedStatus.ERROR.value, FeedStatus.BROKEN.value)),
                )
                .group_by(f.c.last_error)
                .order_by(func.count().desc(), f.c.last_error)
                .limit(top_errors)
            )
        ).all()
    oldest_at = opt_utc(oldest.next_poll_at) if oldest is not None else None
    return StatusSummary(
        feeds_total=sum(by_status.values()),
        feeds_by_status=by_status,
        disabled_feeds=int(disabled),
        due_backlog=int(backlog),
        oldest_due_age_s=(now - oldest_at).total_seconds() if oldest_at else None,
        entries_total=int(entries_total),
        entries_today=int(entries_today),
        top_errors=tuple((row.last_error, int(row.n)) for row in errors),
        last_tick=await last_tick(db),
        leased_feeds=int(leased),
    )
