"""Operations: the scheduler tick, /healthz and /metrics, retention by the maintenance job,
graceful shutdown of a worker on SIGTERM, and the offline demo end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from aggregator import storage
from aggregator.scheduler import Scheduler
from aggregator.types import MatchState
from tests.fixture_site import FIXTURE_ALLOWED_NETWORKS, FixtureSite, rss_feed
from tests.pipeline_support import PipelineEnv, pipeline_env
from web.app import create_app
from web.ops import add_ops_routes

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[PipelineEnv]:
    async for value in pipeline_env(tmp_path, poll_tick_s=30, retention_days=30):
        yield value


async def ops_client(env: PipelineEnv) -> TestClient:  # type: ignore[type-arg]
    app = create_app(env.settings, env.db)
    add_ops_routes(app, db=env.db, metrics=env.pipeline.metrics, tick_interval_s=30)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_health_needs_a_recent_tick_and_metrics_count_fetches(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    fixture_site.add_feed("/feed.xml", rss_feed("F", [{"title": "A", "guid": "a"}]))
    fixture_site.add_status("/err.xml", 503, headers={"Retry-After": "60"})
    await env.subscribe(fixture_site.url("/feed.xml"))
    await env.subscribe(fixture_site.url("/err.xml"))
    client = await ops_client(env)
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        body = await response.json()
        assert body["checks"]["database"] == "ok"
        assert "no scheduler tick" in body["reason"]

        scheduler = Scheduler(env.pipeline)
        await scheduler.tick()  # records the tick, polls the due feeds
        response = await client.get("/healthz")
        assert response.status == 200, await response.text()
        assert (await response.json())["status"] == "ok"

        metrics = await (await client.get("/metrics")).text()
        assert 'aggregator_fetches_total{outcome="ok",status="200"} 1.0' in metrics
        assert 'aggregator_fetches_total{outcome="error",status="503"} 1.0' in metrics
        assert "aggregator_entries_stored_total" in metrics
        assert "aggregator_due_feeds 0.0" in metrics
        assert "aggregator_scheduler_ticks_total 1.0" in metrics
        assert "aggregator_web_request_duration_seconds_bucket" in metrics

    finally:
        await client.close()


UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:9/nothing-listens-here"


async def test_health_reports_an_unreachable_database(env: PipelineEnv) -> None:
    down = await storage.Database.open(UNREACHABLE_DATABASE)
    app = create_app(env.settings, down)
    add_ops_routes(app, db=down, metrics=env.pipeline.metrics, tick_interval_s=30)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        body = await response.json()
        assert body["checks"]["database"] == "unreachable"
        assert body["reason"].startswith("database unreachable")
    finally:
        await client.close()
        await down.close()


async def test_a_failing_tick_is_logged_and_the_next_one_recovers(
    env: PipelineEnv, fixture_site: FixtureSite, caplog: pytest.LogCaptureFixture
) -> None:
    fixture_site.add_feed("/feed.xml", rss_feed("F", [{"title": "A", "guid": "a"}]))
    await env.subscribe(fixture_site.url("/feed.xml"))
    scheduler = Scheduler(env.pipeline)
    real_db = env.pipeline.db
    broken = await storage.Database.open(UNREACHABLE_DATABASE)
    env.pipeline.db = broken  # the database is down
    await scheduler.tick()
    assert scheduler.consecutive_db_failures == 1
    assert "tick failed" in caplog.text
    await broken.close()
    env.pipeline.db = real_db  # ... and back
    await scheduler.tick()  # still backing off: nothing happens
    assert await storage.last_tick(real_db) is None
    env.clock.advance(seconds=31)
    await scheduler.tick()  # the next attempt recovers without a restart
    assert scheduler.consecutive_db_failures == 0
    assert await storage.last_tick(real_db) is not None


async def test_maintenance_prunes_old_entries_but_keeps_pinned_ones(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    items = [
        {"title": "Old", "guid": "old", "pubDate": "Mon, 01 Jan 2024 00:00:00 GMT"},
        {"title": "Old pinned", "guid": "pinned", "pubDate": "Mon, 01 Jan 2024 00:00:00 GMT"},
    ]
    fixture_site.add_feed("/feed.xml", rss_feed("F", items))
    feed_id = await env.subscribe(fixture_site.url("/feed.xml"))
    await env.pipeline.run_once(skip_articles=True)
    entries = {e.identity: e for e in await storage.recent_entries(env.db, 10, feed_id=feed_id)}
    await storage.set_decision(
        env.db, entries["pinned"].id, "us-iran", MatchState.PINNED, "ed", env.clock()
    )
    env.clock.advance(days=60)
    await Scheduler(env.pipeline).maintenance()
    left = {e.identity for e in await storage.recent_entries(env.db, 10, feed_id=feed_id)}
    assert left == {"pinned"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(url: str, predicate: Callable[[str], bool], limit_s: float = 60.0) -> str:
    deadline = asyncio.get_running_loop().time() + limit_s
    last = ""
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(url) as response:
                    last = await response.text()
                    if response.status == 200 and predicate(last):
                        return last
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise AssertionError(f"{url} never satisfied the check; last answer: {last[:500]}")


async def test_worker_shuts_down_gracefully_on_sigterm_and_releases_leases(
    tmp_path: Path, fixture_site: FixtureSite
) -> None:
    fixture_site.add_slow("/slow.xml", rss_feed("Slow", [{"title": "A", "guid": "a"}]), delay_s=3)
    database = tmp_path / "worker.sqlite3"
    env = {
        **os.environ,
        "AGGREGATOR_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "AGGREGATOR_AUTO_MIGRATE": "true",
        "AGGREGATOR_IMPORT_OPML": "",
        "AGGREGATOR_ALLOWED_NETWORKS": FIXTURE_ALLOWED_NETWORKS,
        "AGGREGATOR_POLL_TICK_S": "1",
    }
    add = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aggregator",
        "feeds",
        "add",
        fixture_site.url("/slow.xml"),
        "--no-discover",
        env=env,
        cwd=REPO,
    )
    assert await add.wait() == 0
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aggregator",
        "worker",
        env=env,
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(300):  # wait until the slow feed is being fetched
            if fixture_site.hits("/slow.xml"):
                break
            await asyncio.sleep(0.1)
        assert fixture_site.hits("/slow.xml") == 1
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(worker.wait(), timeout=60)
    finally:
        if worker.returncode is None:
            worker.kill()
    assert worker.stderr is not None
    err = (await worker.stderr.read()).decode()
    assert code == 0, err
    assert "Traceback" not in err and "shutting down" in err
    with sqlite3.connect(database) as conn:
        lease, status, entries = conn.execute(
            "SELECT lease_owner, status, (SELECT count(*) FROM entries) FROM feeds"
        ).fetchone()
    assert lease is None  # released, not left to expire
    assert (status, entries) == ("ok", 1)  # the feed in flight was finished, not lost


async def test_demo_fills_the_topic_feeds_offline(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "AGGREGATOR_IMPORT_OPML": ""}
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aggregator",
        "demo",
        "--port",
        str(port),
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        text = await wait_for(
            f"{base}/topics/us-iran.json",
            lambda body: "Trump" in body and "Iran" in body and len(json.loads(body)["items"]) >= 3,
            limit_s=90,
        )
        titles = [item["title"] for item in json.loads(text)["items"]]
        assert any("letter" in t.lower() for t in titles), titles  # the founding example
        sanctions = await wait_for(
            f"{base}/topics/sanctions.json", lambda body: len(json.loads(body)["items"]) >= 3
        )
        assert "league" not in sanctions.lower()  # the club "sanctioned" by its league is not
        health = await wait_for(f"{base}/healthz", lambda body: '"ok"' in body)
        assert json.loads(health)["status"] == "ok"
    finally:
        demo.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(demo.wait(), timeout=60)
    assert demo.stderr is not None
    err = (await demo.stderr.read()).decode()
    assert code == 0 and "Traceback" not in err, err
    assert (tmp_path / "db" / "demo.sqlite3").exists()
