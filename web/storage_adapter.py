"""``WebStore`` on ``aggregator.storage`` (the real database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aggregator import storage
from aggregator.errors import FeedNotFoundError
from aggregator.storage import Database
from aggregator.types import (
    Article,
    Entry,
    Feed,
    FeedArticleStats,
    MatchState,
    NewFeed,
    QualityDecision,
    SearchHit,
    StatusSummary,
    Topic,
    TopicEntryPage,
    TopicMatch,
    User,
)
from web.store import EntryFilter


class StorageWebStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_topics(self) -> list[Topic]:
        return await storage.list_topics(self.db)

    async def topic_counts(self) -> dict[str, int]:
        return await storage.topic_counts(self.db)

    async def get_topic(self, slug: str) -> Topic | None:
        return await storage.get_topic(self.db, slug)

    async def topic_entries(
        self,
        slug: str,
        *,
        limit: int,
        before: str | None = None,
        filters: EntryFilter | None = None,
        include_hidden: bool = False,
    ) -> TopicEntryPage:
        filters = filters or EntryFilter()
        try:
            return await storage.topic_entries(
                self.db,
                slug,
                limit=limit,
                before=before,
                feed_id=filters.feed_id,
                since=filters.since,
                until=filters.until,
                include_hidden=include_hidden,
            )
        except storage.TopicNotFoundError:
            return TopicEntryPage(items=())

    async def get_entry(self, entry_id: int) -> Entry | None:
        try:
            return await storage.get_entry(self.db, entry_id)
        except storage.EntryNotFoundError:
            return None

    async def get_article(self, entry_id: int) -> Article | None:
        return await storage.get_article(self.db, entry_id)

    async def entry_matches(self, entry_id: int) -> list[TopicMatch]:
        return await storage.entry_matches(self.db, entry_id)

    async def search_entries(self, query: str, *, limit: int, offset: int = 0) -> list[SearchHit]:
        return await storage.search_entries(self.db, query, limit=limit, offset=offset)

    async def list_feeds(self) -> list[Feed]:
        return await storage.list_feeds(self.db)

    async def feed_article_stats(self) -> dict[int, FeedArticleStats]:
        return await storage.article_stats_by_feed(self.db)

    async def add_feed(self, new: NewFeed) -> Feed:
        return await storage.add_feed(self.db, new)

    async def add_feeds(self, feeds: Sequence[NewFeed]) -> int:
        added, _skipped = await storage.add_feeds(self.db, feeds)
        return len(added)

    async def get_feed(self, feed_id: int) -> Feed | None:
        try:
            return await storage.get_feed(self.db, feed_id)
        except FeedNotFoundError:
            return None

    async def remove_feed(self, feed_id: int) -> None:
        feed = await self.get_feed(feed_id)
        if feed is not None:
            await storage.remove_feed(self.db, feed.url)

    async def set_feed_disabled(self, feed_id: int, disabled: bool) -> None:
        await storage.set_feed_disabled(self.db, feed_id, disabled)

    async def request_refresh(self, feed_id: int, now: datetime) -> None:
        await storage.request_refresh(self.db, feed_id, now)

    async def upsert_topic(
        self, slug: str, *, name: str, description: str, definition: str, now: datetime
    ) -> Topic:
        return await storage.upsert_topic(self.db, slug, name, description, definition, now=now)

    async def set_decision(
        self, entry_id: int, slug: str, state: MatchState, who: str, now: datetime
    ) -> None:
        await storage.set_decision(self.db, entry_id, slug, state, who, now)

    async def get_user(self, name: str) -> User | None:
        return await storage.get_user(self.db, name)

    async def record_login(self, name: str, ok: bool, now: datetime) -> None:
        if ok:
            await storage.record_login_success(self.db, name)
        else:
            await storage.record_login_failure(self.db, name, now)

    async def decisions_for_quality(self, slug: str) -> list[QualityDecision]:
        try:
            return await storage.decisions_for_quality(self.db, slug)
        except storage.TopicNotFoundError:
            return []

    async def status_summary(self, now: datetime) -> StatusSummary | None:
        return await storage.status_summary(self.db, now)
