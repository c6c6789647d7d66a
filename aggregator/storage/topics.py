"""Topic definitions: the ``topics`` table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aggregator.errors import AggregatorError
from aggregator.storage._common import clean_text
from aggregator.storage.base import opt_utc, to_utc, utcnow
from aggregator.storage.database import Database
from aggregator.storage.models import topics_table
from aggregator.types import Topic


class TopicNotFoundError(AggregatorError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no topic {slug!r} (see the topics page or `aggregator topics list`)")
        self.slug = slug


def topic_from_row(row: Row[*tuple[Any, ...]]) -> Topic:
    m = row._mapping
    return Topic(
        id=m["id"],
        slug=m["slug"],
        name=m["name"],
        description=m["description"],
        definition=m["definition"],
        version=m["version"],
        updated_at=opt_utc(m["updated_at"]),
    )


async def topic_id(conn: AsyncConnection, slug: str) -> int:
    found = await conn.execute(select(topics_table.c.id).where(topics_table.c.slug == slug))
    value = found.scalar_one_or_none()
    if value is None:
        raise TopicNotFoundError(slug)
    return int(value)


async def upsert_topic(
    db: Database,
    slug: str,
    name: str,
    description: str,
    definition: str,
    *,
    now: datetime | None = None,
) -> Topic:
    """Create or edit a topic; the version goes up only when the rule definition changed."""
    now = to_utc(now) if now else utcnow()
    values = {
        "name": clean_text(name) or slug,
        "description": clean_text(description) or "",
        "definition": clean_text(definition) or "",
    }
    async with db.transaction() as conn:
        row = (await conn.execute(select(topics_table).where(topics_table.c.slug == slug))).first()
        if row is None:
            result = await conn.execute(
                topics_table.insert()
                .values(slug=slug, version=1, updated_at=now, **values)
                .returning(topics_table)
            )
            return topic_from_row(result.one())
        current = topic_from_row(row)
        changed_rules = current.definition != values["definition"]
        if not changed_rules and (current.name, current.description) == (
            values["name"],
            values["description"],
        ):
            return current
        result = await conn.execute(
            update(topics_table)
            .where(topics_table.c.id == current.id)
            .values(
                **values,
                updated_at=now,
                version=current.version + 1 if changed_rules else current.version,
            )
            .returning(topics_table)
        )
        return topic_from_row(result.one())


async def list_topics(db: Database) -> list[Topic]:
    async with db.read() as conn:
        rows = (await conn.execute(select(topics_table).order_by(topics_table.c.slug))).all()
    return [topic_from_row(row) for row in rows]


async def get_topic(db: Database, slug: str) -> Topic | None:
    async with db.read() as conn:
        row = (await conn.execute(select(topics_table).where(topics_table.c.slug == slug))).first()
    return None if row is None else topic_from_row(row)


async def delete_topic(db: Database, slug: str) -> bool:
    """Remove a topic and all its matches (curator decisions included); False if unknown."""
    async with db.transaction() as conn:
        result = await conn.execute(topics_table.delete().where(topics_table.c.slug == slug))
    return result.rowcount > 0
