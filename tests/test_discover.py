"""Feed autodiscovery: link parsing, the feed sniff, and discovery against the fixture site."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.discover import (
    ATOM,
    JSON_FEED,
    RDF,
    RSS,
    DiscoveredFeed,
    discover_feeds,
    find_feed_links,
    sniff_feed_type,
)
from aggregator.errors import FetchError
from aggregator.fetch import Fetcher, FetcherConfig
from tests.fixture_site import FIXTURE_ALLOWED_NETWORKS, FixtureSite, atom_feed, json_feed, rss_feed

PAGE = """<!DOCTYPE html>
<html><head>
<title>Example news</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="  All
  stories " href="/feed.rss">
<link rel="alternate" type="application/atom+xml" title="Atom" href="https://cdn.example.org/atom.xml">
<link rel="Alternate feed" type="application/feed+json" title="JSON" href="feed.json">
<link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/2">
<link rel="alternate" type="application/json" title="JSON Feed 1.0" href="/feed/json">
<link rel="alternate" type="application/rss+xml" title="Duplicate" href="/feed.rss#top">
<link rel="alternate" type="application/rss+xml" title="Script" href="javascript:alert(1)">
<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
<link rel="alternate" type="application/json+oembed" href="/oembed?url=x">
<link rel="feed" type="application/rss+xml" href="/not-alternate.rss">
<link rel="alternate" type="text/xml" href="/legacy.xml">
</head><body><a rel="alternate" type="application/rss+xml" href="/body-link.rss">x</a></body></html>
"""


def test_find_feed_links_reads_alternate_links_in_order() -> None:
    found = find_feed_links(PAGE, "https://example.org/news/index.html")
    assert found == [
        DiscoveredFeed("https://example.org/feed.rss", "All stories", RSS),
        DiscoveredFeed("https://cdn.example.org/atom.xml", "Atom", ATOM),
        DiscoveredFeed("https://example.org/news/feed.json", "JSON", JSON_FEED),
        DiscoveredFeed("https://example.org/feed/json", "JSON Feed 1.0", JSON_FEED),
        DiscoveredFeed("https://example.org/legacy.xml", None, "application/xml"),
    ]


def test_find_feed_links_honours_base_href_and_bytes() -> None:
    page = (
        '<html><head><meta charset="iso-8859-1"><base href="https://static.example.net/blog/">'
        '<link rel="alternate" type="application/atom+xml" title="Caf\xe9" href="atom">'
        "</head></html>"
    ).encode("latin-1")
    assert find_feed_links(page, "https://example.org/") == [
        DiscoveredFeed("https://static.example.net/blog/atom", "Café", ATOM)
    ]


@pytest.mark.parametrize("doc", ["", b"", "no html at all", "<html><head></head></html>"])
def test_find_feed_links_without_links(doc: str | bytes) -> None:
    assert find_feed_links(doc, "https://example.org/") == []


RSS_DOC = rss_feed("Fixture RSS", [{"title": "a", "guid": "1"}])
ATOM_DOC = atom_feed("Fixture Atom", [{"title": "a", "id": "1"}])
JSON_DOC = json_feed("Fixture JSON", [{"id": "1", "title": "a"}])
RDF_DOC = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="https://example.org/"><title>RDF</title></channel></rdf:RDF>"""


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (RSS_DOC, "application/rss+xml", RSS),
        (RSS_DOC, "text/html", RSS),  # lying content type
        (RSS_DOC, "image/png", RSS),
        (ATOM_DOC, None, ATOM),
        (RDF_DOC, "text/xml", RDF),
        (JSON_DOC, "application/json", JSON_FEED),
        (JSON_DOC, "text/plain", JSON_FEED),
        (b'{"items": [], "title": "x"}', "application/feed+json", JSON_FEED),
        (b'{"items": [], "title": "x"}', "application/json", None),
        (b'{"posts": []}', "application/json", None),
        (codecs.BOM_UTF8 + b"\n  " + RSS_DOC, "application/xml", RSS),
        (codecs.BOM_UTF16_LE + RSS_DOC.decode().encode("utf-16-le"), None, RSS),
        (RSS_DOC.decode().encode("utf-16-be"), None, RSS),
        (
            b'<?xml version="1.0"?><?xml-stylesheet href="s.xsl"?><!-- generator -->'
            b'<!DOCTYPE rss [<!ENTITY x "y">]><rss version="0.91"><channel/></rss>',
            None,
            RSS,
        ),
        (b"<!DOCTYPE html><html><head><title>x</title></head></html>", "application/rss+xml", None),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', None, None),
        (b'<?xml version="1.0"?><urlset><url/></urlset>', "application/xml", None),
        (b"", "application/rss+xml", None),
        (b"   \n", "application/rss+xml", None),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "application/rss+xml", None),
        (b"Feed moved", "text/plain", None),
    ],
)
def test_sniff_feed_type(body: bytes, content_type: str | None, expected: str | None) -> None:
    assert sniff_feed_type(body, content_type) == expected


TEST_CONFIG = FetcherConfig(read_timeout_s=2, total_timeout_s=5).with_allowed_networks(
    FIXTURE_ALLOWED_NETWORKS
)


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(TEST_CONFIG) as fetcher:
        yield fetcher


async def test_a_feed_url_is_returned_as_is(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    fixture_site.add_document("/feed", ATOM_DOC, "text/html")  # lying content type
    found = await discover_feeds(fetcher, fixture_site.url("/feed"))
    assert found == [DiscoveredFeed(fixture_site.url("/feed"), "Fixture Atom", ATOM)]


async def test_a_json_feed_url_is_returned_with_its_title(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_document("/feed.json", JSON_DOC, "application/json")
    found = await discover_feeds(fetcher, fixture_site.url("/feed.json"))
    assert found == [DiscoveredFeed(fixture_site.url("/feed.json"), "Fixture JSON", JSON_FEED)]


async def test_a_permanently_moved_feed_is_returned_at_its_new_address(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/new.rss", RSS_DOC)
    fixture_site.add_redirect("/old.rss", "/new.rss", 301)
    found = await discover_feeds(fetcher, fixture_site.url("/old.rss"))
    assert found == [DiscoveredFeed(fixture_site.url("/new.rss"), "Fixture RSS", RSS)]


async def test_page_links_are_returned_without_probing(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_page("/", PAGE)
    found = await discover_feeds(fetcher, fixture_site.url("/"))
    assert [f.url for f in found][:2] == [
        fixture_site.url("/feed.rss"),
        "https://cdn.example.org/atom.xml",
    ]
    assert fixture_site.hits("/rss.xml") == 0 and fixture_site.hits("/feed/") == 0


async def test_common_paths_are_probed_when_the_page_announces_nothing(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_page("/blog/", "<html><head><title>Blog</title></head><body>hi</body></html>")
    fixture_site.add_page("/feed/", "<html><body>not a feed</body></html>")
    fixture_site.add_feed("/atom.xml", ATOM_DOC, "application/atom+xml")
    fixture_site.add_document("/feed.json", JSON_DOC, "text/plain")
    fixture_site.add_redirect("/index.xml", "/atom.xml", 302)  # the same feed again

    found = await discover_feeds(fetcher, fixture_site.url("/blog/"))

    assert found == [
        DiscoveredFeed(fixture_site.url("/atom.xml"), "Fixture Atom", ATOM),
        DiscoveredFeed(fixture_site.url("/feed.json"), "Fixture JSON", JSON_FEED),
    ]
    for path in ("/feed/", "/rss.xml", "/index.xml", "/feed.xml", "/feed.json"):
        assert fixture_site.hits(path) == 1, path
    assert fixture_site.hits("/atom.xml") == 2  # probed, and reached again via /index.xml


async def test_common_paths_below_the_page_directory_are_probed(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_page("/blog/post.html", "<html><body>a post</body></html>")
    fixture_site.add_feed("/blog/feed/", RSS_DOC)
    found = await discover_feeds(fetcher, fixture_site.url("/blog/post.html"))
    assert found == [DiscoveredFeed(fixture_site.url("/blog/feed/"), "Fixture RSS", RSS)]
    assert fixture_site.hits("/feed/") == 1  # the root was tried as well


async def test_nothing_found_is_an_empty_list(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    fixture_site.add_page("/", "<html><body>plain site</body></html>")
    assert await discover_feeds(fetcher, fixture_site.url("/")) == []


async def test_an_unreachable_page_raises_a_one_line_fetch_error(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    with pytest.raises(FetchError) as info:
        await discover_feeds(fetcher, fixture_site.url("/missing"))
    assert str(info.value) == (
        f"{fixture_site.url('/missing')}: HTTP 404 Not Found from {fixture_site.url('/missing')}"
    )


async def test_discovery_goes_through_the_address_guard(fixture_site: FixtureSite) -> None:
    fixture_site.add_feed("/feed", RSS_DOC)
    async with Fetcher(FetcherConfig()) as fetcher:
        with pytest.raises(FetchError, match=r"refused to connect to 127\.0\.0\.1"):
            await discover_feeds(fetcher, fixture_site.url("/feed"))
    assert fixture_site.hits("/feed") == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([None, "text/html", "application/feed+json"]))
def test_sniff_never_raises(body: bytes, content_type: str | None) -> None:
    assert sniff_feed_type(body, content_type) in (None, RSS, ATOM, RDF, JSON_FEED)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=500))
def test_find_feed_links_never_raises_and_returns_http_urls(text: str) -> None:
    page = f'<html><head><link rel="alternate" type="application/rss+xml" href="{text}">{text}'
    for found in find_feed_links(page, "https://example.org/"):
        assert found.url.startswith(("http://", "https://"))
