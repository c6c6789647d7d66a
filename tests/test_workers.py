"""CPU-bound work in worker processes: results and expected errors cross the process
boundary intact, a worker that dies costs one document, not the pool, and a document past
the CPU-time limit is stopped (Python code by a timer, a long C call by the kernel)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import pytest

from aggregator.errors import CpuLimitError, ParseError
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


async def test_start_readies_every_worker_before_the_first_document() -> None:
    pool = CpuPool(2)
    try:
        pids = await pool.start()
        assert len(pids) == 2 and os.getpid() not in pids
        # The documents then run in those same workers: none is started on demand.
        answers = await asyncio.gather(*(pool.run(os.getpid) for _ in range(6)))
        assert set(answers) <= set(pids)
    finally:
        pool.close()
    assert await CpuPool(1).start() == []  # threads: nothing to start


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


# ---------------------------------------------------------------------- CPU-time limit

LIMIT_S = 0.3


def spin(seconds: float) -> str:
    """Pure Python that burns ``seconds`` of CPU, swallowing every ordinary exception the
    way a careless library would."""
    import contextlib
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        with contextlib.suppress(Exception):
            sum(i * i for i in range(1000))
    return "done"


def spin_in_c(seconds: float) -> str:
    """One C call that does not come back to Python for ``seconds`` or so."""
    import hashlib

    hashlib.pbkdf2_hmac("sha256", b"x", b"salt", int(seconds * 5_000_000))
    return "done"


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_task_past_the_cpu_limit_is_stopped_and_the_pool_goes_on(workers: int) -> None:
    import time

    pool = CpuPool(workers, cpu_limit_s=LIMIT_S)
    try:
        assert await pool.run(spin, 0.01) == "done"  # starts the workers
        started = time.monotonic()
        with pytest.raises(CpuLimitError) as info:
            await pool.run(spin, 60)
        took = time.monotonic() - started
        assert took < 30, took  # stopped near the limit, not after the 60 s of work
        assert str(info.value) == (
            "processing the document took longer than 0.3 s of CPU; the document was skipped"
        )
        assert info.value.limit_s == LIMIT_S
        # The same workers take the next documents.
        assert await pool.run(spin, 0.01) == "done"
        feed = await pool.run(parse_feed, RSS, "https://x.example/feed", now=NOW)
        assert len(feed.entries) == 1
        results = await asyncio.gather(*(pool.run(spin, 0.05) for _ in range(4)))
        assert results == ["done"] * 4
    finally:
        pool.close()


async def test_parsing_past_the_limit_names_parsing() -> None:
    items = "".join(
        f"<item><title>t{i}</title><guid>g{i}</guid><description>&lt;p&gt;x&lt;/p&gt;"
        "</description></item>"
        for i in range(40_000)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}'
    pool = CpuPool(2, cpu_limit_s=0.1)
    try:
        with pytest.raises(CpuLimitError, match=r"^parsing took longer than 0\.1 s of CPU"):
            await pool.run(parse_feed, (body + "</channel></rss>").encode(), "https://x/f", now=NOW)
    finally:
        pool.close()


async def test_no_limit_when_it_is_zero() -> None:
    pool = CpuPool(2, cpu_limit_s=0)
    try:
        assert await pool.run(spin, 0.5) == "done"
    finally:
        pool.close()


async def test_a_worker_stuck_in_c_is_ended_by_the_kernel_and_the_pool_restarts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A signal handler cannot run inside one long C call; RLIMIT_CPU ends the worker at
    # about HARD_FACTOR * limit + HARD_SLACK_S seconds of CPU instead of after the ~60 s.
    import time

    pool = CpuPool(2, cpu_limit_s=LIMIT_S)
    try:
        assert await pool.run(spin, 0.01) == "done"
        started = time.monotonic()
        with pytest.raises(WorkerCrashedError):
            await asyncio.wait_for(pool.run(spin_in_c, 60), timeout=45)
        assert time.monotonic() - started < 30
        assert "SIGXCPU" in caplog.text
        assert await pool.run(spin, 0.01) == "done"
        assert await pool.run(spin_in_c, 0.01) == "done"  # short C calls are fine
    finally:
        pool.close()


def test_cpu_limit_errors_cross_the_process_boundary() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(CpuLimitError("parsing", 10.0)))
    assert isinstance(error, CpuLimitError)
    assert str(error) == "parsing took longer than 10 s of CPU; the document was skipped"
