"""A database that goes away and comes back: the web view answers 503 (not a traceback)
while it is down and serves again without a restart; the scheduler backs off and recovers.
PostgreSQL connections are cut with pg_terminate_backend, as a server restart would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from aggregator import storage
from aggregator.config import load_settings
from aggregator.scheduler import retry_delay_s
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.tagging import load_default_topics
from web.app import create_app

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:9/nothing-listens-here"


def test_retry_delay_doubles_from_the_tick_and_is_capped() -> None:
    assert [retry_delay_s(n, 30) for n in (1, 2, 3, 4, 5, 6, 10)] == [
        30,
        60,
        120,
        240,
        300,
        300,
        300,
    ]
    assert retry_delay_s(1, 600) == 600  # never shorter than one tick


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    db = await Database.open(postgres_url)
    await upgrade(db)
    for t in load_default_topics():
        await storage.upsert_topic(db, t.slug, t.name, t.description, t.definition)
    try:
        yield db
    finally:
        await db.close()


async def cut_connections(url: str) -> int:
    """Terminate every server connection to the database of ``url`` (as a restart does)."""
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    return len(rows)


async def test_web_view_survives_a_postgresql_restart(pg: Database, postgres_url: str) -> None:
    settings = load_settings(env={}, overrides={"database_url": postgres_url})
    client = TestClient(TestServer(create_app(settings, pg, cache_ttl_s=0)))
    await client.start_server()
    try:
        assert (await client.get("/topics/us-iran.atom")).status == 200
        assert await cut_connections(postgres_url) >= 1
        # The pool notices dead connections (pre-ping) and reconnects: no restart needed.
        for path in ("/topics/us-iran.atom", "/", "/sources"):
            response = await client.get(path)
            assert response.status == 200, (path, await response.text())
    finally:
        await client.close()


async def test_web_view_says_the_database_is_down(tmp_path: Path) -> None:
    down = await Database.open(UNREACHABLE)
    client = TestClient(TestServer(create_app(load_settings(env={}), down, cache_ttl_s=0)))
    await client.start_server()
    try:
        page = await client.get("/topics/us-iran")
        assert page.status == 503
        assert page.headers["Retry-After"] == "30"
        text = await page.text()
        assert "database is not answering" in text and "Traceback" not in text
        feed = await client.get("/topics/us-iran.atom")
        assert feed.status == 503 and "database is not answering" in await feed.text()
    finally:
        await client.close()
        await down.close()


async def test_storage_calls_recover_after_connections_are_cut(
    pg: Database, postgres_url: str
) -> None:
    before = await storage.list_topics(pg)
    await cut_connections(postgres_url)
    assert await storage.list_topics(pg) == before
    await storage.record_tick(pg, "w1", datetime.now(UTC))
    assert await storage.last_tick(pg) is not None
