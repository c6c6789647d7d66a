"""JSON Feed 1.0 / 1.1 documents -> ``FeedData`` (feedparser 6 does not read JSON Feed).

Values of the wrong type are ignored field by field (an item without a usable id, url or
text is skipped), so a sloppy feed still yields what it can and nothing here can crash.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from aggregator.errors import ParseError
from aggregator.parse import (
    AUTHOR_MAX_CHARS,
    DESCRIPTION_MAX_CHARS,
    TITLE_MAX_CHARS,
    EntryDraft,
    absolute_url,
    categories_of,
    clamp_date,
    clean_guid,
    clean_html,
    clean_text,
    finish_entries,
    parse_date_text,
)
from aggregator.types import FeedData

_VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "http://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
    "http://jsonfeed.org/version/1.1": "json11",
}


def parse_json_feed(body: bytes, url: str, *, now: datetime, max_entries: int) -> FeedData:
    """Parse a JSON Feed document; ``ParseError`` when it is not JSON or not a JSON Feed."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ParseError(url, f"invalid JSON: {_one_line(exc)}") from exc
    if not isinstance(document, dict):
        raise ParseError(url, "JSON document is not a JSON Feed (top level is not an object)")
    version = document.get("version")
    format_name = _VERSIONS.get(version.strip()) if isinstance(version, str) else None
    if format_name is None:
        if isinstance(document.get("rss"), dict):
            raise ParseError(url, "RSS-in-JSON document, not a JSON Feed (no jsonfeed.org version)")
        shown = repr(version)[:80] if version is not None else "missing"
        raise ParseError(url, f"JSON document is not a JSON Feed 1.0/1.1 (version: {shown})")

    feed_url = _string(document.get("feed_url"))
    base = absolute_url(feed_url, url) or url
    items = document.get("items")
    warnings: list[str] = []
    if not isinstance(items, list):
        warnings.append("JSON Feed without an items list")
        items = []
    if len(items) > max_entries:
        warnings.append(f"{len(items)} items in the document; kept the first {max_entries}")
        items = items[:max_entries]
    skipped = 0
    drafts: list[EntryDraft] = []
    for item in items:
        draft = _draft(item, base, now) if isinstance(item, dict) else None
        if draft is None:
            skipped += 1
        else:
            drafts.append(draft)
    if skipped:
        warnings.append(f"skipped {skipped} item(s) without a usable id, url, title or content")

    language = _string(document.get("language"))
    return FeedData(
        title=clean_text(_string(document.get("title")), TITLE_MAX_CHARS),
        site_url=absolute_url(_string(document.get("home_page_url")), base),
        description=clean_text(_string(document.get("description")), DESCRIPTION_MAX_CHARS),
        entries=finish_entries(drafts),
        format=format_name,
        language=clean_text(language, 35),
        warnings=tuple(warnings),
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _string(value: Any) -> str | None:
    """The value if it is a string, made storable (lone surrogates from \\ud800 escapes replaced)."""
    if not isinstance(value, str):
        return None
    return value.encode("utf-8", "replace").decode("utf-8")


def _identifier(value: Any) -> str | None:
    # JSON Feed 1.1: an id given as a number must be read as a string.
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return clean_guid(_string(value))


def _date(value: Any, now: datetime) -> datetime | None:
    text = _string(value)
    if not text:
        return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(text.strip()[:64])
    except ValueError:
        parsed = parse_date_text(text)
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return clamp_date(parsed, now)


def _author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")
    candidates: list[Any] = authors if isinstance(authors, list) else []
    candidates = [*candidates, item.get("author")]  # 1.0 used a single "author" object
    for candidate in candidates:
        if isinstance(candidate, dict):
            name = clean_text(_string(candidate.get("name")), AUTHOR_MAX_CHARS)
            if name:
                return name
    return None


def _draft(item: dict[str, Any], base: str, now: datetime) -> EntryDraft | None:
    guid = _identifier(item.get("id"))
    url = absolute_url(_string(item.get("url")), base) or absolute_url(
        _string(item.get("external_url")), base
    )
    title = clean_text(_string(item.get("title")), TITLE_MAX_CHARS)
    entry_base = url or base
    content_html = clean_html(_string(item.get("content_html")), entry_base)
    if content_html is None:
        text = _string(item.get("content_text"))
        if text and text.strip():
            paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
            content_html = clean_html(
                "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs), entry_base
            )
    summary = _string(item.get("summary"))
    summary_html = clean_html(f"<p>{html.escape(summary)}</p>", None) if summary else None
    if not (guid or url or title or content_html or summary_html):
        return None
    published = _date(item.get("date_published"), now)
    updated = _date(item.get("date_modified"), now)
    tags = item.get("tags")
    image = absolute_url(_string(item.get("image")), entry_base) or absolute_url(
        _string(item.get("banner_image")), entry_base
    )
    return EntryDraft(
        guid=guid,
        url=url,
        title=title,
        author=_author(item),
        published_at=published or updated,
        updated_at=updated,
        summary_html=summary_html,
        content_html=content_html,
        categories=categories_of(tags if isinstance(tags, list) else []),
        image_url=image,
    )
