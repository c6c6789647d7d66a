"""SQLite group commit: concurrent writes share transactions, each in its own savepoint,
so a failing write rolls back alone and every write reported done is durable."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from aggregator.storage import Database


def insert(conn: Connection, key: str, fail: bool = False) -> str:
    conn.execute(text("INSERT INTO kv (k) VALUES (:k)"), {"k": key})
    if fail:
        raise ValueError(f"write {key} fails after inserting")
    return key


async def test_concurrent_writes_commit_together_and_fail_alone(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY)")
    db = await Database.open(f"sqlite+aiosqlite:///{path}")
    try:
        keys = [f"k{i}" for i in range(200)]
        results = await asyncio.gather(
            *(db.write(insert, key, fail=(i % 17 == 0)) for i, key in enumerate(keys)),
            return_exceptions=True,
        )
        failed = {keys[i] for i, r in enumerate(results) if isinstance(r, ValueError)}
        assert failed == {k for i, k in enumerate(keys) if i % 17 == 0}
        assert [r for r in results if not isinstance(r, Exception)] == [
            k for k in keys if k not in failed
        ]
        # A duplicate key fails that write only.
        with pytest.raises(Exception, match="UNIQUE"):
            await db.write(insert, "k1")
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:
        stored = {row[0] for row in conn.execute("SELECT k FROM kv")}
    assert stored == set(keys) - failed  # every write reported done is there; no failed one


async def test_merged_writes_share_calls_and_a_failing_item_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY)")
    calls: list[int] = []

    def insert_many(conn: Connection, keys: list[str]) -> list[str]:
        calls.append(len(keys))
        conn.execute(text("INSERT INTO kv (k) VALUES (:k)"), [{"k": key} for key in keys])
        if any(key.endswith("!") for key in keys):
            raise ValueError("a key ending in ! fails after inserting")
        return [key.upper() for key in keys]

    db = await Database.open(f"sqlite+aiosqlite:///{path}")
    try:
        keys = [f"k{i}!" if i % 100 == 37 else f"k{i}" for i in range(300)]
        results = await asyncio.gather(
            *(db.write_merged(insert_many, key) for key in keys), return_exceptions=True
        )
    finally:
        await db.close()
    # Each caller gets its own item's result, or its own failure.
    for key, result in zip(keys, results, strict=True):
        if key.endswith("!"):
            assert isinstance(result, ValueError)
        else:
            assert result == key.upper()
    assert max(calls) > 1  # writes queued together went to one call ...
    # ... and only the items of the (at most three) failed calls, of up to 64, ran again.
    assert sum(calls) - len(keys) <= 3 * 64
    with sqlite3.connect(path) as conn:
        stored = {row[0] for row in conn.execute("SELECT k FROM kv")}
    assert stored == {key for key in keys if not key.endswith("!")}


async def test_merged_write_must_return_one_result_per_item(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    sqlite3.connect(path).close()
    db = await Database.open(f"sqlite+aiosqlite:///{path}")

    def no_results(conn: Connection, items: list[int]) -> list[int]:
        return []

    try:
        with pytest.raises(RuntimeError, match="no_results returned 0 results for 1 items"):
            await db.write_merged(no_results, 1)
    finally:
        await db.close()
