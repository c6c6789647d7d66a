"""Several ``aggregator worker`` processes share one PostgreSQL database (issue 3, Tests).

Three real worker processes poll 300 farm feeds. Leases must make each feed fetched exactly
once in the cycle and every entry stored once; a worker killed with SIGKILL mid-cycle must
lose nothing: its leases expire and the other workers take its feeds over.
"""

from __future__ import annotations

import asyncio
import collections
import signal
from pathlib import Path

import pytest

from benchmarks.farm import FeedFarm
from tests import worker_processes as wp

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]

FEEDS = 300
# Few entries per feed: workers tag every new entry, and that, not fetching, is what costs
# time here; the exactly-once properties do not depend on the count.
ENTRIES_PER_FEED = 3


async def _start_workers(
    count: int, env: dict[str, str], tmp_path: Path
) -> list[asyncio.subprocess.Process]:
    workers = []
    for number in range(count):
        worker_env = {**env, "AGGREGATOR_WORKER_ID": f"worker-{number}"}
        workers.append(await wp.start(["worker"], worker_env, tmp_path / f"worker-{number}.log"))
    return workers


def _logs(tmp_path: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
        for log in sorted(tmp_path.glob("*.log"))
    )


async def _assert_everything_stored_once(farm: FeedFarm, url: str) -> None:
    duplicates = await wp.duplicate_entries(url)
    assert duplicates == [], f"entries stored twice: {duplicates[:5]}"
    stored = await wp.stored_entries(url)
    assert len(stored) == FEEDS * ENTRIES_PER_FEED
    expected = {(farm.url(i), guid) for i in range(FEEDS) for guid in farm.current_guids(i)}
    assert set(stored) == expected


async def _prepare(
    farm: FeedFarm, postgres_url: str, tmp_path: Path, **settings: str | int | float
) -> dict[str, str]:
    opml_path = tmp_path / "farm.opml"
    opml_path.write_bytes(farm.opml_bytes())
    env = wp.cli_env(postgres_url, opml_path, poll_tick_s=1, max_per_host=16, **settings)
    # Schema and subscriptions first, so the workers start on an identical database.
    await wp.run(["opml", "import", str(opml_path)], env, tmp_path / "import.log")
    assert await wp.scalar(postgres_url, "SELECT count(*) FROM feeds") == FEEDS
    return env


async def test_three_workers_fetch_each_feed_exactly_once(
    postgres_url: str, tmp_path: Path
) -> None:
    async with FeedFarm(FEEDS, latency_s=0.02, entries_per_feed=ENTRIES_PER_FEED) as farm:
        # Small claim batches so all three workers get a share of the cycle.
        env = await _prepare(farm, postgres_url, tmp_path, claim_batch=10, poll_concurrency=8)
        workers = await _start_workers(3, env, tmp_path)
        try:
            await wp.wait_for(
                "SELECT count(DISTINCT feed_id) FROM fetch_log",
                postgres_url,
                lambda n: n == FEEDS,
                limit_s=90,
            )
            # Two more ticks: a lease bug would show up as a second fetch of some feed here.
            await asyncio.sleep(2.5)
        finally:
            codes = [await wp.stop(worker) for worker in workers]
        assert codes == [0, 0, 0], _logs(tmp_path)

        stats = farm.stats()
        twice = [i for i, n in enumerate(stats.requests) if n != 1]
        assert twice == [], f"feeds not fetched exactly once: {twice[:10]}"
        log_counts = await wp.fetch_log_counts(postgres_url)
        assert sorted(set(log_counts.values())) == [1]
        assert len(log_counts) == FEEDS
        await _assert_everything_stored_once(farm, postgres_url)
        # A graceful stop hands every lease back.
        assert (
            await wp.scalar(
                postgres_url, "SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL"
            )
            == 0
        )


async def test_worker_killed_mid_cycle_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    lease_s = 10
    async with FeedFarm(FEEDS, latency_s=0.1, entries_per_feed=ENTRIES_PER_FEED) as farm:
        env = await _prepare(
            farm, postgres_url, tmp_path, claim_batch=20, poll_concurrency=10, lease_s=lease_s
        )
        workers = await _start_workers(3, env, tmp_path)
        victim = workers[0]
        try:
            # Mid-cycle: some feeds done, and the victim holding leases on feeds not done yet.
            await wp.wait_for(
                "SELECT count(DISTINCT feed_id) FROM fetch_log",
                postgres_url,
                lambda n: n >= FEEDS // 4,
                limit_s=90,
                poll_s=0.05,
            )
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            orphaned = await wp.query(
                postgres_url,
                "SELECT url FROM feeds WHERE lease_owner = 'worker-0' "
                "AND id NOT IN (SELECT feed_id FROM fetch_log)",
            )
            await wp.wait_for(
                "SELECT count(DISTINCT feed_id) FROM fetch_log",
                postgres_url,
                lambda n: n == FEEDS,
                limit_s=lease_s + 60,
            )
            await asyncio.sleep(2.5)
        finally:
            survivors = [await wp.stop(worker) for worker in workers[1:]]
        assert survivors == [0, 0], _logs(tmp_path)
        assert victim.returncode == -signal.SIGKILL

        # The kill happened with feeds in flight, so the takeover was really exercised.
        assert orphaned, "the killed worker held no unfinished lease: the test proved nothing"
        stats = farm.stats()
        assert all(n >= 1 for n in stats.requests)
        # Only feeds the victim had in flight may have been requested twice.
        refetched = {farm.url(i) for i, n in enumerate(stats.requests) if n > 1}
        assert refetched <= {str(url) for (url,) in orphaned}
        # Each feed's result is one transaction: the killed fetches left no log row behind.
        log_counts = await wp.fetch_log_counts(postgres_url)
        assert collections.Counter(log_counts.values()) == {1: FEEDS}
        await _assert_everything_stored_once(farm, postgres_url)
