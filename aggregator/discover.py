"""Feed autodiscovery: from a site address to the feeds it offers.

``discover_feeds`` tries, in order: the URL is itself a feed; the page announces feeds with
``<link rel="alternate" type="application/rss+xml" ...>``; a feed answers at one of the
common paths (``/feed/``, ``/rss.xml`` ...). Deciding "is this a feed" is a cheap sniff of
the first bytes (``sniff_feed_type``), not a parse: only ``aggregator.parse`` runs feedparser.
"""

from __future__ import annotations

import asyncio
import codecs
import html
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, SoupStrainer, Tag

from aggregator.errors import FetchError
from aggregator.types import FetchOutcome, FetchRequest

if TYPE_CHECKING:
    from aggregator.fetch import Fetcher

RSS = "application/rss+xml"
ATOM = "application/atom+xml"
RDF = "application/rdf+xml"
JSON_FEED = "application/feed+json"

# <link type="..."> values that announce a feed, and the type reported for each.
FEED_LINK_TYPES: dict[str, str] = {
    "application/rss+xml": RSS,
    "application/x-rss+xml": RSS,
    "application/atom+xml": ATOM,
    "application/x-atom+xml": ATOM,
    "application/rdf+xml": RDF,
    "application/feed+json": JSON_FEED,
    "application/xml": "application/xml",
    "text/xml": "application/xml",
}
# JSON Feed 1.0 used plain application/json, which WordPress also uses for its REST API
# links; such a link counts only when its address or title says "feed".
_PLAIN_JSON = "application/json"

COMMON_FEED_PATHS: tuple[str, ...] = (
    "/feed/",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.xml",
    "/feed.json",
)

_SNIFF_BYTES = 8192
_PROLOG = re.compile(r"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(\[.*?\])?\s*>)", re.S | re.I)
_FIRST_ELEMENT = re.compile(r"\s*<([A-Za-z_][\w.:-]*)")
_JSON_FEED_VERSION = re.compile(r'"version"\s*:\s*"https?://jsonfeed\.org/version/')
_XML_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.S | re.I)


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    """A feed found at, or announced by, an address; ``type`` is a MIME type such as
    ``application/atom+xml`` (``application/xml`` when a page did not say which kind)."""

    url: str
    title: str | None = None
    type: str | None = None


def _head_text(body: bytes) -> str:
    head = body[:_SNIFF_BYTES]
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, errors="ignore")
    if head[:4] in (b"<\x00?\x00", b"<\x00r\x00", b"<\x00f\x00"):
        return head.decode("utf-16-le", errors="ignore")
    if head[:4] in (b"\x00<\x00?", b"\x00<\x00r", b"\x00<\x00f"):
        return head.decode("utf-16-be", errors="ignore")
    # Latin-1 never fails and keeps ASCII markup intact, whatever the real charset.
    return head.decode("latin-1")


def sniff_feed_type(body: bytes, content_type: str | None = None) -> str | None:
    """The feed type of ``body`` from its first bytes (RSS, Atom, RDF, JSON Feed), or None.

    The content decides, not the Content-Type header, which servers often get wrong: a feed
    served as text/html is a feed and an HTML page served as application/rss+xml is not.
    ``content_type`` only breaks a tie for JSON that announces no JSON Feed version early.
    """
    text = _head_text(body).lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if text.startswith("{"):
        if _JSON_FEED_VERSION.search(text):
            return JSON_FEED
        declared = (content_type or "").split(";")[0].strip().lower()
        if declared == JSON_FEED and '"items"' in text:
            return JSON_FEED
        return None
    if not text.startswith("<"):
        return None
    position = 0
    while match := _PROLOG.match(text, position):
        position = match.end()
    element = _FIRST_ELEMENT.match(text, position)
    if element is None:
        return None
    name = element.group(1).lower()
    local = name.rsplit(":", 1)[-1]
    if local == "rss":
        return RSS
    if local == "feed":
        return ATOM
    if local == "rdf" and ("purl.org/rss/1.0" in text or "<channel" in text.lower()):
        return RDF
    return None


def _feed_title(body: bytes, feed_type: str) -> str | None:
    if feed_type == JSON_FEED:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        title = data.get("title") if isinstance(data, dict) else None
        if not isinstance(title, str):
            return None
        return " ".join(title.split()) or None
    match = _XML_TITLE.search(body[:65536].decode("utf-8", errors="replace"))
    if match is None:
        return None
    raw = match.group(1).strip()
    if raw.startswith("<![CDATA[") and raw.endswith("]]>"):
        raw = raw[9:-3]
    else:
        raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
    return " ".join(raw.split()) or None


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def find_feed_links(html_doc: str | bytes, base_url: str) -> list[DiscoveredFeed]:
    """Feeds a page announces with ``<link rel="alternate" type=...>``, in document order.

    URLs are made absolute (honouring ``<base href>``), non-http(s) ones dropped, duplicates
    removed (first wins). Pure: no network.
    """
    if not html_doc:
        return []
    soup = BeautifulSoup(html_doc, "lxml", parse_only=SoupStrainer(["link", "base"]))
    base = base_url
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag):
        base = urljoin(base_url, str(base_tag["href"]).strip())
    found: list[DiscoveredFeed] = []
    seen: set[str] = set()
    for link in soup.find_all("link", href=True):
        if not isinstance(link, Tag):
            continue
        rel = link.get("rel") or []
        rels = {r.lower() for r in (rel.split() if isinstance(rel, str) else rel)}
        if "alternate" not in rels:
            continue
        declared = str(link.get("type") or "").split(";")[0].strip().lower()
        href = str(link["href"]).strip()
        title = " ".join(str(link.get("title") or "").split()) or None
        if declared == _PLAIN_JSON:
            if "feed" not in href.lower() and "feed" not in (title or "").lower():
                continue
            feed_type = JSON_FEED
        elif declared in FEED_LINK_TYPES:
            feed_type = FEED_LINK_TYPES[declared]
        else:
            continue
        url = urljoin(base, href)
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
        if not href or not _is_http(url) or url in seen:
            continue
        seen.add(url)
        found.append(DiscoveredFeed(url=url, title=title, type=feed_type))
    return found


async def discover_feeds(fetcher: Fetcher, url: str) -> list[DiscoveredFeed]:
    """The feeds at ``url``: itself if it is a feed, else the ones its page announces, else
    those answering at the common paths of its site (at the root, and below the page's
    directory when that is not the root). An empty list: none found.

    Raises ``FetchError`` (a one-line message) when ``url`` itself cannot be fetched.
    """
    result = await fetcher.fetch_page(url)
    if result.outcome is not FetchOutcome.OK or result.body is None:
        reason = result.error or f"HTTP {result.status}"
        raise FetchError(url, reason)
    body = result.body
    feed_type = sniff_feed_type(body, result.content_type)
    if feed_type is not None:
        address = result.permanent_redirect or url
        return [DiscoveredFeed(url=address, title=_feed_title(body, feed_type), type=feed_type)]
    links = find_feed_links(body, result.final_url)
    if links:
        return links
    return await _probe_common_paths(fetcher, result.final_url)


async def _probe_common_paths(fetcher: Fetcher, page_url: str) -> list[DiscoveredFeed]:
    parts = urlsplit(page_url)
    # The site root, and the page's directory too for a site below it (e.g. a blog at /blog/).
    directory = parts.path[: parts.path.rfind("/") + 1] or "/"
    prefixes = ["/"] if directory == "/" else ["/", directory]
    candidates: list[str] = []
    for prefix in prefixes:
        for path in COMMON_FEED_PATHS:
            candidate = urlunsplit((parts.scheme, parts.netloc, prefix + path[1:], "", ""))
            if candidate not in candidates:
                candidates.append(candidate)
    results = await asyncio.gather(
        *(fetcher.fetch_feed(FetchRequest(url=candidate)) for candidate in candidates)
    )
    found: list[DiscoveredFeed] = []
    seen: set[str] = set()
    for candidate, result in zip(candidates, results, strict=True):
        if result.outcome is not FetchOutcome.OK or not result.body:
            continue
        feed_type = sniff_feed_type(result.body, result.content_type)
        if feed_type is None or result.final_url in seen:
            continue
        seen.add(result.final_url)
        found.append(
            DiscoveredFeed(
                url=result.permanent_redirect or candidate,
                title=_feed_title(result.body, feed_type),
                type=feed_type,
            )
        )
    return found
