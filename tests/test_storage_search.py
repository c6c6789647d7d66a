"""Full-text search on SQLite (FTS5) and PostgreSQL, including hostile query strings."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import sanitize, storage
from aggregator.storage import Database
from aggregator.storage import search as search_module
from aggregator.storage.migrate import upgrade
from aggregator.storage.search import (
    MAX_OFFSET,
    SNIPPET_CHARS,
    SNIPPET_HTML_CHARS,
    fts5_query,
    html_prefix,
)
from aggregator.types import Article, ArticleStatus, EntryPlan, NewFeed
from tests.storage_helpers import NOW, entry_data, ok_log, ok_update

pytest_plugins = ["tests.storage_fixtures"]

HOSTILE = [
    '"',
    '""',
    "'",
    "*",
    "-",
    "()",
    "NEAR(",
    "AND OR NOT",
    "title:iran",
    "^iran",
    "iran*",
    "' OR 1=1 --",
    "'; DROP TABLE entries; --",
    "\\",
    "\x00",
    "%_",
    "🙂 ☃",
    "a" * 5000,
    "<script>alert(1)</script>",
    "{body}: x",
]


async def _seed(db: Database) -> dict[str, int]:
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    plan = EntryPlan(
        new=(
            entry_data("one", title="Iran sanctions tightened"),
            entry_data("two", title="Weather report"),
            entry_data("three", title="Markets today"),
        )
    )
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(),
        plan=plan,
        log=ok_log(feed.id),
        now=NOW,
    )
    one, two, three = result.new_entry_ids
    await storage.save_article(
        db,
        Article(
            entry_id=three,
            status=ArticleStatus.OK,
            title="Markets today",
            text="Oil prices rose after the Treasury announced new sanctions on Iranian exports.",
        ),
    )
    return {"one": one, "two": two, "three": three}


async def test_search_finds_titles_and_article_text(db: Database) -> None:
    ids = await _seed(db)
    hits = await storage.search_entries(db, "sanctions", limit=10, offset=0)
    assert {h.entry.id for h in hits} == {ids["one"], ids["three"]}
    article_hit = next(h for h in hits if h.entry.id == ids["three"])
    assert article_hit.snippet.startswith("Oil prices rose")
    assert [h.entry.id for h in await storage.search_entries(db, "weather")] == [ids["two"]]
    assert await storage.search_entries(db, "nonexistentword") == []
    # paging
    assert len(await storage.search_entries(db, "sanctions", limit=1, offset=1)) == 1


async def test_search_follows_changed_titles_and_articles(db: Database) -> None:
    ids = await _seed(db)
    feed_id = (await storage.get_entry(db, ids["two"])).feed_id
    await storage.apply_poll(
        db,
        feed_id=feed_id,
        owner="w",
        update=ok_update(),
        plan=EntryPlan(updated=(entry_data("two", title="Tehran weather", content_hash="h2"),)),
        log=ok_log(feed_id),
        now=NOW,
    )
    assert [h.entry.id for h in await storage.search_entries(db, "tehran")] == [ids["two"]]
    assert await storage.search_entries(db, "report") == []
    await storage.save_article(
        db, Article(entry_id=ids["three"], status=ArticleStatus.OK, text="Shipping rates fell.")
    )
    assert await storage.search_entries(db, "treasury") == []
    assert [h.entry.id for h in await storage.search_entries(db, "shipping")] == [ids["three"]]


async def test_search_survives_hostile_strings(db: Database) -> None:
    await _seed(db)
    for query in HOSTILE:
        hits = await storage.search_entries(db, query, limit=5, offset=0)
        assert len(hits) <= 5
    # Operators and quotes around a real word are plain text: the word is still found.
    for query in ('"sanctions', "(sanctions)*", "sanctions' --", "{sanctions}"):
        assert len(await storage.search_entries(db, query)) == 2, query


def test_fts5_query_quotes_every_word() -> None:
    assert fts5_query('iran "nuclear" OR deal*') == '"iran" "nuclear" "OR" "deal"'
    assert fts5_query("()*-") is None


@pytest.fixture
def search_db(database_url: str) -> Iterator[tuple[asyncio.AbstractEventLoop, Database]]:
    """A seeded database driven from a private loop, for synchronous hypothesis tests."""
    loop = asyncio.new_event_loop()

    async def setup() -> Database:
        database = await Database.open(database_url)
        await upgrade(database)
        await _seed(database)
        return database

    database = loop.run_until_complete(setup())
    try:
        yield loop, database
    finally:
        loop.run_until_complete(database.close())
        loop.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(query=st.text(max_size=80))
def test_search_never_fails_on_arbitrary_text(
    search_db: tuple[asyncio.AbstractEventLoop, Database], query: str
) -> None:
    loop, database = search_db
    hits = loop.run_until_complete(storage.search_entries(database, query, limit=3, offset=0))
    assert len(hits) <= 3


async def _seed_many(db: Database, count: int, summary_html: str | None = None) -> list[int]:
    """``count`` entries that all mention "tanker", newest first; two share a date (the
    entry id breaks the tie)."""
    feed = await storage.add_feed(db, NewFeed("https://many.example/feed"), now=NOW)
    entries = []
    for i in range(count):
        data = entry_data(
            f"many-{i}",
            title=f"Tanker seized {i}",
            published_at=NOW - timedelta(hours=i if i != 1 else 0),
        )
        if summary_html is not None:
            data = dataclasses.replace(data, summary_html=summary_html)
        entries.append(data)
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(),
        plan=EntryPlan(new=tuple(entries)),
        log=ok_log(feed.id),
        now=NOW,
    )
    by_identity = dict(zip((e.identity for e in entries), result.new_entry_ids, strict=True))
    # Entry 0 and 1 share a date: the higher id comes first.
    order = sorted(
        entries,
        key=lambda e: (e.published_at, by_identity[e.identity]),
        reverse=True,
    )
    return [by_identity[e.identity] for e in order]


async def test_search_pages_through_every_hit_once_in_order(db: Database) -> None:
    expected = await _seed_many(db, 23)
    size, offset = 5, 0
    seen: list[int] = []
    while True:
        # The web view asks for one more than a page to learn whether another page follows.
        hits = await storage.search_entries(db, "tanker", limit=size + 1, offset=offset)
        seen.extend(h.entry.id for h in hits[:size])
        if len(hits) <= size:
            break
        offset += size
    assert seen == expected
    assert offset == 20  # five pages: 5, 5, 5, 5, 3
    assert await storage.search_entries(db, "tanker", limit=5, offset=23) == []


async def test_search_offset_is_bounded(db: Database) -> None:
    await _seed_many(db, 3)
    for offset in (MAX_OFFSET + 1, 2**63, 10**30):
        assert await storage.search_entries(db, "tanker", limit=5, offset=offset) == []
    assert len(await storage.search_entries(db, "tanker", limit=5, offset=-10)) == 3


async def test_snippet_of_a_long_summary_parses_only_its_start(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = "<p>Tanker crews were released on Tuesday, officials said.</p>"
    filler = "<p>More <a href='https://many.example/x'>reporting</a> follows here.</p>" * 5000
    await _seed_many(db, 3, summary_html=lead + filler)
    parsed: list[int] = []

    def measured(html: str | None) -> str:
        parsed.append(len(html or ""))
        return sanitize.html_to_text(html)

    monkeypatch.setattr(search_module, "html_to_text", measured)
    hits = await storage.search_entries(db, "tanker", limit=10)
    assert len(hits) == 3
    assert len(lead + filler) > 300_000
    assert parsed and max(parsed) <= SNIPPET_HTML_CHARS, parsed
    for hit in hits:
        assert hit.snippet.startswith("Tanker crews were released on Tuesday, officials said.")
        assert len(hit.snippet) == SNIPPET_CHARS
        assert "<" not in hit.snippet and "href" not in hit.snippet


async def test_snippet_of_a_short_summary_is_all_of_it(db: Database) -> None:
    await _seed_many(db, 1, summary_html="<p>Tanker <b>seized</b> off Fujairah.</p>")
    [hit] = await storage.search_entries(db, "tanker")
    assert hit.snippet == "Tanker seized off Fujairah."


CUT_SAMPLE = (
    '<p>Caf&eacute; owners in Tehran&#8217;s bazaar <a href="https://x.example/a?b=1&amp;c=2"'
    ' title="a > b">said</a> prices rose.</p><!-- a > b <i>comment</i> -->'
    '<img src="https://x.example/i.png" alt="x"><p class=\'lead\'>Second &gt; first &lt; 3'
    " paragraph <b>here</b>.</p><![CDATA[ data ]]><br/><p>Third</p>"
)
MARKUP = re.compile(r"<[A-Za-z!/?]|href|src=|title=|alt=|class=|&\w|&#")


def test_a_cut_summary_never_shows_markup() -> None:
    full = sanitize.html_to_text(CUT_SAMPLE)
    assert full.startswith("Café owners in Tehran’s bazaar said prices rose.")
    # Cutting naively does leak: a half tag or half reference comes out as text.
    naive = [sanitize.html_to_text(CUT_SAMPLE[:n]) for n in range(1, len(CUT_SAMPLE))]
    assert any(MARKUP.search(text) or text.endswith("<") for text in naive)
    for n in range(1, len(CUT_SAMPLE) + 1):
        head = html_prefix(CUT_SAMPLE, n)
        assert len(head) <= n
        text = sanitize.html_to_text(head)
        assert not MARKUP.search(text), (n, head, text)
        # A cut never adds text of its own (a lone "<", "&eacu", "href=…"): what shows is
        # the start of what the whole summary shows.
        assert full.startswith(text), (n, head, text)
    assert html_prefix(CUT_SAMPLE, 10**6) == CUT_SAMPLE
    assert html_prefix(None) == ""
