"""The bundled demo site: feeds in four formats, realistic pages, conditional GET."""

from __future__ import annotations

import asyncio
import calendar
import json
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import feedparser
import pytest
from aiohttp import ClientSession
from bs4 import BeautifulSoup, Tag
from multidict import CIMultiDict

from aggregator.demo import (
    OPML_PATH,
    DemoSite,
    create_demo_app,
    demo_feeds,
    demo_opml,
    demo_sources,
    start_demo_site,
)
from aggregator.demo.content import SEED_END_MARKER
from aggregator.opml import parse_opml

NOW = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)
FEED_CONTENT_TYPES = {
    "rss20": "application/rss+xml",
    "atom10": "application/atom+xml",
    "rss10": "application/rdf+xml",
    "json11": "application/feed+json",
}
SEED_HEADINGS = [
    "A Letter Rejected: The Symbolism of Silence in the Trump Letter to Iran",
    "A History Written in Betrayal",
    "Diplomacy or Performance? Reading Between the Lines of the Trump Letter to Iran",
    "Sovereignty Over Submission",
    "The Geopolitical Domino Effect",
    "What Comes After the Silence?",
    "Final Thoughts: A Letter That Meant More Than Words",
]
SEED_TITLE = (
    "Why Iran Said No to the Trump Letter to Iran: Missed Diplomacy and What It Means "
    "for U.S. – Iran Relations"
)


@pytest.fixture
async def site() -> AsyncIterator[DemoSite]:
    # A frozen timer: the articles released during the demo stay unreleased.
    async with await start_demo_site(now=NOW, elapsed_s=lambda: 0.0) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    async with ClientSession() as client:
        yield client


async def fetch(
    session: ClientSession, url: str, **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    async with session.get(url, headers=headers, allow_redirects=False) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


def element(soup: BeautifulSoup | Tag, selector: str) -> Tag:
    found = soup.select_one(selector)
    assert found is not None, f"no {selector} on the page"
    return found


def entry_links(fmt: str, body: bytes) -> list[tuple[str, str]]:
    """(title, link) of every entry in a feed document."""
    if fmt == "json11":
        return [(item["title"], item["url"]) for item in json.loads(body)["items"]]
    parsed = feedparser.parse(body)
    return [(entry.title, entry.link) for entry in parsed.entries]


async def test_site_listens_on_loopback_and_lists_four_feeds(site: DemoSite) -> None:
    parts = urlsplit(site.base_url)
    assert parts.hostname == "127.0.0.1"
    assert parts.port and parts.port > 0
    assert [(title, category) for title, _, category in site.feed_urls] == [
        ("Discovery Headlines", "Blogs"),
        ("Gulf Wire Service", "News wires"),
        ("The Sanctions Ledger", "Sanctions"),
        ("Riverton Daily Courier", "Local news"),
    ]
    assert site.feed_urls[0][1] == f"{site.base_url}/feed/"


async def test_every_feed_parses_and_links_to_pages_that_exist(
    site: DemoSite, session: ClientSession
) -> None:
    formats = {source.name: source.format for source in demo_sources()}
    pages = 0
    for title, url, _ in site.feed_urls:
        fmt = formats[title]
        status, headers, body = await fetch(session, url)
        assert status == 200
        assert headers["Content-Type"].split(";")[0] == FEED_CONTENT_TYPES[fmt]
        if fmt == "json11":
            document = json.loads(body)
            assert document["version"] == "https://jsonfeed.org/version/1.1"
            assert document["title"] == title
            assert document["feed_url"] == url
            for item in document["items"]:
                assert item["id"] and item["url"].startswith(site.base_url)
                assert "content_html" in item or "content_text" in item
                datetime.fromisoformat(item["date_published"])
        else:
            parsed = feedparser.parse(body)
            assert parsed.bozo == 0, parsed.get("bozo_exception")
            assert parsed.version == fmt
            assert parsed.feed.title == title
        links = entry_links(fmt, body)
        assert len(links) >= 4
        for entry_title, link in links:
            status, headers, page = await fetch(session, link)
            assert status == 200, link
            assert headers["Content-Type"] == "text/html; charset=utf-8"
            soup = BeautifulSoup(page, "lxml")
            heading = soup.find("h1")
            assert heading is not None
            assert heading.get_text(strip=True) == entry_title
            pages += 1
    assert pages == sum(len(source.as_of(0).articles) for source in demo_sources())


async def test_content_covers_formats_and_topics() -> None:
    sources = demo_sources()
    assert {source.format for source in sources} == set(FEED_CONTENT_TYPES)
    others = [article for source in sources[1:] for article in source.articles]
    assert len(others) >= 12
    everything = [article for source in sources for article in source.articles]
    us_iran = [a for a in everything if "us-iran" in a.expected_topics]
    sanctions_only = [a for a in everything if a.expected_topics == ("sanctions",)]
    neither = [a for a in everything if not a.expected_topics]
    assert len(us_iran) >= 5 and len(sanctions_only) >= 4 and len(neither) >= 5
    slugs = [article.slug for article in everything]
    assert len(slugs) == len(set(slugs))


async def test_wordpress_feed_mixes_full_content_and_excerpts(
    site: DemoSite, session: ClientSession
) -> None:
    _, _, body = await fetch(session, f"{site.base_url}/feed/")
    parsed = feedparser.parse(body)
    full = [entry for entry in parsed.entries if entry.get("content")]
    excerpt_only = [entry for entry in parsed.entries if not entry.get("content")]
    assert full and excerpt_only
    # WordPress writes the ellipsis as an HTML character reference inside CDATA.
    assert all(entry.summary.endswith("[&#8230;]") for entry in parsed.entries)
    seed = parsed.entries[0]
    assert seed.title == SEED_TITLE
    assert seed.author == "Marcus Ellery"
    assert "Sovereignty Over Submission" in seed.content[0].value
    assert seed.id.startswith(f"{site.base_url}/?p=")
    # The in-text link points at the blog's own post, absolute in the feed.
    assert f'href="{site.base_url}/iran-drones-russia-ukraine/"' in seed.content[0].value


async def test_entries_are_dated_in_the_last_days_relative_to_start(
    site: DemoSite, session: ClientSession
) -> None:
    _, _, body = await fetch(session, f"{site.base_url}/gulfwire/atom.xml")
    for entry in feedparser.parse(body).entries:
        published = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC)
        assert NOW - timedelta(days=5) < published < NOW
    _, _, body = await fetch(session, f"{site.base_url}/courier/feed.json")
    dates = [datetime.fromisoformat(item["date_published"]) for item in json.loads(body)["items"]]
    assert dates == sorted(dates, reverse=True)
    assert all(NOW - timedelta(days=5) < moment < NOW for moment in dates)


async def test_dates_follow_the_start_time() -> None:
    later = NOW + timedelta(days=30)
    started = start_demo_site(now=later, elapsed_s=lambda: 0.0)
    async with await started as running, ClientSession() as client:
        _, _, body = await fetch(client, f"{running.base_url}/ledger/index.rdf")
    for entry in feedparser.parse(body).entries:
        updated = datetime.fromtimestamp(calendar.timegm(entry.updated_parsed), UTC)
        assert later - timedelta(days=5) < updated < later


async def test_discovery_headlines_page_is_the_founding_example(
    site: DemoSite, session: ClientSession
) -> None:
    status, _, body = await fetch(session, f"{site.base_url}/trump-letter-to-iran/")
    assert status == 200
    soup = BeautifulSoup(body, "lxml")
    assert element(soup, ".site-description").get_text() == "Bizarre Facts & Curiosities"
    assert element(soup, "h1.entry-title").get_text() == SEED_TITLE
    content = element(soup, ".entry-content")
    assert [h.get_text() for h in content.find_all("h2")] == SEED_HEADINGS
    # Every paragraph of the seed text is in the article, in order.
    seed_lines = [line.strip() for line in packaged_seed().splitlines() if line.strip()]
    article_lines = seed_lines[2 : seed_lines.index(SEED_END_MARKER)]
    page_blocks = [block.get_text() for block in content.find_all(["p", "h2"])]
    assert page_blocks == article_lines
    read_more = element(content, 'a[href$="/iran-drones-russia-ukraine/"]')
    assert read_more.get_text() == "Read more about that here."
    # The page boilerplate around the article, as on the original page.
    assert element(soup, "#reply-title").get_text() == "Leave a Reply"
    notes = element(soup, ".comment-notes").get_text()
    assert "Your email address will not be published. Required fields are marked *" in notes
    newsletter = element(soup, ".widget_newsletter").get_text()
    assert "You have successfully subscribed to the newsletter" in newsletter
    assert "There was an error while trying to send your request. Please try again." in newsletter
    assert "Discovery Headlines will use the information you provide on this form" in newsletter
    for landmark in ("#site-navigation", "#secondary", "#colophon", ".sharedaddy"):
        element(soup, landmark)
    status, _, linked = await fetch(session, str(read_more["href"]))
    assert status == 200
    assert b"How Iran Became Russia" in linked


def packaged_seed() -> str:
    seed = (
        resources.files("aggregator.demo") / "site" / "discovery-headlines-trump-letter-to-iran.txt"
    )
    return seed.read_text(encoding="utf-8")


def test_packaged_seed_is_the_founding_example_verbatim(shared_corpus: Path) -> None:
    original = shared_corpus / "seed" / "discovery-headlines-trump-letter-to-iran.txt"
    assert packaged_seed() == original.read_text(encoding="utf-8")


async def test_conditional_get_round_trip(site: DemoSite, session: ClientSession) -> None:
    for path in ("/feed/", "/gulfwire/atom.xml", "/courier/feed.json", "/trump-letter-to-iran/"):
        url = site.base_url + path
        status, headers, body = await fetch(session, url)
        assert status == 200 and body
        etag, last_modified = headers["ETag"], headers["Last-Modified"]
        assert re.fullmatch(r'(W/)?"[0-9a-f]{24}"', etag)
        strong = etag.removeprefix("W/")
        status, again, body = await fetch(session, url, **{"If-None-Match": etag})
        assert (status, body) == (304, b"")
        assert again["ETag"] == etag
        status, _, body = await fetch(session, url, **{"If-None-Match": f'"stale", W/{strong}'})
        assert status == 304
        status, _, body = await fetch(session, url, **{"If-None-Match": '"stale"'})
        assert status == 200 and body
        status, _, body = await fetch(session, url, **{"If-Modified-Since": last_modified})
        assert (status, body) == (304, b"")
        older = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
        status, _, body = await fetch(session, url, **{"If-Modified-Since": older})
        assert status == 200 and body
        # If-None-Match wins over If-Modified-Since (RFC 9110).
        status, _, _ = await fetch(
            session, url, **{"If-None-Match": '"stale"', "If-Modified-Since": last_modified}
        )
        assert status == 200


async def test_feed_last_modified_is_the_newest_entry(
    site: DemoSite, session: ClientSession
) -> None:
    expected = max(article.published(NOW) for article in demo_sources()[1].as_of(0).articles)
    _, headers, _ = await fetch(session, f"{site.base_url}/gulfwire/atom.xml")
    assert headers["Last-Modified"] == format_datetime(expected, usegmt=True)


async def test_gzip_is_a_weak_variant_of_the_same_validator(
    site: DemoSite, session: ClientSession
) -> None:
    url = f"{site.base_url}/gulfwire/us-iran-indirect-nuclear-talks-muscat/"
    _, plain_headers, plain = await fetch(session, url, **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain_headers
    strong = plain_headers["ETag"]
    async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["ETag"] == f"W/{strong}"
        assert await response.read() == plain
    # Either validator revalidates either representation (weak comparison).
    for sent, encoding in ((f"W/{strong}", "identity"), (strong, "gzip")):
        status, _, _ = await fetch(
            session, url, **{"If-None-Match": sent, "Accept-Encoding": encoding}
        )
        assert status == 304


async def test_every_internal_link_and_resource_resolves_and_nothing_loads_from_outside(
    site: DemoSite, session: ClientSession
) -> None:
    to_visit = [site.base_url + source.home_path for source in demo_sources()]
    seen: set[str] = set()
    while to_visit:
        url = to_visit.pop()
        if url in seen:
            continue
        seen.add(url)
        status, headers, body = await fetch(session, url)
        assert status == 200, url
        if not headers["Content-Type"].startswith("text/html"):
            continue
        soup = BeautifulSoup(body, "lxml")
        # Resources a browser would load must stay on the demo site (it runs offline).
        for tag in soup.find_all(["img", "script", "link", "iframe", "source"]):
            target = tag.get("src") or (tag.get("href") if tag.name == "link" else None)
            if target:
                assert str(target).startswith(site.base_url), (url, target)
        for anchor in soup.find_all("a", href=True):
            href = urldefrag(str(anchor["href"]))[0]
            if href.startswith(site.base_url):
                to_visit.append(href)
    assert len(seen) > 40


async def test_demo_opml_subscribes_to_every_feed(site: DemoSite, session: ClientSession) -> None:
    status, headers, body = await fetch(session, site.base_url + OPML_PATH)
    assert status == 200
    assert headers["Content-Type"].startswith("text/x-opml")
    served = parse_opml(body)
    assert served.feeds == parse_opml(demo_opml(site.base_url)).feeds == demo_feeds(site.base_url)
    assert [(f.title, f.url, f.category) for f in served.feeds] == site.feed_urls
    for feed in served.feeds:
        assert feed.site_url is not None
        status, _, _ = await fetch(session, feed.site_url)
        assert status == 200


async def test_unknown_paths_missing_slash_and_head(site: DemoSite, session: ClientSession) -> None:
    status, headers, body = await fetch(session, f"{site.base_url}/no-such-post/")
    assert status == 404
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"Discovery Headlines" in body
    status, headers, _ = await fetch(session, f"{site.base_url}/trump-letter-to-iran")
    assert status == 301
    assert headers["Location"] == f"{site.base_url}/trump-letter-to-iran/"
    async with session.head(f"{site.base_url}/feed/") as response:
        assert response.status == 200
        assert response.headers["ETag"]


async def test_links_follow_the_host_header_and_bad_hosts_are_refused(
    aiohttp_client: object,
) -> None:
    client = await aiohttp_client(create_demo_app(now=NOW))  # type: ignore[operator]
    response = await client.get("/feed/", headers={"Host": "demo.localhost:8081"})
    assert response.status == 200
    assert "<link>http://demo.localhost:8081</link>" in await response.text()
    response = await client.get("/feed/", headers={"Host": 'evil.example/"><script>'})
    assert response.status == 400


async def test_articles_released_while_the_demo_runs(session: ClientSession) -> None:
    elapsed = [0.0]
    async with await start_demo_site(now=NOW, elapsed_s=lambda: elapsed[0]) as running:
        feed_url = f"{running.base_url}/gulfwire/atom.xml"
        page_url = f"{running.base_url}/gulfwire/oman-sets-date-next-round-us-iran-talks/"
        courier_url = f"{running.base_url}/courier/feed.json"
        _, headers, before = await fetch(session, feed_url)
        _, courier_headers, _ = await fetch(session, courier_url)
        assert b"Oman sets date" not in before
        assert (await fetch(session, page_url))[0] == 404

        elapsed[0] = 100.0  # the wire story is out (90 s), the courier's not yet (180 s)
        status, after_headers, after = await fetch(
            session, feed_url, **{"If-None-Match": headers["ETag"]}
        )
        assert status == 200
        newest = feedparser.parse(after).entries[0]
        assert newest.title == "Oman sets date for next round of U.S.–Iran talks"
        released_at = datetime.fromtimestamp(calendar.timegm(newest.published_parsed), UTC)
        assert released_at == NOW + timedelta(seconds=90)
        assert after_headers["Last-Modified"] == format_datetime(released_at, usegmt=True)
        assert (await fetch(session, page_url))[0] == 200
        status, _, _ = await fetch(session, feed_url, **{"If-None-Match": after_headers["ETag"]})
        assert status == 304
        status, _, _ = await fetch(
            session, courier_url, **{"If-None-Match": courier_headers["ETag"]}
        )
        assert status == 304

        elapsed[0] = 200.0
        status, _, body = await fetch(
            session, courier_url, **{"If-None-Match": courier_headers["ETag"]}
        )
        assert status == 200
        assert json.loads(body)["items"][0]["title"].startswith("Storm update")


async def test_news_article_page_has_boilerplate_around_the_story(
    site: DemoSite, session: ClientSession
) -> None:
    url = f"{site.base_url}/gulfwire/us-iran-indirect-nuclear-talks-muscat/"
    _, _, body = await fetch(session, url)
    soup = BeautifulSoup(body, "lxml")
    story = element(soup, ".story-body")
    first = story.find("p")
    assert first is not None
    assert first.get_text().startswith("MUSCAT, Oman — American and Iranian negotiators resumed")
    for boilerplate in (
        "#cookie-consent",
        ".share-bar",
        ".related",
        ".newsletter-signup",
        ".masthead",
    ):
        assert element(soup, boilerplate).get_text(strip=True)
    assert element(soup, "meta[property='article:published_time']")["content"] == (
        (NOW - timedelta(hours=4.5)).isoformat()
    )
    related = [a["href"] for a in element(soup, ".related").find_all("a")]
    assert url not in related and len(related) == 3


async def test_python_dash_m_serves_the_site_until_terminated(session: ClientSession) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aggregator.demo",
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert first.startswith("demo site: http://127.0.0.1:")
        base_url = first.split()[-1].rstrip("/")
        lines = [(await process.stdout.readline()).decode() for _ in range(5)]
        assert f"  feed: {base_url}/feed/  (Discovery Headlines; Blogs)\n" in lines
        assert lines[-1] == f"  OPML: {base_url}/demo.opml\n"
        status, _, _ = await fetch(session, f"{base_url}/gulfwire/atom.xml")
        assert status == 200
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 60) == 0
