"""The reader side of the web view, in-process against a real SQLite database:
pages, topic feeds (validity, conditional GET, gzip, paging), and escaping of hostile content."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from lxml import etree

from aggregator import storage
from aggregator.publish import entry_id_uri
from aggregator.storage import Database
from aggregator.types import MatchState
from tests.web_support import (
    NOW,
    Seeded,
    WebTestSettings,
    open_seeded_copy,
    open_seeded_database,
)
from web.app import create_app

SCHEMA_PATH = Path(__file__).parent / "fixtures" / "atom.rng"
ClientFactory = Callable[[web.Application], Awaitable[TestClient]]
DANGEROUS = ("<script", "onerror", "javascript:", "<iframe", "<form", "<svg", "onload")
# Pages have forms of their own; the payload's form is recognisable by its action.
DANGEROUS_IN_PAGES = (
    "<script",
    "onerror=",
    "javascript:",
    "<iframe",
    "<svg",
    "onload=",
    "<input></form>",
)


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[Database, Seeded]]:
    db, seeded = await open_seeded_copy(tmp_path)
    try:
        yield db, seeded
    finally:
        await db.close()


@pytest.fixture
async def client(seeded: tuple[Database, Seeded], aiohttp_client: Any) -> TestClient:
    db, _ = seeded
    # These tests write to storage directly, as another process would; caching is off so
    # each request sees the database as it is (tests/test_web_cache.py covers the cache).
    app = create_app(
        WebTestSettings(feed_page_size=5, feed_page_max=6), db, clock=lambda: NOW, cache_ttl_s=0
    )
    result: TestClient = await aiohttp_client(app)
    return result


@pytest.fixture(scope="module")
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMA_PATH)))


async def test_home_lists_topics_with_counts_and_headlines(client: TestClient) -> None:
    response = await client.get("/")
    assert response.status == 200
    page = await response.text()
    assert "U.S.–Iran relations" in page and "Sanctions" in page
    assert "9 articles" in page  # 7 plain + the XSS one + the wire story
    assert "Iran story 1" in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


async def test_topic_page_announces_feeds_filters_and_pages(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    _, data = seeded
    response = await client.get("/topics/us-iran")
    assert response.status == 200
    page = await response.text()
    for fmt, kind in (
        ("atom", "application/atom+xml"),
        ("rss", "application/rss+xml"),
        ("json", "application/feed+json"),
    ):
        assert f'<link rel="alternate" type="{kind}"' in page
        assert f"http://127.0.0.1:8080/topics/us-iran.{fmt}" in page
    assert page.count('class="entry"') == 9  # one page of 25 holds all nine
    filtered = await (await client.get(f"/topics/us-iran?source={data.other_feed_id}")).text()
    assert "Wire: Iran sanctions" in filtered and "Iran story 1" not in filtered
    dated = await (await client.get("/topics/us-iran?from=2026-11-25&to=2026-11-25")).text()
    assert "Wire: Iran sanctions" in dated and "Iran story 1" not in dated
    bad = await client.get("/topics/us-iran?from=yesterday")
    assert bad.status == 400 and "date" in await bad.text()


async def test_unknown_topic_is_a_helpful_404(client: TestClient) -> None:
    for path in (
        "/topics/nope",
        "/topics/nope.atom",
        "/topics/us-iran.xml",
        "/articles/999999",
        "/nowhere",
    ):
        response = await client.get(path)
        assert response.status == 404, path
        assert "text/html" in response.headers["Content-Type"]
    page = await (await client.get("/topics/nope.atom")).text()
    assert "/topics/us-iran.atom" in page  # points at the feeds that do exist


async def test_atom_feed_validates_and_reparses(
    client: TestClient, atom_schema: etree.RelaxNG
) -> None:
    response = await client.get("/topics/us-iran.atom")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    body = await response.read()
    assert atom_schema.validate(etree.fromstring(body)), atom_schema.error_log
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    assert len(parsed.entries) == 5  # feed_page_size
    links = {link.rel: link.href for link in parsed.feed.links}
    assert "before=" in links["next"]
    # Following the next link gives the rest, and the page validates too.
    rest = await client.get(links["next"].replace("http://127.0.0.1:8080", ""))
    rest_body = await rest.read()
    assert atom_schema.validate(etree.fromstring(rest_body)), atom_schema.error_log
    rest_ids = [e.id for e in feedparser.parse(rest_body).entries]
    assert len(rest_ids) == 4 and not set(rest_ids) & {e.id for e in parsed.entries}


async def test_limit_is_capped_and_checked(client: TestClient) -> None:
    parsed = feedparser.parse(await (await client.get("/topics/us-iran.atom?limit=1000")).read())
    assert len(parsed.entries) == 6  # feed_page_max
    assert (await client.get("/topics/us-iran.atom?limit=abc")).status == 400
    assert (await client.get("/topics/us-iran.atom?before=not-a-cursor")).status == 400


async def test_rss_and_json_feeds(client: TestClient, seeded: tuple[Database, Seeded]) -> None:
    _, data = seeded
    rss = await client.get("/topics/us-iran.rss")
    parsed = feedparser.parse(await rss.read())
    assert parsed.bozo == 0 and parsed.version == "rss20"
    assert any(link.get("rel") == "self" for link in parsed.feed.links)
    response = await client.get("/topics/us-iran.json")
    assert response.headers["Content-Type"].startswith("application/feed+json")
    document = json.loads(await response.read())
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] and document["items"]
    ids = [item["id"] for item in document["items"]]
    assert ids == [entry_id_uri("http://127.0.0.1:8080", i) for i in data.entry_ids[:5]]
    assert all(item.get("content_html") or item.get("content_text") for item in document["items"])
    assert document["items"][0]["_aggregator"]["match"]["explanation"]["fired"] == ["title:iran"]


async def test_conditional_get_gives_304(client: TestClient) -> None:
    first = await client.get("/topics/us-iran.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and first.headers["Cache-Control"]
    again = await client.get("/topics/us-iran.atom", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    by_date = await client.get("/topics/us-iran.atom", headers={"If-Modified-Since": modified})
    assert by_date.status == 304
    other = await client.get("/topics/us-iran.atom", headers={"If-None-Match": '"something-else"'})
    assert other.status == 200


async def test_gzip_when_accepted(client: TestClient) -> None:
    response = await client.get(
        "/topics/us-iran.atom", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    body = gzip.decompress(await response.read())
    assert feedparser.parse(body).bozo == 0
    plain = await client.get("/topics/us-iran.atom", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["ETag"] != response.headers["ETag"]
    # Either representation's ETag revalidates.
    again = await client.get(
        "/topics/us-iran.atom",
        headers={"If-None-Match": response.headers["ETag"], "Accept-Encoding": "gzip"},
    )
    assert again.status == 304


async def test_hidden_entry_leaves_the_feed_at_once(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    first = await client.get("/topics/us-iran.atom")
    top = data.entry_ids[0]
    assert entry_id_uri("http://127.0.0.1:8080", top) in (await first.text())
    await storage.set_decision(db, top, "us-iran", MatchState.HIDDEN, "alice", NOW)
    # A client revalidating with either validator gets the new document, not a 304.
    by_etag = await client.get(
        "/topics/us-iran.atom", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert by_etag.status == 200
    assert entry_id_uri("http://127.0.0.1:8080", top) not in await by_etag.text()
    by_date = await client.get(
        "/topics/us-iran.atom", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert by_date.status == 200
    json_doc = json.loads(await (await client.get("/topics/us-iran.json")).read())
    assert entry_id_uri("http://127.0.0.1:8080", top) not in [i["id"] for i in json_doc["items"]]


async def test_pinned_entry_comes_first(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    oldest = data.entry_ids[-1]
    await storage.set_decision(db, oldest, "us-iran", MatchState.PINNED, "alice", NOW)
    parsed = feedparser.parse(await (await client.get("/topics/us-iran.atom")).read())
    assert parsed.entries[0].id == entry_id_uri("http://127.0.0.1:8080", oldest)


async def test_topics_opml(client: TestClient) -> None:
    response = await client.get("/topics.opml")
    assert response.status == 200
    document = etree.fromstring(await response.read())
    urls = sorted(o.get("xmlUrl") for o in document.iter("outline"))
    assert urls == [
        "http://127.0.0.1:8080/topics/sanctions.atom",
        "http://127.0.0.1:8080/topics/us-iran.atom",
    ]


async def test_article_page_shows_text_source_topics_and_why(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    _, data = seeded
    response = await client.get(f"/articles/{data.xss_entry_id}")
    assert response.status == 200
    page = await response.text()
    assert "First paragraph of the article." in page
    assert "Example News" in page
    assert 'href="https://news.example.test/xss"' in page
    assert 'href="/topics/us-iran"' in page
    assert "The title mentions Iran." in page


async def test_xss_payload_never_reaches_a_page_or_feed_unescaped(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    _, data = seeded
    pages = ["/", "/topics/us-iran", f"/articles/{data.xss_entry_id}", "/search?q=Iran", "/sources"]
    for path in pages:
        html = (await (await client.get(path)).text()).lower()
        html = html.replace("<mark>", "").replace("</mark>", "")  # search highlights words
        for marker in DANGEROUS_IN_PAGES:
            assert marker not in html, (path, marker)
        if path != "/sources":  # the title is shown as plain text, its markup dropped
            assert "iran talks resume" in html
    for fmt in ("atom", "rss"):
        document = etree.fromstring(await (await client.get(f"/topics/us-iran.{fmt}")).read())
        for element in document.iter():
            text = (element.text or "").lower()
            tag = element.tag if isinstance(element.tag, str) else ""
            if tag.endswith(("content", "summary", "description", "encoded")):
                for marker in DANGEROUS:
                    assert marker not in text, (fmt, tag, marker)
            if tag.endswith("title"):
                assert "<" not in text
    document = json.loads(await (await client.get("/topics/us-iran.json")).read())
    for item in document["items"]:
        for marker in DANGEROUS:
            assert marker not in item.get("content_html", "").lower()
        assert "<" not in item["title"]


async def test_search_finds_titles_and_text(client: TestClient) -> None:
    page = await (await client.get("/search?q=story")).text()
    assert "Iran <mark>story</mark> 3" in page
    empty = await client.get("/search")
    assert empty.status == 200
    none = await (await client.get("/search?q=zzzzunfindable")).text()
    assert "0 results" in none


async def test_sources_page_lists_feeds_with_health(client: TestClient) -> None:
    page = await (await client.get("/sources")).text()
    assert "Example News" in page and "Other Wire" in page
    assert "100% of 1" in page  # the one extracted article succeeded
    assert "2026-11-28 13:00 UTC" in page  # next poll


async def test_static_css_is_served(client: TestClient) -> None:
    response = await client.get("/static/style.css")
    assert response.status == 200 and "text/css" in response.headers["Content-Type"]


async def test_reader_routes_on_postgresql(
    postgres_url: str, aiohttp_client: Any, atom_schema: etree.RelaxNG
) -> None:
    """One tour of the reader side on PostgreSQL: its search and paging differ from SQLite's."""
    db, data = await open_seeded_database(postgres_url)
    try:
        client = await aiohttp_client(
            create_app(WebTestSettings(feed_page_size=5), db, cache_ttl_s=0)
        )
        assert "9 articles" in await (await client.get("/")).text()
        page = await (
            await client.get(f"/topics/us-iran?source={data.other_feed_id}&from=2026-11-25")
        ).text()
        assert "Wire: Iran sanctions" in page and "Iran story 1" not in page
        body = await (await client.get("/topics/us-iran.atom")).read()
        assert atom_schema.validate(etree.fromstring(body)), atom_schema.error_log
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0 and len(parsed.entries) == 5
        following = {link.rel: link.href for link in parsed.feed.links}["next"]
        rest = feedparser.parse(
            await (await client.get(following.replace("http://127.0.0.1:8080", ""))).read()
        )
        assert len(rest.entries) == 4
        assert "Iran <mark>story</mark> 3" in await (await client.get("/search?q=story")).text()
        for query in ("' OR 1=1 --", "a & b | !c", "(unbalanced", "\\"):
            assert (await client.get("/search", params={"q": query})).status == 200
        assert "Example News" in await (await client.get(f"/articles/{data.xss_entry_id}")).text()
        assert (await client.get("/sources")).status == 200
    finally:
        await db.close()
