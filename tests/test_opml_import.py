"""OPML through real storage (SQLite and PostgreSQL): import, re-import, export round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aggregator import storage
from aggregator.demo import demo_opml
from aggregator.opml import OpmlDocument, OpmlFeed, parse_opml, write_opml
from aggregator.storage import Database
from aggregator.urls import normalize_url

pytest_plugins = ["tests.storage_fixtures"]

FIXTURES = Path(__file__).parent / "fixtures" / "opml"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def merged_fixture_exports() -> OpmlDocument:
    """Every reader's export in one OPML (as a user moving readers might build it)."""
    feeds: list[OpmlFeed] = []
    for path in sorted(FIXTURES.glob("*.opml")):
        feeds += parse_opml(path.read_bytes()).feeds
    return parse_opml(write_opml(feeds, "merged", NOW))


def as_stored(feed: OpmlFeed) -> tuple[str, str | None, str | None, str | None]:
    return normalize_url(feed.url), feed.title, feed.site_url, feed.category


async def import_document(db: Database, document: OpmlDocument) -> tuple[int, int]:
    added, already = await storage.add_feeds(db, [feed.to_new_feed() for feed in document.feeds])
    return len(added), len(already)


async def export_document(db: Database) -> bytes:
    feeds = await storage.list_feeds(db)
    return write_opml(
        [OpmlFeed(f.url, f.title, f.site_url, f.category) for f in feeds], "export", NOW
    )


async def test_import_reimport_and_export_round_trip(db: Database) -> None:
    document = merged_fixture_exports()
    # Two readers' exports list the same Discovery Headlines feed: the merge keeps one.
    assert len(document.skipped) == 1 and "duplicate" in document.skipped[0]
    assert await import_document(db, document) == (len(document.feeds), 0)
    # Importing the same file again changes nothing.
    assert await import_document(db, document) == (0, len(document.feeds))
    assert len(await storage.list_feeds(db)) == len(document.feeds)

    exported = parse_opml(await export_document(db))
    assert exported.skipped == [] and exported.warnings == []
    assert sorted(map(as_stored, exported.feeds)) == sorted(map(as_stored, document.feeds))


async def test_hostile_values_fit_the_database(db: Database) -> None:
    folders = "".join(f'<outline text="{"folder" * 20} {i}">' for i in range(40))
    data = (
        '<opml version="2.0"><body>'
        f'<outline title="{"T" * 100_000}" xmlUrl="https://t.example/rss"/>'
        f'<outline text="u" xmlUrl="https://u.example/{"é" * 700}"/>'
        f'<outline text="s" xmlUrl="https://s.example/rss" htmlUrl="https://s.example/{"x" * 3000}"/>'
        f'{folders}<outline text="deep" xmlUrl="https://d.example/rss"/>{"</outline>" * 40}'
        "</body></opml>"
    ).encode()
    document = parse_opml(data)
    # "é" * 700 quotes to 4200 characters: more than the URL column holds.
    assert [feed.url for feed in document.feeds] == [
        "https://t.example/rss",
        "https://s.example/rss",
        "https://d.example/rss",
    ]
    assert await import_document(db, document) == (3, 0)
    stored = {feed.url: feed for feed in await storage.list_feeds(db)}
    assert stored["https://t.example/rss"].title == "T" * 1024
    assert stored["https://s.example/rss"].site_url is None
    category = stored["https://d.example/rss"].category
    assert category is not None and 0 < len(category) <= 512


async def test_thousands_of_outlines_import_in_one_go(db: Database) -> None:
    feeds = [
        OpmlFeed(f"https://f{i}.example/rss", f"Feed {i}", None, f"Folder {i // 100}")
        for i in range(2000)
    ]
    document = parse_opml(write_opml(feeds, "many", NOW))
    assert await import_document(db, document) == (2000, 0)
    stored = await storage.list_feeds(db)
    assert len(stored) == 2000
    assert {feed.category for feed in stored} == {f"Folder {i}" for i in range(20)}


async def test_demo_opml_subscribes_the_demo_feeds(db: Database) -> None:
    document = parse_opml(demo_opml("http://127.0.0.1:8081"))
    assert await import_document(db, document) == (4, 0)
    stored = await storage.list_feeds(db)
    assert {(feed.title, feed.category) for feed in stored} == {
        ("Discovery Headlines", "Blogs"),
        ("Gulf Wire Service", "News wires"),
        ("The Sanctions Ledger", "Sanctions"),
        ("Riverton Daily Courier", "Local news"),
    }
