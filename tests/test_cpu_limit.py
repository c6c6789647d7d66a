"""The per-document CPU-time limit through the whole poll cycle: a hostile feed document or
article page is stopped near AGGREGATOR_DOCUMENT_CPU_LIMIT_S, the error is stored on the
feed or the article, and everything else in the same pass is stored normally."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aggregator import storage
from aggregator.types import ArticleStatus, FeedStatus
from tests.fixture_site import FixtureSite, rss_feed
from tests.pipeline_support import (
    US_IRAN_PARAGRAPHS,
    WEATHER_PARAGRAPHS,
    PipelineEnv,
    article_page,
    pipeline_env,
)

LIMIT_S = 0.5
PARSE_ERROR = "parsing took longer than 0.5 s of CPU; the document was skipped"


@pytest.fixture(params=[2, 1], ids=["processes", "thread"])
async def env(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[PipelineEnv]:
    async for value in pipeline_env(
        tmp_path, cpu_workers=request.param, document_cpu_limit_s=LIMIT_S
    ):
        yield value


def hostile_feed() -> bytes:
    # Nothing in it is refused up front (no attribute or tag floods, under the size cap),
    # yet parsing it costs about five seconds of CPU.
    return rss_feed(
        "Hostile",
        [{"title": f"t{i}", "guid": f"g{i}", "description": "<p>x</p>"} for i in range(40_000)],
    )


def small_feed(site: FixtureSite, title: str, guids: list[str]) -> bytes:
    return rss_feed(
        title,
        [{"title": f"{title} {g}", "guid": g, "link": site.url(f"/news/{g}")} for g in guids],
    )


async def identities(env: PipelineEnv, feed_id: int) -> list[str]:
    return sorted(e.identity for e in await storage.recent_entries(env.db, 100, feed_id=feed_id))


async def test_a_hostile_feed_document_is_skipped_and_the_pass_goes_on(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    fixture_site.add_page("/news/talks", article_page("Talks", US_IRAN_PARAGRAPHS))
    fixture_site.add_page("/news/weather", article_page("Weather", WEATHER_PARAGRAPHS))
    fixture_site.add_feed("/victim.xml", small_feed(fixture_site, "Victim", ["talks"]))
    victim = await env.subscribe(fixture_site.url("/victim.xml"))
    await env.pipeline.run_once()
    assert await identities(env, victim) == ["talks"]

    # The victim's next document is hostile; two other feeds are polled in the same pass.
    fixture_site.add_feed("/victim.xml", hostile_feed())
    fixture_site.add_feed("/good.xml", small_feed(fixture_site, "Good", ["talks", "weather"]))
    fixture_site.add_feed("/other.xml", small_feed(fixture_site, "Other", ["weather"]))
    good = await env.subscribe(fixture_site.url("/good.xml"))
    other = await env.subscribe(fixture_site.url("/other.xml"))
    summary = await env.pipeline.run_once(all_feeds=True)

    assert (summary.feeds, summary.errors, summary.new_entries) == (3, 1, 3)
    feed = await storage.get_feed(env.db, victim)
    assert feed is not None and feed.status is FeedStatus.ERROR
    # decide.after_fetch puts its own prefix on every parse error
    assert feed.last_error == f"the document is not a usable feed: {PARSE_ERROR}"
    assert await identities(env, victim) == ["talks"]  # what was stored before stays
    assert await identities(env, good) == ["talks", "weather"]
    assert await identities(env, other) == ["weather"]
    for feed_id in (good, other):
        stored = await storage.get_feed(env.db, feed_id)
        assert stored is not None and stored.status is FeedStatus.OK and not stored.last_error

    # The workers are still there for the next document.
    fixture_site.add_feed("/victim.xml", small_feed(fixture_site, "Victim", ["talks", "weather"]))
    summary = await env.pipeline.run_once(all_feeds=True)
    assert summary.errors == 0
    assert await identities(env, victim) == ["talks", "weather"]


async def test_a_hostile_article_page_fails_that_article_only(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    # About 5 MB of paragraphs: well over a second of extraction.
    fixture_site.add_page("/news/huge", article_page("Huge", US_IRAN_PARAGRAPHS * 8000))
    fixture_site.add_page("/news/talks", article_page("Talks", US_IRAN_PARAGRAPHS))
    fixture_site.add_feed("/feed.xml", small_feed(fixture_site, "News", ["huge", "talks"]))
    feed_id = await env.subscribe(fixture_site.url("/feed.xml"))

    summary = await env.pipeline.run_once()
    assert (summary.errors, summary.new_entries) == (0, 2)
    entries = {e.identity: e for e in await storage.recent_entries(env.db, 10, feed_id=feed_id)}
    huge = await storage.get_article(env.db, entries["huge"].id)
    assert huge is not None and huge.status is ArticleStatus.FAILED
    assert huge.error == (
        "extraction failed: article extraction took longer than 0.5 s of CPU; "
        "the document was skipped"
    )
    talks = await storage.get_article(env.db, entries["talks"].id)
    assert talks is not None and talks.status is ArticleStatus.OK
    assert "Omani mediators" in (talks.text or "")
