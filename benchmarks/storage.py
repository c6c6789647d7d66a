"""Storage benchmark: poll writes, topic pages, search and claims on SQLite and PostgreSQL.

Run ``python benchmarks/storage.py [--feeds 500] [--entries-per-feed 20]``. For each
database (a temporary SQLite file; PostgreSQL too when AGGREGATOR_TEST_POSTGRES_URL is
set, in a throwaway database) it measures, in the same run:

- ``apply_poll`` writing every feed's new entries (one transaction per feed, like a first
  poll), against a baseline of raw ``sqlite3`` ``executemany`` inserts of the same rows
  into a bare table with the same unique key (no ORM, no async, no fetch log, no index
  for search): the ratio is what the storage layer costs on top of the database itself;
- a second ``apply_poll`` pass with nothing new (a conditional poll: feed state only);
- ``topic_entries`` first page and page 10 (50 entries, half the entries in the topic);
- ``search_entries`` for a common and a rare word; ``claim_due_feeds`` of 100 feeds;
- ``SELECT 1`` through the same handle: the floor any call pays (async hop, pool).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator import storage
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.storage.models import entries_table, entry_topics_table
from aggregator.types import (
    EntryData,
    EntryPlan,
    FetchLogRecord,
    FetchOutcome,
    NewFeed,
)
from tests.storage_helpers import ok_update

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WORDS = [
    "iran",
    "sanctions",
    "oil",
    "treasury",
    "tehran",
    "nuclear",
    "talks",
    "market",
    "weather",
    "election",
    "vote",
    "shipping",
    "strait",
    "envoy",
    "embargo",
    "minister",
    "parliament",
    "currency",
]
BODY = "<p>" + "lorem ipsum dolor sit amet " * 36 + "</p>"  # about 1 KB


def entry(feed_id: int, n: int, rng: random.Random) -> EntryData:
    return EntryData(
        identity=f"https://news{feed_id}.example/{n}",
        guid=None,
        url=f"https://news{feed_id}.example/{n}",
        title=" ".join(rng.choices(WORDS, k=7)) + (" natanz" if n == 3 else ""),
        author="Reporter",
        published_at=NOW - timedelta(minutes=rng.randint(0, 200_000)),
        updated_at=None,
        summary_html=BODY,
        content_html=None,
        content_hash=f"{feed_id}-{n}",
    )


def log(feed_id: int, now: datetime) -> FetchLogRecord:
    return FetchLogRecord(feed_id, now, FetchOutcome.OK, 200, 0.01, 30_000, 0, 0, None)


async def per_call_ms(call: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await call()  # warm caches and compiled statements
    started = time.perf_counter()
    for _ in range(repeat):
        await call()
    return (time.perf_counter() - started) / repeat * 1000


def baseline_inserts_per_s(plans: list[list[EntryData]], directory: Path) -> float:
    conn = sqlite3.connect(directory / "baseline.sqlite3")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE entries (id INTEGER PRIMARY KEY, feed_id INT, identity TEXT, url TEXT,"
        " title TEXT, published TEXT, summary TEXT, hash TEXT, UNIQUE (feed_id, identity))"
    )
    started = time.perf_counter()
    for feed_id, plan in enumerate(plans):
        with conn:
            conn.executemany(
                "INSERT OR IGNORE INTO entries (feed_id, identity, url, title, published,"
                " summary, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        feed_id,
                        e.identity,
                        e.url,
                        e.title,
                        str(e.published_at),
                        e.summary_html,
                        e.content_hash,
                    )
                    for e in plan
                ],
            )
    elapsed = time.perf_counter() - started
    conn.close()
    return sum(len(p) for p in plans) / elapsed


async def run(url: str, feeds_n: int, per_feed: int) -> dict[str, float]:
    rng = random.Random(5)
    db = await Database.open(url)
    try:
        await upgrade(db)
        feeds, _ = await storage.add_feeds(
            db, [NewFeed(f"https://news{n}.example/feed") for n in range(feeds_n)], now=NOW
        )
        plans = [[entry(f.id, n, rng) for n in range(per_feed)] for f in feeds]
        started = time.perf_counter()
        for feed, plan in zip(feeds, plans, strict=True):
            await storage.apply_poll(
                db,
                feed_id=feed.id,
                owner="bench",
                update=ok_update(NOW),
                plan=EntryPlan(new=tuple(plan)),
                log=log(feed.id, NOW),
                now=NOW,
            )
        first = time.perf_counter() - started
        started = time.perf_counter()
        later = NOW + timedelta(hours=1)
        for feed in feeds:
            await storage.apply_poll(
                db,
                feed_id=feed.id,
                owner="bench",
                update=ok_update(later),
                plan=EntryPlan(unchanged=per_feed),
                log=log(feed.id, later),
                now=later,
            )
        conditional = time.perf_counter() - started

        await storage.upsert_topic(db, "us-iran", "US-Iran", "", "rules")
        async with db.transaction() as conn:  # tag every other entry directly (fast setup)
            rows = (
                await conn.execute(select(entries_table.c.id, entries_table.c.published_at))
            ).all()
            matches = [
                {
                    "entry_id": r.id,
                    "topic_id": 1,
                    "score": 1.0,
                    "explanation": {},
                    "origin": "rule",
                    "state": "auto",
                    "topic_version": 1,
                    "fired_parts": [],
                    "pin_rank": 0,
                    "sort_at": r.published_at,
                }
                for r in rows[::2]
            ]
            for start in range(0, len(matches), 1000):
                await conn.execute(entry_topics_table.insert(), matches[start : start + 1000])
        cursor = None
        for _ in range(9):
            page = await storage.topic_entries(db, "us-iran", limit=50, before=cursor)
            cursor = page.next_cursor
        page10 = cursor

        async def select_one() -> None:
            async with db.read() as conn:
                await conn.execute(text("SELECT 1"))

        clock = [NOW + timedelta(hours=3)]

        async def claim_100() -> None:
            # Each call a second later with one-second leases: every call claims 100 anew.
            clock[0] += timedelta(seconds=2)
            claimed = await storage.claim_due_feeds(
                db, now=clock[0], limit=100, owner="bench", lease_s=1
            )
            assert len(claimed) == min(100, feeds_n)

        figures = {
            "entries": float(len(rows)),
            "write_entries_per_s": len(rows) / first,
            "write_feeds_per_s": feeds_n / first,
            "conditional_feeds_per_s": feeds_n / conditional,
            "select_1_ms": await per_call_ms(select_one, 200),
            "topic_page_1_ms": await per_call_ms(
                lambda: storage.topic_entries(db, "us-iran", limit=50), 30
            ),
            "topic_page_10_ms": await per_call_ms(
                lambda: storage.topic_entries(db, "us-iran", limit=50, before=page10), 30
            ),
            "search_common_ms": await per_call_ms(
                lambda: storage.search_entries(db, "iran sanctions", limit=20), 20
            ),
            "search_rare_ms": await per_call_ms(
                lambda: storage.search_entries(db, "natanz", limit=20), 20
            ),
            "claim_100_ms": await per_call_ms(claim_100, 20),
        }
        figures["baseline_entries_per_s"] = await asyncio.to_thread(
            baseline_inserts_per_s, plans, Path(tempfile.mkdtemp(prefix="storage-bench-"))
        )
        return figures
    finally:
        await db.close()


async def postgres_url() -> tuple[str, str, str] | None:
    base = os.environ.get("AGGREGATOR_TEST_POSTGRES_URL")
    if not base:
        return None
    import asyncpg

    name = f"agg_bench_{os.getpid()}"
    admin = base.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base.rpartition("/")[0] + f"/{name}", admin, name


async def drop_postgres(admin: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def report(dialect: str, f: dict[str, float]) -> None:
    print(f"\n{dialect}: {int(f['entries'])} entries")
    print(
        f"  first poll writes: {f['write_entries_per_s']:,.0f} entries/s "
        f"({f['write_feeds_per_s']:,.0f} feeds/s); raw sqlite3 baseline "
        f"{f['baseline_entries_per_s']:,.0f} entries/s; ratio "
        f"{f['write_entries_per_s'] / f['baseline_entries_per_s']:.3f}"
    )
    print(f"  conditional poll writes: {f['conditional_feeds_per_s']:,.0f} feeds/s")
    floor = f["select_1_ms"]
    for key in (
        "topic_page_1_ms",
        "topic_page_10_ms",
        "search_common_ms",
        "search_rare_ms",
        "claim_100_ms",
    ):
        print(
            f"  {key[:-3]:<18} {f[key]:7.2f} ms  ({f[key] / floor:5.1f}x a SELECT 1 "
            f"of {floor:.2f} ms)"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries-per-feed", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="storage-bench-") as tmp:
        sqlite = await run(
            f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", args.feeds, args.entries_per_feed
        )
    report("SQLite", sqlite)
    pg = await postgres_url()
    if pg is None:
        print("\nPostgreSQL: skipped (set AGGREGATOR_TEST_POSTGRES_URL)")
        return
    url, admin, name = pg
    try:
        report("PostgreSQL", await run(url, args.feeds, args.entries_per_feed))
    finally:
        await drop_postgres(admin, name)


if __name__ == "__main__":
    asyncio.run(main())
