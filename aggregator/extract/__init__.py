"""Article extraction: page HTML -> title, clean text, sanitized HTML and metadata.

Pure functions: the caller fetches; nothing here does I/O except reading a rules file.
"""

from __future__ import annotations

from aggregator.extract.decode import charset_from_content_type, decode_html
from aggregator.extract.engine import Options, extract
from aggregator.extract.feed import extract_from_feed_content, feed_content_is_full_article
from aggregator.extract.rules import SiteRule, SiteRules, load_site_rules, parse_site_rules

__all__ = [
    "Options",
    "SiteRule",
    "SiteRules",
    "charset_from_content_type",
    "decode_html",
    "extract",
    "extract_from_feed_content",
    "feed_content_is_full_article",
    "load_site_rules",
    "parse_site_rules",
]
