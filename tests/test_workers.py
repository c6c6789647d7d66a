"""CPU-bound work in worker processes: results and expected errors cross the process
boundary intact, and a worker that dies costs one document, not the pool."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from aggregator.errors import ParseError
from aggregator.parse import parse_feed
from aggregator.workers import CpuPool, WorkerCrashedError, auto_workers

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>One</title><guid>1</guid><link>https://x.example/1</link></item></channel></rss>"""


def die() -> None:
    os._exit(3)  # a worker killed by the OOM killer or a crash in C looks like this


def test_auto_workers() -> None:
    assert auto_workers(3) == 3
    assert 1 <= auto_workers(0) <= 4


@pytest.mark.parametrize("workers", [1, 2])
async def test_results_and_parse_errors_cross_the_boundary(workers: int) -> None:
    pool = CpuPool(workers)
    try:
        feed = await pool.run(parse_feed, RSS, "https://x.example/feed", now=NOW)
        assert [e.title for e in feed.entries] == ["One"]
        with pytest.raises(ParseError) as info:
            await pool.run(
                parse_feed, b"<html><body>hi</body></html>", "https://x.example/p", now=NOW
            )
        assert info.value.url == "https://x.example/p"
        assert "\n" not in info.value.message and info.value.message
    finally:
        pool.close()


async def test_a_dead_worker_fails_one_call_and_the_pool_recovers() -> None:
    pool = CpuPool(2)
    try:
        with pytest.raises(WorkerCrashedError):
            await pool.run(die)
        feed = await pool.run(parse_feed, RSS, "https://x.example/feed", now=NOW)
        assert len(feed.entries) == 1
    finally:
        pool.close()


OWNER = """
import asyncio, sys
from datetime import UTC, datetime
from aggregator.parse import parse_feed
from aggregator.workers import CpuPool

async def main():
    pool = CpuPool(2)
    await asyncio.gather(*(pool.run(parse_feed, sys.argv[1].encode(), "https://x.example/f",
                                    now=datetime.now(UTC)) for _ in range(4)))
    print("ready", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_workers_leave_when_their_owner_is_killed() -> None:
    import subprocess
    import sys

    import psutil

    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, RSS.decode()], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        helpers = psutil.Process(owner.pid).children(recursive=True)
        assert helpers  # the forkserver and the workers
        owner.kill()  # SIGKILL: no chance to shut the pool down
        owner.wait()
        _, alive = psutil.wait_procs(helpers, timeout=15)
        assert alive == [], [p.cmdline()[-1][:60] for p in alive]
    finally:
        if owner.poll() is None:
            owner.kill()
