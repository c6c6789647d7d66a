"""Entry-topic matches and curator decisions: the ``entry_topics`` table.

Rules write AUTO matches; curators approve, hide or pin (or add an entry by hand). Re-running
the rules replaces only unreviewed rule matches, so a curator's decision is never lost.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.engine import Connection

from aggregator.errors import AggregatorError
from aggregator.storage.articles import ARTICLE_COLUMNS, article_from_row
from aggregator.storage.base import opt_utc, to_utc, utcnow
from aggregator.storage.database import Database
from aggregator.storage.entries import (
    EntryNotFoundError,
    entry_from_row,
    select_entries,
)
from aggregator.storage.models import (
    articles_table,
    entries_table,
    entry_topics_table,
    topics_table,
)
from aggregator.storage.topics import TopicNotFoundError, topic_id
from aggregator.types import (
    Article,
    Entry,
    MatchOrigin,
    MatchState,
    QualityDecision,
    TopicEntry,
    TopicEntryPage,
    TopicMatch,
)

et = entry_topics_table
VISIBLE = et.c.state != MatchState.HIDDEN.value
_DECIDED = (MatchState.APPROVED.value, MatchState.HIDDEN.value, MatchState.PINNED.value)
MATCH_COLUMNS = (
    et.c.entry_id.label("match_entry_id"),
    topics_table.c.slug.label("match_slug"),
    et.c.score.label("match_score"),
    et.c.explanation.label("match_explanation"),
    et.c.origin.label("match_origin"),
    et.c.state.label("match_state"),
    et.c.topic_version.label("match_topic_version"),
    et.c.decided_by.label("match_decided_by"),
    et.c.decided_at.label("match_decided_at"),
    et.c.matched_at.label("match_matched_at"),
    et.c.pin_rank.label("match_pin_rank"),
    et.c.sort_at.label("match_sort_at"),
)


class InvalidCursorError(AggregatorError, ValueError):
    """A paging cursor that this code did not produce (edited or truncated by hand)."""


def match_from_row(row: Row[*tuple[Any, ...]]) -> TopicMatch:
    m = row._mapping
    return TopicMatch(
        entry_id=m["match_entry_id"],
        topic_slug=m["match_slug"],
        score=float(m["match_score"]),
        explanation=dict(m["match_explanation"] or {}),
        origin=MatchOrigin(m["match_origin"]),
        state=MatchState(m["match_state"]),
        topic_version=m["match_topic_version"],
        decided_by=m["match_decided_by"],
        decided_at=opt_utc(m["match_decided_at"]),
        matched_at=opt_utc(m["match_matched_at"]),
    )


def _fired_parts(explanation: dict[str, Any]) -> list[str]:
    """The rule parts that fired, if the tagger's explanation lists them under "fired"."""
    fired = explanation.get("fired")
    if isinstance(fired, list | tuple):
        return [str(part) for part in fired]
    return []


def encode_cursor(pin_rank: int, sort_at: datetime, entry_id: int) -> str:
    raw = f"{pin_rank}|{to_utc(sort_at).isoformat()}|{entry_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        rank, when, entry_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        return int(rank), to_utc(datetime.fromisoformat(when)), int(entry_id)
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidCursorError("invalid paging cursor: start again from the first page") from exc


async def replace_rule_matches(
    db: Database, entry_id: int, matches: Sequence[TopicMatch], *, now: datetime | None = None
) -> None:
    """Make the entry's unreviewed rule matches exactly ``matches``.

    Curator decisions survive: approved/hidden/pinned rows and curator-added rows are never
    deleted and keep their state; a rule match on such a row only refreshes score and
    explanation. Matches for unknown topic slugs are ignored.
    """
    await db.write(_replace_rule_matches, entry_id, matches, to_utc(now) if now else utcnow())


def _replace_rule_matches(
    conn: Connection, entry_id: int, matches: Sequence[TopicMatch], now: datetime
) -> None:
    published = (
        conn.execute(select(entries_table.c.published_at).where(entries_table.c.id == entry_id))
    ).scalar_one_or_none()
    if published is None:
        raise EntryNotFoundError(entry_id)
    slugs = {m.topic_slug for m in matches}
    topic_ids = {
        row.slug: row.id
        for row in conn.execute(
            select(topics_table.c.slug, topics_table.c.id).where(topics_table.c.slug.in_(slugs))
        )
    }
    existing = {
        row.topic_id: row
        for row in conn.execute(
            select(et.c.id, et.c.topic_id, et.c.origin, et.c.state).where(et.c.entry_id == entry_id)
        )
    }
    wanted: dict[int, TopicMatch] = {
        topic_ids[m.topic_slug]: m for m in matches if m.topic_slug in topic_ids
    }
    stale = [
        row.id
        for tid, row in existing.items()
        if tid not in wanted
        and row.origin == MatchOrigin.RULE.value
        and row.state == MatchState.AUTO.value
    ]
    if stale:
        conn.execute(et.delete().where(et.c.id.in_(stale)))
    for tid, match in wanted.items():
        rule_values = {
            "score": match.score,
            "explanation": match.explanation,
            "topic_version": match.topic_version,
            "matched_at": opt_utc(match.matched_at) or now,
            "fired_parts": _fired_parts(match.explanation),
        }
        row = existing.get(tid)
        if row is None:
            conn.execute(
                et.insert().values(
                    entry_id=entry_id,
                    topic_id=tid,
                    origin=MatchOrigin.RULE.value,
                    state=MatchState.AUTO.value,
                    pin_rank=0,
                    sort_at=published,
                    **rule_values,
                )
            )
        elif row.origin == MatchOrigin.RULE.value:
            conn.execute(et.update().where(et.c.id == row.id).values(**rule_values))
        # curator-added rows keep their own (curator) explanation untouched


async def set_decision(
    db: Database, entry_id: int, slug: str, state: MatchState, who: str, now: datetime
) -> TopicMatch | None:
    """A curator approves, hides, pins (or resets to AUTO) an entry in a topic.

    Without a rule match the row is created with origin CURATOR (the curator added the
    entry to the topic). Resetting a curator-added row to AUTO removes it (returns None).
    """
    state = MatchState(state)
    now = to_utc(now)
    async with db.transaction() as conn:
        tid = await topic_id(conn, slug)
        published = (
            await conn.execute(
                select(entries_table.c.published_at).where(entries_table.c.id == entry_id)
            )
        ).scalar_one_or_none()
        if published is None:
            raise EntryNotFoundError(entry_id)
        row = (
            await conn.execute(
                select(et.c.id, et.c.origin).where(et.c.entry_id == entry_id, et.c.topic_id == tid)
            )
        ).first()
        decision = {
            "state": state.value,
            "decided_by": who[:255],
            "decided_at": now,
            "pin_rank": 1 if state is MatchState.PINNED else 0,
        }
        if row is None:
            if state is MatchState.AUTO:
                return None
            version = (
                await conn.execute(select(topics_table.c.version).where(topics_table.c.id == tid))
            ).scalar_one()
            await conn.execute(
                et.insert().values(
                    entry_id=entry_id,
                    topic_id=tid,
                    origin=MatchOrigin.CURATOR.value,
                    score=0.0,
                    explanation={"curator": who},
                    topic_version=version,
                    matched_at=now,
                    fired_parts=[],
                    sort_at=published,
                    **decision,
                )
            )
        elif row.origin == MatchOrigin.CURATOR.value and state is MatchState.AUTO:
            await conn.execute(et.delete().where(et.c.id == row.id))
            return None
        else:
            await conn.execute(update(et).where(et.c.id == row.id).values(**decision))
        result = await conn.execute(
            select(*MATCH_COLUMNS)
            .join(topics_table, topics_table.c.id == et.c.topic_id)
            .where(et.c.entry_id == entry_id, et.c.topic_id == tid)
        )
        return match_from_row(result.one())


async def entry_matches(
    db: Database, entry_id: int, *, include_hidden: bool = True
) -> list[TopicMatch]:
    query = (
        select(*MATCH_COLUMNS)
        .join(topics_table, topics_table.c.id == et.c.topic_id)
        .where(et.c.entry_id == entry_id)
        .order_by(topics_table.c.slug)
    )
    if not include_hidden:
        query = query.where(VISIBLE)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [match_from_row(row) for row in rows]


async def topic_entries(
    db: Database,
    slug: str,
    *,
    limit: int = 50,
    before: str | None = None,
    feed_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_hidden: bool = False,
) -> TopicEntryPage:
    """One page of a topic: pinned first, then newest; hidden entries never (unless
    ``include_hidden``, for the curators' review page).

    ``before`` is the ``next_cursor`` of the previous page; paging stays stable while new
    entries arrive. ``since``/``until`` bound the published time (until is exclusive).
    """
    limit = max(1, limit)
    async with db.read() as conn:
        tid = await topic_id(conn, slug)
        query = (
            select_entries(*ARTICLE_COLUMNS, *MATCH_COLUMNS)
            .join(et, et.c.entry_id == entries_table.c.id)
            .join(topics_table, topics_table.c.id == et.c.topic_id)
            .outerjoin(articles_table, articles_table.c.entry_id == entries_table.c.id)
            .where(et.c.topic_id == tid)
        )
        if not include_hidden:
            query = query.where(VISIBLE)
        if feed_id is not None:
            query = query.where(entries_table.c.feed_id == feed_id)
        if since is not None:
            query = query.where(et.c.sort_at >= to_utc(since))
        if until is not None:
            query = query.where(et.c.sort_at < to_utc(until))
        if before:
            rank, when, last_id = decode_cursor(before)
            # "After the cursor" in the (all descending) sort order, spelled out so every
            # value is bound with its column's type (UTC text on SQLite).
            query = query.where(
                or_(
                    et.c.pin_rank < rank,
                    and_(et.c.pin_rank == rank, et.c.sort_at < when),
                    and_(et.c.pin_rank == rank, et.c.sort_at == when, et.c.entry_id < last_id),
                )
            )
        query = query.order_by(
            et.c.pin_rank.desc(), et.c.sort_at.desc(), et.c.entry_id.desc()
        ).limit(limit + 1)
        rows = (await conn.execute(query)).all()
        page = rows[:limit]
        topics = await _visible_topics(conn, [row._mapping["id"] for row in page])
    items = tuple(
        TopicEntry(
            entry=entry_from_row(row),
            article=article_from_row(row),
            match=match_from_row(row),
            topics=topics.get(row._mapping["id"], ()),
            cursor=encode_cursor(
                row._mapping["match_pin_rank"],
                row._mapping["match_sort_at"],
                row._mapping["id"],
            ),
        )
        for row in page
    )
    next_cursor = items[-1].cursor if len(rows) > limit and items else None
    return TopicEntryPage(items=items, next_cursor=next_cursor)


async def _visible_topics(conn: Any, entry_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    if not entry_ids:
        return {}
    rows = await conn.execute(
        select(et.c.entry_id, topics_table.c.slug)
        .join(topics_table, topics_table.c.id == et.c.topic_id)
        .where(et.c.entry_id.in_(list(entry_ids)), VISIBLE)
        .order_by(topics_table.c.slug)
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row.entry_id, []).append(row.slug)
    return {entry_id: tuple(slugs) for entry_id, slugs in found.items()}


async def topic_counts(db: Database) -> dict[str, int]:
    """Visible entries per topic slug (every topic, zero included)."""
    query = (
        select(topics_table.c.slug, func.count(et.c.id).label("n"))
        .select_from(topics_table)
        .outerjoin(et, (et.c.topic_id == topics_table.c.id) & VISIBLE)
        .group_by(topics_table.c.slug)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return {row.slug: int(row.n) for row in rows}


async def decisions_for_quality(db: Database, slug: str) -> list[QualityDecision]:
    """Every match of a topic with its state and fired rule parts (per-topic quality)."""
    async with db.read() as conn:
        tid = await topic_id(conn, slug)
        rows = (
            await conn.execute(
                select(et.c.entry_id, et.c.state, et.c.origin, et.c.score, et.c.fired_parts)
                .where(et.c.topic_id == tid)
                .order_by(et.c.entry_id)
            )
        ).all()
    return [
        QualityDecision(
            entry_id=row.entry_id,
            state=MatchState(row.state),
            origin=MatchOrigin(row.origin),
            score=float(row.score),
            fired_parts=tuple(str(p) for p in row.fired_parts or ()),
        )
        for row in rows
    ]


async def entries_for_retag(
    db: Database, after_entry_id: int, limit: int, *, newest_first: bool = False
) -> list[tuple[Entry, Article | None]]:
    """Entries with id > ``after_entry_id`` (ascending) with their articles, for re-tagging;
    with ``newest_first``, the ``limit`` newest entries (for previews of a rule change)."""
    query = (
        select_entries(*ARTICLE_COLUMNS)
        .outerjoin(articles_table, articles_table.c.entry_id == entries_table.c.id)
        .where(entries_table.c.id > after_entry_id)
        .order_by(entries_table.c.id.desc() if newest_first else entries_table.c.id)
        .limit(limit)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [(entry_from_row(row), article_from_row(row)) for row in rows]


__all__ = [
    "InvalidCursorError",
    "TopicNotFoundError",
    "decisions_for_quality",
    "entries_for_retag",
    "entry_matches",
    "replace_rule_matches",
    "set_decision",
    "topic_counts",
    "topic_entries",
]
