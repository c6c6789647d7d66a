"""Crashes and data safety (issue 7): SIGKILL ``aggregator fetch`` mid-cycle, repeatedly.

Each feed's result is one transaction, so after any kill the database is consistent: no
entry duplicated, no entry that was committed ever lost, and no feed whose validators (ETag)
were stored without its entries (a later 304 would then hide those entries forever).
Restarted to completion, every entry the farm served is stored exactly once.
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest

from benchmarks.farm import FeedFarm
from tests import worker_processes as wp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FEEDS = 60
KILLS = 5
LEASE_S = 10
# A killed pass keeps its leases (its feeds in flight and those claimed but not started)
# until they lapse: the next pass starts once at least this many feeds are free again.
MIN_FREE_FEEDS = 20
FETCH_ALL = ["fetch", "--once", "--all", "--skip-articles"]


async def _kill_mid_cycle(
    database_url: str, env: dict[str, str], log_path: Path, rng: random.Random
) -> None:
    """Start a full pass and SIGKILL it once it has stored a random share of the feeds.

    The share is at most half of the feeds no earlier pass still holds, and answers take
    0.2 s on 4 connections: the other half takes longer than the extra random moment, so
    the kill always lands inside the pass.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LEASE_S + 30
    while (free := FEEDS - await wp.live_leases(database_url)) < MIN_FREE_FEEDS:
        assert loop.time() < deadline, "leases of killed passes never expired"
        await asyncio.sleep(0.5)
    done_before = await wp.scalar(database_url, "SELECT count(*) FROM fetch_log")
    target = done_before + rng.randint(1, free // 2)
    process = await wp.start(FETCH_ALL, env, log_path)
    try:
        deadline = loop.time() + 60
        while loop.time() < deadline and process.returncode is None:
            if await wp.scalar(database_url, "SELECT count(*) FROM fetch_log") >= target:
                break
            await asyncio.sleep(0.02)
        # A random extra moment, so kills land inside fetches, parses and commits alike.
        await asyncio.sleep(rng.uniform(0, 0.3))
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL, (
        f"the pass ended ({process.returncode}) before it could be killed:\n"
        + wp.read_log(log_path)[-2000:]
    )


async def _assert_consistent(
    database_url: str, committed: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Check the invariants after a crash; the stored entries, for the next comparison."""
    if database_url.startswith("sqlite"):
        assert wp.sqlite_pragma(database_url, "integrity_check") == "ok"
        # WAL is what makes a killed writer harmless (issue 7); the mode is stored in the file.
        assert wp.sqlite_pragma(database_url, "journal_mode") == "wal"
    assert await wp.duplicate_entries(database_url) == []
    stored_list = await wp.stored_entries(database_url)
    stored = set(stored_list)
    assert len(stored) == len(stored_list)
    lost = committed - stored
    assert not lost, f"{len(lost)} committed entries disappeared, e.g. {sorted(lost)[:3]}"
    # A feed whose ETag was stored must have its entries: the ETag and the entries of one
    # fetch are committed together or not at all.
    partial = await wp.query(
        database_url,
        "SELECT feeds.url, count(entries.id) FROM feeds "
        "LEFT JOIN entries ON entries.feed_id = feeds.id "
        "WHERE feeds.etag IS NOT NULL GROUP BY feeds.url HAVING count(entries.id) < 20",
    )
    assert partial == [], f"feeds with validators stored but entries missing: {partial[:5]}"
    return stored


async def test_fetch_killed_repeatedly_loses_and_duplicates_nothing(
    database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(7)  # reproducible kill moments
    async with FeedFarm(FEEDS, latency_s=0.2, new_per_mutation=3) as farm:
        opml_path = tmp_path / "farm.opml"
        opml_path.write_bytes(farm.opml_bytes())
        env = wp.cli_env(
            database_url,
            opml_path,
            max_per_host=4,
            poll_concurrency=4,
            claim_batch=10,
            lease_s=LEASE_S,
        )
        # Schema and subscriptions first: the kills below target the poll cycle itself.
        await wp.run(["opml", "import", str(opml_path)], env, tmp_path / "import.log")
        committed: set[tuple[str, str]] = set()
        for kill in range(KILLS):
            if kill == 2:
                farm.mutate(0.25)  # new entries appear while the crashes go on
            await _kill_mid_cycle(database_url, env, tmp_path / f"kill-{kill}.log", rng)
            committed = await _assert_consistent(database_url, committed)
        # The killed passes' leases must lapse before a new pass may claim those feeds.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LEASE_S + 30
        while await wp.live_leases(database_url):
            assert loop.time() < deadline, "leases of killed passes never expired"
            await asyncio.sleep(0.5)
        output = await wp.run(FETCH_ALL, env, tmp_path / "final.log")
        assert f"polled {FEEDS} feeds" in output
        assert " 0 errors" in output

        stored = await _assert_consistent(database_url, committed)
        expected = {(farm.url(i), farm.guid(i, s)) for i in range(FEEDS) for s in farm.serials(i)}
        # Feeds mutated before any pass fetched them show only their current window; the
        # entries that slid out of it before the poller saw them cannot be expected.
        missing = expected - stored
        unseen_window = {
            (farm.url(i), farm.guid(i, s))
            for i in range(FEEDS)
            for s in farm.serials(i)
            if farm.guid(i, s) not in farm.current_guids(i)
        }
        assert missing <= unseen_window
        current = {(farm.url(i), guid) for i in range(FEEDS) for guid in farm.current_guids(i)}
        assert current <= stored
        assert stored <= expected
