"""Re-tagging after a topic changes, and the preview of a change before it is saved:
rule matches follow the new rules, curator decisions survive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aggregator import storage
from aggregator.retag import preview_change, retag_all
from aggregator.tagger import Tagger
from aggregator.types import MatchState
from tests.fixture_site import FixtureSite, rss_feed
from tests.pipeline_support import US_IRAN_PARAGRAPHS, PipelineEnv, pipeline_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[PipelineEnv]:
    async for value in pipeline_env(tmp_path, fetch_articles=False):
        yield value


async def two_iran_stories(env: PipelineEnv, site: FixtureSite) -> list[int]:
    text = " ".join(US_IRAN_PARAGRAPHS)
    site.add_feed(
        "/feed.xml",
        rss_feed(
            "News",
            [
                {"title": "U.S. and Iran resume nuclear talks", "guid": "a", "description": text},
                {"title": "Iran and the U.S. trade warnings", "guid": "b", "description": text},
            ],
        ),
    )
    feed_id = await env.subscribe(site.url("/feed.xml"))
    await env.pipeline.run_once()
    entries = await storage.recent_entries(env.db, 10, feed_id=feed_id)
    for entry in entries:
        assert "us-iran" in {m.topic_slug for m in await storage.entry_matches(env.db, entry.id)}
    return sorted(e.id for e in entries)


async def test_preview_then_retag_follow_the_new_rules_and_keep_decisions(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    first, second = await two_iran_stories(env, fixture_site)
    await storage.set_decision(env.db, second, "us-iran", MatchState.PINNED, "dana", env.clock())
    topic = await storage.get_topic(env.db, "us-iran")
    assert topic is not None
    stricter = topic.definition.replace("threshold = 8", "threshold = 800", 1)
    assert stricter != topic.definition

    change = await preview_change(env.db, "us-iran", topic.name, topic.definition, stricter)
    assert {e.id for e in change.removed} == {first, second}
    assert change.added == [] and change.unchanged == 0
    assert await storage.entry_matches(env.db, first)  # a preview changes nothing

    await storage.upsert_topic(env.db, "us-iran", topic.name, topic.description, stricter)
    assert await retag_all(env.db, Tagger()) == 2
    assert "us-iran" not in {m.topic_slug for m in await storage.entry_matches(env.db, first)}
    kept = [m for m in await storage.entry_matches(env.db, second) if m.topic_slug == "us-iran"]
    assert [(m.state, m.decided_by) for m in kept] == [(MatchState.PINNED, "dana")]
