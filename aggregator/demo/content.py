"""The demo site's sources and articles, loaded from the TOML files shipped in ``site/``.

Each ``site/*.toml`` file is one source (a blog, a wire, a newsletter, a local paper) with its
feed format and articles. Dates are stored as ages ("published 9.5 hours before the site
started") so the demo always looks fresh. The Discovery Headlines lead post is built from the
founding example text (``site/discovery-headlines-trump-letter-to-iran.txt``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Final

from aggregator.errors import AggregatorError

SITE_PACKAGE: Final = "aggregator.demo"
FEED_FORMATS: Final = ("rss20", "atom10", "rss10", "json11")
SEED_END_MARKER: Final = "Leave a Reply"  # the seed page's comment form starts here
READ_MORE_SENTENCE: Final = "Read more about that here."


@dataclass(frozen=True, slots=True)
class DemoArticle:
    slug: str
    title: str
    author: str
    age_hours: float
    body_html: str  # trusted: written for the demo, rendered as is
    summary: str  # plain text
    in_feed_content: bool  # the feed carries the full body, not only the summary
    expected_topics: tuple[str, ...]  # what a curator would expect (us-iran, sanctions)
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    section: str | None = None
    dateline: str | None = None
    post_id: int | None = None
    comments: int = 0
    headings: tuple[str, ...] = ()  # section headings, in order
    # Seconds after the site starts at which this article appears (None: there from the start).
    release_after_s: float | None = None

    @property
    def offset_s(self) -> float:
        """Publication time relative to the site's start, in seconds (negative: before)."""
        return (self.release_after_s or 0.0) - self.age_hours * 3600

    def published(self, anchor: datetime) -> datetime:
        return (anchor + timedelta(seconds=self.offset_s)).replace(microsecond=0)

    def released(self, elapsed_s: float) -> bool:
        return self.release_after_s is None or self.release_after_s <= elapsed_s


@dataclass(frozen=True, slots=True)
class DemoSource:
    key: str
    name: str
    tagline: str
    prefix: str  # path prefix under the site root: "" or "gulfwire/"
    feed_path: str  # without the leading slash
    format: str  # one of FEED_FORMATS
    category: str
    language: str
    layout: str
    articles: tuple[DemoArticle, ...]

    @property
    def home_path(self) -> str:
        return "/" + self.prefix

    @property
    def feed_url_path(self) -> str:
        return "/" + self.feed_path

    def article_path(self, article: DemoArticle) -> str:
        return f"/{self.prefix}{article.slug}/"

    def as_of(self, elapsed_s: float) -> DemoSource:
        """This source as it looks ``elapsed_s`` seconds after the site started."""
        return replace(self, articles=tuple(a for a in self.articles if a.released(elapsed_s)))


def _site_text(name: str) -> str:
    return (resources.files(SITE_PACKAGE) / "site" / name).read_text(encoding="utf-8")


def _headings_of(html: str) -> tuple[str, ...]:
    return tuple(re.findall(r"<h2>(.*?)</h2>", html))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _is_heading(line: str) -> bool:
    # The seed's section headings are short lines without a closing full stop; its
    # paragraphs are longer or end with one. (A test pins the seven headings this finds.)
    return len(line) < 100 and not line.endswith((".", "”", '"', ":"))


def seed_article(text: str, read_more_path: str | None) -> tuple[str, str, str, tuple[str, ...]]:
    """Split the founding example into (tagline, title, body HTML, headings).

    The text ends with the page's comment form and newsletter messages; those are page
    boilerplate (the templates render them), so the article stops at "Leave a Reply".
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 3 or SEED_END_MARKER not in lines:
        raise AggregatorError("demo seed text is not in the expected shape")
    tagline, title = lines[0], lines[1]
    article_lines = lines[2 : lines.index(SEED_END_MARKER)]
    parts: list[str] = []
    headings: list[str] = []
    for line in article_lines:
        if _is_heading(line):
            headings.append(line)
            parts.append(f"<h2>{_escape(line)}</h2>")
            continue
        html = _escape(line)
        if read_more_path and line.endswith(READ_MORE_SENTENCE):
            # The in-text link of the original page, pointing at the blog's own post.
            html = html.removesuffix(READ_MORE_SENTENCE) + (
                f'<a href="{read_more_path}">{READ_MORE_SENTENCE}</a>'
            )
        parts.append(f"<p>{html}</p>")
    return tagline, title, "\n".join(parts), tuple(headings)


def _article(raw: dict[str, Any], prefix: str) -> DemoArticle:
    fields: dict[str, Any] = {
        "slug": raw["slug"],
        "author": raw["author"],
        "age_hours": float(raw["age_hours"]),
        "in_feed_content": bool(raw.get("in_feed_content", False)),
        "expected_topics": tuple(raw.get("expected_topics", ())),
        "tags": tuple(raw.get("tags", ())),
        "categories": tuple(raw.get("categories", ())),
        "section": raw.get("section"),
        "dateline": raw.get("dateline"),
        "post_id": raw.get("post_id"),
        "comments": int(raw.get("comments", 0)),
        "release_after_s": raw.get("release_after_s"),
    }
    if "seed" in raw:
        read_more = raw.get("read_more_slug")
        _, title, body, headings = seed_article(
            _site_text(raw["seed"]), f"/{prefix}{read_more}/" if read_more else None
        )
        first_paragraph = re.sub(r"<[^>]+>", "", body.split("</p>")[0])
        summary = first_paragraph.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
        return DemoArticle(
            title=title, body_html=body, summary=summary, headings=headings, **fields
        )
    body = raw["body"].strip()
    return DemoArticle(
        title=raw["title"],
        body_html=body,
        summary=raw.get("summary") or raw["excerpt"],
        headings=_headings_of(body),
        **fields,
    )


def _source(raw: dict[str, Any]) -> DemoSource:
    meta = raw["source"]
    if meta["format"] not in FEED_FORMATS:
        raise AggregatorError(f"demo source {meta['key']}: unknown feed format {meta['format']!r}")
    articles = tuple(_article(item, meta["prefix"]) for item in raw["articles"])
    return DemoSource(
        key=meta["key"],
        name=meta["name"],
        tagline=meta["tagline"],
        prefix=meta["prefix"],
        feed_path=meta["feed_path"],
        format=meta["format"],
        category=meta["category"],
        language=meta["language"],
        layout=meta.get("layout", "wordpress"),
        # Newest first, as every feed and home page lists them.
        articles=tuple(sorted(articles, key=lambda article: -article.offset_s)),
    )


SOURCE_FILES: Final = (
    "discovery-headlines.toml",
    "gulf-wire.toml",
    "sanctions-ledger.toml",
    "riverton-courier.toml",
)


@cache
def demo_sources() -> tuple[DemoSource, ...]:
    """Every demo source, Discovery Headlines first."""
    return tuple(_source(tomllib.loads(_site_text(name))) for name in SOURCE_FILES)
