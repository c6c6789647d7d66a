"""Web view benchmark: topic feed and topic page throughput and p99 latency.

Run ``python benchmarks/web.py [--entries 100000] [--requests 3000] [--concurrency 50]``
(``make bench-web``). A fresh SQLite database gets ``--entries`` entries (1 KB of HTML each,
from 100 feeds), all in topic ``us-iran``. A server process then serves the real web view
and, on a second port, a trivial aiohttp handler returning the very bytes of the Atom feed
(with the same headers). The load generator (this process, on 127.0.0.1, at most
``--concurrency`` requests in flight) measures, in the same run:

- ``/topics/us-iran.atom`` without validators: a full 200 every time (gzip, as the client
  accepts it; and once more uncompressed, like the trivial handler's response);
- ``/topics/us-iran.atom`` conditional: ``If-None-Match`` with the current ETag (304s);
- ``/topics/us-iran``: the topic HTML page;
- the same feed and page from a second app with its render cache off (``cache_ttl_s=0``):
  what a cache miss costs (a storage query and sanitizing and rendering 50 entries);
- the trivial handler (the baseline): same bytes, no work.

Ratios are against the trivial handler. Targets (issue 6): the feed at least half the
trivial handler's throughput, p99 under 50 ms at 50 concurrent clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name ("web") would
# shadow the web package; the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO_ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FEEDS = 100
BODY_HTML = (
    "<p>" + ("Negotiators met again to discuss the nuclear programme and sanctions. " * 14) + "</p>"
)


@dataclass
class BenchSettings:
    base_url: str = "http://127.0.0.1:8080"
    secret_key: str = "benchmark"
    secure_cookies: bool = False
    feed_page_size: int = 50
    feed_page_max: int = 200


# ---------------------------------------------------------------------------
# Database


async def build_database(url: str, entries: int) -> None:
    from sqlalchemy import insert

    from aggregator import storage
    from aggregator.storage import Database
    from aggregator.storage.migrate import upgrade
    from aggregator.storage.models import EntryTopicRow
    from aggregator.types import (
        EntryData,
        EntryPlan,
        FeedStatus,
        FeedUpdate,
        FetchLogRecord,
        FetchOutcome,
        NewFeed,
    )

    db = await Database.open(url)
    try:
        await upgrade(db)
        topic = await storage.upsert_topic(
            db, "us-iran", "U.S.–Iran relations", "Benchmark topic", "", now=NOW
        )
        per_feed = entries // FEEDS
        update = FeedUpdate(
            fetched_at=NOW,
            status=FeedStatus.OK,
            next_poll_at=NOW + timedelta(hours=1),
            poll_interval_s=3600,
            error_count=0,
            last_error=None,
            last_error_at=None,
            first_error_at=None,
            last_success_at=NOW,
            etag=None,
            last_modified=None,
            body_hash="b",
        )
        entry_ids: list[tuple[int, datetime]] = []
        for f in range(FEEDS):
            feed = await storage.add_feed(
                db, NewFeed(url=f"https://source{f}.example.test/feed.xml", title=f"Source {f}")
            )
            plan = EntryPlan(
                new=tuple(
                    EntryData(
                        identity=f"{f}-{i}",
                        guid=f"{f}-{i}",
                        url=f"https://source{f}.example.test/{i}",
                        title=f"Iran story {f}-{i}",
                        author="Reporter",
                        published_at=NOW - timedelta(minutes=i * FEEDS + f),
                        updated_at=None,
                        summary_html="<p>Lead paragraph of the story about Iran.</p>",
                        content_html=BODY_HTML,
                        content_hash=f"h{f}-{i}",
                    )
                    for i in range(per_feed)
                )
            )
            log = FetchLogRecord(
                feed_id=feed.id,
                started_at=NOW,
                outcome=FetchOutcome.OK,
                status=200,
                duration_s=0.0,
                bytes_read=0,
                new_entries=per_feed,
                updated_entries=0,
                error=None,
            )
            result = await storage.apply_poll(
                db, feed_id=feed.id, owner="bench", update=update, plan=plan, log=log, now=NOW
            )
            entry_ids.extend(
                (entry_id, NOW - timedelta(minutes=i * FEEDS + f))
                for i, entry_id in enumerate(result.new_entry_ids)
            )
        # Matches in bulk (the tagger would write them one entry at a time; untimed setup).
        rows = [
            {
                "entry_id": entry_id,
                "topic_id": topic.id,
                "score": 8.0,
                "explanation": {"fired": ["title:iran"], "score": 8.0},
                "origin": "rule",
                "state": "auto",
                "topic_version": 1,
                "matched_at": NOW,
                "fired_parts": ["title:iran"],
                "pin_rank": 0,
                "sort_at": published,
            }
            for entry_id, published in entry_ids
        ]
        async with db.transaction() as conn:
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(EntryTopicRow), rows[start : start + 5000])
    finally:
        await db.close()


# ---------------------------------------------------------------------------
# Server process


async def serve(url: str) -> None:
    from aggregator.storage import Database
    from web.app import create_app

    db = await Database.open(url)
    app = create_app(BenchSettings(), db, clock=lambda: NOW)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    # The same app with its render cache off: what every cache miss costs.
    uncached = web.AppRunner(
        create_app(BenchSettings(), db, clock=lambda: NOW, cache_ttl_s=0), access_log=None
    )
    await uncached.setup()
    await web.TCPSite(uncached, "127.0.0.1", 0).start()

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/topics/us-iran.atom") as response,
    ):
        body = await response.read()
        headers = {
            k: v
            for k, v in response.headers.items()
            if k in ("Content-Type", "ETag", "Last-Modified", "Cache-Control")
        }

    async def trivial(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    baseline = web.Application()
    baseline.router.add_get("/topics/us-iran.atom", trivial)
    baseline_runner = web.AppRunner(baseline, access_log=None)
    await baseline_runner.setup()
    await web.TCPSite(baseline_runner, "127.0.0.1", 0).start()
    ports = {
        "app": port,
        "uncached": uncached.addresses[0][1],
        "trivial": baseline_runner.addresses[0][1],
    }
    print(json.dumps({**ports, "bytes": len(body)}), flush=True)
    await asyncio.Event().wait()


# ---------------------------------------------------------------------------
# Load generator


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def load(
    name: str, url: str, requests: int, concurrency: int, headers: dict[str, str] | None = None
) -> Result:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    remaining = requests
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm up: connections open, caches as they would be in steady state.
        for _ in range(min(concurrency, 20)):
            async with session.get(url, headers=headers) as response:
                await response.read()

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Result(name, len(latencies), seconds, latencies, statuses)


ROUNDS = 3


async def measure(ports: dict[str, int], requests: int, concurrency: int) -> list[Result]:
    """Every case in ``ROUNDS`` interleaved rounds, so a shared machine's changing load hits
    the baseline and the app alike; a case's figures pool its rounds."""
    app = f"http://127.0.0.1:{ports['app']}"
    uncached = f"http://127.0.0.1:{ports['uncached']}"
    trivial = f"http://127.0.0.1:{ports['trivial']}/topics/us-iran.atom"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{app}/topics/us-iran.atom") as response,
    ):
        etag = response.headers["ETag"]
    per_round = max(1, requests // ROUNDS)
    slow = max(30, per_round // 10)
    cases: list[tuple[str, str, int, dict[str, str] | None]] = [
        ("trivial handler (baseline)", trivial, per_round, None),
        ("/topics/us-iran.atom (200, gzip)", f"{app}/topics/us-iran.atom", per_round, None),
        (
            "/topics/us-iran.atom (200, identity)",
            f"{app}/topics/us-iran.atom",
            per_round,
            {"Accept-Encoding": "identity"},
        ),
        (
            "/topics/us-iran.atom conditional (304)",
            f"{app}/topics/us-iran.atom",
            per_round,
            {"If-None-Match": etag},
        ),
        ("/topics/us-iran (HTML page)", f"{app}/topics/us-iran", per_round, None),
        ("/topics/us-iran.atom, cache off", f"{uncached}/topics/us-iran.atom", slow, None),
        ("/topics/us-iran, cache off", f"{uncached}/topics/us-iran", slow, None),
    ]
    pooled: dict[str, Result] = {}
    for _ in range(ROUNDS):
        for name, url, count, headers in cases:
            result = await load(name, url, count, concurrency, headers)
            if name not in pooled:
                pooled[name] = result
                continue
            total = pooled[name]
            total.requests += result.requests
            total.seconds += result.seconds
            total.latencies.extend(result.latencies)
            for status, n in result.statuses.items():
                total.statuses[status] = total.statuses.get(status, 0) + n
    return list(pooled.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.database))
        return
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        started = time.perf_counter()
        asyncio.run(build_database(url, args.entries))
        print(
            f"database: {args.entries} entries in topic us-iran, built in {time.perf_counter() - started:.1f} s"
        )
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--database", url],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        try:
            assert server.stdout is not None
            ports = json.loads(server.stdout.readline())
            print(
                f"Atom page: {ports['bytes']} bytes, 50 entries; {args.requests} requests per case "
                f"in {ROUNDS} interleaved rounds (cache-off cases: a tenth), "
                f"{args.concurrency} concurrent clients, server in its own process\n"
            )
            results = asyncio.run(measure(ports, args.requests, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=10)
    baseline = results[0].rps
    print(f"{'case':48} {'req/s':>8} {'x trivial':>10} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for result in results:
        print(
            f"{result.name:48} {result.rps:8.0f} {result.rps / baseline:10.2f} "
            f"{result.percentile(0.50):8.1f} {result.percentile(0.99):8.1f}  {result.statuses}"
        )


if __name__ == "__main__":
    main()
