"""Support for the multi-worker and crash tests: run the real ``aggregator`` command as
subprocesses against a database and the feed farm, and read the tables with plain SQL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def aggregator_command() -> list[str]:
    """The console script of this checkout's environment (or ``python -m aggregator``)."""
    script = Path(sys.executable).with_name("aggregator")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "aggregator"]


def cli_env(database_url: str, opml_path: Path, **settings: str | int | float) -> dict[str, str]:
    """Environment for a subprocess: the test's database, loopback allowed, no articles."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update(
        {
            "AGGREGATOR_DATABASE_URL": database_url,
            "AGGREGATOR_AUTO_MIGRATE": "true",
            "AGGREGATOR_ALLOWED_NETWORKS": "127.0.0.1/32",
            "AGGREGATOR_IMPORT_OPML": str(opml_path),
            "AGGREGATOR_FETCH_ARTICLES": "false",
            "AGGREGATOR_LOG_FORMAT": "plain",
        }
    )
    env.update({f"AGGREGATOR_{name.upper()}": str(value) for name, value in settings.items()})
    return env


async def start(
    args: Sequence[str], env: dict[str, str], log_path: Path
) -> asyncio.subprocess.Process:
    """Start ``aggregator <args>`` with stdout and stderr going to ``log_path``."""
    log = log_path.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            *aggregator_command(), *args, env=env, stdout=log, stderr=log
        )
    finally:
        log.close()  # the child holds its own descriptor


async def run(
    args: Sequence[str], env: dict[str, str], log_path: Path, limit_s: float = 120
) -> str:
    """Run ``aggregator <args>`` to completion; its output, or AssertionError when it fails."""
    process = await start(args, env, log_path)
    code = await asyncio.wait_for(process.wait(), limit_s)
    output = read_log(log_path)
    assert code == 0, f"aggregator {' '.join(args)} exited {code}:\n{output[-3000:]}"
    return output


async def stop(process: asyncio.subprocess.Process, limit_s: float = 30) -> int:
    """SIGTERM, then wait for a graceful exit (SIGKILL only if it hangs, and say so)."""
    if process.returncode is None:
        process.terminate()
    try:
        return await asyncio.wait_for(process.wait(), limit_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"worker {process.pid} did not stop within {limit_s} s") from None


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _sqlite_path(database_url: str) -> str:
    return database_url.split(":///", 1)[1]


def _pg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a read-only SQL query on the SQLite file or PostgreSQL database of the URL."""
    if database_url.startswith("sqlite"):
        path = _sqlite_path(database_url)

        def read() -> list[tuple[Any, ...]]:
            # A fresh read connection each time: never holds a lock across the child's writes.
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                return [tuple(row) for row in conn.execute(sql).fetchall()]
            finally:
                conn.close()

        return await asyncio.to_thread(read)
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(database_url))
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def scalar(database_url: str, sql: str) -> Any:
    rows = await query(database_url, sql)
    return rows[0][0]


def sqlite_pragma(database_url: str, pragma: str) -> str:
    """``PRAGMA integrity_check``, ``PRAGMA journal_mode`` ... of the SQLite file."""
    conn = sqlite3.connect(_sqlite_path(database_url))
    try:
        return str(conn.execute(f"PRAGMA {pragma}").fetchone()[0])
    finally:
        conn.close()


async def stored_entries(database_url: str) -> list[tuple[str, str]]:
    """(feed URL, entry identity) of every stored entry, duplicates kept."""
    rows = await query(
        database_url,
        "SELECT feeds.url, entries.identity FROM entries JOIN feeds ON feeds.id = entries.feed_id",
    )
    return [(str(url), str(identity)) for url, identity in rows]


async def duplicate_entries(database_url: str) -> list[tuple[Any, ...]]:
    return await query(
        database_url,
        "SELECT feed_id, identity, count(*) FROM entries GROUP BY feed_id, identity "
        "HAVING count(*) > 1",
    )


async def fetch_log_counts(database_url: str) -> dict[str, int]:
    """Fetch-log rows per feed URL."""
    rows = await query(
        database_url,
        "SELECT feeds.url, count(fetch_log.id) FROM feeds "
        "LEFT JOIN fetch_log ON fetch_log.feed_id = feeds.id GROUP BY feeds.url",
    )
    return {str(url): int(count) for url, count in rows}


async def live_leases(database_url: str) -> int:
    """Feeds whose lease has not expired yet."""
    rows = await query(database_url, "SELECT lease_expires_at FROM feeds")
    now = datetime.now(UTC)
    return sum(1 for (expires,) in rows if expires is not None and _as_utc(expires) > now)


def _as_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def wait_for(
    condition_sql: str, database_url: str, predicate: Any, *, limit_s: float, poll_s: float = 0.25
) -> Any:
    """Poll ``condition_sql`` until ``predicate(value)`` holds; the last value, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    value: Any = None
    while loop.time() < deadline:
        try:
            value = await scalar(database_url, condition_sql)
        except (sqlite3.OperationalError, OSError) as exc:  # table not created yet
            value = exc
        else:
            if predicate(value):
                return value
        await asyncio.sleep(poll_s)
    raise AssertionError(f"gave up after {limit_s} s waiting on {condition_sql!r}: last {value!r}")
