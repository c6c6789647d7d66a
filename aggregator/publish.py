"""Topic entries -> Atom 1.0 / RSS 2.0 / JSON Feed 1.1 documents (pure; no I/O).

Every function here takes plain domain objects and returns bytes plus the validators a web
server needs for conditional GET (a strong ETag over the exact bytes, and Last-Modified).
HTML from storage is sanitized again on the way out, because a feed document is an output
path that embeds HTML. The project's extension (topic matches and their explanations) is
documented in docs/topic-feeds.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode, urlsplit

from lxml import etree

from aggregator.sanitize import html_to_text, sanitize_html
from aggregator.types import Article, Entry, Topic, TopicMatch

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
# The namespace of the project's extension; a name, not a place to fetch anything from.
AGGREGATOR_NS = "https://github.com/aggregator-project/aggregator/ns/topic-feeds/1.0"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "aggregator"
# The date part of every tag: URI; fixed forever so ids never change (RFC 4151).
TAG_DATE = "2026"

FeedFormat = Literal["atom", "rss", "json"]
FORMATS: tuple[FeedFormat, ...] = ("atom", "rss", "json")
CONTENT_TYPES: dict[FeedFormat, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
OPML_CONTENT_TYPE = "text/x-opml; charset=utf-8"
SUMMARY_CHARS = 400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Characters XML 1.0 forbids; feeds in the wild carry them and lxml refuses them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class PublishableEntry(Protocol):
    """One entry as listed in a topic (storage's ``TopicEntry`` has this shape)."""

    @property
    def entry(self) -> Entry: ...

    @property
    def article(self) -> Article | None: ...

    @property
    def match(self) -> TopicMatch | None: ...

    @property
    def topics(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class PublishItem:
    """A concrete ``PublishableEntry`` (for adapters and tests)."""

    entry: Entry
    article: Article | None = None
    match: TopicMatch | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Which slice of the topic a document shows, for paging links (RFC 5005 style)."""

    limit: int
    before: str | None = None  # the cursor this page was asked with (None: the newest page)
    next_before: str | None = None  # cursor of the next, older page; None when this is the last
    extra_query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PublishedFeed:
    body: bytes
    content_type: str
    etag: str  # strong, quoted
    last_modified: datetime


# ---------------------------------------------------------------------------
# Small helpers


@lru_cache(maxsize=2048)
def sanitized_html(html: str | None, base_url: str | None = None) -> str:
    """``sanitize_html`` with XML-illegal characters removed, memoized (it is pure)."""
    # The same stored HTML is sanitized on every render of every page that lists it; the
    # result depends on nothing else, so recent results are kept (bounded).
    return _clean(sanitize_html(html, base_url))


@lru_cache(maxsize=4096)
def _text_of(html: str) -> str:
    return html_to_text(html)


def _clean(text: str | None) -> str:
    return _XML_ILLEGAL.sub("", text) if text else ""


def plain_text(text: str | None) -> str:
    """Plain text for titles and names: markup is dropped, never interpreted."""
    cleaned = _clean(text)
    return _text_of(cleaned) if "<" in cleaned or "&" in cleaned else cleaned.strip()


def http_url(url: str | None) -> str:
    """A stored URL fit for a link: http(s) only; anything else (javascript:, data:) gives ""."""
    cleaned = _clean(url).strip()
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError:
        return ""
    return cleaned if scheme in ("http", "https") else ""


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(moment: datetime) -> str:
    return format_datetime(_utc(moment).replace(microsecond=0), usegmt=True)


@lru_cache(maxsize=1024)
def http_date(moment: datetime) -> str:
    return rfc822(moment)


def _host(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "localhost").lower()


def entry_id_uri(base_url: str, entry_id: int) -> str:
    """The stable id of an entry in every topic feed: ``tag:HOST,2026:entry:ID`` (RFC 4151)."""
    return f"tag:{_host(base_url)},{TAG_DATE}:entry:{entry_id}"


def topic_id_uri(base_url: str, slug: str) -> str:
    return f"tag:{_host(base_url)},{TAG_DATE}:topic:{quote(slug, safe='')}"


def topic_url(base_url: str, slug: str, fmt: FeedFormat | None = None) -> str:
    suffix = f".{fmt}" if fmt else ""
    return f"{base_url.rstrip('/')}/topics/{quote(slug, safe='')}{suffix}"


def article_url(base_url: str, entry_id: int) -> str:
    return f"{base_url.rstrip('/')}/articles/{entry_id}"


def _page_url(base_url: str, slug: str, fmt: FeedFormat, page: FeedPage, before: str | None) -> str:
    query = dict(page.extra_query)
    if before is not None:
        query["before"] = before
    url = topic_url(base_url, slug, fmt)
    return f"{url}?{urlencode(query)}" if query else url


def _updated(item: PublishableEntry) -> datetime:
    entry = item.entry
    return _utc(entry.updated_at or entry.published_at)


def last_modified(topic: Topic, items: Sequence[PublishableEntry]) -> datetime:
    """Newest change among the listed entries, their curator decisions and the topic itself."""
    moments = [_utc(topic.updated_at)] if topic.updated_at else []
    for item in items:
        moments.append(_updated(item))
        if item.match is not None and item.match.decided_at is not None:
            moments.append(_utc(item.match.decided_at))
    newest = max(moments, default=EPOCH)
    return newest.replace(microsecond=0)


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _summary_html(item: PublishableEntry) -> str:
    return sanitized_html(item.entry.summary_html, item.entry.url)


def _summary_text(item: PublishableEntry) -> str:
    text = _text_of(_summary_html(item))
    if not text and item.article is not None and item.article.text:
        text = " ".join(item.article.text.split())
    if len(text) > SUMMARY_CHARS:
        text = text[: SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return _clean(text)


def content_html(item: PublishableEntry) -> str:
    """The full text as sanitized HTML: the extracted article, else the feed's own content."""
    article = item.article
    if article is not None and article.html:
        return sanitized_html(article.html, item.entry.url)
    return sanitized_html(item.entry.content_html, item.entry.url)


def _author(item: PublishableEntry) -> str:
    author = item.entry.author or (item.article.author if item.article else None)
    return plain_text(author)


def _title(item: PublishableEntry) -> str:
    title = item.entry.title or (item.article.title if item.article else None)
    return plain_text(title) or "(untitled)"


def match_extension(item: PublishableEntry) -> dict[str, Any] | None:
    """The ``_aggregator`` data of one entry: why it is in this topic."""
    match = item.match
    if match is None:
        return None
    return {
        "topic": match.topic_slug,
        "score": match.score,
        "state": str(match.state),
        "origin": str(match.origin),
        "topic_version": match.topic_version,
        "explanation": match.explanation,
    }


def _json_text(value: Any) -> str:
    return _clean(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def _finish(
    body: bytes, fmt: FeedFormat, topic: Topic, items: Sequence[PublishableEntry]
) -> PublishedFeed:
    return PublishedFeed(
        body=body,
        content_type=CONTENT_TYPES[fmt],
        etag=strong_etag(body),
        last_modified=last_modified(topic, items),
    )


# ---------------------------------------------------------------------------
# Atom 1.0 (RFC 4287)


def _atom(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _agg(tag: str) -> str:
    return f"{{{AGGREGATOR_NS}}}{tag}"


def _add_match_element(parent: etree._Element, item: PublishableEntry) -> None:
    data = match_extension(item)
    if data is None:
        return
    match = _sub(
        parent,
        _agg("match"),
        topic=data["topic"],
        score=f"{data['score']:g}",
        state=data["state"],
        origin=data["origin"],
        version=str(data["topic_version"]),
    )
    _sub(match, _agg("explanation"), _json_text(data["explanation"]), type="application/json")


def _paging_links(
    parent: etree._Element, base_url: str, slug: str, fmt: FeedFormat, page: FeedPage
) -> None:
    """atom:link self, first and (when there are older entries) next: RFC 5005 paging."""
    mime = "application/atom+xml" if fmt == "atom" else "application/rss+xml"
    links = [("self", page.before), ("first", None)]
    if page.next_before is not None:
        links.append(("next", page.next_before))
    for rel, before in links:
        _sub(
            parent,
            _atom("link"),
            rel=rel,
            type=mime,
            href=_page_url(base_url, slug, fmt, page, before),
        )


def render_atom(
    topic: Topic,
    items: Sequence[PublishableEntry],
    *,
    base_url: str,
    page: FeedPage,
    now: datetime,
) -> PublishedFeed:
    nsmap = {None: ATOM_NS, "agg": AGGREGATOR_NS}
    feed = etree.Element(_atom("feed"), nsmap=nsmap)
    _sub(feed, _atom("id"), topic_id_uri(base_url, topic.slug))
    _sub(feed, _atom("title"), plain_text(topic.name) or topic.slug, type="text")
    if topic.description:
        _sub(feed, _atom("subtitle"), plain_text(topic.description), type="text")
    updated = last_modified(topic, items) if items or topic.updated_at else _utc(now)
    _sub(feed, _atom("updated"), rfc3339(updated))
    # A feed-level author satisfies RFC 4287 for entries whose source names none.
    author = _sub(feed, _atom("author"))
    _sub(author, _atom("name"), GENERATOR)
    _sub(feed, _atom("generator"), GENERATOR, uri=base_url.rstrip("/") + "/")
    _paging_links(feed, base_url, topic.slug, "atom", page)
    _sub(
        feed, _atom("link"), rel="alternate", type="text/html", href=topic_url(base_url, topic.slug)
    )
    for item in items:
        _atom_entry(feed, item, base_url)
    body = etree.tostring(feed, xml_declaration=True, encoding="utf-8")
    return _finish(body, "atom", topic, items)


def _atom_entry(feed: etree._Element, item: PublishableEntry, base_url: str) -> None:
    entry = item.entry
    element = _sub(feed, _atom("entry"))
    _sub(element, _atom("id"), entry_id_uri(base_url, entry.id))
    _sub(element, _atom("title"), _title(item), type="text")
    _sub(element, _atom("updated"), rfc3339(_updated(item)))
    _sub(element, _atom("published"), rfc3339(entry.published_at))
    if original := http_url(entry.url):
        _sub(element, _atom("link"), rel="alternate", type="text/html", href=original)
    _sub(
        element,
        _atom("link"),
        rel="related",
        type="text/html",
        href=article_url(base_url, entry.id),
    )
    if author := _author(item):
        person = _sub(element, _atom("author"))
        _sub(person, _atom("name"), author)
    if summary := _summary_html(item):
        _sub(element, _atom("summary"), _clean(summary), type="html")
    elif summary_text := _summary_text(item):
        _sub(element, _atom("summary"), summary_text, type="text")
    if content := content_html(item):
        _sub(element, _atom("content"), content, type="html")
    for slug in item.topics:
        _sub(element, _atom("category"), term=slug, scheme=base_url.rstrip("/") + "/topics/")
    feed_url, site_url = http_url(entry.feed_url), http_url(entry.feed_site_url)
    if feed_url or entry.feed_title:
        source = _sub(element, _atom("source"))
        if feed_url:
            _sub(source, _atom("id"), feed_url)
        if entry.feed_title:
            _sub(source, _atom("title"), plain_text(entry.feed_title), type="text")
        if site_url:
            _sub(source, _atom("link"), rel="alternate", href=site_url)
        if feed_url:
            _sub(source, _atom("link"), rel="self", href=feed_url)
    _add_match_element(element, item)


# ---------------------------------------------------------------------------
# RSS 2.0


def render_rss(
    topic: Topic,
    items: Sequence[PublishableEntry],
    *,
    base_url: str,
    page: FeedPage,
    now: datetime,
) -> PublishedFeed:
    nsmap = {"atom": ATOM_NS, "content": CONTENT_NS, "dc": DC_NS, "agg": AGGREGATOR_NS}
    rss = etree.Element("rss", nsmap=nsmap, version="2.0")
    channel = _sub(rss, "channel")
    _sub(channel, "title", plain_text(topic.name) or topic.slug)
    _sub(channel, "link", topic_url(base_url, topic.slug))
    _sub(channel, "description", plain_text(topic.description) or f"Articles about {topic.name}")
    _paging_links(channel, base_url, topic.slug, "rss", page)
    updated = last_modified(topic, items) if items or topic.updated_at else _utc(now)
    _sub(channel, "lastBuildDate", rfc822(updated))
    _sub(channel, "generator", GENERATOR)
    _sub(channel, "docs", "https://www.rssboard.org/rss-specification")
    for item in items:
        _rss_item(channel, item, base_url)
    body = etree.tostring(rss, xml_declaration=True, encoding="utf-8")
    return _finish(body, "rss", topic, items)


def _rss_item(channel: etree._Element, item: PublishableEntry, base_url: str) -> None:
    entry = item.entry
    element = _sub(channel, "item")
    _sub(element, "title", _title(item))
    _sub(element, "link", http_url(entry.url) or article_url(base_url, entry.id))
    _sub(element, "guid", entry_id_uri(base_url, entry.id), isPermaLink="false")
    _sub(element, "pubDate", rfc822(entry.published_at))
    if author := _author(item):
        # RSS <author> must be an e-mail address; dc:creator carries a plain name.
        _sub(element, f"{{{DC_NS}}}creator", author)
    description = _summary_html(item) or _summary_text(item)
    if description:
        _sub(element, "description", description)
    if content := content_html(item):
        _sub(element, f"{{{CONTENT_NS}}}encoded", content)
    for slug in item.topics:
        _sub(element, "category", slug, domain=base_url.rstrip("/") + "/topics/")
    if feed_url := http_url(entry.feed_url):
        _sub(element, "source", plain_text(entry.feed_title) or feed_url, url=feed_url)
    _add_match_element(element, item)


# ---------------------------------------------------------------------------
# JSON Feed 1.1


def render_json_feed(
    topic: Topic,
    items: Sequence[PublishableEntry],
    *,
    base_url: str,
    page: FeedPage,
    now: datetime,
) -> PublishedFeed:
    document: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": plain_text(topic.name) or topic.slug,
        "home_page_url": topic_url(base_url, topic.slug),
        "feed_url": _page_url(base_url, topic.slug, "json", page, page.before),
        "description": plain_text(topic.description),
        "authors": [{"name": GENERATOR}],
        "_aggregator": {
            "about": AGGREGATOR_NS,
            "topic": topic.slug,
            "topic_version": topic.version,
        },
        "items": [_json_item(item, base_url) for item in items],
    }
    if page.next_before is not None:
        document["next_url"] = _page_url(base_url, topic.slug, "json", page, page.next_before)
    body = json.dumps(document, ensure_ascii=False, indent=1, default=str).encode("utf-8")
    return _finish(body, "json", topic, items)


def _json_item(item: PublishableEntry, base_url: str) -> dict[str, Any]:
    entry = item.entry
    result: dict[str, Any] = {
        "id": entry_id_uri(base_url, entry.id),
        "url": http_url(entry.url) or article_url(base_url, entry.id),
        "title": _title(item),
        "date_published": rfc3339(entry.published_at),
        "date_modified": rfc3339(_updated(item)),
    }
    content = content_html(item)
    summary = _summary_text(item)
    # JSON Feed requires content_html or content_text on every item.
    if content:
        result["content_html"] = content
    else:
        result["content_text"] = summary or result["title"]
    if summary:
        result["summary"] = summary
    if author := _author(item):
        result["authors"] = [{"name": author}]
    if item.topics:
        result["tags"] = list(item.topics)
    extension: dict[str, Any] = {"article_url": article_url(base_url, entry.id)}
    if entry.feed_url or entry.feed_title:
        extension["source"] = {
            "title": plain_text(entry.feed_title) or None,
            "feed_url": http_url(entry.feed_url) or None,
            "home_page_url": http_url(entry.feed_site_url) or None,
        }
    if (match := match_extension(item)) is not None:
        extension["match"] = match
    result["_aggregator"] = extension
    return result


def render_feed(
    fmt: FeedFormat,
    topic: Topic,
    items: Sequence[PublishableEntry],
    *,
    base_url: str,
    page: FeedPage,
    now: datetime,
) -> PublishedFeed:
    renderers = {"atom": render_atom, "rss": render_rss, "json": render_json_feed}
    return renderers[fmt](topic, items, base_url=base_url, page=page, now=now)


# ---------------------------------------------------------------------------
# OPML of every topic feed


def render_topics_opml(topics: Sequence[Topic], *, base_url: str, now: datetime) -> bytes:
    opml = etree.Element("opml", version="2.0")
    head = _sub(opml, "head")
    _sub(head, "title", "Topic feeds")
    _sub(head, "dateCreated", rfc822(now))
    _sub(head, "docs", "http://opml.org/spec2.opml")
    body = _sub(opml, "body")
    for topic in topics:
        name = plain_text(topic.name) or topic.slug
        outline = {
            "type": "rss",
            "text": name,  # "text" is also _sub's parameter, so build the attributes here
            "title": name,
            "description": plain_text(topic.description),
            "xmlUrl": topic_url(base_url, topic.slug, "atom"),
            "htmlUrl": topic_url(base_url, topic.slug),
        }
        etree.SubElement(body, "outline", {k: _clean(v) for k, v in outline.items()})
    return bytes(etree.tostring(opml, xml_declaration=True, encoding="utf-8", pretty_print=True))
