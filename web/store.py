"""The storage calls the web view makes, behind one Protocol.

``StorageWebStore`` forwards to ``aggregator.storage``; views only see ``WebStore``, so the
storage API can move without touching every view, and the list below is exactly what the
web view needs from storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Topic page filters; all optional."""

    feed_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


class WebStore(Protocol):
    async def list_topics(self) -> list[Topic]: ...
    async def topic_counts(self) -> dict[str, int]: ...
    async def get_topic(self, slug: str) -> Topic | None: ...
    async def topic_entries(
        self,
        slug: str,
        *,
        limit: int,
        before: str | None = None,
        filters: EntryFilter | None = None,
        include_hidden: bool = False,
    ) -> TopicEntryPage: ...
    async def get_entry(self, entry_id: int) -> Entry | None: ...
    async def get_article(self, entry_id: int) -> Article | None: ...
    async def entry_matches(self, entry_id: int) -> list[TopicMatch]: ...
    async def search_entries(
        self, query: str, *, limit: int, offset: int = 0
    ) -> list[SearchHit]: ...
    async def list_feeds(self) -> list[Feed]: ...
    async def feed_article_stats(self) -> dict[int, FeedArticleStats]: ...
    async def add_feed(self, new: NewFeed) -> Feed: ...
    async def add_feeds(self, feeds: Sequence[NewFeed]) -> int: ...
    async def get_feed(self, feed_id: int) -> Feed | None: ...
    async def remove_feed(self, feed_id: int) -> None: ...
    async def set_feed_disabled(self, feed_id: int, disabled: bool) -> None: ...
    async def request_refresh(self, feed_id: int, now: datetime) -> None: ...
    async def upsert_topic(
        self, slug: str, *, name: str, description: str, definition: str, now: datetime
    ) -> Topic: ...
    async def set_decision(
        self, entry_id: int, slug: str, state: MatchState, who: str, now: datetime
    ) -> None: ...
    async def get_user(self, name: str) -> User | None: ...
    async def record_login(self, name: str, ok: bool, now: datetime) -> None: ...
    async def decisions_for_quality(self, slug: str) -> list[QualityDecision]: ...
    async def status_summary(self, now: datetime) -> StatusSummary | None: ...
