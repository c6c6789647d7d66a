"""Extracted article text: the ``articles`` table (one row per entry)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, case, func, or_, select

from aggregator.sanitize import sanitize_html
from aggregator.storage._common import clean_text, dialect_insert, fit, fit_url
from aggregator.storage.base import opt_utc
from aggregator.storage.database import Database
from aggregator.storage.entries import entry_from_row, select_entries
from aggregator.storage.models import articles_table, entries_table
from aggregator.types import Article, ArticleStatus, Entry, FeedArticleStats

ARTICLE_COLUMNS = tuple(
    column.label(f"article_{column.name}")
    for column in articles_table.c
    if column.name != "attempts"
)


def article_from_row(row: Row[*tuple[Any, ...]]) -> Article | None:
    """The article part of a row selected with ARTICLE_COLUMNS (None when there is none)."""
    m = row._mapping
    if m["article_entry_id"] is None:
        return None
    return Article(
        entry_id=m["article_entry_id"],
        status=ArticleStatus(m["article_status"]),
        title=m["article_title"],
        text=m["article_text"],
        html=m["article_html"],
        author=m["article_author"],
        published=opt_utc(m["article_published"]),
        lead_image=m["article_lead_image"],
        language=m["article_language"],
        word_count=m["article_word_count"],
        extractor=m["article_extractor"],
        error=m["article_error"],
        extracted_at=opt_utc(m["article_extracted_at"]),
    )


async def save_article(db: Database, article: Article) -> None:
    """Store (or replace) an entry's article; its HTML is sanitized once more on the way in."""
    values: dict[str, Any] = {
        "status": ArticleStatus(article.status).value,
        "title": clean_text(article.title),
        "text": clean_text(article.text),
        "html": sanitize_html(clean_text(article.html)) if article.html else article.html,
        "author": clean_text(article.author),
        "published": opt_utc(article.published),
        "lead_image": fit_url(article.lead_image),
        "language": fit(article.language, 32),
        "word_count": article.word_count,
        "extractor": fit(article.extractor, 64),
        "error": clean_text(article.error),
        "extracted_at": opt_utc(article.extracted_at),
    }
    statement = dialect_insert(db, articles_table).values(
        entry_id=article.entry_id, attempts=1, **values
    )
    statement = statement.on_conflict_do_update(
        index_elements=["entry_id"],
        set_={**values, "attempts": articles_table.c.attempts + 1},
    )
    await db.write(lambda conn: conn.execute(statement))


async def get_article(db: Database, entry_id: int) -> Article | None:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(*ARTICLE_COLUMNS).where(articles_table.c.entry_id == entry_id)
            )
        ).first()
    return None if row is None else article_from_row(row)


async def entries_needing_article(
    db: Database, limit: int, feed_id: int | None = None, *, max_attempts: int = 3
) -> list[Entry]:
    """Entries without an article yet, or whose article is pending again (content changed).

    Oldest first, so a backlog drains in order; ``max_attempts`` stops retrying forever.
    """
    query = (
        select_entries()
        .outerjoin(articles_table, articles_table.c.entry_id == entries_table.c.id)
        .where(
            or_(
                articles_table.c.entry_id.is_(None),
                (articles_table.c.status == ArticleStatus.PENDING.value)
                & (articles_table.c.attempts < max_attempts),
            )
        )
        .order_by(entries_table.c.id)
        .limit(limit)
    )
    if feed_id is not None:
        query = query.where(entries_table.c.feed_id == feed_id)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [entry_from_row(row) for row in rows]


async def article_stats_by_feed(db: Database) -> dict[int, FeedArticleStats]:
    """Per feed: how many articles were extracted, failed, skipped or wait (sources page)."""

    def count(status: ArticleStatus) -> Any:
        return func.sum(case((articles_table.c.status == status.value, 1), else_=0))

    query = (
        select(
            entries_table.c.feed_id,
            count(ArticleStatus.OK).label("ok"),
            count(ArticleStatus.FAILED).label("failed"),
            count(ArticleStatus.SKIPPED).label("skipped"),
            count(ArticleStatus.PENDING).label("pending"),
        )
        .join(articles_table, articles_table.c.entry_id == entries_table.c.id)
        .group_by(entries_table.c.feed_id)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return {
        row.feed_id: FeedArticleStats(
            feed_id=row.feed_id,
            ok=int(row.ok or 0),
            failed=int(row.failed or 0),
            skipped=int(row.skipped or 0),
            pending=int(row.pending or 0),
        )
        for row in rows
    }
