"""Search in the web view, in-process against real databases: paging with "Older results"
and "Newer results", bad page numbers, and highlighting that no query or feed can turn into
markup."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from aiohttp.test_utils import TestClient

from aggregator.storage import Database
from tests.search_support import (
    HOSTILE_QUERY,
    add_convoy_entries,
    add_hostile_entries,
    article_ids,
)
from tests.web_support import NOW, WebTestSettings, open_seeded_copy, open_seeded_database
from web.app import create_app
from web.highlight import highlighter, query_words
from web.reader import SEARCH_LIMIT, SEARCH_MAX_PAGE

CONVOYS = 2 * SEARCH_LIMIT + 20  # three pages: 50, 50, 20
_OLDER = re.compile(r'<a href="([^"]+)" rel="next">Older results</a>')
_NEWER = re.compile(r'<a href="([^"]+)" rel="prev">Newer results</a>')


@pytest.fixture
async def convoys(
    tmp_path: Path, aiohttp_client: Any
) -> AsyncIterator[tuple[TestClient, list[int]]]:
    db, _ = await open_seeded_copy(tmp_path)
    try:
        ids = await add_convoy_entries(db, CONVOYS)
        app = create_app(WebTestSettings(), db, clock=lambda: NOW, cache_ttl_s=0)
        yield await aiohttp_client(app), ids
    finally:
        await db.close()


def _link(pattern: re.Pattern[str], page: str) -> str | None:
    found = pattern.search(page)
    return html.unescape(found.group(1)) if found else None


async def _page(client: TestClient, path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, path
    return await response.text()


async def test_readers_page_through_every_result_once(
    convoys: tuple[TestClient, list[int]],
) -> None:
    client, ids = convoys
    first = await _page(client, "/search?q=convoy")
    assert "Results 1–50 for “convoy”" in first
    assert _link(_NEWER, first) is None
    assert _link(_OLDER, first) == "/search?q=convoy&page=2"
    second = await _page(client, "/search?q=convoy&page=2")
    assert "Results 51–100 for “convoy”" in second
    assert _link(_NEWER, second) == "/search?q=convoy"  # the first page keeps its plain URL
    assert _link(_OLDER, second) == "/search?q=convoy&page=3"
    third = await _page(client, "/search?q=convoy&page=3")
    assert "Results 101–120 for “convoy”" in third
    assert _link(_NEWER, third) == "/search?q=convoy&page=2"
    assert _link(_OLDER, third) is None
    pages = [article_ids(first), article_ids(second), article_ids(third)]
    assert [len(p) for p in pages] == [50, 50, 20]
    assert pages[0] + pages[1] + pages[2] == ids  # newest first, none twice, none missed


async def test_a_full_last_page_has_no_older_link(tmp_path: Path, aiohttp_client: Any) -> None:
    """Exactly two pages of hits: the second is full, and there is nothing after it."""
    db, _ = await open_seeded_copy(tmp_path)
    try:
        ids = await add_convoy_entries(db, 2 * SEARCH_LIMIT)
        client = await aiohttp_client(create_app(WebTestSettings(), db, cache_ttl_s=0))
        first = await _page(client, "/search?q=convoy")
        second = await _page(client, "/search?q=convoy&page=2")
        assert article_ids(first) + article_ids(second) == ids
        assert _link(_OLDER, first) == "/search?q=convoy&page=2"
        assert _link(_OLDER, second) is None
    finally:
        await db.close()


async def test_the_query_survives_paging(convoys: tuple[TestClient, list[int]]) -> None:
    client, _ = convoys
    first = await _page(client, "/search?q=" + "convoy%20%26%20report%3F")
    older = _link(_OLDER, first)
    assert older == "/search?q=convoy+%26+report%3F&page=2"
    second = await _page(client, older)
    assert 'value="convoy &amp; report?"' in second
    assert _link(_NEWER, second) == "/search?q=convoy+%26+report%3F"


async def test_a_short_search_has_no_pager(convoys: tuple[TestClient, list[int]]) -> None:
    client, _ = convoys
    page = await _page(client, "/search?q=story")
    assert "7 results for “story”" in page
    assert 'class="pager"' not in page


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "0",
        "-1",
        "+2",
        "1.5",
        "1e3",
        "٢",
        "0x2",
        "2 3",
        "99999999999999999999",
        str(SEARCH_MAX_PAGE + 1),
        "%00",
        "<script>",
    ],
)
async def test_a_bad_page_number_gives_the_first_page(
    convoys: tuple[TestClient, list[int]], value: str
) -> None:
    client, ids = convoys
    response = await client.get("/search", params={"q": "convoy", "page": value})
    assert response.status == 200
    page = await response.text()
    assert article_ids(page) == ids[:SEARCH_LIMIT]
    assert _link(_NEWER, page) is None


async def test_a_page_past_the_last_offers_the_first(
    convoys: tuple[TestClient, list[int]],
) -> None:
    client, _ = convoys
    page = await _page(client, "/search?q=convoy&page=7")
    assert article_ids(page) == []
    assert "No more results for “convoy”" in page
    assert '<a href="/search?q=convoy">Back to the newest results</a>' in page
    assert _link(_OLDER, page) is None
    # Without a query the page number means nothing.
    assert "result" not in await _page(client, "/search?page=3")


async def test_the_last_allowed_page_has_no_older_link(
    convoys: tuple[TestClient, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = convoys
    monkeypatch.setattr("web.reader.SEARCH_MAX_PAGE", 2)
    page = await _page(client, "/search?q=convoy&page=2")
    assert _link(_NEWER, page) is not None and _link(_OLDER, page) is None


async def test_matched_words_are_marked_whole_and_in_any_case(
    convoys: tuple[TestClient, list[int]],
) -> None:
    client, _ = convoys
    page = await _page(client, "/search?q=CONVOY+Report")
    assert "<mark>Convoy</mark> <mark>report</mark> 0</a>" in page
    # Whole words only: "convoys" is not "convoy".
    assert "Escorts joined <mark>convoy</mark> number 0; convoys wait near Hormuz." in page
    assert "<mark>convoy</mark>s" not in page.lower()


@pytest.fixture
async def hostile(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    db, _ = await open_seeded_copy(tmp_path)
    try:
        await add_hostile_entries(db)
        yield await aiohttp_client(create_app(WebTestSettings(), db, cache_ttl_s=0))
    finally:
        await db.close()


def _assert_inert(page: str) -> None:
    body = lxml.html.fromstring(page).body
    for element in body.iter():
        assert element.tag not in ("script", "img", "iframe", "svg"), element.tag
        for name in element.attrib:
            assert not name.lower().startswith("on"), (element.tag, name)
    # The only tags are the page's own.
    assert set(re.findall(r"<([a-zA-Z][\w-]*)", page.split("<main", 1)[1])) <= {
        "a",
        "article",
        "button",
        "div",
        "footer",
        "form",
        "h1",
        "h2",
        "input",
        "label",
        "mark",
        "p",
        "nav",
    }


async def test_hostile_queries_and_entries_stay_text(hostile: TestClient) -> None:
    page = await _page(hostile, "/search?" + f"q={HOSTILE_QUERY}".replace(" ", "%20"))
    _assert_inert(page)
    assert len(article_ids(page)) == 2
    # Query words are marked inside the escaped text; character references stay whole.
    assert "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;" in page
    assert "&#34;&gt;&lt;<mark>img</mark> src=x <mark>onerror</mark>=alert(2)&gt;" in page
    assert "<mark>lt</mark> <mark>amp</mark>" in page
    assert "&<mark>" not in page and "<mark>lt</mark>;" not in page
    # The article text and the summary (whose own script and image are dropped) as text.
    assert "Article &lt;<mark>script</mark>&gt;alert(5)" in page
    assert "Summary &lt;<mark>script</mark>&gt;alert(1)" in page and "a &lt; b" in page
    assert "alert(3)" not in page and "alert(4)" not in page
    # The query as the reader typed it, escaped.
    assert 'value="tanker &lt;script&gt; &#34;&gt;&lt;img onerror&gt; lt amp"' in page
    assert "“tanker &lt;script&gt; &#34;&gt;&lt;img onerror&gt; lt amp”" in page


async def test_hostile_queries_keep_the_page_whole(hostile: TestClient) -> None:
    for query in ('"><script>alert(1)</script>', "<mark>x</mark>", "</mark><b>", "a" * 500):
        for page_number in ("2", '"><img src=x onerror=alert(1)>'):
            response = await hostile.get("/search", params={"q": query, "page": page_number})
            assert response.status == 200
            page = await response.text()
            _assert_inert(page)
            assert "Content-Security-Policy" in response.headers


def test_highlighter_escapes_everything_it_does_not_mark() -> None:
    mark = highlighter('Iran "><b> IRAN lt')
    assert query_words('Iran "><b> IRAN lt') == ("Iran", "b", "lt")
    assert mark("iran, Iranian <b>IRAN</b> a<b & lt;") == (
        "<mark>iran</mark>, Iranian &lt;<mark>b</mark>&gt;<mark>IRAN</mark>&lt;/<mark>b</mark>&gt;"
        " a&lt;<mark>b</mark> &amp; <mark>lt</mark>;"
    )
    assert highlighter("")("<i>x</i>") == "&lt;i&gt;x&lt;/i&gt;"
    assert highlighter("x")(None) == ""
    # Regex syntax in the query is literal text.
    assert (
        highlighter("a.c (x|y)")("abc a.c x|y")
        == "abc <mark>a</mark>.<mark>c</mark> <mark>x</mark>|<mark>y</mark>"
    )


async def test_search_pages_on_postgresql(postgres_url: str, aiohttp_client: Any) -> None:
    db: Database
    db, _ = await open_seeded_database(postgres_url)
    try:
        ids = await add_convoy_entries(db, CONVOYS)
        await add_hostile_entries(db)
        client = await aiohttp_client(create_app(WebTestSettings(), db, cache_ttl_s=0))
        seen: list[int] = []
        path: str | None = "/search?q=convoy"
        while path is not None:
            page = await _page(client, path)
            seen.extend(article_ids(page))
            path = _link(_OLDER, page)
        assert seen == ids
        assert "<mark>Convoy</mark> report 0" in await _page(client, "/search?q=convoy")
        response = await client.get("/search", params={"q": "tanker", "page": "x"})
        assert response.status == 200
        page = await response.text()
        _assert_inert(page)
        assert "&lt;script&gt;" in page and len(article_ids(page)) == 2
    finally:
        await db.close()
