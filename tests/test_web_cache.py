"""The render cache: curator changes are never served stale, other writers' changes show
after the TTL without readers waiting, concurrent misses render once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from aggregator import storage
from aggregator.publish import entry_id_uri
from aggregator.storage import Database
from aggregator.types import MatchState
from tests.web_support import NOW, Seeded, WebTestSettings, open_seeded_copy, sign_in
from web.app import create_app
from web.cache import RenderCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Producer:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> int:
        self.calls += 1
        await self.release.wait()
        return self.calls


async def settle(cache: RenderCache) -> None:
    while cache._refreshing:
        await asyncio.gather(*cache._refreshing)


async def test_fresh_entries_are_served_from_the_cache() -> None:
    clock, produce = FakeClock(), Producer()
    cache = RenderCache(2.0, clock=clock)
    assert await cache.get("k", produce) == 1
    assert await cache.get("k", produce) == 1
    assert produce.calls == 1 and cache.hits == 1


async def test_invalidate_means_the_next_request_renders_again() -> None:
    clock, produce = FakeClock(), Producer()
    cache = RenderCache(60.0, clock=clock)
    await cache.get("k", produce)
    cache.invalidate()
    assert await cache.get("k", produce) == 2


async def test_stale_entry_is_served_once_while_it_is_refreshed() -> None:
    clock, produce = FakeClock(), Producer()
    cache = RenderCache(2.0, clock=clock)
    await cache.get("k", produce)
    clock.now += 5
    assert await cache.get("k", produce) == 1  # stale, but nobody waits for the render
    await settle(cache)
    assert await cache.get("k", produce) == 2


async def test_concurrent_misses_render_once() -> None:
    produce = Producer()
    produce.release.clear()
    cache = RenderCache(2.0, clock=FakeClock())
    waiting = [asyncio.ensure_future(cache.get("k", produce)) for _ in range(10)]
    await asyncio.sleep(0)
    produce.release.set()
    assert await asyncio.gather(*waiting) == [1] * 10
    assert produce.calls == 1


async def test_a_render_overtaken_by_a_change_is_not_kept() -> None:
    produce = Producer()
    produce.release.clear()
    cache = RenderCache(60.0, clock=FakeClock())
    started = asyncio.ensure_future(cache.get("k", produce))
    await asyncio.sleep(0)
    cache.invalidate()  # a curator's change lands while the old state is being rendered
    produce.release.set()
    assert await started == 1
    assert await cache.get("k", produce) == 2


async def test_failures_are_not_cached() -> None:
    cache = RenderCache(60.0, clock=FakeClock())
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("database unreachable")
        return "ok"

    with pytest.raises(RuntimeError):
        await cache.get("k", flaky)
    assert await cache.get("k", flaky) == "ok"


async def test_zero_ttl_turns_caching_off() -> None:
    produce = Producer()
    cache = RenderCache(0, clock=FakeClock())
    await cache.get("k", produce)
    await cache.get("k", produce)
    assert produce.calls == 2


# ---------------------------------------------------------------------------
# Through the app


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[Database, Seeded]]:
    db, seeded = await open_seeded_copy(tmp_path, entries=3)
    try:
        yield db, seeded
    finally:
        await db.close()


@pytest.fixture
async def client(seeded: tuple[Database, Seeded], aiohttp_client: Any) -> TestClient:
    db, _ = seeded
    app = create_app(WebTestSettings(), db, clock=lambda: NOW, cache_ttl_s=3600)
    result: TestClient = await aiohttp_client(app)
    return result


async def test_curator_hide_through_the_app_is_seen_at_once_even_with_a_long_ttl(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    _, data = seeded
    target = entry_id_uri("http://127.0.0.1:8080", data.entry_ids[0])
    assert target in await (await client.get("/topics/us-iran.atom")).text()
    assert "Iran talks resume" in await (await client.get("/topics/us-iran")).text()
    token = await sign_in(client)
    response = await client.post(
        f"/curate/articles/{data.entry_ids[0]}/decide",
        data={"csrf_token": token, "topic": "us-iran", "state": "hidden"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert target not in await (await client.get("/topics/us-iran.atom")).text()
    client.session.cookie_jar.clear()  # an anonymous reader's page is fresh too
    page = await (await client.get("/topics/us-iran")).text()
    assert "Iran talks resume" not in page  # entry_ids[0], the newest, is that story
    assert page.count('class="entry"') == len(data.entry_ids) - 1


async def test_other_writers_show_within_the_ttl_only(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    target = entry_id_uri("http://127.0.0.1:8080", data.entry_ids[0])
    assert target in await (await client.get("/topics/us-iran.atom")).text()
    # A write from another process (the worker, another web process) is not seen before the
    # TTL runs out: the documented trade-off of caching.
    await storage.set_decision(db, data.entry_ids[0], "us-iran", MatchState.HIDDEN, "cli", NOW)
    assert target in await (await client.get("/topics/us-iran.atom")).text()


async def test_anonymous_pages_set_no_cookie_and_login_does(client: TestClient) -> None:
    for path in ("/", "/topics/us-iran", "/topics/us-iran.atom", "/sources", "/search?q=iran"):
        response = await client.get(path)
        assert "Set-Cookie" not in response.headers, path
    assert "Set-Cookie" in (await client.get("/login")).headers
