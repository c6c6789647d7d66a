"""Every feed of the shared corpus through the full store path (parse -> decide -> one
transaction per feed) into a real SQLite database: zero crashes, each failure a one-line
error stored on its feed, nothing half-stored, and a second pass stores nothing twice."""

from __future__ import annotations

import csv
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from aggregator import decide, storage
from aggregator.errors import ParseError
from aggregator.fetch import body_hash
from aggregator.parse import parse_feed
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.types import (
    Feed,
    FeedData,
    FeedStatus,
    FetchLogRecord,
    FetchOutcome,
    FetchResult,
    NewFeed,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def store_document(db: Database, feed: Feed, body: bytes) -> tuple[int, int, str | None]:
    """What the pipeline does with one fetched body; returns (stored, parsed identities, error)."""
    result = FetchResult(
        requested_url=feed.url,
        final_url=feed.url,
        outcome=FetchOutcome.OK,
        status=200,
        body=body,
        body_hash=body_hash(body),
        bytes_read=len(body),
    )
    data: FeedData | None = None
    error: str | None = None
    try:
        data = parse_feed(body, feed.url, now=NOW)
    except ParseError as exc:
        error = exc.message
    plan = decide.plan_entries({}, ())
    if data is not None:
        states = await storage.entry_states(db, feed.id, [e.identity for e in data.entries])
        plan = decide.plan_entries(states, data.entries)
    update = decide.after_fetch(feed, result, data, error, NOW)
    written = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="corpus",
        update=update,
        plan=plan,
        log=FetchLogRecord(
            feed_id=feed.id,
            started_at=NOW,
            outcome=FetchOutcome.ERROR if error else FetchOutcome.OK,
            status=200,
            duration_s=0.0,
            bytes_read=len(body),
            new_entries=len(plan.new),
            updated_entries=len(plan.updated),
            error=error,
        ),
        now=NOW,
    )
    identities = len({e.identity for e in data.entries}) if data is not None else 0
    return len(written.new_entry_ids), identities, error


async def test_every_corpus_feed_goes_through_the_store_path(
    shared_corpus: Path, tmp_path: Path
) -> None:
    feeds_dir = shared_corpus / "feeds"
    with (feeds_dir / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        paths = [
            row["path"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
    assert len(paths) > 1000

    database = tmp_path / "corpus.sqlite3"
    db = await Database.open(f"sqlite+aiosqlite:///{database}")
    await upgrade(db)
    try:
        feeds = await storage.add_feeds(
            db, [NewFeed(url=f"https://corpus.example/{i}/feed") for i in range(len(paths))]
        )
        by_url = {feed.url: feed for feed in feeds[0]}
        stored: dict[int, int] = {}
        errors: dict[int, str] = {}
        for i, path in enumerate(paths):
            feed = by_url[f"https://corpus.example/{i}/feed"]
            new, identities, error = await store_document(db, feed, (feeds_dir / path).read_bytes())
            assert new == identities, path  # every distinct entry parsed is stored, once
            stored[feed.id] = new
            if error is not None:
                errors[feed.id] = error

        # A second pass over the same documents stores nothing new.
        for i, path in enumerate(paths[:200]):
            feed = await storage.get_feed(db, by_url[f"https://corpus.example/{i}/feed"].id)
            assert feed is not None
            new, _, _ = await store_document(db, feed, (feeds_dir / path).read_bytes())
            assert new == 0, path

        for feed in await storage.list_feeds(db):
            if feed.id in errors:
                assert feed.status is FeedStatus.ERROR
                assert feed.last_error and "\n" not in feed.last_error
                assert len(feed.last_error) < 1000
            else:
                assert feed.status is FeedStatus.OK, (feed.url, feed.last_error)
            assert feed.entry_count == stored[feed.id]  # every reported entry is stored
        assert len(errors) < len(paths) // 4
    finally:
        await db.close()

    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT feed_id, identity FROM entries "
            "GROUP BY feed_id, identity HAVING count(*) > 1)"
        ).fetchone()
        assert duplicates == (0,)
