"""Topics, matches, curator decisions, topic paging and articles on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregator import storage
from aggregator.storage import Database
from aggregator.types import (
    Article,
    ArticleStatus,
    EntryPlan,
    MatchOrigin,
    MatchState,
    NewFeed,
    TopicMatch,
)
from tests.storage_helpers import NOW, entry_data, ok_log, ok_update

pytest_plugins = ["tests.storage_fixtures"]


async def _entries(
    db: Database, count: int, *, feed_url: str = "https://a.example/feed", start_hours: int = 0
) -> list[int]:
    """``count`` entries published one hour apart (entry n is start_hours + n after NOW)."""
    feed = await storage.add_feed(db, NewFeed(feed_url), now=NOW)
    plan = EntryPlan(
        new=tuple(
            entry_data(f"{feed.id}-{n}", published_at=NOW + timedelta(hours=start_hours + n))
            for n in range(count)
        )
    )
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(),
        plan=plan,
        log=ok_log(feed.id),
        now=NOW,
    )
    return list(result.new_entry_ids)


def _match(entry_id: int, slug: str, score: float = 1.0, version: int = 1) -> TopicMatch:
    return TopicMatch(
        entry_id=entry_id,
        topic_slug=slug,
        score=score,
        explanation={"fired": ["title:iran"], "score": score},
        origin=MatchOrigin.RULE,
        state=MatchState.AUTO,
        topic_version=version,
    )


async def test_upsert_topic_bumps_version_only_when_rules_change(db: Database) -> None:
    created = await storage.upsert_topic(db, "us-iran", "US-Iran", "Relations", "rules v1")
    assert created.version == 1
    renamed = await storage.upsert_topic(db, "us-iran", "U.S.-Iran", "Relations", "rules v1")
    assert renamed.version == 1 and renamed.name == "U.S.-Iran"
    edited = await storage.upsert_topic(db, "us-iran", "U.S.-Iran", "Relations", "rules v2")
    assert edited.version == 2
    assert [t.slug for t in await storage.list_topics(db)] == ["us-iran"]
    assert (await storage.get_topic(db, "us-iran")) == edited
    assert await storage.get_topic(db, "nope") is None
    assert await storage.delete_topic(db, "us-iran")
    assert not await storage.delete_topic(db, "us-iran")


async def test_curator_decisions_survive_replace_rule_matches(db: Database) -> None:
    await storage.upsert_topic(db, "us-iran", "US-Iran", "", "r")
    await storage.upsert_topic(db, "sanctions", "Sanctions", "", "r")
    await storage.upsert_topic(db, "oil", "Oil", "", "r")
    a, b = await _entries(db, 2)

    await storage.replace_rule_matches(db, a, [_match(a, "us-iran"), _match(a, "sanctions")])
    await storage.set_decision(db, a, "us-iran", MatchState.PINNED, "cur", NOW)
    await storage.set_decision(db, a, "sanctions", MatchState.HIDDEN, "cur", NOW)
    added = await storage.set_decision(db, a, "oil", MatchState.APPROVED, "cur", NOW)
    assert added is not None and added.origin is MatchOrigin.CURATOR

    # The rules no longer match anything: every decided or curator-added row stays as it was.
    await storage.replace_rule_matches(db, a, [])
    matches = {m.topic_slug: m for m in await storage.entry_matches(db, a)}
    assert {slug: m.state for slug, m in matches.items()} == {
        "us-iran": MatchState.PINNED,
        "sanctions": MatchState.HIDDEN,
        "oil": MatchState.APPROVED,
    }
    assert matches["oil"].origin is MatchOrigin.CURATOR
    assert matches["us-iran"].decided_by == "cur" and matches["us-iran"].decided_at == NOW

    # An undecided rule match is replaced: old topic gone, new one added; rescoring keeps state.
    await storage.replace_rule_matches(db, b, [_match(b, "us-iran")])
    await storage.replace_rule_matches(db, b, [_match(b, "sanctions", score=2.0)])
    assert [(m.topic_slug, m.state) for m in await storage.entry_matches(db, b)] == [
        ("sanctions", MatchState.AUTO)
    ]
    await storage.replace_rule_matches(db, a, [_match(a, "us-iran", score=5.0, version=2)])
    pinned = {m.topic_slug: m for m in await storage.entry_matches(db, a)}["us-iran"]
    assert (pinned.state, pinned.score, pinned.topic_version) == (MatchState.PINNED, 5.0, 2)

    quality = await storage.decisions_for_quality(db, "us-iran")
    assert [(q.entry_id, q.state, q.fired_parts) for q in quality] == [
        (a, MatchState.PINNED, ("title:iran",))
    ]


async def test_topic_entries_pinned_first_then_newest_hidden_never(db: Database) -> None:
    await storage.upsert_topic(db, "t", "T", "", "r")
    await storage.upsert_topic(db, "other", "O", "", "r")
    ids = await _entries(db, 7)  # ids[n] published n hours after NOW
    for entry_id in ids:
        await storage.replace_rule_matches(db, entry_id, [_match(entry_id, "t")])
    await storage.replace_rule_matches(db, ids[3], [_match(ids[3], "t"), _match(ids[3], "other")])
    await storage.set_decision(db, ids[1], "t", MatchState.PINNED, "cur", NOW)
    await storage.set_decision(db, ids[5], "t", MatchState.HIDDEN, "cur", NOW)

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await storage.topic_entries(db, "t", limit=2, before=cursor)
        seen.extend(item.entry.id for item in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [ids[1], ids[6], ids[4], ids[3], ids[2], ids[0]]
    assert pages == 3

    first = await storage.topic_entries(db, "t", limit=10)
    by_id = {item.entry.id: item for item in first.items}
    assert by_id[ids[3]].topics == ("other", "t")
    assert by_id[ids[1]].match.state is MatchState.PINNED
    assert by_id[ids[6]].entry.feed_url == "https://a.example/feed"
    assert await storage.topic_counts(db) == {"t": 6, "other": 1}
    review = await storage.topic_entries(db, "t", limit=10, include_hidden=True)
    assert ids[5] in [item.entry.id for item in review.items]

    # A new, newer entry arriving between pages does not shift the next page.
    page1 = await storage.topic_entries(db, "t", limit=3)
    [newest] = await _entries(db, 1, feed_url="https://b.example/feed", start_hours=10)
    await storage.set_decision(db, newest, "t", MatchState.APPROVED, "cur", NOW)
    page2 = await storage.topic_entries(db, "t", limit=3, before=page1.next_cursor)
    assert [i.entry.id for i in page2.items] == [ids[3], ids[2], ids[0]]


async def test_topic_entries_filters(db: Database) -> None:
    await storage.upsert_topic(db, "t", "T", "", "r")
    a_ids = await _entries(db, 3)
    b_ids = await _entries(db, 2, feed_url="https://b.example/feed")
    for entry_id in a_ids + b_ids:
        await storage.replace_rule_matches(db, entry_id, [_match(entry_id, "t")])
    b_feed = await storage.get_feed_by_url(db, "https://b.example/feed")
    assert b_feed is not None
    only_b = await storage.topic_entries(db, "t", feed_id=b_feed.id)
    assert sorted(i.entry.id for i in only_b.items) == sorted(b_ids)
    window = await storage.topic_entries(
        db, "t", since=NOW + timedelta(hours=1), until=NOW + timedelta(hours=2)
    )
    assert sorted(i.entry.id for i in window.items) == sorted([a_ids[1], b_ids[1]])
    with pytest.raises(storage.InvalidCursorError):
        await storage.topic_entries(db, "t", before="'; DROP TABLE entries; --")
    with pytest.raises(storage.TopicNotFoundError):
        await storage.topic_entries(db, "missing")


async def test_articles_saved_reset_on_update_and_counted(db: Database) -> None:
    ids = await _entries(db, 3)
    assert [e.id for e in await storage.entries_needing_article(db, 10)] == ids
    await storage.save_article(
        db,
        Article(
            entry_id=ids[0],
            status=ArticleStatus.OK,
            title="Full",
            text="Full text",
            html='<p onclick="x()">Full <script>alert(1)</script>text</p>',
            word_count=2,
            extractor="trafilatura",
            extracted_at=NOW,
        ),
    )
    await storage.save_article(
        db, Article(entry_id=ids[1], status=ArticleStatus.FAILED, error="404")
    )
    stored = await storage.get_article(db, ids[0])
    assert stored is not None and stored.text == "Full text" and stored.extracted_at == NOW
    assert stored.html is not None and "script" not in stored.html and "onclick" not in stored.html
    assert [e.id for e in await storage.entries_needing_article(db, 10)] == [ids[2]]

    feed_id = (await storage.get_entry(db, ids[0])).feed_id
    stats = (await storage.article_stats_by_feed(db))[feed_id]
    assert (stats.ok, stats.failed, stats.success_rate) == (1, 1, 0.5)

    # The feed changes entry 0: its article goes back to pending, keeping the old text.
    await storage.apply_poll(
        db,
        feed_id=feed_id,
        owner="w",
        update=ok_update(),
        plan=EntryPlan(updated=(entry_data(f"{feed_id}-0", content_hash="changed"),)),
        log=ok_log(feed_id),
        now=NOW,
    )
    again = await storage.get_article(db, ids[0])
    assert again is not None and again.status is ArticleStatus.PENDING and again.text == "Full text"
    assert [e.id for e in await storage.entries_needing_article(db, 10)] == [ids[0], ids[2]]
    retag = await storage.entries_for_retag(db, ids[0], 10)
    assert [(e.id, a.status if a else None) for e, a in retag] == [
        (ids[1], ArticleStatus.FAILED),
        (ids[2], None),
    ]
