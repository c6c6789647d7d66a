"""The poll cycle end to end: local fixture site -> fetch -> parse -> decide -> store ->
extract -> tag, on a real SQLite file. Every failure is stored against its feed and the
other feeds of the cycle are polled normally."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aggregator import storage
from aggregator.pipeline import FeedPollResult
from aggregator.types import ArticleStatus, ContentMode, FeedStatus, MatchState
from tests.fixture_site import FixtureSite, rss_feed
from tests.pipeline_support import (
    US_IRAN_PARAGRAPHS,
    WEATHER_PARAGRAPHS,
    PipelineEnv,
    article_page,
    pipeline_env,
)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[PipelineEnv]:
    async for value in pipeline_env(tmp_path):
        yield value


def news_feed(site: FixtureSite, *, weather_text: str = "Rain on Saturday.") -> bytes:
    return rss_feed(
        "Example News",
        [
            {
                "title": "U.S. and Iran resume nuclear talks",
                "link": site.url("/news/talks"),
                "guid": "talks",
                "description": "Indirect talks resumed.",
                "pubDate": "Sat, 01 Nov 2026 09:00:00 GMT",
            },
            {
                "title": "Weekend weather",
                "link": site.url("/news/weather"),
                "guid": "weather",
                "description": weather_text,
                "pubDate": "Sat, 01 Nov 2026 08:00:00 GMT",
            },
        ],
        link=site.url("/"),
    )


async def entries_of(env: PipelineEnv, feed_id: int) -> list:  # type: ignore[type-arg]
    return await storage.recent_entries(env.db, 100, feed_id=feed_id)


async def test_poll_stores_extracts_and_tags_then_uses_conditional_get(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    fixture_site.add_feed("/feed.xml", news_feed(fixture_site))
    fixture_site.add_page(
        "/news/talks", article_page("U.S. and Iran resume talks", US_IRAN_PARAGRAPHS)
    )
    fixture_site.add_page("/news/weather", article_page("Weekend weather", WEATHER_PARAGRAPHS))
    feed_id = await env.subscribe(fixture_site.url("/feed.xml"))

    summary = await env.pipeline.run_once()
    assert (summary.feeds, summary.new_entries, summary.errors) == (1, 2, 0)

    entries = {e.identity: e for e in await entries_of(env, feed_id)}
    assert set(entries) == {"talks", "weather"}
    talks = entries["talks"]
    article = await storage.get_article(env.db, talks.id)
    assert article is not None and article.status is ArticleStatus.OK
    assert "Omani mediators" in (article.text or "")
    assert "Sign up for our daily newsletter" not in (article.text or "")
    talk_topics = {m.topic_slug: m for m in await storage.entry_matches(env.db, talks.id)}
    assert "us-iran" in talk_topics
    assert talk_topics["us-iran"].state is MatchState.AUTO
    assert talk_topics["us-iran"].explanation  # why it was tagged is kept
    assert await storage.entry_matches(env.db, entries["weather"].id) == []

    feed = await storage.get_feed(env.db, feed_id)
    assert feed is not None and feed.status is FeedStatus.OK and feed.etag
    assert feed.title == "Example News"
    assert feed.next_poll_at is not None and feed.next_poll_at > env.clock()

    # Not due yet: nothing is fetched.
    assert (await env.pipeline.run_once()).feeds == 0
    # Due again: a conditional GET answered 304 costs no parsing and stores nothing new.
    env.clock.now = feed.next_poll_at
    env.clock.advance(seconds=1)
    summary = await env.pipeline.run_once()
    assert (summary.feeds, summary.not_modified, summary.new_entries) == (1, 1, 0)
    assert fixture_site.last_request("/feed.xml").headers.get("If-None-Match") == feed.etag
    assert len(await entries_of(env, feed_id)) == 2
    assert fixture_site.hits("/news/talks") == 1


async def test_changed_entry_is_updated_and_reprocessed(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    fixture_site.add_feed("/feed.xml", news_feed(fixture_site))
    fixture_site.add_page("/news/talks", article_page("Talks", US_IRAN_PARAGRAPHS))
    fixture_site.add_page("/news/weather", article_page("Weather", WEATHER_PARAGRAPHS))
    feed_id = await env.subscribe(fixture_site.url("/feed.xml"))
    await env.pipeline.run_once()

    fixture_site.add_feed("/feed.xml", news_feed(fixture_site, weather_text="Snow, not rain."))
    summary = await env.pipeline.run_once(all_feeds=True)
    assert (summary.new_entries, summary.updated_entries) == (0, 1)
    weather = {e.identity: e for e in await entries_of(env, feed_id)}["weather"]
    assert "Snow" in (weather.summary_html or "")
    assert fixture_site.hits("/news/weather") == 2  # extraction re-queued for the change
    assert fixture_site.hits("/news/talks") == 1


def numbered_items(site: FixtureSite, newest: int, *, corrected: int = 0) -> list[dict[str, str]]:
    return [
        {
            "title": f"Story {n}" + (" (corrected)" if n == corrected else ""),
            "link": site.url(f"/news/{n}"),
            "guid": f"story-{n}",
            "description": f"Text of story {n}.",
            "pubDate": f"Sat, 01 Nov 2026 {n:02d}:00:00 GMT",
        }
        for n in range(newest, newest - 10, -1)
    ]


async def test_a_changed_feed_parses_only_its_new_and_changed_items(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    def items_seen(kind: str) -> float:
        value = env.pipeline.metrics.registry.get_sample_value(
            "aggregator_feed_items_total", {"kind": kind}
        )
        return value or 0.0

    fixture_site.add_feed("/feed.xml", rss_feed("Numbered", numbered_items(fixture_site, 10)))
    feed_id = await env.subscribe(fixture_site.url("/feed.xml"))
    await env.pipeline.run_once(skip_articles=True)
    assert (items_seen("parsed"), items_seen("unchanged")) == (10, 0)
    first_interval = (await storage.get_feed(env.db, feed_id)).poll_interval_s

    # Two new stories on top (two old ones drop off the bottom), and story 5 corrected.
    fixture_site.add_feed(
        "/feed.xml", rss_feed("Numbered", numbered_items(fixture_site, 12, corrected=5))
    )
    summary = await env.pipeline.run_once(all_feeds=True, skip_articles=True)
    assert (summary.new_entries, summary.updated_entries, summary.errors) == (2, 1, 0)
    assert (items_seen("parsed"), items_seen("unchanged")) == (10 + 3, 7)
    stored = {e.identity: e for e in await entries_of(env, feed_id)}
    assert len(stored) == 12 and stored["story-5"].title == "Story 5 (corrected)"
    # The feed's rhythm still counts every entry of the document, parsed or not.
    feed = await storage.get_feed(env.db, feed_id)
    assert feed.poll_interval_s == first_interval


async def test_failures_are_recorded_per_feed_and_do_not_stop_the_cycle(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    fixture_site.add_feed("/good.xml", news_feed(fixture_site))
    fixture_site.add_page("/news/talks", article_page("Talks", US_IRAN_PARAGRAPHS))
    fixture_site.add_page("/news/weather", article_page("Weather", WEATHER_PARAGRAPHS))
    fixture_site.add_feed(
        "/flaky.xml",
        rss_feed(
            "Flaky", [{"title": "Kept", "guid": "kept", "link": fixture_site.url("/news/weather")}]
        ),
    )
    fixture_site.add_page("/page.html", b"<html><body><p>Not a feed at all.</p></body></html>")
    fixture_site.add_status("/missing.xml", 404)
    fixture_site.add_slow("/slow.xml", b"<rss/>", byte_delay_s=3)
    good = await env.subscribe(fixture_site.url("/good.xml"))
    flaky = await env.subscribe(fixture_site.url("/flaky.xml"))
    html = await env.subscribe(fixture_site.url("/page.html"))
    missing = await env.subscribe(fixture_site.url("/missing.xml"))
    slow = await env.subscribe(fixture_site.url("/slow.xml"))

    summary = await env.pipeline.run_once()
    assert summary.feeds == 5 and summary.new_entries == 3 and summary.errors == 3

    # The flaky feed now fails: its stored entry stays stored.
    fixture_site.add_status("/flaky.xml", 500)
    summary = await env.pipeline.run_once(all_feeds=True)
    assert summary.errors == 4
    assert [e.identity for e in await entries_of(env, flaky)] == ["kept"]
    assert len(await entries_of(env, good)) == 2

    expected = {
        flaky: "500",
        html: "not a feed",
        missing: "404",
        slow: "timed out",
    }
    for feed_id, fragment in expected.items():
        feed = await storage.get_feed(env.db, feed_id)
        assert feed is not None
        assert feed.status is FeedStatus.ERROR, feed
        assert fragment in (feed.last_error or "").lower(), feed.last_error
        assert feed.error_count >= 1
        assert "\n" not in (feed.last_error or "")
    good_feed = await storage.get_feed(env.db, good)
    assert good_feed is not None and good_feed.status is FeedStatus.OK


async def test_gone_feed_is_disabled(env: PipelineEnv, fixture_site: FixtureSite) -> None:
    fixture_site.add_status("/gone.xml", 410)
    feed_id = await env.subscribe(fixture_site.url("/gone.xml"))
    await env.pipeline.run_once()
    feed = await storage.get_feed(env.db, feed_id)
    assert feed is not None and feed.status is FeedStatus.GONE and feed.disabled
    env.clock.advance(days=3)
    assert (await env.pipeline.run_once()).feeds == 0
    assert fixture_site.hits("/gone.xml") == 1


async def test_permanent_redirect_moves_the_subscription_on_the_second_poll(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    fixture_site.add_feed("/new.xml", rss_feed("Moved", [{"title": "A", "guid": "a"}]))
    fixture_site.add_redirect("/old.xml", fixture_site.url("/new.xml"), status=301)
    feed_id = await env.subscribe(
        fixture_site.url("/old.xml"),
    )
    await env.pipeline.run_once(skip_articles=True)
    feed = await storage.get_feed(env.db, feed_id)
    assert feed is not None and feed.url == fixture_site.url("/old.xml")
    await env.pipeline.run_once(all_feeds=True, skip_articles=True)
    feed = await storage.get_feed(env.db, feed_id)
    assert feed is not None and feed.url == fixture_site.url("/new.xml")
    assert len(await entries_of(env, feed_id)) == 1


async def test_full_content_in_the_feed_is_used_without_fetching_the_page(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    content = "".join(f"<p>{p}</p>" for p in US_IRAN_PARAGRAPHS * 3)
    feed = (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>WP</title>'
        f"<link>{fixture_site.url('/')}</link><description>d</description>"
        f"<item><title>Talks</title><link>{fixture_site.url('/p/1')}</link><guid>p1</guid>"
        "<description>Short teaser.</description>"
        f"<content:encoded><![CDATA[{content}]]></content:encoded></item></channel></rss>"
    ).encode()
    fixture_site.add_feed("/wp.xml", feed)
    fixture_site.add_page("/p/1", article_page("Talks", WEATHER_PARAGRAPHS))
    feed_id = await env.subscribe(fixture_site.url("/wp.xml"))
    await env.pipeline.run_once()
    entry = (await entries_of(env, feed_id))[0]
    article = await storage.get_article(env.db, entry.id)
    assert article is not None and article.status is ArticleStatus.OK
    assert "Omani mediators" in (article.text or "")
    assert fixture_site.hits("/p/1") == 0


async def test_page_mode_fetches_the_page_even_with_full_feed_content(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    content = "".join(f"<p>{p}</p>" for p in US_IRAN_PARAGRAPHS * 3)
    feed = (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>WP</title>'
        f"<link>{fixture_site.url('/')}</link><description>d</description>"
        f"<item><title>Talks</title><link>{fixture_site.url('/p/1')}</link><guid>p1</guid>"
        f"<content:encoded><![CDATA[{content}]]></content:encoded></item></channel></rss>"
    ).encode()
    fixture_site.add_feed("/wp.xml", feed)
    fixture_site.add_page("/p/1", article_page("Weather", WEATHER_PARAGRAPHS))
    feed_id = await env.subscribe(fixture_site.url("/wp.xml"))
    await storage.set_content_mode(env.db, feed_id, ContentMode.PAGE)
    await env.pipeline.run_once()
    entry = (await entries_of(env, feed_id))[0]
    article = await storage.get_article(env.db, entry.id)
    assert article is not None and "forecasters" in (article.text or "")
    assert fixture_site.hits("/p/1") == 1


async def test_failed_extraction_is_recorded_and_the_entry_is_tagged_on_feed_text(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    teaser = " ".join(US_IRAN_PARAGRAPHS[:2])
    fixture_site.add_feed(
        "/feed.xml",
        rss_feed(
            "News",
            [
                {
                    "title": "U.S.-Iran nuclear talks resume",
                    "guid": "t",
                    "link": fixture_site.url("/gone-page"),
                    "description": teaser,
                }
            ],
        ),
    )
    fixture_site.add_status("/gone-page", 404)
    feed_id = await env.subscribe(fixture_site.url("/feed.xml"))
    summary = await env.pipeline.run_once()
    assert summary.errors == 0  # a failed article never fails the feed
    entry = (await entries_of(env, feed_id))[0]
    article = await storage.get_article(env.db, entry.id)
    assert article is not None and article.status is ArticleStatus.FAILED
    assert "404" in (article.error or "")
    assert "us-iran" in {m.topic_slug for m in await storage.entry_matches(env.db, entry.id)}


async def test_guids_that_change_on_every_request_do_not_create_duplicates(
    env: PipelineEnv, fixture_site: FixtureSite
) -> None:
    from itertools import count

    from aiohttp import web

    requests = count()

    async def unstable(request: web.Request) -> web.Response:
        n = next(requests)
        body = rss_feed(
            "Unstable",
            [
                {"title": "First story", "guid": f"urn:uuid:{n}-1", "link": "https://x.example/1"},
                {"title": "Second story", "guid": f"urn:uuid:{n}-2", "link": "https://x.example/2"},
            ],
        )
        return web.Response(body=body, content_type="application/rss+xml")

    fixture_site.add_handler("/unstable.xml", unstable)
    feed_id = await env.subscribe(fixture_site.url("/unstable.xml"))
    first = await env.pipeline.run_once(skip_articles=True)
    second = await env.pipeline.run_once(all_feeds=True, skip_articles=True)
    third = await env.pipeline.run_once(all_feeds=True, skip_articles=True)
    assert (first.new_entries, second.new_entries, third.new_entries) == (2, 0, 0)
    assert len(await entries_of(env, feed_id)) == 2


async def test_a_feed_due_again_within_one_pass_keeps_no_lease(
    tmp_path: Path, fixture_site: FixtureSite
) -> None:
    async for env in pipeline_env(tmp_path, lease_s=86400):
        await _due_again_within_one_pass(env, fixture_site)


async def _due_again_within_one_pass(env: PipelineEnv, fixture_site: FixtureSite) -> None:
    fixture_site.add_feed("/feed.xml", rss_feed("F", [{"title": "A", "guid": "a"}]))
    feed_id = await env.subscribe(fixture_site.url("/feed.xml"))

    class RacingClock:
        """A pass so slow that the feed is due again before the pass ends."""

        def __init__(self, start: datetime) -> None:
            self.now = start

        def __call__(self) -> datetime:
            self.now += timedelta(hours=6)  # longer than the poll interval, not the lease
            return self.now

    clock = RacingClock(env.clock())
    env.pipeline.clock = clock
    summary = await env.pipeline.run_once(skip_articles=True)
    assert summary.feeds == 1  # polled once in this pass ...
    # ... and not left leased to this worker: another worker can take it at once.
    claimed = await storage.claim_due_feeds(
        env.db, now=clock(), limit=10, owner="other-worker", lease_s=60
    )
    assert [f.id for f in claimed] == [feed_id]


async def test_a_slow_feed_does_not_hold_up_the_next_batches(
    tmp_path: Path, fixture_site: FixtureSite
) -> None:
    # One feed per claim: if each batch waited for its slowest feed, the other feeds
    # would all be polled after the slow one. They are claimed and polled meanwhile.
    finished: list[int] = []
    async for env in pipeline_env(tmp_path, claim_batch=1, poll_concurrency=4):
        feed = rss_feed("Fast", [{"title": "One", "guid": "one"}])
        fixture_site.add_slow("/slow.xml", feed, delay_s=1.5)
        slow = await env.subscribe(fixture_site.url("/slow.xml"))
        for n in range(5):
            fixture_site.add_feed(f"/fast{n}.xml", feed)
            await env.subscribe(fixture_site.url(f"/fast{n}.xml"))
        summary = await env.pipeline.run_once(
            skip_articles=True, on_feed_done=lambda result: finished.append(result.feed.id)
        )
        assert summary.feeds == 6 and summary.errors == 0 and summary.new_entries == 6
        assert finished[-1] == slow and len(finished) == 6


def _leased_feed_ids(env: PipelineEnv) -> set[int]:
    # Read beside the pipeline (WAL lets a second connection read while it writes).
    path = env.settings.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id FROM feeds WHERE lease_owner IS NOT NULL").fetchall()
    return {row[0] for row in rows}


async def test_the_next_batch_is_claimed_before_a_slot_frees(
    tmp_path: Path, fixture_site: FixtureSite
) -> None:
    # Batches of 4, 2 in flight: feeds 3 and 4 of the first batch wait for a slot. The
    # second batch is claimed meanwhile, so no slot that frees waits for a claim.
    leased_when_first_done: list[set[int]] = []
    async for env in pipeline_env(tmp_path, claim_batch=4, poll_concurrency=2):
        feed = rss_feed("Slow", [{"title": "One", "guid": "one"}])
        ids = []
        for n in range(6):
            fixture_site.add_slow(f"/slow{n}.xml", feed, delay_s=0.4)
            ids.append(await env.subscribe(fixture_site.url(f"/slow{n}.xml")))

        def first_done(_: object, env: PipelineEnv = env) -> None:
            if not leased_when_first_done:
                leased_when_first_done.append(_leased_feed_ids(env))

        summary = await env.pipeline.run_once(skip_articles=True, on_feed_done=first_done)
        assert summary.feeds == 6 and summary.errors == 0
        # When the first feed finished, the second batch (the last two feeds) was leased.
        assert set(ids[4:]) <= leased_when_first_done[0]
        assert _leased_feed_ids(env) == set()


async def test_stopping_mid_pass_hands_back_the_batch_claimed_ahead(
    tmp_path: Path, fixture_site: FixtureSite
) -> None:
    polled: list[int] = []
    async for env in pipeline_env(tmp_path, claim_batch=4, poll_concurrency=2):
        feed = rss_feed("Slow", [{"title": "One", "guid": "one"}])
        for n in range(12):
            fixture_site.add_slow(f"/slow{n}.xml", feed, delay_s=0.3)
            await env.subscribe(fixture_site.url(f"/slow{n}.xml"))

        def stop_after_first(result: FeedPollResult, env: PipelineEnv = env) -> None:
            polled.append(result.feed.id)
            env.pipeline.stop()

        summary = await env.pipeline.run_once(skip_articles=True, on_feed_done=stop_after_first)
        # The feeds in flight finished; the rest of the batch and the batch claimed ahead
        # were handed back at once, not left leased until the lease expires.
        assert summary.feeds == len(polled) == 2
        assert _leased_feed_ids(env) == set()
        due = await storage.claim_due_feeds(
            env.db, now=env.clock(), limit=20, owner="next-worker", lease_s=60
        )
        assert len(due) == 10 and not {f.id for f in due} & set(polled)
