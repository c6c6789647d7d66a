"""When the feed already carries the article: decide (pure) and extract from feed content."""

from __future__ import annotations

import re
from collections import Counter

import lxml.html

from aggregator.extract.engine import EXTRACTOR_FEED, finish_article, flat_body, postprocess_body
from aggregator.extract.metadata import PageMetadata
from aggregator.extract.text import count_words, parse_fragment, xml_safe
from aggregator.sanitize import html_to_text
from aggregator.types import ExtractedArticle

# Fewer words than this is a teaser whatever the page says.
FULL_ARTICLE_MIN_WORDS = 120
# Without a page to compare with, only a long text is taken as the whole article.
FULL_ARTICLE_MIN_WORDS_ALONE = 250
# Share of the page article's 4-word shingles the feed text must hold.
PAGE_AGREEMENT = 0.7

# How feed excerpts end: "[…]", "Read more", "Continue reading", "The post X appeared first on Y".
_TEASER_END_RE = re.compile(
    r"(\[(?:…|\.\.\.|&hellip;)\]|…|\.\.\.|\b(?:read|continue reading|read the full|full story|more)\W*"
    r"|appeared first on .{1,120})\s*$",
    re.IGNORECASE,
)
_TOKEN_RE = re.compile(r"\w+")


def _shingles(text: str, size: int = 4) -> Counter[str]:
    tokens = [token.lower() for token in _TOKEN_RE.findall(text)]
    return Counter(" ".join(tokens[i : i + size]) for i in range(max(1, len(tokens) - size + 1)))


def page_coverage(feed_text: str, page_text: str) -> float:
    """Share of the page text's shingles (as a multiset) that the feed text holds."""
    page = _shingles(page_text)
    total = sum(page.values())
    if not total:
        return 0.0
    feed = _shingles(feed_text)
    return sum(min(count, feed[key]) for key, count in page.items()) / total


def feed_content_is_full_article(feed_html: str | None, page_text: str | None) -> bool:
    """Is the feed's own content the whole article?

    Yes when it is long enough, does not end like an excerpt and, when the article page's
    extracted text is given, holds most of it. Without a page, only a long text qualifies.
    """
    feed_text = html_to_text(xml_safe(feed_html or ""))
    words = count_words(feed_text)
    if words < FULL_ARTICLE_MIN_WORDS or _TEASER_END_RE.search(feed_text):
        return False
    if not page_text or not page_text.strip():
        return words >= FULL_ARTICLE_MIN_WORDS_ALONE
    return page_coverage(feed_text, page_text) >= PAGE_AGREEMENT


def extract_from_feed_content(
    html: str, url: str | None = None, *, title: str | None = None
) -> ExtractedArticle:
    """An ExtractedArticle from a feed entry's full content (e.g. ``content:encoded``)."""
    if not html or not html.strip():
        return finish_article("", url=url, title=title, metadata=None, extractor=EXTRACTOR_FEED)
    body = flat_body([parse_fragment(html)])
    postprocess_body(body, PageMetadata(), title)
    serialized = (body.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in body
    )
    return finish_article(serialized, url=url, title=title, metadata=None, extractor=EXTRACTOR_FEED)
