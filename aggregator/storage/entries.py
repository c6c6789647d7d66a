"""Stored entries: the ``entries`` table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select

from aggregator.errors import AggregatorError
from aggregator.storage.base import opt_utc, to_utc
from aggregator.storage.database import Database
from aggregator.storage.models import entries_table, feeds_table
from aggregator.types import Entry


class EntryNotFoundError(AggregatorError):
    def __init__(self, entry_id: int) -> None:
        super().__init__(f"entry #{entry_id} does not exist (it may have been pruned)")
        self.entry_id = entry_id


ENTRY_COLUMNS = (
    entries_table.c.id,
    entries_table.c.feed_id,
    entries_table.c.identity,
    entries_table.c.url,
    entries_table.c.title,
    entries_table.c.author,
    entries_table.c.published_at,
    entries_table.c.updated_at,
    entries_table.c.summary_html,
    entries_table.c.content_html,
    entries_table.c.content_hash,
    entries_table.c.first_seen_at,
    entries_table.c.categories,
    entries_table.c.image_url,
    feeds_table.c.title.label("feed_title"),
    feeds_table.c.url.label("feed_url"),
    feeds_table.c.site_url.label("feed_site_url"),
)


def select_entries(*extra: Any) -> Select[Any]:
    """Entries joined with their feed's name and URLs (what every reader view shows)."""
    return select(*ENTRY_COLUMNS, *extra).join(
        feeds_table, feeds_table.c.id == entries_table.c.feed_id
    )


def entry_from_row(row: Row[*tuple[Any, ...]]) -> Entry:
    m = row._mapping
    return Entry(
        id=m["id"],
        feed_id=m["feed_id"],
        identity=m["identity"],
        url=m["url"],
        title=m["title"],
        author=m["author"],
        published_at=to_utc(m["published_at"]),
        updated_at=opt_utc(m["updated_at"]),
        summary_html=m["summary_html"],
        content_html=m["content_html"],
        content_hash=m["content_hash"],
        first_seen_at=to_utc(m["first_seen_at"]),
        feed_title=m["feed_title"],
        feed_url=m["feed_url"],
        feed_site_url=m["feed_site_url"],
        categories=tuple(m["categories"] or ()),
        image_url=m["image_url"],
    )


async def get_entry(db: Database, entry_id: int) -> Entry:
    async with db.read() as conn:
        row = (await conn.execute(select_entries().where(entries_table.c.id == entry_id))).first()
    if row is None:
        raise EntryNotFoundError(entry_id)
    return entry_from_row(row)


async def recent_entries(
    db: Database, limit: int, since: datetime | None = None, *, feed_id: int | None = None
) -> list[Entry]:
    """Newest entries first (optionally first seen at or after ``since``, or of one feed)."""
    query = select_entries()
    if since is not None:
        query = query.where(entries_table.c.first_seen_at >= to_utc(since))
    if feed_id is not None:
        query = query.where(entries_table.c.feed_id == feed_id)
    query = query.order_by(entries_table.c.published_at.desc(), entries_table.c.id.desc())
    async with db.read() as conn:
        rows = (await conn.execute(query.limit(limit))).all()
    return [entry_from_row(row) for row in rows]
