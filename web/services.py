"""What the web view asks of the rest of the system besides storage, injected by the caller.

The web layer never imports the fetcher, the pipeline or the tagger; the composition root
(``aggregator.cli``) wires these callables with the real ones, tests with small fakes or
the real functions against a local fixture site. A service left as ``None`` turns its feature
off with an explanation on the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    """A feed found at (or linked from) a URL a curator typed."""

    url: str
    title: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class PreviewEntry:
    title: str | None
    url: str | None = None
    published: datetime | None = None
    summary: str | None = None  # plain text


@dataclass(frozen=True, slots=True)
class FeedPreview:
    """The latest entries of a feed, fetched now and not stored."""

    url: str
    title: str | None = None
    entries: tuple[PreviewEntry, ...] = ()
    error: str | None = None  # a message a person can act on; entries are empty then


@dataclass(frozen=True, slots=True)
class TopicChangeEntry:
    entry_id: int
    title: str | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class TopicChangePreview:
    """What saving a new topic definition would do to the stored entries."""

    added: tuple[TopicChangeEntry, ...] = ()
    removed: tuple[TopicChangeEntry, ...] = ()
    unchanged: int = 0
    error: str | None = None  # e.g. a rule syntax error, pointing at the mistake


DiscoverFeeds = Callable[[str], Awaitable[list[DiscoveredFeed]]]
PreviewFeed = Callable[[str], Awaitable[FeedPreview]]
# (slug, new definition text) -> preview; raises aggregator.errors.RuleError on a bad rule
PreviewTopicChange = Callable[[str, str], Awaitable[TopicChangePreview]]
# slug -> number of entries whose match changed; run after a topic is saved
RetagTopic = Callable[[str], Awaitable[int]]


@dataclass
class WebServices:
    discover_feeds: DiscoverFeeds | None = None
    preview_feed: PreviewFeed | None = None
    preview_topic_change: PreviewTopicChange | None = None
    retag_topic: RetagTopic | None = None
    extra: dict[str, object] = field(default_factory=dict)
