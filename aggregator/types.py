"""Typed domain objects that cross layer boundaries.

Every stage of the pipeline (fetch -> parse -> decide -> store -> extract -> tag -> publish)
speaks in these frozen dataclasses. ORM rows never leave ``aggregator.storage``.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class FeedStatus(StrEnum):
    """Health of a subscription as shown to curators and operators."""

    NEW = "new"  # never fetched
    OK = "ok"
    ERROR = "error"  # last fetch failed; backing off
    BROKEN = "broken"  # failing for a long time; polled daily until it answers
    GONE = "gone"  # 410 Gone; disabled
    DISABLED = "disabled"  # disabled by a curator


class ContentMode(StrEnum):
    """Where an entry's full text comes from (per-feed setting)."""

    AUTO = "auto"  # use the feed's content when it is the full article, else fetch the page
    FEED = "feed"  # always use the feed's own content
    PAGE = "page"  # always fetch and extract the article page


class FetchOutcome(StrEnum):
    OK = "ok"  # 2xx with a body
    NOT_MODIFIED = "not_modified"  # 304, or a body identical to the last one
    GONE = "gone"  # 410
    ERROR = "error"  # anything else: network, HTTP 4xx/5xx, too large, not a feed ...


class ErrorKind(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    HTTP = "http"  # 4xx/5xx other than the specially handled ones
    RATE_LIMITED = "rate_limited"  # 429 / 503 with Retry-After
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    BLOCKED_ADDRESS = "blocked_address"  # SSRF guard refused the address
    BAD_URL = "bad_url"
    NOT_A_FEED = "not_a_feed"
    PARSE = "parse"
    DECODING = "decoding"
    INTERNAL = "internal"


class ArticleStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    PENDING = "pending"


class MatchOrigin(StrEnum):
    RULE = "rule"
    CURATOR = "curator"


class MatchState(StrEnum):
    AUTO = "auto"  # made by rules, not reviewed
    APPROVED = "approved"
    HIDDEN = "hidden"
    PINNED = "pinned"


# ---------------------------------------------------------------------------
# Subscriptions


@dataclass(frozen=True, slots=True)
class Feed:
    id: int
    url: str
    title: str | None = None
    site_url: str | None = None
    category: str | None = None
    status: FeedStatus = FeedStatus.NEW
    disabled: bool = False
    content_mode: ContentMode = ContentMode.AUTO
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetched_at: datetime | None = None
    last_success_at: datetime | None = None
    next_poll_at: datetime | None = None
    poll_interval_s: int | None = None
    error_count: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    first_error_at: datetime | None = None
    redirect_url: str | None = None  # a permanent redirect seen on the last poll
    created_at: datetime | None = None
    entry_count: int = 0
    # The items of the last document parsed (``aggregator.item_index``); set by claims.
    item_index: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class NewFeed:
    """What a curator, the CLI or an OPML import asks to subscribe to."""

    url: str
    title: str | None = None
    site_url: str | None = None
    category: str | None = None


# ---------------------------------------------------------------------------
# Fetching


@dataclass(frozen=True, slots=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    previous_body_hash: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one HTTP fetch. Errors are outcomes, never escaping exceptions."""

    requested_url: str
    final_url: str
    outcome: FetchOutcome
    status: int | None = None
    body: bytes | None = None
    body_hash: str | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    retry_after_s: float | None = None
    permanent_redirect: str | None = None  # target of a 301/308 chain starting at the requested URL
    error_kind: ErrorKind | None = None
    error: str | None = None  # a message a person can act on
    duration_s: float = 0.0
    bytes_read: int = 0


# ---------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True, slots=True)
class EntryData:
    """One entry as parsed from a feed document (sanitized, absolute URLs, UTC dates)."""

    identity: str  # stable key unique within the feed
    guid: str | None
    url: str | None
    title: str | None
    author: str | None
    published_at: datetime | None
    updated_at: datetime | None
    summary_html: str | None
    content_html: str | None
    content_hash: str
    categories: tuple[str, ...] = ()
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class UnchangedEntry:
    """An entry of a feed document that was not parsed again (its item is as last stored)."""

    identity_key: bytes  # a short digest of its identity (``aggregator.item_index``)
    date: datetime | None  # published, else updated: the feed's rhythm counts it


@dataclass(frozen=True, slots=True)
class FeedData:
    """A parsed feed document."""

    title: str | None
    site_url: str | None
    description: str | None
    entries: tuple[EntryData, ...]
    format: str  # "rss20", "atom10", "rss10", "json11" ... (feedparser's version names)
    language: str | None = None
    ttl_s: int | None = None  # RSS <ttl>
    update_period_s: int | None = None  # sy:updatePeriod / sy:updateFrequency
    warnings: tuple[str, ...] = ()  # e.g. feedparser's bozo message for a recovered feed
    # Items byte for byte as the last poll stored them are not parsed again (see
    # ``aggregator.item_index``): ``entries`` then holds only the new and changed ones, and
    # ``unchanged`` what is known of the others.
    unchanged: tuple[UnchangedEntry, ...] = ()
    item_index: bytes | None = None  # what to remember for the next poll (opaque)

    @property
    def entry_dates(self) -> list[datetime | None]:
        """Every entry's date in the document (published, else updated), parsed or not."""
        return [e.published_at or e.updated_at for e in self.entries] + [
            u.date for u in self.unchanged
        ]


# ---------------------------------------------------------------------------
# Stored entries and articles


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    feed_id: int
    identity: str
    url: str | None
    title: str | None
    author: str | None
    published_at: datetime  # first-seen time when the feed gives none
    updated_at: datetime | None
    summary_html: str | None
    content_html: str | None
    content_hash: str
    first_seen_at: datetime
    feed_title: str | None = None
    feed_url: str | None = None
    feed_site_url: str | None = None
    categories: tuple[str, ...] = ()
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class ExtractedArticle:
    """What the extractor makes of one article page (``aggregator.extract.extract``)."""

    title: str | None
    text: str  # clean plain text, paragraphs separated by blank lines
    html: str  # sanitized HTML
    author: str | None = None
    published: datetime | None = None
    lead_image: str | None = None
    language: str | None = None
    word_count: int = 0
    extractor: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "text": self.text,
            "html": self.html,
            "author": self.author,
            "published": self.published.isoformat() if self.published else None,
            "lead_image": self.lead_image,
            "language": self.language,
            "word_count": self.word_count,
            "extractor": self.extractor,
        }


@dataclass(frozen=True, slots=True)
class Article:
    """The stored full text of an entry."""

    entry_id: int
    status: ArticleStatus
    title: str | None = None
    text: str | None = None
    html: str | None = None
    author: str | None = None
    published: datetime | None = None
    lead_image: str | None = None
    language: str | None = None
    word_count: int = 0
    extractor: str | None = None
    error: str | None = None
    extracted_at: datetime | None = None


# ---------------------------------------------------------------------------
# Topics and tagging


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    slug: str
    name: str
    description: str
    definition: str  # the rule text (TOML) as a curator edits it
    version: int
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TopicMatch:
    entry_id: int
    topic_slug: str
    score: float
    explanation: dict[str, Any]
    origin: MatchOrigin
    state: MatchState
    topic_version: int
    decided_by: str | None = None
    decided_at: datetime | None = None
    matched_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FetchLogRecord:
    feed_id: int
    started_at: datetime
    outcome: FetchOutcome
    status: int | None
    duration_s: float
    bytes_read: int
    new_entries: int
    updated_entries: int
    error: str | None
    error_kind: ErrorKind | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class PollSummary:
    """What one pass over the due feeds did (printed by ``fetch --once``)."""

    feeds: int = 0
    not_modified: int = 0
    new_entries: int = 0
    updated_entries: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_messages: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------
# Decisions (pure functions in aggregator.decide produce these; storage applies them)


@dataclass(frozen=True, slots=True)
class EntryState:
    """What decide needs to know about an entry already stored."""

    entry_id: int
    identity: str
    content_hash: str
    update_count: int = 0
    url: str | None = None


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """Which parsed entries are new and which changed (decided, not yet written)."""

    new: tuple[EntryData, ...] = ()
    updated: tuple[EntryData, ...] = ()
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """How a feed's stored state changes after one poll (``None`` fields: keep as stored)."""

    fetched_at: datetime
    status: FeedStatus
    next_poll_at: datetime
    poll_interval_s: int
    error_count: int
    last_error: str | None
    last_error_at: datetime | None
    first_error_at: datetime | None
    last_success_at: datetime | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    title: str | None = None
    site_url: str | None = None
    new_url: str | None = None  # move the subscription (permanent redirect confirmed)
    redirect_url: str | None = None  # permanent redirect seen on this poll
    disabled: bool | None = None
    item_index: bytes | None = None  # the parsed document's items (None: it has no index)
    item_index_changed: bool = False  # store ``item_index`` (else keep what is stored)


# ---------------------------------------------------------------------------
# Storage results (added by the storage layer)


@dataclass(frozen=True, slots=True)
class PollWriteResult:
    """What ``storage.apply_poll`` wrote for one feed."""

    new_entry_ids: tuple[int, ...] = ()
    updated_entry_ids: tuple[int, ...] = ()
    moved_to: str | None = None  # the feed's new URL when a confirmed redirect moved it


@dataclass(frozen=True, slots=True)
class TopicEntry:
    """One entry as shown in a topic: the entry, its article, this topic's match, all its topics."""

    entry: Entry
    article: Article | None
    match: TopicMatch
    topics: tuple[str, ...] = ()
    cursor: str = ""  # pass as ``before=`` to get the entries after this one


@dataclass(frozen=True, slots=True)
class TopicEntryPage:
    items: tuple[TopicEntry, ...]
    next_cursor: str | None = None  # None: no older entries


@dataclass(frozen=True, slots=True)
class SearchHit:
    entry: Entry
    snippet: str = ""  # the start of the article text (plain text)
    rank: float = 0.0


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    password_hash: str
    created_at: datetime
    failed_logins: int = 0
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeedArticleStats:
    """Article extraction results for one feed (sources page)."""

    feed_id: int
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0

    @property
    def success_rate(self) -> float | None:
        done = self.ok + self.failed
        return None if done == 0 else self.ok / done


@dataclass(frozen=True, slots=True)
class QualityDecision:
    """One entry's match in a topic with the rule parts that fired (per-topic quality)."""

    entry_id: int
    state: MatchState
    origin: MatchOrigin
    score: float
    fired_parts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusSummary:
    """Operator health view (``/healthz``, ``/metrics``, the sources page header)."""

    feeds_total: int
    feeds_by_status: dict[str, int]
    disabled_feeds: int
    due_backlog: int  # enabled feeds whose next poll time has passed
    oldest_due_age_s: float | None
    entries_total: int
    entries_today: int  # first seen in the last 24 hours
    top_errors: tuple[tuple[str, int], ...]  # (last_error, number of feeds), most common first
    last_tick: datetime | None
    leased_feeds: int = 0
