"""Data safety: a writer killed with SIGKILL at any moment loses nothing it reported stored,
duplicates nothing, and leaves entries, fetch log and search index consistent."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import func, select, text

from aggregator import storage
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.storage.models import entries_table, fetch_log_table
from aggregator.types import NewFeed
from tests.conftest import REPO_ROOT
from tests.storage_helpers import NOW

# The child polls "rounds" forever: each round writes 20 new entries plus, as a stale plan
# would, the previous round's 20 again; it prints the ids after each commit.
WRITER = textwrap.dedent(
    """
    import asyncio, json, sys
    from aggregator import storage
    from aggregator.storage import Database
    from aggregator.types import EntryPlan
    from tests.storage_helpers import NOW, entry_data, ok_log, ok_update

    async def main(url, feed_id, start):
        db = await Database.open(url)
        round_no = start
        while True:
            plan = EntryPlan(new=tuple(
                entry_data(f"r{r}-{k}") for r in (round_no - 1, round_no) if r >= 0
                for k in range(20)
            ))
            result = await storage.apply_poll(
                db, feed_id=feed_id, owner="child", update=ok_update(), plan=plan,
                log=ok_log(feed_id), now=NOW,
            )
            print(json.dumps(result.new_entry_ids), flush=True)
            round_no += 1

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    """
)


def _run_and_kill(url: str, feed_id: int, start: int, rng: random.Random) -> list[int]:
    """Start a writer, let it commit a few rounds, SIGKILL it; return the ids it reported."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(feed_id), str(start)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert child.stdout is not None
    reported: list[int] = []
    try:
        for _ in range(rng.randint(1, 4)):
            line = child.stdout.readline()
            assert line, "writer died before committing"
            reported.extend(json.loads(line))
        time.sleep(rng.uniform(0, 0.03))  # land the kill somewhere inside the next round
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        # Lines written after our last read but before the kill were committed too.
        for line in child.stdout.read().splitlines():
            reported.extend(json.loads(line))
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    return reported


async def test_sigkill_mid_write_loses_and_duplicates_nothing(database_url: str) -> None:
    db = await Database.open(database_url)
    try:
        await upgrade(db)
        feed = await storage.add_feed(db, NewFeed("https://crash.example/feed"), now=NOW)
        rng = random.Random(7)
        reported: list[int] = []
        start = 0
        for _ in range(2):
            ids = await asyncio.to_thread(_run_and_kill, database_url, feed.id, start, rng)
            reported.extend(ids)
            start += 100  # each run writes fresh rounds (and repeats its first round's)

        async with db.read() as conn:
            stored = set((await conn.execute(select(entries_table.c.id))).scalars())
            identities = (
                await conn.execute(
                    select(entries_table.c.identity, func.count()).group_by(
                        entries_table.c.identity
                    )
                )
            ).all()
            logged_new = (
                await conn.execute(select(func.sum(fetch_log_table.c.new_entries)))
            ).scalar_one()
            if db.dialect == "sqlite":
                integrity = (await conn.execute(text("PRAGMA integrity_check"))).scalar_one()
                fts_rows = (
                    await conn.execute(text("SELECT count(*) FROM search_fts"))
                ).scalar_one()
    finally:
        await db.close()

    assert reported, "no round was committed before the kills"
    assert len(reported) == len(set(reported))  # never reported the same entry twice
    assert set(reported) <= stored  # everything reported stored is there
    assert all(count == 1 for _, count in identities)  # no duplicates
    # The fetch log and the entries were written together: their counts agree exactly.
    assert logged_new == len(stored)
    if db.dialect == "sqlite":
        assert integrity == "ok"
        assert fts_rows == len(stored)
