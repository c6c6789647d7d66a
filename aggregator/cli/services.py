"""Wire the web view's injected services (discovery, feed preview, topic preview, retag)
with the real fetcher, parser and tagger. The web layer never imports those itself."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aggregator import storage
from aggregator.discover import discover_feeds
from aggregator.errors import ParseError, RuleError
from aggregator.fetch import Fetcher
from aggregator.parse import parse_feed
from aggregator.retag import preview_change, retag_all
from aggregator.sanitize import html_to_text
from aggregator.storage import Database
from aggregator.tagger import Tagger
from aggregator.types import FetchOutcome, FetchRequest
from web.services import (
    DiscoveredFeed,
    FeedPreview,
    PreviewEntry,
    TopicChangeEntry,
    TopicChangePreview,
    WebServices,
)

log = logging.getLogger("aggregator.services")


def build_web_services(db: Database, fetcher: Fetcher, tagger: Tagger) -> WebServices:
    background: set[asyncio.Task[int]] = set()

    async def discover(url: str) -> list[DiscoveredFeed]:
        found = await discover_feeds(fetcher, url)
        return [DiscoveredFeed(url=f.url, title=f.title, content_type=f.type) for f in found]

    async def preview_feed(url: str) -> FeedPreview:
        result = await fetcher.fetch_feed(FetchRequest(url=url))
        if result.outcome is not FetchOutcome.OK or result.body is None:
            return FeedPreview(url=url, error=result.error or "the feed did not answer")
        try:
            data = await asyncio.to_thread(
                parse_feed,
                result.body,
                result.final_url,
                content_type=result.content_type,
                now=datetime.now(UTC),
            )
        except ParseError as exc:
            return FeedPreview(url=url, error=exc.message)
        entries = tuple(
            PreviewEntry(
                title=e.title,
                url=e.url,
                published=e.published_at,
                summary=html_to_text(e.summary_html or e.content_html)[:300] or None,
            )
            for e in data.entries[:10]
        )
        return FeedPreview(url=result.final_url, title=data.title, entries=entries)

    async def preview_topic_change(slug: str, definition: str) -> TopicChangePreview:
        topic = await storage.get_topic(db, slug)
        old_definition, name = (topic.definition, topic.name) if topic else (None, slug)
        try:
            change = await preview_change(db, slug, name, old_definition, definition)
        except RuleError as exc:
            return TopicChangePreview(error=str(exc))
        return TopicChangePreview(
            added=tuple(TopicChangeEntry(e.id, e.title, e.url) for e, _ in change.added),
            removed=tuple(TopicChangeEntry(e.id, e.title, e.url) for e in change.removed),
            unchanged=change.unchanged,
        )

    async def retag_topic(slug: str) -> int:
        # Re-tagging runs in the background, in batches; the page returns at once.
        async def run() -> int:
            try:
                count = await retag_all(db, tagger)
                log.info("re-tagged %d entries after topic %s changed", count, slug)
                return count
            except Exception:
                log.exception("re-tagging after topic %s changed failed", slug)
                return 0

        task = asyncio.create_task(run())
        background.add(task)
        task.add_done_callback(background.discard)
        return 0

    return WebServices(
        discover_feeds=discover,
        preview_feed=preview_feed,
        preview_topic_change=preview_topic_change,
        retag_topic=retag_topic,
    )
