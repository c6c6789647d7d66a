"""aggregator.decide: table-driven tests with an injected clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.decide import (
    PollPolicy,
    after_fetch,
    backoff_interval_s,
    cache_lifetime_s,
    jitter_unit,
    next_poll,
    plan_entries,
    rhythm_interval_s,
)
from aggregator.types import (
    EntryData,
    EntryState,
    ErrorKind,
    Feed,
    FeedData,
    FeedStatus,
    FetchOutcome,
    FetchResult,
    UnchangedEntry,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
HOUR = 3600
DAY = 86400
NO_JITTER = PollPolicy(jitter_fraction=0.0)


def entry(identity: str, content_hash: str = "h1", url: str | None = None) -> EntryData:
    return EntryData(
        identity=identity,
        guid=identity,
        url=url,
        title=identity,
        author=None,
        published_at=None,
        updated_at=None,
        summary_html=None,
        content_html=None,
        content_hash=content_hash,
    )


def state(
    identity: str, content_hash: str = "h1", update_count: int = 0, url: str | None = None
) -> EntryState:
    return EntryState(
        entry_id=hash(identity) % 1000,
        identity=identity,
        content_hash=content_hash,
        update_count=update_count,
        url=url,
    )


# ---------------------------------------------------------------------------
# plan_entries


@pytest.mark.parametrize(
    ("stored", "parsed", "new", "updated", "unchanged"),
    [
        pytest.param([], [entry("a"), entry("b")], ["a", "b"], [], 0, id="all new"),
        pytest.param([state("a")], [entry("a")], [], [], 1, id="unchanged"),
        pytest.param([state("a")], [entry("a", "h2")], [], ["a"], 0, id="changed hash"),
        pytest.param(
            [state("a", update_count=19)], [entry("a", "h2")], [], ["a"], 0, id="below cap"
        ),
        pytest.param(
            [state("a", update_count=20)], [entry("a", "h2")], [], [], 1, id="update cap reached"
        ),
        pytest.param([], [entry("a"), entry("a", "h2")], ["a"], [], 0, id="duplicate in doc"),
        pytest.param(
            [state("a")],
            [entry("a", "h2"), entry("a", "h3")],
            [],
            ["a"],
            0,
            id="duplicate of stored: first wins",
        ),
    ],
)
def test_plan_entries(
    stored: list[EntryState],
    parsed: list[EntryData],
    new: list[str],
    updated: list[str],
    unchanged: int,
) -> None:
    plan = plan_entries({s.identity: s for s in stored}, parsed)
    assert [e.identity for e in plan.new] == new
    assert [e.identity for e in plan.updated] == updated
    assert plan.unchanged == unchanged
    if updated:
        assert plan.updated[0].content_hash == parsed[0].content_hash


def test_plan_entries_keeps_first_duplicate_content() -> None:
    plan = plan_entries({}, [entry("a", "first"), entry("a", "second")])
    assert [e.content_hash for e in plan.new] == ["first"]


def test_unstable_guid_matched_by_url_keeps_stored_identity() -> None:
    stored = {"guid-1": state("guid-1", url="https://s.example/post")}
    parsed = [entry("guid-2", url="https://s.example/post")]
    plan = plan_entries(stored, parsed)
    assert plan.new == () and plan.unchanged == 1
    changed = plan_entries(stored, [entry("guid-3", "h9", url="https://s.example/post")])
    assert [e.identity for e in changed.updated] == ["guid-1"]


@pytest.mark.parametrize(
    ("stored", "parsed"),
    [
        pytest.param(
            [state("g1", url="https://s.example/"), state("g2", url="https://s.example/")],
            [entry("g3", url="https://s.example/")],
            id="stored URL ambiguous",
        ),
        pytest.param(
            [state("g1", url="https://s.example/")],
            [entry("g1", url="https://s.example/"), entry("g2", url="https://s.example/")],
            id="stored entry still listed under its own identity",
        ),
        pytest.param(
            [state("g1", url="https://s.example/")],
            [entry("g2", url="https://s.example/"), entry("g3", url="https://s.example/")],
            id="parsed URL ambiguous",
        ),
    ],
)
def test_url_matching_only_when_unambiguous(
    stored: list[EntryState], parsed: list[EntryData]
) -> None:
    plan = plan_entries({s.identity: s for s in stored}, parsed)
    stored_identities = {s.identity for s in stored}
    unknown = [e.identity for e in parsed if e.identity not in stored_identities]
    assert [e.identity for e in plan.new] == unknown


def test_url_matching_skips_entries_listed_but_not_parsed_again() -> None:
    # The document lists g1 among the items it did not parse again (unchanged since the
    # last poll), so g1 is still in the feed: g2 with g1's stored link is a new entry, as
    # it would be had the whole document been parsed.
    stored = {"g1": state("g1", url="https://s.example/old")}
    parsed = [entry("g2", url="https://s.example/old")]
    listed = plan_entries(stored, parsed, lists_unchanged=lambda identity: identity == "g1")
    assert [e.identity for e in listed.new] == ["g2"]
    not_listed = plan_entries(stored, parsed, lists_unchanged=lambda identity: False)
    assert not_listed.new == () and not_listed.unchanged == 1


# ---------------------------------------------------------------------------
# Scheduling pieces


@pytest.mark.parametrize(
    ("cache_control", "expires", "expected"),
    [
        ("max-age=600", None, 600),
        ("public, max-age=7200, must-revalidate", None, 7200),
        ('max-age="120"', None, 120),
        ("no-cache", "Sat, 01 Jun 2024 14:00:00 GMT", None),
        (None, "Sat, 01 Jun 2024 14:00:00 GMT", 2 * HOUR),
        (None, "Sat, 01 Jun 2024 11:00:00 GMT", None),  # in the past
        (None, "0", None),
        (None, "garbage", None),
        ("s-maxage=50", None, None),
        (None, None, None),
    ],
)
def test_cache_lifetime(
    cache_control: str | None, expires: str | None, expected: int | None
) -> None:
    assert cache_lifetime_s(cache_control, expires, NOW) == expected


def hours_ago(*hours: float) -> list[datetime | None]:
    return [NOW - timedelta(hours=h) for h in hours]


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        pytest.param([], None, id="no entries"),
        pytest.param([None, None], None, id="undated"),
        pytest.param(hours_ago(1, 2, 3, 4), HOUR, id="hourly, short document"),
        pytest.param(hours_ago(24 * 30, 24 * 40), 7 * DAY, id="quiet feed"),
        pytest.param(hours_ago(*range(0, 168, 24), 24 * 30), DAY, id="daily, long document"),
        pytest.param(hours_ago(-48, 10), 10 * HOUR, id="far-future date ignored"),
    ],
)
def test_rhythm(dates: list[datetime | None], expected: int | None) -> None:
    assert rhythm_interval_s(dates, NOW) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected_interval"),
    [
        pytest.param({}, HOUR, id="default"),
        pytest.param({"entry_dates": hours_ago(0.1, 0.2, 0.3)}, 15 * 60, id="min bound"),
        pytest.param({"entry_dates": hours_ago(24 * 100)}, DAY, id="max bound"),
        pytest.param({"entry_dates": hours_ago(1, 2, 3), "ttl_s": 3 * HOUR}, 3 * HOUR, id="ttl"),
        pytest.param({"update_period_s": 2 * HOUR}, 2 * HOUR, id="sy:updatePeriod"),
        pytest.param({"cache_control": "max-age=5400"}, 5400, id="max-age"),
        pytest.param({"cache_control": "max-age=60"}, HOUR, id="short max-age ignored"),
        pytest.param({"ttl_s": 7 * DAY}, DAY, id="ttl capped at max"),
        pytest.param({"retry_after_s": 3 * DAY}, DAY, id="retry-after capped at max_backoff"),
        pytest.param({"retry_after_s": 5 * HOUR}, 5 * HOUR, id="retry-after"),
        pytest.param({"previous_interval_s": 4 * HOUR}, 4 * HOUR, id="previous interval"),
    ],
)
def test_next_poll(kwargs: dict[str, object], expected_interval: int) -> None:
    poll = next_poll(NOW, feed_key="feed-1", policy=NO_JITTER, **kwargs)  # type: ignore[arg-type]
    assert poll.interval_s == expected_interval
    assert poll.at == NOW + timedelta(seconds=expected_interval)


def test_jitter_is_deterministic_bounded_and_spreads_feeds() -> None:
    policy = PollPolicy(jitter_fraction=0.2)
    delays = []
    for index in range(200):
        first = next_poll(NOW, feed_key=f"feed-{index}", policy=policy)
        again = next_poll(NOW, feed_key=f"feed-{index}", policy=policy)
        assert first == again
        delay = (first.at - NOW).total_seconds()
        assert 0.9 * HOUR <= delay <= 1.1 * HOUR
        delays.append(delay)
    assert len(set(delays)) > 150  # feeds added at the same moment do not poll together
    assert min(delays) < 0.95 * HOUR and max(delays) > 1.05 * HOUR
    assert all(0 <= jitter_unit(f"k{i}") < 1 for i in range(100))


def test_jitter_never_breaks_bounds() -> None:
    policy = PollPolicy(jitter_fraction=0.5)
    for index in range(100):
        low = next_poll(NOW, feed_key=str(index), policy=policy, entry_dates=hours_ago(0.1, 0.2))
        assert (low.at - NOW).total_seconds() >= policy.min_interval_s
        high = next_poll(NOW, feed_key=str(index), policy=policy, ttl_s=30 * DAY)
        assert (high.at - NOW).total_seconds() <= policy.max_interval_s
        retry = next_poll(NOW, feed_key=str(index), policy=policy, retry_after_s=2 * HOUR)
        assert (retry.at - NOW).total_seconds() >= 2 * HOUR


@pytest.mark.parametrize(
    ("error_count", "expected"),
    [(1, 300), (2, 600), (3, 1200), (9, 300 * 256), (10, DAY), (500, DAY), (0, 300)],
)
def test_backoff(error_count: int, expected: int) -> None:
    assert backoff_interval_s(error_count) == expected


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        PollPolicy(min_interval_s=100, max_interval_s=50)
    with pytest.raises(ValueError):
        PollPolicy(jitter_fraction=1.5)


# ---------------------------------------------------------------------------
# after_fetch


FEED = Feed(
    id=7,
    url="https://s.example/feed.xml",
    status=FeedStatus.OK,
    etag='"v1"',
    last_modified="Fri, 31 May 2024 10:00:00 GMT",
    body_hash="old-hash",
    poll_interval_s=2 * HOUR,
    last_success_at=NOW - timedelta(hours=2),
)


def result(outcome: FetchOutcome, **kwargs: object) -> FetchResult:
    return FetchResult(
        requested_url=FEED.url,
        final_url=str(kwargs.pop("final_url", FEED.url)),
        outcome=outcome,
        **kwargs,  # type: ignore[arg-type]
    )


def parsed(*dates: datetime | None, ttl_s: int | None = None) -> FeedData:
    entries = tuple(replace(entry(f"e{i}"), published_at=date) for i, date in enumerate(dates))
    return FeedData(
        title="Feed title",
        site_url="https://s.example/",
        description=None,
        entries=entries,
        format="rss20",
        ttl_s=ttl_s,
    )


def failing(since: timedelta, count: int) -> Feed:
    return replace(
        FEED,
        status=FeedStatus.ERROR,
        error_count=count,
        first_error_at=NOW - since,
        last_error="old error",
        last_error_at=NOW - timedelta(hours=1),
    )


def test_success_resets_errors_and_stores_validators() -> None:
    update = after_fetch(
        failing(timedelta(days=2), 5),
        result(FetchOutcome.OK, status=200, etag='"v2"', last_modified="lm2", body_hash="new"),
        parsed(*hours_ago(1, 2, 3)),
        None,
        NOW,
        NO_JITTER,
    )
    assert update.status is FeedStatus.OK
    assert (update.error_count, update.last_error, update.first_error_at) == (0, None, None)
    assert (update.etag, update.last_modified, update.body_hash) == ('"v2"', "lm2", "new")
    assert (update.title, update.site_url) == ("Feed title", "https://s.example/")
    assert update.last_success_at == NOW and update.fetched_at == NOW
    assert update.poll_interval_s == HOUR
    assert update.next_poll_at == NOW + timedelta(hours=1)
    assert update.new_url is None and update.redirect_url is None


def test_success_honours_ttl_and_cache_headers() -> None:
    update = after_fetch(
        FEED,
        result(FetchOutcome.OK, status=200, cache_control="max-age=10800"),
        parsed(*hours_ago(1, 2, 3), ttl_s=2 * HOUR),
        None,
        NOW,
        NO_JITTER,
    )
    assert update.poll_interval_s == 3 * HOUR


@pytest.mark.parametrize(
    ("stored", "fetched", "new_index", "expected"),
    [
        pytest.param(b"i1", FetchOutcome.NOT_MODIFIED, None, (b"i1", False), id="304 keeps"),
        pytest.param(b"i1", FetchOutcome.OK, b"i2", (b"i2", True), id="new index"),
        pytest.param(None, FetchOutcome.OK, b"i2", (b"i2", True), id="first index"),
        pytest.param(b"i1", FetchOutcome.OK, b"i1", (b"i1", False), id="same index"),
        pytest.param(b"i1", FetchOutcome.OK, None, (None, True), id="no index clears"),
        pytest.param(None, FetchOutcome.OK, None, (None, True), id="clears unseen"),
    ],
)
def test_item_index_follows_the_parsed_document(
    stored: bytes | None,
    fetched: FetchOutcome,
    new_index: bytes | None,
    expected: tuple[object, ...],
) -> None:
    data = replace(parsed(*hours_ago(1)), item_index=new_index)
    update = after_fetch(
        replace(FEED, item_index=stored),
        result(fetched, status=200 if fetched is FetchOutcome.OK else 304),
        data if fetched is FetchOutcome.OK else None,
        None,
        NOW,
        NO_JITTER,
    )
    assert (update.item_index, update.item_index_changed) == expected


def test_the_rhythm_counts_entries_not_parsed_again() -> None:
    # Three entries parsed (an hour apart) and three unchanged (ten hours apart): the
    # rhythm is the one of all six, not the hourly one of the parsed three.
    data = replace(
        parsed(*hours_ago(1, 2, 3)),
        unchanged=tuple(UnchangedEntry(b"k" * 8, d) for d in hours_ago(10, 20, 30)),
    )
    assert data.entry_dates == hours_ago(1, 2, 3, 10, 20, 30)

    def interval(feed_data: FeedData) -> int:
        ok = result(FetchOutcome.OK, status=200)
        return after_fetch(FEED, ok, feed_data, None, NOW, NO_JITTER).poll_interval_s

    assert interval(data) == interval(parsed(*hours_ago(1, 2, 3, 10, 20, 30)))
    assert interval(data) != interval(parsed(*hours_ago(1, 2, 3)))


def test_not_modified_is_normal_and_keeps_validators() -> None:
    update = after_fetch(
        failing(timedelta(hours=3), 2),
        result(FetchOutcome.NOT_MODIFIED, status=304),
        None,
        None,
        NOW,
        NO_JITTER,
    )
    assert update.status is FeedStatus.OK and update.error_count == 0
    assert update.last_error is None and update.last_success_at == NOW
    assert (update.etag, update.last_modified, update.body_hash) == (
        FEED.etag,
        FEED.last_modified,
        FEED.body_hash,
    )
    assert update.title is None  # nothing parsed: keep the stored title
    assert update.poll_interval_s == int(2 * HOUR * 1.25)


@pytest.mark.parametrize(
    ("feed", "fetch", "parse_error", "status", "count", "min_delay", "max_delay", "text"),
    [
        pytest.param(
            FEED,
            result(FetchOutcome.ERROR, status=500, error_kind=ErrorKind.HTTP, error="HTTP 500"),
            None,
            FeedStatus.ERROR,
            1,
            300,
            300,
            "HTTP 500",
            id="first failure",
        ),
        pytest.param(
            failing(timedelta(hours=5), 4),
            result(FetchOutcome.ERROR, error_kind=ErrorKind.TIMEOUT, error="timed out after 60 s"),
            None,
            FeedStatus.ERROR,
            5,
            300 * 16,
            300 * 16,
            "timed out",
            id="fifth failure backs off",
        ),
        pytest.param(
            failing(timedelta(days=3), 30),
            result(FetchOutcome.ERROR, error_kind=ErrorKind.DNS, error="no such host"),
            None,
            FeedStatus.ERROR,
            31,
            DAY,
            DAY,
            "no such host",
            id="backoff capped",
        ),
        pytest.param(
            failing(timedelta(days=15), 40),
            result(FetchOutcome.ERROR, error_kind=ErrorKind.CONNECT, error="connection refused"),
            None,
            FeedStatus.BROKEN,
            41,
            DAY,
            DAY,
            "once a day",
            id="broken after 14 days",
        ),
        pytest.param(
            FEED,
            result(
                FetchOutcome.ERROR,
                status=429,
                error_kind=ErrorKind.RATE_LIMITED,
                error="HTTP 429 Too Many Requests",
                retry_after_s=7200.0,
            ),
            None,
            FeedStatus.ERROR,
            1,
            7200,
            7200,
            "asked to wait 2 h",
            id="429 retry-after",
        ),
        pytest.param(
            FEED,
            result(
                FetchOutcome.ERROR,
                status=503,
                error_kind=ErrorKind.RATE_LIMITED,
                retry_after_s=10 * DAY,
            ),
            None,
            FeedStatus.ERROR,
            1,
            DAY,
            DAY,
            "HTTP 503",
            id="absurd retry-after capped",
        ),
        pytest.param(
            FEED,
            result(FetchOutcome.OK, status=200, body_hash="html-page", etag='"new"'),
            "an HTML page, not a feed",
            FeedStatus.ERROR,
            1,
            300,
            300,
            "not a usable feed: an HTML page",
            id="not a feed",
        ),
    ],
)
def test_failures(
    feed: Feed,
    fetch: FetchResult,
    parse_error: str | None,
    status: FeedStatus,
    count: int,
    min_delay: int,
    max_delay: int,
    text: str,
) -> None:
    update = after_fetch(feed, fetch, None, parse_error, NOW, NO_JITTER)
    assert update.status is status
    assert update.error_count == count
    delay = (update.next_poll_at - NOW).total_seconds()
    assert min_delay <= delay <= max_delay
    assert update.last_error is not None and text in update.last_error
    assert update.last_error_at == NOW
    assert update.first_error_at == (feed.first_error_at or NOW)
    # A failed poll never replaces validators: the next poll must not see "unchanged".
    assert (update.etag, update.body_hash) == (feed.etag, feed.body_hash)
    assert update.last_success_at == feed.last_success_at
    assert update.poll_interval_s == feed.poll_interval_s
    assert update.disabled is None


def test_broken_feed_recovers_when_it_answers() -> None:
    broken = replace(failing(timedelta(days=20), 60), status=FeedStatus.BROKEN)
    update = after_fetch(
        broken, result(FetchOutcome.OK, status=200), parsed(*hours_ago(5)), None, NOW, NO_JITTER
    )
    assert update.status is FeedStatus.OK and update.error_count == 0


def test_gone_disables_feed() -> None:
    update = after_fetch(FEED, result(FetchOutcome.GONE, status=410), None, None, NOW, NO_JITTER)
    assert update.status is FeedStatus.GONE and update.disabled is True
    assert update.last_error is not None and "410" in update.last_error
    assert update.error_count == 1


def test_ok_without_feed_data_is_a_failure() -> None:
    update = after_fetch(FEED, result(FetchOutcome.OK, status=200), None, None, NOW, NO_JITTER)
    assert update.status is FeedStatus.ERROR


@pytest.mark.parametrize(
    ("remembered", "seen", "new_url", "redirect_url"),
    [
        pytest.param(
            None, "https://new.example/feed", None, "https://new.example/feed", id="first"
        ),
        pytest.param(
            "https://new.example/feed",
            "https://new.example/feed",
            "https://new.example/feed",
            None,
            id="second consecutive: move",
        ),
        pytest.param(
            "https://new.example/feed",
            "https://other.example/feed",
            None,
            "https://other.example/feed",
            id="different target restarts",
        ),
        pytest.param("https://new.example/feed", None, None, None, id="redirect stopped"),
    ],
)
def test_permanent_redirects(
    remembered: str | None, seen: str | None, new_url: str | None, redirect_url: str | None
) -> None:
    feed = replace(FEED, redirect_url=remembered)
    update = after_fetch(
        feed,
        result(FetchOutcome.OK, status=200, permanent_redirect=seen),
        parsed(),
        None,
        NOW,
        NO_JITTER,
    )
    assert (update.new_url, update.redirect_url) == (new_url, redirect_url)


def test_redirect_not_confirmed_by_a_failure() -> None:
    feed = replace(FEED, redirect_url="https://new.example/feed")
    update = after_fetch(
        feed,
        result(FetchOutcome.ERROR, permanent_redirect="https://new.example/feed", error="HTTP 404"),
        None,
        None,
        NOW,
        NO_JITTER,
    )
    assert update.new_url is None and update.redirect_url == "https://new.example/feed"


def test_not_modified_feed_slows_down_but_stays_within_max() -> None:
    feed = FEED
    for _ in range(30):
        update = after_fetch(
            feed, result(FetchOutcome.NOT_MODIFIED, status=304), None, None, NOW, NO_JITTER
        )
        feed = replace(feed, poll_interval_s=update.poll_interval_s)
    assert feed.poll_interval_s == DAY


@pytest.mark.parametrize(
    "fetch",
    [
        result(FetchOutcome.OK, status=200),
        result(FetchOutcome.NOT_MODIFIED, status=304),
        result(FetchOutcome.ERROR, status=500, error="HTTP 500"),
    ],
)
def test_curator_disabled_feed_stays_disabled_after_a_forced_refresh(fetch: FetchResult) -> None:
    feed = replace(FEED, status=FeedStatus.DISABLED, disabled=True)
    update = after_fetch(feed, fetch, parsed(), None, NOW, NO_JITTER)
    assert update.status is FeedStatus.DISABLED
    assert update.disabled is None  # the flag is the curator's to change
