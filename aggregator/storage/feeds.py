"""Subscriptions: the ``feeds`` table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from aggregator.errors import DuplicateFeedError, FeedNotFoundError
from aggregator.storage._common import chunks, clean_text, fit, fit_url
from aggregator.storage.base import opt_utc, to_utc, utcnow
from aggregator.storage.database import Database
from aggregator.storage.models import EntryRow, feeds_table
from aggregator.types import ContentMode, Feed, FeedStatus, NewFeed
from aggregator.urls import normalize_url


def feed_from_row(
    row: Row[*tuple[Any, ...]], entry_count: int = 0, item_index: bytes | None = None
) -> Feed:
    m = row._mapping
    return Feed(
        id=m["id"],
        url=m["url"],
        title=m["title"],
        site_url=m["site_url"],
        category=m["category"],
        status=FeedStatus(m["status"]),
        disabled=bool(m["disabled"]),
        content_mode=ContentMode(m["content_mode"]),
        etag=m["etag"],
        last_modified=m["last_modified"],
        body_hash=m["body_hash"],
        last_fetched_at=opt_utc(m["last_fetched_at"]),
        last_success_at=opt_utc(m["last_success_at"]),
        next_poll_at=opt_utc(m["next_poll_at"]),
        poll_interval_s=m["poll_interval_s"],
        error_count=m["error_count"],
        last_error=m["last_error"],
        last_error_at=opt_utc(m["last_error_at"]),
        first_error_at=opt_utc(m["first_error_at"]),
        redirect_url=m["redirect_url"],
        created_at=opt_utc(m["created_at"]),
        entry_count=entry_count,
        item_index=item_index,
    )


def _new_feed_values(new: NewFeed, url: str, now: datetime) -> dict[str, Any]:
    return {
        "url": url,
        "title": clean_text(new.title),
        "site_url": fit_url(new.site_url),
        "category": fit(new.category, 512),
        "content_mode": ContentMode.AUTO.value,
        "status": FeedStatus.NEW.value,
        "disabled": False,
        "error_count": 0,
        "next_poll_at": now,  # due at once
        "created_at": now,
    }


async def _feed_id_by_url(conn: AsyncConnection, url: str) -> int | None:
    found = await conn.execute(select(feeds_table.c.id).where(feeds_table.c.url == url))
    return found.scalar_one_or_none()


async def _load(conn: AsyncConnection, feed_id: int) -> Feed | None:
    row = (await conn.execute(select(feeds_table).where(feeds_table.c.id == feed_id))).first()
    if row is None:
        return None
    count = await conn.execute(
        select(func.count()).select_from(EntryRow).where(EntryRow.feed_id == feed_id)
    )
    return feed_from_row(row, entry_count=count.scalar_one())


async def add_feed(db: Database, new: NewFeed, *, now: datetime | None = None) -> Feed:
    """Subscribe to a feed; raises DuplicateFeedError when its normalised URL is known."""
    url = normalize_url(new.url)
    now = to_utc(now) if now else utcnow()
    try:
        async with db.transaction() as conn:
            if await _feed_id_by_url(conn, url) is not None:
                raise DuplicateFeedError(url, "already subscribed")
            result = await conn.execute(
                feeds_table.insert()
                .values(**_new_feed_values(new, url, now))
                .returning(feeds_table)
            )
            return feed_from_row(result.one())
    except IntegrityError as exc:  # a concurrent add won the race
        raise DuplicateFeedError(url, "already subscribed") from exc


async def add_feeds(
    db: Database, new_feeds: Sequence[NewFeed], *, now: datetime | None = None
) -> tuple[list[Feed], list[str]]:
    """Subscribe to many feeds in one transaction (OPML import).

    Returns (added feeds, normalised URLs skipped because already subscribed or repeated
    in the input). All-or-nothing: an invalid URL raises InvalidURL and adds nothing.
    """
    now = to_utc(now) if now else utcnow()
    normalised = [(normalize_url(new.url), new) for new in new_feeds]  # validate all first
    added: list[Feed] = []
    skipped: list[str] = []
    async with db.transaction() as conn:
        existing = set((await conn.execute(select(feeds_table.c.url))).scalars())
        rows: list[dict[str, Any]] = []
        for url, new in normalised:
            if url in existing:
                skipped.append(url)
                continue
            existing.add(url)
            rows.append(_new_feed_values(new, url, now))
        if len(rows) == 1:
            result = await conn.execute(feeds_table.insert().values(rows[0]).returning(feeds_table))
            added.append(feed_from_row(result.one()))
        elif rows:
            # Batched INSERTs for thousands of outlines; rows come back in input order.
            statement = feeds_table.insert().returning(feeds_table, sort_by_parameter_order=True)
            for part in chunks(rows):
                result = await conn.execute(statement, list(part))
                added.extend(feed_from_row(row) for row in result.all())
    return added, skipped


async def get_feed(db: Database, feed_id: int) -> Feed:
    async with db.read() as conn:
        feed = await _load(conn, feed_id)
    if feed is None:
        raise FeedNotFoundError(f"feed #{feed_id}", "no such feed")
    return feed


async def get_feed_by_url(db: Database, url: str) -> Feed | None:
    """The feed subscribed under ``url`` (any spelling of it), or None."""
    normalised = normalize_url(url)
    async with db.read() as conn:
        row = (
            await conn.execute(select(feeds_table).where(feeds_table.c.url == normalised))
        ).first()
    return None if row is None else feed_from_row(row)


async def list_feeds(db: Database) -> list[Feed]:
    """Every feed with its number of stored entries, by category then title then URL."""
    counts = select(EntryRow.feed_id, func.count().label("n")).group_by(EntryRow.feed_id).subquery()
    query = (
        select(feeds_table, func.coalesce(counts.c.n, 0).label("entry_count"))
        .outerjoin(counts, counts.c.feed_id == feeds_table.c.id)
        .order_by(
            func.coalesce(feeds_table.c.category, ""),
            func.lower(func.coalesce(feeds_table.c.title, feeds_table.c.url)),
            feeds_table.c.url,
        )
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [feed_from_row(row, entry_count=row._mapping["entry_count"]) for row in rows]


async def remove_feed(db: Database, url: str) -> Feed:
    """Unsubscribe (its entries, articles and matches go too); returns the removed feed."""
    normalised = normalize_url(url)
    async with db.transaction() as conn:
        row = (
            await conn.execute(select(feeds_table).where(feeds_table.c.url == normalised))
        ).first()
        if row is None:
            raise FeedNotFoundError(normalised, "not subscribed (see `aggregator feeds list`)")
        await conn.execute(feeds_table.delete().where(feeds_table.c.id == row._mapping["id"]))
    return feed_from_row(row)


async def _update_feed(db: Database, feed_id: int, **values: Any) -> Feed:
    async with db.transaction() as conn:
        result = await conn.execute(
            update(feeds_table)
            .where(feeds_table.c.id == feed_id)
            .values(**values)
            .returning(feeds_table)
        )
        row = result.first()
    if row is None:
        raise FeedNotFoundError(f"feed #{feed_id}", "no such feed")
    return feed_from_row(row)


async def set_feed_disabled(db: Database, feed_id: int, disabled: bool) -> Feed:
    """Disable (a curator's choice) or re-enable a feed; re-enabled feeds are due at once."""
    values: dict[str, Any] = {"disabled": disabled}
    if disabled:
        values["status"] = FeedStatus.DISABLED.value
    else:
        values["status"] = case(
            (feeds_table.c.last_success_at.is_not(None), FeedStatus.OK.value),
            else_=FeedStatus.NEW.value,
        )
        values["next_poll_at"] = utcnow()
        values["error_count"] = 0
    return await _update_feed(db, feed_id, **values)


async def set_content_mode(db: Database, feed_id: int, mode: ContentMode) -> Feed:
    return await _update_feed(db, feed_id, content_mode=ContentMode(mode).value)


async def request_refresh(db: Database, feed_id: int, now: datetime) -> Feed:
    """Make the feed due now (a curator's "refresh now"); the next tick polls it."""
    return await _update_feed(db, feed_id, next_poll_at=to_utc(now))


async def update_feed_meta(
    db: Database,
    feed_id: int,
    *,
    title: str | None = None,
    site_url: str | None = None,
    category: str | None = None,
    clear_category: bool = False,
) -> Feed:
    """Change what a curator may edit; None leaves a field as it is."""
    values: dict[str, Any] = {}
    if title is not None:
        values["title"] = clean_text(title)
    if site_url is not None:
        values["site_url"] = fit_url(site_url)
    if category is not None or clear_category:
        values["category"] = fit(category, 512)
    if not values:
        return await get_feed(db, feed_id)
    return await _update_feed(db, feed_id, **values)
