"""The parser's fast paths give what the general code gives, and typical input takes them.

``parse_feed`` skips work for the common case (plain absolute links, root- or
directory-relative links in HTML, printable titles, unique guids); each skip must return
exactly what the slow path returns. The references here are the slow paths as written
before the fast paths existed; hypothesis throws URL-ish and text-ish strings at both.
``benchmarks/parse_equivalence.py`` checks the same over whole documents.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import nh3
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from aggregator import parse, sanitize
from aggregator.parse import (
    IdentityCandidate,
    absolute_url,
    assign_identities,
    clean_text,
    content_hash,
    parse_feed,
)
from aggregator.sanitize import sanitize_html

EXAMPLES = settings(max_examples=2000, deadline=None, derandomize=True)

# --- the slow paths, as they were


def reference_clean_text(value: str | None, max_chars: int) -> str | None:
    if value is None:
        return None
    value = parse._CONTROL_CHARS.sub("", value[: max_chars * 4])
    value = parse._WHITESPACE.sub(" ", value).strip()
    return value[:max_chars] or None


def reference_absolute_url(value: str | None, base_url: str | None) -> str | None:
    if not value:
        return None
    value = parse._CONTROL_CHARS.sub("", value).strip()
    if not value or len(value) > parse.URL_MAX_CHARS:
        return None
    try:
        resolved = urljoin(base_url, value) if base_url else value
        scheme = urlsplit(resolved).scheme
    except ValueError:
        return None
    return resolved if scheme in ("http", "https") else None


def reference_resolve(base_url: str, url: str) -> str | None:
    absolute = urljoin(base_url, url)
    return absolute if urlsplit(absolute).scheme in sanitize.URL_SCHEMES else None


def reference_content_hash(*parts: str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode("utf-8", "replace"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def reference_identities(
    candidates: Sequence[IdentityCandidate], fallback_keys: Sequence[str]
) -> list[str]:
    guid_counts = Counter(c.guid for c in candidates if c.guid)
    url_counts = Counter(c.url for c in candidates if c.url)
    used: set[str] = set()
    identities = []
    for candidate, fallback in zip(candidates, fallback_keys, strict=True):
        options = []
        if candidate.guid and guid_counts[candidate.guid] == 1:
            options.append(candidate.guid)
        if candidate.url and url_counts[candidate.url] == 1:
            options.append(candidate.url)
        options = [parse._bounded_identity(option) for option in options]
        identity = next((option for option in options if option not in used), fallback)
        used.add(identity)
        identities.append(identity)
    return identities


# --- strategies


def words(text: str) -> list[str]:
    return text.split()


URL_PIECES = st.sampled_from(
    [
        *words("http https HTTP ftp javascript mailto file : :// // / a.example b.example"),
        *words("[::1] [::1 ::1] :8080 @ user x y1 img 1.png . .. ./ ../ /. /.. %20 %2F ~"),
        *words("? ?q=1 & # #top ; ;p = , ! ' ( * + $ - _ \\"),
        *" \t\n\r\x00\x7f\x1f\u00e9\u017f\u2028\ufeff\uff0f\ud800",  # one character each
    ]
)
URLISH = st.one_of(
    st.lists(URL_PIECES, max_size=12).map("".join),
    st.tuples(
        st.sampled_from(["http://", "https://", "HTTP://", "/", ""]),
        st.sampled_from(["a.example", "a.example:80", "a.example:", "[::1]", "x", ""]),
        st.lists(URL_PIECES, max_size=8).map("".join),
    ).map("".join),
)
BASES = st.one_of(
    st.sampled_from(
        [
            "https://a.example/feed/x.xml",
            "http://a.example",
            "http://a.example/",
            "https://a.example/dir/",
            "https://a.example:8443/a/b/c",
            "https://a.example/a//b/c",
            "https://a.example/a/../b/c",
            "https://a.example/a/./b",
            "https://a.example/p;params?q=1#f",
            "https://a.example?q",
            "https://a.example#f/x",
            "HTTPS://A.example/x",
            "http://[::1]/feed",
            "http://[::1/feed",
            "http://a.example\uff0f/x",
            "http:/x",
            "http:x",
            "file:///corpus/feeds/x.xml",
            "mailto:someone@a.example",
            " https://a.example/x",
            "https://a.example/x y/z",
            "https://a.example/p?x\t#y",
        ]
    ),
    URLISH,
)


@EXAMPLES
@given(URLISH, BASES)
@example("http://a.example/x;", "http://b.example/")  # urlparse drops empty ;params
@example("https://a.example/x?", "https://b.example/")  # and an empty query
@example("https://a.example/x#", "https://b.example/")  # and an empty fragment
@example("HTTP://a.example/x", "http://b.example/")  # and lower-cases the scheme
@example("http://a.example/x", "http://[::1/")  # a base urljoin cannot parse
@example("http://a\uff0fexample/x", "http://b.example/")
def test_absolute_url_matches_the_general_path(value: str, base: str) -> None:
    assert absolute_url(value, base) == reference_absolute_url(value, base)
    assert absolute_url(value, None) == reference_absolute_url(value, None)


@EXAMPLES
@given(URLISH, BASES)
@example("/x;", "http://b.example/")
@example("x;", "http://b.example/d/")
@example("a//b", "http://b.example/d/")
@example("a/../b", "http://b.example/d/")
@example("/a/./b", "http://b.example/d/")
@example("x", "http://b.example/a//d/")
@example("x", "http://b.example/a/../d/")
@example("x", "http://b.example")
@example("x", "http://b.example/d;p?q#f")
def test_relative_links_in_html_resolve_as_urljoin_does(url: str, base: str) -> None:
    try:
        expected: str | type[ValueError] | None = reference_resolve(base, url)
    except ValueError:
        expected = ValueError
    sanitize._current.base_url = base
    try:
        got: str | type[ValueError] | None = sanitize._resolve_relative(url)
    except ValueError:
        got = ValueError
    finally:
        sanitize._current.base_url = None
    assert got == expected


TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(" \t\n\r\x00\x0b\x1c\x7f\x85\xa0\u2028\u3000\ud800\ufeffab<&;é"),
        st.characters(),
    ),
    max_size=40,
)


@EXAMPLES
@given(TEXT, st.sampled_from([1, 3, 10, 1000]))
def test_clean_text_matches_the_general_path(value: str, max_chars: int) -> None:
    assert clean_text(value, max_chars) == reference_clean_text(value, max_chars)


@EXAMPLES
@given(TEXT)
@example("a\ud800b")
@example("\udfff")
@example("\ud83d\ude00")  # a surrogate pair is two lone surrogates in a str
@example("\x00")
def test_unstorable_characters_are_found_as_the_regex_finds_them(value: str) -> None:
    found = parse._UNSTORABLE_CHARS.search(value) is not None
    assert parse._has_unstorable_chars(value) == found


@EXAMPLES
@given(st.lists(st.one_of(st.none(), TEXT), min_size=4, max_size=4))
def test_content_hash_hashes_the_same_bytes(parts: list[str | None]) -> None:
    assert content_hash(*parts) == reference_content_hash(*parts)


@EXAMPLES
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["g1", "g2", "u1", "", "x" * 600])),
            st.one_of(st.none(), st.sampled_from(["u1", "u2", "g1", "", "y" * 600])),
        ),
        max_size=8,
    )
)
def test_identities_match_the_general_path(pairs: list[tuple[str | None, str | None]]) -> None:
    candidates = [IdentityCandidate(guid, url) for guid, url in pairs]
    fallbacks = [f"hash:{index}" for index in range(len(candidates))]
    assert assign_identities(candidates, fallbacks) == reference_identities(candidates, fallbacks)


def test_identities_want_one_fallback_per_candidate() -> None:
    with pytest.raises(ValueError):
        assign_identities([IdentityCandidate("g", None)], [])


LINKS = st.sampled_from(
    [
        *words("/about img/1.png ../up ./here //cdn.example/x a:b /wiki/File:X.png dir/ ?q=1"),
        *words("#top /a//b a//b /.well-known/x x;p %2E%2E/x https://abs.example/x"),
        *words("javascript:alert(1) /caf\u00e9"),
        " /sp",
        "/a b",
    ]
)


def reference_sanitize(html: str, base: str | None) -> str:
    """sanitize_html as it was: every fragment through nh3 with the srcset filter."""
    cleaner = nh3.Cleaner(
        tags=set(sanitize.ALLOWED_TAGS),
        clean_content_tags=set(sanitize.DROPPED_WITH_CONTENT),
        attributes=sanitize.ALLOWED_ATTRIBUTES,
        attribute_filter=sanitize._filter_attribute,
        url_schemes=set(sanitize.URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        url_relative=lambda url: None if base is None else reference_resolve(base, url),
        strip_comments=True,
    )
    return cleaner.clean(html.replace("\x00", ""))


# nh3 reports an exception raised in the URL callback (urljoin's ValueError on a bad URL) as
# unraisable and goes on without the URL, for both cleaners alike.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(LINKS, min_size=1, max_size=6), BASES)
def test_sanitized_html_is_what_the_general_resolver_gives(links: list[str], base: str) -> None:
    try:
        urlsplit(base)
    except ValueError:
        assume(False)  # nh3 swallows a callback's exception (and prints it); seen above
    html = "".join(
        f'<p><a href="{link}">a</a> <img src="{link}" alt="i"></p>'.replace("&", "&amp;")
        for link in links
    )
    assert sanitize_html(html, base) == reference_sanitize(html, base)


PLAIN_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("\x00\r\n\t &<>;#\xa0\ufeff\u2028\x0c\x85abc"), st.characters()
    ),
    max_size=60,
)


@EXAMPLES
@given(PLAIN_TEXT)
@example("\ufeffx")  # nh3 drops a leading byte-order mark
@example("a\r\nb")
@example("a\xa0b")
def test_text_without_markup_comes_back_as_nh3_gives_it(text: str) -> None:
    try:
        expected = reference_sanitize(text, "https://a.example/")
    except UnicodeEncodeError:  # a lone surrogate: nh3 refuses it, with or without markup
        with pytest.raises(UnicodeEncodeError):
            sanitize_html(text, "https://a.example/")
        return
    assert sanitize_html(text, "https://a.example/") == expected


SRCSET_HTML = st.tuples(
    st.sampled_from(["img", "source", "IMG", "p"]),
    st.sampled_from(["srcset", "SRCSET", "srcSet", "src", "data-srcset", "sizes"]),
    st.sampled_from(["a.png 1x, b.png 2x", "javascript:x 1x", "https://c.example/a.png 1x"]),
).map(lambda t: f'<{t[0]} {t[1]}="{t[2]}" alt="x">text')


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(SRCSET_HTML, min_size=1, max_size=3).map("".join))
def test_the_srcset_filter_runs_whenever_srcset_is_there(html: str) -> None:
    assert sanitize_html(html, "https://a.example/d/") == reference_sanitize(
        html, "https://a.example/d/"
    )


# --- typical input takes the fast paths


def test_a_farm_like_entry_needs_no_urljoin(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_urljoin(*args: object) -> str:
        raise AssertionError("urljoin called on the fast path")

    monkeypatch.setattr(parse, "urljoin", no_urljoin)
    monkeypatch.setattr(sanitize, "urljoin", no_urljoin)
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Farm</title>'
        b"<link>http://127.0.0.1:8000/site/1/</link><description>d</description>"
        b"<item><title>Entry 1: talks</title><link>http://127.0.0.1:8000/item/1/1.html</link>"
        b'<guid isPermaLink="false">farm-1-1</guid>'
        b"<pubDate>Tue, 14 May 2024 10:30:00 GMT</pubDate>"
        b'<description><![CDATA[<p>talks</p><p><a href="/about">more</a> '
        b'<img src="img/1.png" alt="c"></p>]]></description></item></channel></rss>'
    )
    feed = parse_feed(
        body, "http://127.0.0.1:8000/feed/1.xml", now=datetime(2025, 1, 1, tzinfo=UTC)
    )
    (entry,) = feed.entries
    assert entry.url == "http://127.0.0.1:8000/item/1/1.html"
    assert feed.site_url == "http://127.0.0.1:8000/site/1/"
    assert entry.summary_html is not None
    assert 'href="http://127.0.0.1:8000/about"' in entry.summary_html
    assert 'src="http://127.0.0.1:8000/item/1/img/1.png"' in entry.summary_html
    assert re.fullmatch(r"[0-9a-f]{64}", entry.content_hash)
    assert entry.identity == "farm-1-1"


class _ImportRecorder:
    """A meta-path finder that only records which modules are looked for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        self.names.append(name)


def test_parsing_a_document_imports_nothing() -> None:
    # feedparser asked xml.sax for libxml2's driver on every document; not installed, the
    # failed import searched the whole path each time.
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>a</title><guid>a</guid></item></channel></rss>"
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    parse.parse_feed(body, "https://example.org/feed", now=now)  # anything lazy, once
    recorder = _ImportRecorder()
    sys.meta_path.insert(0, recorder)  # type: ignore[arg-type]
    try:
        parse.parse_feed(body, "https://example.org/feed", now=now)
    finally:
        sys.meta_path.remove(recorder)  # type: ignore[arg-type]
    assert recorder.names == []
