"""Page metadata from structured data: JSON-LD, Open Graph / article: tags, plain meta tags."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

# schema.org types whose JSON-LD describes the article itself.
ARTICLE_TYPES: frozenset[str] = frozenset(
    {"article", "newsarticle", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
     "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "techarticle",
     "scholarlyarticle", "socialmediaposting", "liveblogposting", "posting", "webpage",
     "report", "review", "creativework"}
)  # fmt: skip

_SPACE_RE = re.compile(r"\s+")
_EARLIEST_YEAR = 1991  # the web's first pages
_BY_RE = re.compile(r"^\s*(by|von|par|por|di)\s+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PageMetadata:
    title: str | None = None
    headline: str | None = None  # JSON-LD headline
    og_title: str | None = None
    h1: str | None = None
    description: str | None = None
    author: str | None = None
    published: datetime | None = None
    image: str | None = None
    language: str | None = None
    site_name: str | None = None
    article_body: str | None = None  # JSON-LD articleBody, when the page carries it


def clean_space(text: str | None) -> str:
    return _SPACE_RE.sub(" ", text or "").strip()


def clean_meta(text: str | None) -> str:
    """A metadata value as text: CMSes often escape entities twice ("&amp;#8216;")."""
    return clean_space(html.unescape(text or ""))


def parse_datetime(value: str | None) -> datetime | None:
    """An ISO 8601 date(-time) as an aware UTC datetime; naive values are taken as UTC."""
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # "+0000" offsets (common in meta tags) are not ISO 8601 for fromisoformat before 3.12.
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text[:10])
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year < _EARLIEST_YEAR:
        return None  # placeholders such as 0001-01-01 from unset CMS fields
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the end of time in UTC
        return None


def _walk_json(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk_json(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_json(value)


def _types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {str(value).lower() for value in values if value}


def _person_name(value: Any) -> str | None:
    if isinstance(value, str):
        return clean_meta(value) or None
    if isinstance(value, dict):
        return _person_name(value.get("name"))
    if isinstance(value, list):
        names = [name for name in (_person_name(item) for item in value) if name]
        return ", ".join(dict.fromkeys(names)) or None
    return None


def _image_url(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        return _image_url(value.get("url") or value.get("contentUrl"))
    if isinstance(value, list) and value:
        return _image_url(value[0])
    return None


def json_ld_articles(tree: HtmlElement) -> list[dict[str, Any]]:
    """JSON-LD objects of article-like types, best first (specific article types before WebPage)."""
    found: list[dict[str, Any]] = []
    for script in tree.iterfind(".//script[@type='application/ld+json']"):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue  # broken JSON-LD is common; the page's other signals still count
        found.extend(node for node in _walk_json(data) if _types(node) & ARTICLE_TYPES)
    found.sort(key=lambda node: ("webpage" in _types(node), "articleBody" not in node))
    return found


def _meta(tree: HtmlElement) -> dict[str, str]:
    values: dict[str, str] = {}
    for element in tree.iterfind(".//meta"):
        key = element.get("property") or element.get("name") or element.get("itemprop") or ""
        content = element.get("content")
        key = key.strip().lower()
        if key and content and key not in values:
            values[key] = content.strip()
    return values


def _language(tree: HtmlElement, meta: dict[str, str], ld_language: Any) -> str | None:
    candidates = [
        tree.get("lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
        meta.get("content-language"),
        meta.get("og:locale"),
        ld_language if isinstance(ld_language, str) else None,
    ]
    for candidate in candidates:
        if candidate and candidate.strip():
            primary = re.split(r"[-_]", candidate.strip())[0].lower()
            if primary.isalpha() and 2 <= len(primary) <= 3:
                return primary
    return None


def _absolute(url: str | None, base_url: str | None) -> str | None:
    if not url:
        return None
    absolute = urljoin(base_url, url) if base_url else url
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def read_metadata(tree: HtmlElement, base_url: str | None) -> PageMetadata:
    """Read what the page says about itself. Cheap: no text analysis."""
    meta = _meta(tree)
    articles = json_ld_articles(tree)
    ld: dict[str, Any] = articles[0] if articles else {}

    def ld_get(key: str) -> Any:
        for node in articles:
            if node.get(key):
                return node[key]
        return None

    title_element = tree.find(".//title")
    h1 = tree.find(".//h1")
    author = (
        _person_name(ld_get("author"))
        or meta.get("author")
        or meta.get("article:author")
        or meta.get("parsely-author")
        or meta.get("sailthru.author")
        or meta.get("dc.creator")
    )
    if author and urlsplit(author).scheme in ("http", "https"):
        author = None  # article:author is often a profile URL, not a name
    if author:
        author = _BY_RE.sub("", clean_meta(author)) or None
    published = (
        parse_datetime(
            ld_get("datePublished") if isinstance(ld_get("datePublished"), str) else None
        )
        or parse_datetime(meta.get("article:published_time"))
        or parse_datetime(meta.get("og:published_time"))
        or parse_datetime(meta.get("datepublished"))
        or parse_datetime(meta.get("pubdate"))
        or parse_datetime(meta.get("publishdate"))
        or parse_datetime(meta.get("date"))
        or parse_datetime(meta.get("dc.date"))
        or parse_datetime(meta.get("dcterms.created"))
    )
    if published is None:
        time_element = tree.find(".//time[@datetime]")
        if time_element is not None:
            published = parse_datetime(time_element.get("datetime"))
    body = ld.get("articleBody")
    headline = ld_get("headline")
    return PageMetadata(
        title=clean_space(title_element.text_content()) or None
        if title_element is not None
        else None,
        headline=clean_meta(headline) or None if isinstance(headline, str) else None,
        og_title=clean_meta(meta.get("og:title") or meta.get("twitter:title")) or None,
        h1=clean_space(h1.text_content()) or None if h1 is not None else None,
        description=clean_meta(
            meta.get("og:description") or meta.get("description") or meta.get("twitter:description")
        )
        or None,
        author=author,
        published=published,
        image=_absolute(
            meta.get("og:image") or meta.get("twitter:image") or _image_url(ld_get("image")),
            base_url,
        ),
        language=_language(tree, meta, ld_get("inLanguage")),
        site_name=clean_meta(meta.get("og:site_name")) or None,
        article_body=body.strip() if isinstance(body, str) and body.strip() else None,
    )


def best_title(metadata: PageMetadata) -> str | None:
    """The headline: the page's h1 when the metadata agrees with it, else the metadata title."""
    stated = [t for t in (metadata.headline, metadata.og_title, metadata.title) if t]
    if metadata.h1 and any(metadata.h1.lower() in title.lower() for title in stated):
        return metadata.h1
    if metadata.headline or metadata.og_title:
        return metadata.headline or metadata.og_title
    if metadata.title:
        return _strip_site_name(metadata.title, metadata.site_name)
    return metadata.h1


def _strip_site_name(title: str, site_name: str | None) -> str:
    for separator in (" | ", " - ", " – ", " — ", " :: ", " » "):
        if separator in title:
            head, _, tail = title.rpartition(separator)
            if (site_name and site_name.lower() in tail.lower()) or len(tail) < len(head) / 2:
                return head.strip()
    return title
