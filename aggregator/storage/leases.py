"""Feed leases: which worker polls which feed right now.

A worker claims due feeds by writing its name and an expiry on them in one transaction.
PostgreSQL uses ``FOR UPDATE SKIP LOCKED`` so concurrent claimers never block on or share
a feed; SQLite has a single writer (BEGIN IMMEDIATE), which gives the same guarantee.
A crashed worker's leases simply expire and the feeds become claimable again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select, update
from sqlalchemy.engine import Connection

from aggregator.storage.base import to_utc
from aggregator.storage.database import Database
from aggregator.storage.feeds import feed_from_row, feeds_table
from aggregator.storage.models import feed_item_indexes_table
from aggregator.types import Feed
from aggregator.urls import normalize_url


def _lease_free(now: datetime) -> ColumnElement[bool]:
    return or_(feeds_table.c.lease_expires_at.is_(None), feeds_table.c.lease_expires_at < now)


async def _claim(
    db: Database, query: Select[Any], *, owner: str, now: datetime, lease_s: float
) -> list[Feed]:
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return await db.write(_claim_sync, query, owner, now + timedelta(seconds=lease_s))


def _claim_sync(conn: Connection, query: Select[Any], owner: str, expires: datetime) -> list[Feed]:
    ids = list(conn.execute(query).scalars())
    if not ids:
        return []
    rows = conn.execute(
        update(feeds_table)
        .where(feeds_table.c.id.in_(ids))
        .values(lease_owner=owner, lease_expires_at=expires)
        .returning(feeds_table)
    ).all()
    found = conn.execute(_item_indexes_statement(), {"feed_ids": list(ids)})
    indexes: dict[int, bytes] = {feed_id: data for feed_id, data in found}
    by_id = {
        row._mapping["id"]: feed_from_row(row, item_index=indexes.get(row._mapping["id"]))
        for row in rows
    }
    return [by_id[i] for i in ids if i in by_id]  # keep the claim order (most overdue first)


@cache
def _item_indexes_statement() -> Select[Any]:
    t = feed_item_indexes_table
    return select(t.c.feed_id, t.c.data).where(
        t.c.feed_id.in_(bindparam("feed_ids", expanding=True))
    )


async def claim_due_feeds(
    db: Database, *, now: datetime, limit: int, owner: str, lease_s: float
) -> list[Feed]:
    """Lease up to ``limit`` enabled feeds whose next poll time has come, most overdue first."""
    now = to_utc(now)
    query = (
        select(feeds_table.c.id)
        .where(
            or_(feeds_table.c.next_poll_at.is_(None), feeds_table.c.next_poll_at <= now),
            feeds_table.c.disabled.is_(False),
            _lease_free(now),
        )
        .order_by(feeds_table.c.next_poll_at, feeds_table.c.id)
        .limit(limit)
    )
    return await _claim(db, query, owner=owner, now=now, lease_s=lease_s)


async def claim_feeds(
    db: Database,
    *,
    now: datetime,
    owner: str,
    lease_s: float,
    urls: Sequence[str] | None = None,
    feed_ids: Collection[int] | None = None,
    after_id: int | None = None,
    limit: int = 1000,
) -> list[Feed]:
    """Lease feeds whether due or not (``fetch --all`` / ``--feed``).

    ``urls``/``feed_ids`` pick feeds (None: every enabled feed); feeds leased by another
    worker are skipped. Feeds come in id order: a pass asks for its next batch with
    ``after_id``, the last id it claimed (a cursor: no list of the feeds already handled,
    which at 10,000 feeds made every claim send thousands of ids).
    Disabled feeds are only claimed when named explicitly.
    """
    now = to_utc(now)
    conditions: list[ColumnElement[bool]] = [_lease_free(now)]
    named = False
    if urls:
        conditions.append(feeds_table.c.url.in_([normalize_url(u) for u in urls]))
        named = True
    if feed_ids is not None:
        conditions.append(feeds_table.c.id.in_(list(feed_ids)))
        named = True
    if not named:
        conditions.append(feeds_table.c.disabled.is_(False))
    if after_id is not None:
        conditions.append(feeds_table.c.id > after_id)
    query = (
        select(feeds_table.c.id).where(and_(*conditions)).order_by(feeds_table.c.id).limit(limit)
    )
    return await _claim(db, query, owner=owner, now=now, lease_s=lease_s)


async def release_lease(db: Database, feed_id: int, owner: str) -> bool:
    """Give a feed back without polling it; False when ``owner`` no longer held it."""
    return await release_leases(db, [feed_id], owner) > 0


async def release_leases(db: Database, feed_ids: Collection[int], owner: str) -> int:
    """Give feeds back without polling them; how many ``owner`` still held."""
    if not feed_ids:
        return 0
    async with db.transaction() as conn:
        result = await conn.execute(
            update(feeds_table)
            .where(feeds_table.c.id.in_(list(feed_ids)), feeds_table.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
    return result.rowcount


async def release_all_leases(db: Database, owner: str) -> int:
    """Graceful shutdown: hand back every feed ``owner`` holds; returns how many."""
    async with db.transaction() as conn:
        result = await conn.execute(
            update(feeds_table)
            .where(feeds_table.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
    return result.rowcount
