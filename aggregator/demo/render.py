"""Renders the whole demo site for one base URL and one point in time.

Everything is rendered once into immutable ``Resource`` objects (body, content type, ETag,
Last-Modified), so the server answers conditional requests from a dictionary and the bytes
of a page never change while the site runs.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cache
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from aggregator.demo.content import DemoArticle, DemoSource, demo_sources
from aggregator.opml import OpmlFeed, write_opml

CONTENT_TYPES: Final = {
    "rss20": "application/rss+xml; charset=UTF-8",
    "atom10": "application/atom+xml; charset=utf-8",
    "rss10": "application/rdf+xml; charset=utf-8",
    "json11": "application/feed+json; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "svg": "image/svg+xml",
    "opml": "text/x-opml; charset=utf-8",
}
OPML_PATH: Final = "/demo.opml"
WORDPRESS_EXCERPT_WORDS: Final = 55  # WordPress's automatic excerpt length

_LAYOUT_STYLE: Final = {
    # accent colour, newsletter title, newsletter pitch
    "wire": (
        "#b3261e",
        "The Gulf Briefing",
        "The day's top stories from the region, every morning at 6 GMT.",
    ),
    "ledger": (
        "#0b5394",
        "Ledger Daily",
        "Every designation, delisting and licence, in one email each weekday.",
    ),
    "courier": (
        "#2e7d32",
        "Courier Headlines",
        "Riverton news in your inbox before breakfast. Free for residents.",
    ),
}

_COMMENTS: Final = (
    ("Dana R.", "I had no idea. Sharing this with my whole family tonight."),
    ("mike_t", "Great write-up, but I think you are underselling the second point."),
    ("Ines", "Sources would be nice. Otherwise a fun read!"),
)


@dataclass(frozen=True, slots=True)
class Resource:
    """One servable document."""

    body: bytes
    content_type: str
    last_modified: datetime
    etag: str  # a strong, quoted validator derived from the body

    @classmethod
    def of(cls, body: bytes, content_type: str, last_modified: datetime) -> Resource:
        digest = hashlib.sha256(body).hexdigest()[:24]
        return cls(body, content_type, last_modified.replace(microsecond=0), f'"{digest}"')

    @property
    def last_modified_header(self) -> str:
        return format_datetime(self.last_modified.astimezone(UTC), usegmt=True)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "item"


def _cdata(text: str) -> Markup:
    # "]]>" cannot appear inside a CDATA section; split it across two sections.
    return Markup(str(text).replace("]]>", "]]]]><![CDATA[>"))


def _rfc822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True).replace("GMT", "+0000")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@cache  # templates compile once per process
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("aggregator.demo", "site/templates"),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters.update(slug=slugify, cdata=_cdata, rfc822=_rfc822, iso=_iso)
    return environment


def _plain_text(markup: str) -> str:
    text = re.sub(r"<[^>]+>", " ", markup)
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return re.sub(r"\s+", " ", text).strip()


def _svg(title: str, accent: str) -> bytes:
    words = re.sub(r"[&<>\"]", "", title).split()
    lines, line = [], ""
    for word in words:
        if len(line) + len(word) > 38:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    text = "".join(
        f'<text x="60" y="{200 + 70 * index}" font-size="52" fill="#fff" font-family="sans-serif">{value}</text>'
        for index, value in enumerate(lines[:4])
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630" viewBox="0 0 1200 630">'
        f'<rect width="1200" height="630" fill="{accent}"/>{text}</svg>'
    ).encode()


@dataclass(frozen=True, slots=True)
class _Item:
    """An article placed on the site: absolute URLs and dates for one base URL and anchor."""

    article: DemoArticle
    url: str
    image_url: str
    published: datetime
    body: str  # HTML with absolute links
    excerpt: str


class _SiteRenderer:
    def __init__(self, base_url: str, anchor: datetime, elapsed_s: float) -> None:
        self.base = base_url.rstrip("/")
        self.anchor = anchor
        self.elapsed_s = elapsed_s
        self.environment = _environment()
        self.resources: dict[str, Resource] = {}

    def add(self, path: str, body: bytes, kind: str, last_modified: datetime) -> None:
        self.resources[path] = Resource.of(body, CONTENT_TYPES[kind], last_modified)

    def render(self, template: str, **context: Any) -> bytes:
        return self.environment.get_template(template).render(**context).encode("utf-8")

    def image_path(self, source: DemoSource, article: DemoArticle) -> str:
        if source.layout == "wordpress":
            return f"/wp-content/uploads/{article.slug}.svg"
        return f"/{source.prefix}media/{article.slug}.svg"

    def items(self, source: DemoSource) -> list[_Item]:
        items = []
        for article in source.articles:
            body = article.body_html.replace('href="/', f'href="{self.base}/')
            if article.dateline:
                # Wire copy opens its first paragraph with the dateline.
                dateline = f'<span class="dateline">{html.escape(article.dateline)} —</span> '
                body = body.replace("<p>", "<p>" + dateline, 1)
            words = _plain_text(article.body_html).split()
            items.append(
                _Item(
                    article=article,
                    url=self.base + source.article_path(article),
                    image_url=self.base + self.image_path(source, article),
                    published=article.published(self.anchor),
                    body=body,
                    excerpt=" ".join(words[:WORDPRESS_EXCERPT_WORDS]),
                )
            )
        return items

    def common(self, source: DemoSource, items: Sequence[_Item]) -> dict[str, Any]:
        accent, newsletter_title, newsletter_pitch = _LAYOUT_STYLE.get(
            source.layout, ("#1c2a39", "Newsletter", "")
        )
        sections: list[str] = []
        for item in items:
            if item.article.section and item.article.section not in sections:
                sections.append(item.article.section)
        categories: list[str] = []
        for item in items:
            categories += [c for c in item.article.categories if c not in categories]
        return {
            "source": source,
            "base": self.base,
            "home": self.base + source.home_path,
            "home_url": self.base + source.home_path,
            "feed_url": self.base + source.feed_url_path,
            "year": self.anchor.year,
            "accent": accent,
            "newsletter_title": newsletter_title,
            "newsletter_pitch": newsletter_pitch,
            "sections": sections,
            "wp_categories": categories,
            "last_modified": max(item.published for item in items),
            "items": items,
        }

    def json_ld(self, source: DemoSource, item: _Item) -> Markup:
        data = {
            "@context": "https://schema.org",
            "@type": "BlogPosting" if source.layout == "wordpress" else "NewsArticle",
            "headline": item.article.title,
            "description": item.article.summary,
            "datePublished": _iso(item.published),
            "dateModified": _iso(item.published),
            "author": {"@type": "Person", "name": item.article.author},
            "publisher": {"@type": "Organization", "name": source.name},
            "image": item.image_url,
            "mainEntityOfPage": item.url,
        }
        # "</" would end the script element early.
        return Markup(json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))

    def source_pages(self, source: DemoSource) -> None:
        items = self.items(source)
        common = self.common(source, items)
        wordpress = source.layout == "wordpress"
        accent = common["accent"]
        for index, item in enumerate(items):
            comments = []
            for number in range(item.article.comments):
                # Comments arrive hours after the post; none from the future.
                posted = item.published + timedelta(hours=1 + 2 * number)
                if posted >= self.anchor:
                    break
                author, text = _COMMENTS[number % len(_COMMENTS)]
                comments.append({"author": author, "text": text, "time": posted})
            context = {
                **common,
                "article": item.article,
                "url": item.url,
                "image_url": item.image_url,
                "published": item.published,
                "body": Markup(item.body),
                "json_ld": self.json_ld(source, item),
                "comments": comments,
                # Newer post is "next" in WordPress terms.
                "next": items[index - 1].article if index > 0 else None,
                "previous": items[index + 1].article if index + 1 < len(items) else None,
                "related": [other.article for other in items if other is not item][:3],
            }
            page = self.render("wp_post.html" if wordpress else "news_article.html", **context)
            self.add(source.article_path(item.article), page, "html", item.published)
            self.add(
                self.image_path(source, item.article),
                _svg(item.article.title, accent),
                "svg",
                item.published,
            )
        list_template = "wp_list.html" if wordpress else "news_list.html"
        newest = common["last_modified"]
        self.add(
            source.home_path, self.render(list_template, heading=None, **common), "html", newest
        )
        page_template = "wp_page.html" if wordpress else "news_page.html"
        static_date = self.anchor - timedelta(days=30)
        pages = {
            "about/": (
                "About",
                f"<p>{source.name} is a fictional publication written for the aggregator's "
                "offline demo. Its articles are original; the people quoted are invented.</p>",
            ),
        }
        if not wordpress:
            pages["privacy/"] = (
                "Privacy settings",
                "<p>This demo site sets no cookies and keeps no logs.</p>",
            )
            pages["subscribe/"] = (
                "Subscribe",
                f'<p>Follow us in your feed reader: <a href="{common["feed_url"]}">{common["feed_url"]}</a></p>',
            )
        for path, (heading, body) in pages.items():
            page = self.render(page_template, heading=heading, body=Markup(body), **common)
            self.add(source.home_path + path, page, "html", static_date)
        if wordpress:
            self.wordpress_archives(source, items, common)
        self.feed(source, items, common)

    def wordpress_archives(
        self, source: DemoSource, items: Sequence[_Item], common: dict[str, Any]
    ) -> None:
        archives: dict[str, tuple[str, list[_Item]]] = {}
        for item in items:
            keys = [("category", c) for c in item.article.categories]
            keys += [("tag", t) for t in item.article.tags]
            keys.append(("author", item.article.author))
            for kind, name in keys:
                path = f"/{source.prefix}{kind}/{slugify(name)}/"
                label = {"category": "Category", "tag": "Tag", "author": "Author"}[kind]
                archives.setdefault(path, (f"{label}: {name}", []))[1].append(item)
        for path, (heading, archive_items) in archives.items():
            context = {**common, "items": archive_items}
            page = self.render("wp_list.html", heading=heading, **context)
            self.add(path, page, "html", max(item.published for item in archive_items))

    def feed(self, source: DemoSource, items: Sequence[_Item], common: dict[str, Any]) -> None:
        newest = common["last_modified"]
        if source.format == "json11":
            body = json.dumps(self.json_feed(source, items, common), ensure_ascii=False, indent=2)
            self.add(source.feed_url_path, body.encode("utf-8"), "json11", newest)
            return
        template = {
            "rss20": "wordpress_feed.xml",
            "atom10": "atom_feed.xml",
            "rss10": "rdf_feed.xml",
        }[source.format]
        self.add(source.feed_url_path, self.render(template, **common), source.format, newest)

    def json_feed(
        self, source: DemoSource, items: Sequence[_Item], common: dict[str, Any]
    ) -> dict[str, Any]:
        entries = []
        for item in items:
            entry: dict[str, Any] = {
                "id": item.url,
                "url": item.url,
                "title": item.article.title,
                "summary": item.article.summary,
                "image": item.image_url,
                "date_published": _iso(item.published),
                "date_modified": _iso(item.published),
                "authors": [{"name": item.article.author}],
                "tags": list(item.article.tags),
                "language": source.language,
            }
            if item.article.in_feed_content:
                entry["content_html"] = item.body
            else:
                entry["content_text"] = item.article.summary
            entries.append(entry)
        return {
            "version": "https://jsonfeed.org/version/1.1",
            "title": source.name,
            "home_page_url": common["home_url"],
            "feed_url": common["feed_url"],
            "description": source.tagline,
            "language": source.language,
            "authors": [{"name": f"{source.name} newsroom"}],
            "items": entries,
        }

    def build(self) -> dict[str, Resource]:
        for source in demo_sources():
            source = source.as_of(self.elapsed_s)
            self.source_pages(source)
        self.add(OPML_PATH, demo_opml(self.base, self.anchor), "opml", self.anchor)
        return self.resources


def build_site(base_url: str, anchor: datetime, elapsed_s: float = 0.0) -> dict[str, Resource]:
    """Every page, feed, image and the OPML of the demo site, keyed by path.

    ``anchor`` is when the site started (dates are relative to it); ``elapsed_s`` how long it
    has run, which decides which of the articles released during the demo are out yet.
    """
    return _SiteRenderer(base_url, anchor, elapsed_s).build()


def render_not_found(base_url: str, path: str) -> bytes:
    template = _environment().get_template("not_found.html")
    return template.render(base=base_url.rstrip("/"), path=path, sources=demo_sources()).encode()


def demo_feeds(base_url: str) -> list[OpmlFeed]:
    """The demo site's feeds as subscriptions (title, feed URL, site URL, category)."""
    base = base_url.rstrip("/")
    return [
        OpmlFeed(
            url=base + source.feed_url_path,
            title=source.name,
            site_url=base + source.home_path,
            category=source.category,
        )
        for source in demo_sources()
    ]


def demo_opml(base_url: str, now: datetime | None = None) -> bytes:
    """An OPML 2.0 file subscribing to every demo feed (for ``aggregator opml import``)."""
    created = now or datetime.now(UTC)
    return write_opml(demo_feeds(base_url), title="aggregator demo feeds", now=created)
