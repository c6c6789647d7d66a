"""The feed farm used by the polling benchmark and the multi-worker and crash tests."""

from __future__ import annotations

import urllib.request

import aiohttp
import feedparser

from aggregator.opml import parse_opml
from benchmarks.farm import FarmProcess, FeedFarm


async def test_feed_documents_are_rss_with_expected_entries() -> None:
    async with FeedFarm(5) as farm, aiohttp.ClientSession() as session:
        async with session.get(farm.url(3)) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("application/rss+xml")
            body = await response.read()
        parsed = feedparser.parse(body)
        assert not parsed.bozo
        assert parsed.feed.title == "Farm feed 3"
        guids = [entry.id for entry in parsed.entries]
        assert guids == farm.current_guids(3)
        assert len(guids) == 20 and len(set(guids)) == 20
        # ~1 KB per entry, as the benchmark promises.
        assert 18_000 < len(body) < 40_000
        # Deterministic: the same document twice, identical bytes.
        async with session.get(farm.url(3)) as again:
            assert await again.read() == body


async def test_conditional_get_answers_304_and_counts_requests() -> None:
    async with FeedFarm(3) as farm, aiohttp.ClientSession() as session:
        async with session.get(farm.url(1)) as first:
            etag = first.headers["ETag"]
            last_modified = first.headers["Last-Modified"]
        async with session.get(farm.url(1), headers={"If-None-Match": etag}) as by_etag:
            assert by_etag.status == 304
        async with session.get(
            farm.url(1), headers={"If-Modified-Since": last_modified}
        ) as by_date:
            assert by_date.status == 304
        async with session.get(farm.url(1), headers={"If-None-Match": '"other"'}) as stale:
            assert stale.status == 200
        async with session.get(farm.url(7)) as missing:
            assert missing.status == 404
        stats = farm.stats()
        assert stats.requests == [0, 4, 0]
        assert (stats.ok, stats.not_modified) == (2, 2)


async def test_mutate_adds_entries_and_changes_validators() -> None:
    async with FeedFarm(50, new_per_mutation=3) as farm, aiohttp.ClientSession() as session:
        etags = {}
        for index in range(50):
            async with session.get(farm.url(index)) as response:
                etags[index] = response.headers["ETag"]
        mutated = farm.mutate(0.1)
        assert len(mutated) == 5
        assert farm.expected_entry_count() == 50 * 20 + 5 * 3
        for index in range(50):
            async with session.get(farm.url(index), headers={"If-None-Match": etags[index]}) as r:
                assert r.status == (200 if index in mutated else 304)
                if index in mutated:
                    parsed = feedparser.parse(await r.read())
                    guids = [entry.id for entry in parsed.entries]
                    # The newest three are new; the window keeps 20 entries.
                    assert guids[:3] == [f"farm-{index}-{s}" for s in (22, 21, 20)]
                    assert len(guids) == 20
        # Another farm with the same seed mutates the same feeds: benchmarks are repeatable.
        assert FeedFarm(50).mutate(0.1) == mutated


async def test_opml_lists_every_feed() -> None:
    async with FeedFarm(25) as farm:
        document = parse_opml(farm.opml_bytes())
        assert [feed.url for feed in document.feeds] == farm.urls()
        assert document.skipped == []


def test_farm_as_a_subprocess() -> None:
    with FarmProcess(10) as farm:
        with urllib.request.urlopen(farm.url(2), timeout=10) as response:
            assert b"farm-2-19" in response.read()
        assert farm.mutate(0.2) == FeedFarm(10).mutate(0.2)
        stats = farm.stats()
        assert stats["requests"][2] == 1
        assert stats["expected_entries"] == 10 * 20 + 2 * 3
        assert farm.opml_bytes().count(b"<outline") == 10
        farm.reset_counters()
        assert farm.stats()["requests"] == [0] * 10
