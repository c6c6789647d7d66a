"""Full-text search on SQLite (FTS5) and PostgreSQL, including hostile query strings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import storage
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.storage.search import fts5_query
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
