"""Subscriptions, leases and poll writes on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import pytest

from aggregator import decide, storage
from aggregator.errors import DuplicateFeedError, FeedNotFoundError
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.types import (
    ContentMode,
    EntryData,
    EntryPlan,
    EntryState,
    FeedStatus,
    NewFeed,
    PollWriteResult,
)
from aggregator.urls import InvalidURL
from tests.storage_helpers import NOW, entry_data, ok_log, ok_update

pytest_plugins = ["tests.storage_fixtures"]


async def test_add_feed_refuses_a_duplicate_after_normalisation(db: Database) -> None:
    feed = await storage.add_feed(db, NewFeed("HTTPS://News.Example:443/rss#latest", title="N"))
    assert feed.url == "https://news.example/rss"
    assert feed.status is FeedStatus.NEW
    with pytest.raises(DuplicateFeedError, match="already subscribed"):
        await storage.add_feed(db, NewFeed("https://news.example/rss"))
    assert [f.url for f in await storage.list_feeds(db)] == ["https://news.example/rss"]


async def test_add_feeds_skips_known_urls_and_is_all_or_nothing(db: Database) -> None:
    await storage.add_feed(db, NewFeed("https://a.example/feed"))
    added, skipped = await storage.add_feeds(
        db,
        [
            NewFeed("https://A.example/feed"),
            NewFeed("https://b.example/feed", category="Wires"),
            NewFeed("https://b.example/feed#again"),
        ],
    )
    assert [f.url for f in added] == ["https://b.example/feed"]
    assert added[0].category == "Wires"
    assert skipped == ["https://a.example/feed", "https://b.example/feed"]

    with pytest.raises(InvalidURL):
        await storage.add_feeds(db, [NewFeed("https://c.example/feed"), NewFeed("ftp://x/y")])
    assert await storage.get_feed_by_url(db, "https://c.example/feed") is None


async def test_feed_lookup_edit_and_remove(db: Database) -> None:
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"))
    assert (await storage.get_feed_by_url(db, "HTTPS://a.example/feed")) == feed
    assert (await storage.get_feed(db, feed.id)).url == feed.url

    disabled = await storage.set_feed_disabled(db, feed.id, True)
    assert disabled.disabled and disabled.status is FeedStatus.DISABLED
    enabled = await storage.set_feed_disabled(db, feed.id, False)
    assert not enabled.disabled and enabled.status is FeedStatus.NEW
    assert (await storage.set_content_mode(db, feed.id, ContentMode.PAGE)).content_mode is (
        ContentMode.PAGE
    )
    meta = await storage.update_feed_meta(db, feed.id, title="Renamed", category="Analysis")
    assert (meta.title, meta.category) == ("Renamed", "Analysis")
    refreshed = await storage.request_refresh(db, feed.id, NOW)
    assert refreshed.next_poll_at == NOW

    await storage.remove_feed(db, "https://a.example/feed")
    with pytest.raises(FeedNotFoundError):
        await storage.remove_feed(db, "https://a.example/feed")
    with pytest.raises(FeedNotFoundError):
        await storage.get_feed(db, feed.id)


async def test_two_claimers_never_get_the_same_feed(db: Database) -> None:
    for n in range(10):
        await storage.add_feed(db, NewFeed(f"https://f{n}.example/feed"), now=NOW)
    first = await storage.claim_due_feeds(db, now=NOW, limit=6, owner="w1", lease_s=300)
    second = await storage.claim_due_feeds(db, now=NOW, limit=6, owner="w2", lease_s=300)
    assert len(first) == 6 and len(second) == 4
    assert not {f.id for f in first} & {f.id for f in second}
    assert await storage.claim_due_feeds(db, now=NOW, limit=6, owner="w3", lease_s=300) == []


async def test_concurrent_claims_from_separate_connections(database_url: str) -> None:
    """Several workers (own engines) claiming at once split the feeds without overlap."""
    from aggregator.storage.migrate import upgrade

    setup = await Database.open(database_url)
    await upgrade(setup)
    await storage.add_feeds(setup, [NewFeed(f"https://f{n}.example/") for n in range(40)], now=NOW)
    workers = [await Database.open(database_url) for _ in range(4)]
    try:
        claims = await asyncio.gather(
            *(
                storage.claim_due_feeds(w, now=NOW, limit=15, owner=f"w{i}", lease_s=300)
                for i, w in enumerate(workers)
            )
        )
    finally:
        for w in workers:
            await w.close()
        await setup.close()
    claimed = [f.id for batch in claims for f in batch]
    assert len(claimed) == 40
    assert len(set(claimed)) == 40


async def test_an_expired_lease_is_taken_over(db: Database) -> None:
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    assert await storage.claim_due_feeds(db, now=NOW, limit=5, owner="crashed", lease_s=60)
    later = NOW + timedelta(seconds=30)
    assert await storage.claim_due_feeds(db, now=later, limit=5, owner="w2", lease_s=60) == []
    expired = NOW + timedelta(seconds=61)
    taken = await storage.claim_due_feeds(db, now=expired, limit=5, owner="w2", lease_s=60)
    assert [f.id for f in taken] == [feed.id]


async def test_disabled_and_not_due_feeds_are_not_claimed(db: Database) -> None:
    a = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    b = await storage.add_feed(db, NewFeed("https://b.example/feed"), now=NOW)
    await storage.set_feed_disabled(db, a.id, True)
    await storage.claim_due_feeds(db, now=NOW, limit=5, owner="w", lease_s=60)
    await storage.apply_poll(
        db,
        feed_id=b.id,
        owner="w",
        update=ok_update(),
        plan=EntryPlan(),
        log=ok_log(b.id),
        now=NOW,
    )
    assert await storage.claim_due_feeds(db, now=NOW, limit=5, owner="w", lease_s=60) == []
    # --all takes not-due feeds, still skips disabled ones unless named
    every = await storage.claim_feeds(db, now=NOW, owner="w", lease_s=60)
    assert [f.id for f in every] == [b.id]
    named = await storage.claim_feeds(
        db, now=NOW, owner="w", lease_s=60, urls=["https://a.example/feed"]
    )
    assert [f.id for f in named] == [a.id]


async def test_release_leases(db: Database) -> None:
    feeds, _ = await storage.add_feeds(
        db, [NewFeed(f"https://f{n}.example/") for n in range(3)], now=NOW
    )
    await storage.claim_due_feeds(db, now=NOW, limit=5, owner="w1", lease_s=600)
    assert await storage.release_lease(db, feeds[0].id, "w1")
    assert not await storage.release_lease(db, feeds[0].id, "w1")
    assert not await storage.release_lease(db, feeds[1].id, "someone-else")
    assert await storage.release_all_leases(db, "w1") == 2
    again = await storage.claim_due_feeds(db, now=NOW, limit=5, owner="w2", lease_s=600)
    assert len(again) == 3


async def test_apply_poll_stores_new_entries_once_and_updates_changed(db: Database) -> None:
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    await storage.claim_due_feeds(db, now=NOW, limit=1, owner="w", lease_s=60)
    undated = entry_data("b", published_at=None)
    first = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(title="Feed Title"),
        plan=EntryPlan(new=(entry_data("a"), undated, entry_data("a"))),
        log=ok_log(feed.id),
        now=NOW,
    )
    assert len(first.new_entry_ids) == 2
    stored = await storage.get_feed(db, feed.id)
    assert stored.title == "Feed Title" and stored.etag == '"v1"' and stored.entry_count == 2
    assert stored.status is FeedStatus.OK
    assert stored.next_poll_at == NOW + timedelta(hours=1)
    # the lease is released with the write
    assert await storage.claim_feeds(db, now=NOW, owner="x", lease_s=60)

    states = await storage.entry_states(db, feed.id, ["a", "b", "missing"])
    assert set(states) == {"a", "b"}
    b_entry = await storage.get_entry(db, states["b"].entry_id)
    assert b_entry.published_at == NOW  # first-seen time stands in for a missing date

    later = NOW + timedelta(hours=1)
    second = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="x",
        update=ok_update(later),
        plan=EntryPlan(
            new=(entry_data("a"),),  # a stale plan: "a" exists already
            updated=(entry_data("b", title="Corrected", content_hash="new-hash"),),
        ),
        log=ok_log(feed.id, later),
        now=later,
    )
    assert second.new_entry_ids == ()
    assert second.updated_entry_ids == (states["b"].entry_id,)
    after = await storage.entry_states(db, feed.id, ["b"])
    assert after["b"].content_hash == "new-hash" and after["b"].update_count == 1
    assert (await storage.get_entry(db, states["b"].entry_id)).title == "Corrected"
    assert [f.entry_count for f in await storage.list_feeds(db)] == [2]


async def test_store_poll_plans_against_what_is_stored_in_the_same_write(db: Database) -> None:
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    seen: list[dict[str, str | None]] = []

    def planner(stored: Mapping[str, EntryState], parsed: Sequence[EntryData]) -> EntryPlan:
        seen.append({identity: state.content_hash for identity, state in stored.items()})
        return decide.plan_entries(stored, parsed)

    async def poll(entries: tuple[EntryData, ...], at: datetime) -> PollWriteResult:
        await storage.claim_feeds(db, now=at, owner="w", lease_s=60)
        return await storage.store_poll(
            db,
            feed_id=feed.id,
            owner="w",
            update=ok_update(at),
            entries=entries,
            planner=planner,
            log=ok_log(feed.id, at),
            now=at,
        )

    first = await poll((entry_data("a"), entry_data("b")), NOW)
    assert len(first.new_entry_ids) == 2 and seen == [{}]
    later = NOW + timedelta(hours=1)
    second = await poll(
        (entry_data("a"), entry_data("b", content_hash="changed"), entry_data("c")), later
    )
    # The planner saw what the first poll stored; "b" changed and "c" is new.
    assert seen[1] == {"a": "hash-a", "b": "hash-b"}
    assert len(second.new_entry_ids) == 1 and len(second.updated_entry_ids) == 1
    states = await storage.entry_states(db, feed.id, ["a", "b", "c"])
    assert states["b"].content_hash == "changed" and set(states) == {"a", "b", "c"}
    assert (await storage.get_feed(db, feed.id)).entry_count == 3
    # the lease is released with the write
    assert await storage.claim_feeds(db, now=later, owner="x", lease_s=60)


async def test_concurrent_apply_poll_of_the_same_entries_does_not_duplicate(
    database_url: str,
) -> None:
    from aggregator.storage.migrate import upgrade

    setup = await Database.open(database_url)
    await upgrade(setup)
    feed = await storage.add_feed(setup, NewFeed("https://a.example/feed"), now=NOW)
    plan = EntryPlan(new=tuple(entry_data(f"e{n}") for n in range(50)))
    writers = [await Database.open(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(
                storage.apply_poll(
                    w,
                    feed_id=feed.id,
                    owner=f"w{i}",
                    update=ok_update(),
                    plan=plan,
                    log=ok_log(feed.id),
                    now=NOW,
                )
                for i, w in enumerate(writers)
            )
        )
        states = await storage.entry_states(setup, feed.id, [f"e{n}" for n in range(50)])
    finally:
        for w in writers:
            await w.close()
    reported = [i for r in results for i in r.new_entry_ids]
    assert len(reported) == 50 and len(set(reported)) == 50
    assert sorted(s.entry_id for s in states.values()) == sorted(reported)
    assert (await storage.list_feeds(setup))[0].entry_count == 50
    await setup.close()


async def test_apply_poll_moves_the_feed_unless_the_url_is_taken(db: Database) -> None:
    a = await storage.add_feed(db, NewFeed("https://a.example/old"), now=NOW)
    await storage.add_feed(db, NewFeed("https://b.example/taken"), now=NOW)
    moved = await storage.apply_poll(
        db,
        feed_id=a.id,
        owner="w",
        update=ok_update(new_url="https://A.example/new"),
        plan=EntryPlan(),
        log=ok_log(a.id),
        now=NOW,
    )
    assert moved.moved_to == "https://a.example/new"
    assert (await storage.get_feed(db, a.id)).url == "https://a.example/new"
    blocked = await storage.apply_poll(
        db,
        feed_id=a.id,
        owner="w",
        update=ok_update(new_url="https://b.example/taken"),
        plan=EntryPlan(),
        log=ok_log(a.id),
        now=NOW,
    )
    assert blocked.moved_to is None
    assert (await storage.get_feed(db, a.id)).url == "https://a.example/new"


async def test_nul_characters_are_dropped_not_fatal(db: Database) -> None:
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(title="Bad\x00Title"),
        plan=EntryPlan(new=(entry_data("n", title="Hello\x00World"),)),
        log=ok_log(feed.id),
        now=NOW,
    )
    entry = await storage.get_entry(db, result.new_entry_ids[0])
    assert entry.title == "HelloWorld"
    assert (await storage.get_feed(db, feed.id)).title == "BadTitle"


async def test_hostile_entry_fields_are_stored_safely(db: Database) -> None:
    """Over-long URLs and identities, huge titles and extreme dates never fail a poll."""
    from datetime import UTC, datetime

    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    long_identity = "ü" * 3000  # 6000 bytes: beyond PostgreSQL's b-tree entry limit
    other_long_identity = "ü" * 2999 + "x"
    huge = entry_data(long_identity, title="T" * 5_000_000)
    odd = (
        entry_data(other_long_identity, published_at=datetime(9999, 12, 31, tzinfo=UTC)),
        entry_data("old", published_at=datetime(1900, 1, 1, tzinfo=UTC)),
    )
    from dataclasses import replace

    huge = replace(huge, url="https://a.example/" + "x" * 5000, categories=("c" * 2000,))
    plan = EntryPlan(new=(huge, *odd))
    first = await storage.apply_poll(
        db, feed_id=feed.id, owner="w", update=ok_update(), plan=plan, log=ok_log(feed.id), now=NOW
    )
    assert len(first.new_entry_ids) == 3
    states = await storage.entry_states(db, feed.id, [long_identity, other_long_identity, "old"])
    assert set(states) == {long_identity, other_long_identity, "old"}
    stored = await storage.get_entry(db, states[long_identity].entry_id)
    assert stored.url is None  # too long to keep, and a cut URL would be wrong
    assert stored.title is not None and len(stored.title) == 5_000_000
    assert (await storage.get_entry(db, states["old"].entry_id)).published_at.year == 1900
    again = await storage.apply_poll(
        db, feed_id=feed.id, owner="w", update=ok_update(), plan=plan, log=ok_log(feed.id), now=NOW
    )
    assert again.new_entry_ids == ()
    changed = replace(huge, content_hash="changed")
    updated = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(),
        plan=EntryPlan(updated=(changed,)),
        log=ok_log(feed.id),
        now=NOW,
    )
    assert updated.updated_entry_ids == (states[long_identity].entry_id,)


async def test_overlong_feed_url_is_refused(db: Database) -> None:
    with pytest.raises(InvalidURL, match="longer than 2048"):
        await storage.add_feed(db, NewFeed("https://a.example/" + "x" * 3000))


async def test_add_feeds_imports_thousands_in_order(db: Database) -> None:
    urls = [f"https://site{n}.example/feed" for n in range(1500)]
    added, skipped = await storage.add_feeds(
        db, [NewFeed(u, title=f"Site {n}") for n, u in enumerate(urls)], now=NOW
    )
    assert [f.url for f in added] == urls
    assert [f.title for f in added[:3]] == ["Site 0", "Site 1", "Site 2"]
    assert skipped == []
    again, skipped_again = await storage.add_feeds(db, [NewFeed(u) for u in urls])
    assert again == [] and skipped_again == urls


async def test_apply_poll_for_a_feed_removed_meanwhile_writes_nothing(db: Database) -> None:
    feed = await storage.add_feed(db, NewFeed("https://a.example/feed"), now=NOW)
    await storage.claim_due_feeds(db, now=NOW, limit=1, owner="w", lease_s=60)
    await storage.remove_feed(db, feed.url)
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="w",
        update=ok_update(),
        plan=EntryPlan(new=(entry_data("x"),)),
        log=ok_log(feed.id),
        now=NOW,
    )
    assert result.new_entry_ids == () and await storage.list_feeds(db) == []


async def test_looking_entries_up_by_link_uses_an_index(sqlite_url: str) -> None:
    # Each changed feed's poll finds stored entries by link: without an index that read
    # every entry the feed ever had. (Checked on SQLite: PostgreSQL plans small tables
    # with a scan whatever the indexes.)
    db = await Database.open(sqlite_url)
    try:
        await upgrade(db)
        async with db.read() as conn:
            plan = (
                await conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT id FROM entries"
                    " WHERE feed_id = 1 AND url IN ('a', 'b')"
                )
            ).all()
        assert any("ix_entries_feed_id_url" in str(row[-1]) for row in plan), plan
    finally:
        await db.close()


async def test_polls_without_entries_written_together_stay_apart_per_feed(db: Database) -> None:
    # Most polls are 304s: storage merges the ones queued together into a few multi-row
    # statements. Each feed still gets its own state and log row; a feed removed while
    # being polled gets neither; a lease another worker took over stays theirs.
    feeds, _ = await storage.add_feeds(
        db, [NewFeed(f"https://site{n}.example/feed") for n in range(40)], now=NOW
    )
    await storage.claim_due_feeds(db, now=NOW, limit=40, owner="w", lease_s=60)
    removed, taken_over = feeds[5], feeds[7]
    await storage.remove_feed(db, removed.url)
    later = NOW + timedelta(minutes=5)  # w's leases have expired: "other" takes one over
    await storage.claim_feeds(db, now=later, owner="other", lease_s=60, feed_ids=[taken_over.id])
    results = await asyncio.gather(
        *(
            storage.store_poll(
                db,
                feed_id=feed.id,
                owner="w",
                update=ok_update(etag=f'"etag-{feed.id}"', next_poll_at=NOW + timedelta(hours=n)),
                # Every third poll brings an entry: those are stored in the same call.
                entries=(entry_data(f"entry-{feed.id}"),) if n % 3 == 0 else (),
                planner=decide.plan_entries,
                log=ok_log(feed.id),
                now=NOW,
            )
            for n, feed in enumerate(feeds)
        )
    )
    with_entry = {feed.id for n, feed in enumerate(feeds) if n % 3 == 0} - {removed.id}
    assert [len(r.new_entry_ids) for r in results] == [
        1 if feed.id in with_entry else 0 for feed in feeds
    ]
    stored = {feed.id: feed for feed in await storage.list_feeds(db)}
    assert removed.id not in stored and len(stored) == len(feeds) - 1
    for n, feed in enumerate(feeds):
        if feed.id != removed.id:
            assert stored[feed.id].etag == f'"etag-{feed.id}"'
            assert stored[feed.id].next_poll_at == NOW + timedelta(hours=n)
    async with db.read() as conn:
        logged = dict(
            (await conn.exec_driver_sql("SELECT feed_id, new_entries FROM fetch_log")).all()
        )
        leases = dict((await conn.exec_driver_sql("SELECT id, lease_owner FROM feeds")).all())
        stored_entries = (await conn.exec_driver_sql("SELECT feed_id, identity FROM entries")).all()
    assert logged == {feed_id: int(feed_id in with_entry) for feed_id in stored}
    assert sorted(stored_entries) == sorted((i, f"entry-{i}") for i in with_entry)
    assert {k: v for k, v in leases.items() if v is not None} == {taken_over.id: "other"}


async def test_claiming_every_feed_in_batches_walks_the_ids_once(db: Database) -> None:
    feeds, _ = await storage.add_feeds(
        db, [NewFeed(f"https://site{n}.example/feed") for n in range(7)], now=NOW
    )
    claimed: list[int] = []
    after: int | None = None
    while batch := await storage.claim_feeds(
        db, now=NOW, owner="w", lease_s=60, after_id=after, limit=3
    ):
        claimed.extend(f.id for f in batch)
        after = batch[-1].id
        # Released as a poll would: without the cursor these would be claimed again.
        await storage.release_leases(db, [f.id for f in batch], "w")
    assert claimed == sorted(f.id for f in feeds)


async def item_index_rows(db: Database) -> dict[int, bytes]:
    async with db.read() as conn:
        rows = (await conn.exec_driver_sql("SELECT feed_id, data FROM feed_item_indexes")).all()
    return {feed_id: bytes(data) for feed_id, data in rows}


async def test_item_indexes_are_written_with_the_poll_and_read_by_claims(db: Database) -> None:
    feeds, _ = await storage.add_feeds(
        db, [NewFeed(f"https://site{n}.example/feed") for n in range(5)], now=NOW
    )
    await storage.claim_due_feeds(db, now=NOW, limit=5, owner="w", lease_s=60)
    removed = feeds[4]
    await storage.remove_feed(db, removed.url)

    async def poll(feed_id: int, **changes: object) -> PollWriteResult:
        return await storage.store_poll(
            db,
            feed_id=feed_id,
            owner="w",
            update=ok_update(**changes),
            entries=(entry_data(f"entry-{feed_id}"),),
            planner=decide.plan_entries,
            log=ok_log(feed_id),
            now=NOW,
        )

    # Written together (merged on SQLite): two indexes, one poll that keeps what is stored
    # (none), and a feed removed while being polled (nothing to keep).
    await asyncio.gather(
        poll(feeds[0].id, item_index=b"index-0", item_index_changed=True),
        poll(feeds[1].id, item_index=b"index-1", item_index_changed=True),
        poll(feeds[2].id),
        poll(feeds[3].id, item_index=b"index-3", item_index_changed=True),
        poll(removed.id, item_index=b"index-4", item_index_changed=True),
    )
    assert await item_index_rows(db) == {
        feeds[0].id: b"index-0",
        feeds[1].id: b"index-1",
        feeds[3].id: b"index-3",
    }
    claimed = await storage.claim_feeds(db, now=NOW, owner="w", lease_s=60)
    assert [f.item_index for f in claimed] == [b"index-0", b"index-1", None, b"index-3"]

    # One poll alone: replace an index; then forget one (a document without an index).
    await poll(feeds[0].id, item_index=b"index-0b", item_index_changed=True)
    await poll(feeds[1].id, item_index=None, item_index_changed=True)
    await poll(feeds[3].id, item_index=b"ignored", item_index_changed=False)
    assert await item_index_rows(db) == {feeds[0].id: b"index-0b", feeds[3].id: b"index-3"}

    await storage.remove_feed(db, feeds[0].url)  # the index goes with its feed
    assert await item_index_rows(db) == {feeds[3].id: b"index-3"}
