"""Pure decisions of one poll: which entries are new or changed, and the feed's next state.

No I/O and no clock: callers pass ``now``. The pipeline does the fetching, parsing and
writing around these functions; tests drive them with tables of cases.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from aggregator.types import (
    EntryData,
    EntryPlan,
    EntryState,
    ErrorKind,
    Feed,
    FeedData,
    FeedStatus,
    FeedUpdate,
    FetchOutcome,
    FetchResult,
)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Bounds of the polling schedule (seconds)."""

    min_interval_s: int = 15 * 60
    max_interval_s: int = 24 * 3600
    default_interval_s: int = 3600  # when a feed shows no rhythm (no dated entries)
    error_backoff_base_s: int = 5 * 60  # first retry after a failure; doubles each time
    max_backoff_s: int = 24 * 3600
    broken_after_s: int = 14 * 86400  # continuous failure before a feed counts as broken
    broken_interval_s: int = 24 * 3600  # a broken feed is still tried this often
    jitter_fraction: float = 0.1  # +-5% by default, so feeds added together drift apart
    rhythm_window_s: int = 7 * 86400  # entries dated within this window set the rhythm
    not_modified_growth: float = 1.25  # a feed that did not change is polled a bit less often

    def __post_init__(self) -> None:
        if not 0 < self.min_interval_s <= self.max_interval_s:
            raise ValueError("need 0 < min_interval_s <= max_interval_s")
        if not 0 <= self.jitter_fraction < 1:
            raise ValueError("jitter_fraction must be in [0, 1)")
        if self.error_backoff_base_s <= 0 or self.max_backoff_s < self.error_backoff_base_s:
            raise ValueError("need 0 < error_backoff_base_s <= max_backoff_s")


DEFAULT_POLICY = PollPolicy()


@dataclass(frozen=True, slots=True)
class PollTime:
    """When to poll next: ``at`` includes jitter, ``interval_s`` is the planned interval."""

    at: datetime
    interval_s: int


# ---------------------------------------------------------------------------
# Entries


def plan_entries(
    stored: Mapping[str, EntryState],
    parsed: Sequence[EntryData],
    *,
    max_updates_per_entry: int = 20,
    lists_unchanged: Callable[[str], bool] | None = None,
) -> EntryPlan:
    """Split parsed entries into new, updated and unchanged.

    ``stored`` maps identity -> state for entries already stored for this feed (it may also
    hold entries found by URL). An entry whose identity is unknown but whose URL matches
    exactly one stored entry that this document does not list under its own identity is
    the same entry with an unstable guid: it keeps the stored identity. A changed content
    hash is an update only while the stored entry has been updated fewer than
    ``max_updates_per_entry`` times, so a feed that changes on every poll cannot churn forever.
    The same identity twice in one document: the first one wins. ``lists_unchanged`` says
    which identities the document lists among entries not parsed again (not in ``parsed``).
    """
    parsed_identities = {entry.identity for entry in parsed}
    parsed_url_counts = Counter(entry.url for entry in parsed if entry.url)
    stored_by_url: dict[str, EntryState | None] = {}
    for stored_state in stored.values():
        if stored_state.url:
            # Two stored entries with one URL: ambiguous, so no URL matching for it.
            stored_by_url[stored_state.url] = (
                None if stored_state.url in stored_by_url else stored_state
            )

    new: list[EntryData] = []
    updated: list[EntryData] = []
    unchanged = 0
    seen: set[str] = set()
    for entry in parsed:
        state: EntryState | None = stored.get(entry.identity)
        if state is None and entry.url and parsed_url_counts[entry.url] == 1:
            candidate = stored_by_url.get(entry.url)
            if (
                candidate is not None
                and candidate.identity not in parsed_identities
                and not (lists_unchanged and lists_unchanged(candidate.identity))
            ):
                state = candidate
                entry = replace(entry, identity=candidate.identity)
        if entry.identity in seen:
            continue
        seen.add(entry.identity)
        if state is None:
            new.append(entry)
        elif state.content_hash != entry.content_hash and (
            state.update_count < max_updates_per_entry
        ):
            updated.append(entry)
        else:
            unchanged += 1
    return EntryPlan(new=tuple(new), updated=tuple(updated), unchanged=unchanged)


# ---------------------------------------------------------------------------
# Scheduling


_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-cache|no-store)(?:$|[,\s=])", re.IGNORECASE)


def cache_lifetime_s(cache_control: str | None, expires: str | None, now: datetime) -> int | None:
    """Seconds the server says the document stays fresh (Cache-Control max-age, else Expires)."""
    if cache_control:
        match = _MAX_AGE.search(cache_control)
        if match:
            return min(int(match.group(1)[:12]), 10 * 365 * 86400)
        if _NO_CACHE.search(cache_control):
            return None
    if expires:
        try:
            expires_at = parsedate_to_datetime(expires)
        except (TypeError, ValueError, IndexError):
            return None  # "0", "-1" and junk mean "already expired"
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        seconds = (expires_at - now).total_seconds()
        return int(seconds) if seconds > 0 else None
    return None


def rhythm_interval_s(
    entry_dates: Sequence[datetime | None], now: datetime, policy: PollPolicy = DEFAULT_POLICY
) -> int | None:
    """Mean gap between recent entries: about one poll per new entry.

    Entries dated within ``rhythm_window_s`` count. When the document reaches back past the
    window, the rate is (recent entries / window); when it holds only the latest few entries
    (all recent), the rate is (entries / time since the oldest of them). ``None`` when no
    entry is dated (rhythm unknown); the window length when no entry is recent (quiet feed).
    """
    dated = sorted(d for d in entry_dates if d is not None and d <= now + timedelta(days=1))
    if not dated:
        return None
    window_start = now - timedelta(seconds=policy.rhythm_window_s)
    recent = [d for d in dated if d >= window_start]
    if not recent:
        return policy.rhythm_window_s
    if dated[0] < window_start:
        span_s = float(policy.rhythm_window_s)
    else:
        span_s = max((now - recent[0]).total_seconds(), 0.0)
    return max(1, int(span_s / len(recent)))


def jitter_unit(feed_key: str) -> float:
    """A number in [0, 1) fixed per feed, so tests are stable and feeds spread out."""
    digest = hashlib.sha256(feed_key.encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _with_jitter(
    interval_s: float, floor_s: float, ceiling_s: float, feed_key: str, policy: PollPolicy
) -> int:
    spread = policy.jitter_fraction * (jitter_unit(feed_key) - 0.5)  # in [-f/2, f/2)
    jittered = interval_s * (1 + spread)
    return int(min(max(jittered, floor_s), ceiling_s))


def next_poll(
    now: datetime,
    *,
    feed_key: str,
    policy: PollPolicy = DEFAULT_POLICY,
    entry_dates: Sequence[datetime | None] = (),
    previous_interval_s: int | None = None,
    ttl_s: int | None = None,
    update_period_s: int | None = None,
    cache_control: str | None = None,
    expires: str | None = None,
    retry_after_s: float | None = None,
) -> PollTime:
    """Next poll time after a successful poll.

    The base interval follows the feed's rhythm (dated entries in the window), else the
    previous interval, else the default. The server's wishes (RSS ttl, sy:updatePeriod,
    Cache-Control max-age / Expires, Retry-After) can only lengthen it. Everything is kept
    within [min_interval_s, max_interval_s] (Retry-After may go up to max_backoff_s), and
    a per-feed jitter of +-jitter_fraction/2 is applied inside those bounds.
    """
    rhythm = rhythm_interval_s(entry_dates, now, policy)
    base = rhythm or previous_interval_s or policy.default_interval_s
    for hint in (ttl_s, update_period_s, cache_lifetime_s(cache_control, expires, now)):
        if hint and hint > base:
            base = hint
    floor = float(policy.min_interval_s)
    ceiling = float(policy.max_interval_s)
    if retry_after_s and retry_after_s > 0 and not math.isnan(retry_after_s):
        floor = max(floor, min(retry_after_s, float(policy.max_backoff_s)))
        ceiling = max(ceiling, floor)
    base = min(max(base, policy.min_interval_s), policy.max_interval_s)
    interval = _with_jitter(base, floor, ceiling, feed_key, policy)
    return PollTime(at=now + timedelta(seconds=interval), interval_s=max(int(base), int(floor)))


def backoff_interval_s(error_count: int, policy: PollPolicy = DEFAULT_POLICY) -> int:
    """Exponential backoff for the ``error_count``-th consecutive failure (1-based), capped."""
    exponent = min(max(error_count - 1, 0), 40)
    return int(min(policy.error_backoff_base_s * 2**exponent, policy.max_backoff_s))


# ---------------------------------------------------------------------------
# The feed's state after one fetch


def _feed_key(feed: Feed) -> str:
    return f"{feed.id}:{feed.url}"


def _describe_duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _failure_message(result: FetchResult, parse_error: str | None) -> str:
    if parse_error:
        return f"the document is not a usable feed: {parse_error}"
    if result.error:
        return result.error
    status = f"HTTP {result.status}" if result.status else "no HTTP answer"
    kind = f" ({result.error_kind.value})" if result.error_kind else ""
    return f"fetch failed: {status}{kind}"


def after_fetch(
    feed: Feed,
    result: FetchResult,
    feed_data: FeedData | None,
    parse_error: str | None,
    now: datetime,
    policy: PollPolicy = DEFAULT_POLICY,
) -> FeedUpdate:
    """Everything that changes on ``feed`` after one fetch (and parse) of it.

    - 200 and a parsed document: errors reset, validators and body hash stored, title and
      site URL taken from the document, next poll from the feed's rhythm and the server's
      caching hints.
    - 304, or a body identical to the last one: a normal outcome, errors reset, the interval
      grows a little (nothing changed).
    - 410 Gone: status GONE, disabled.
    - Any failure (network, HTTP error, not a feed): error_count + 1, exponential backoff
      capped at max_backoff_s (longer if Retry-After asks), status ERROR; after
      broken_after_s of continuous failure, status BROKEN and one try a day. Validators
      and body hash stay as they were, so a broken answer is never mistaken for "unchanged".
    - A permanent redirect seen on two consecutive successful polls moves the feed
      (``new_url``); the first sighting is remembered in ``redirect_url``.
    """
    key = _feed_key(feed)
    if result.outcome is FetchOutcome.GONE:
        return FeedUpdate(
            fetched_at=now,
            status=FeedStatus.GONE,
            next_poll_at=now + timedelta(seconds=policy.max_interval_s),
            poll_interval_s=policy.max_interval_s,
            error_count=feed.error_count + 1,
            last_error=(
                "410 Gone: the server says this feed was removed for good; the subscription "
                "is disabled (re-enable it if the feed comes back)"
            ),
            last_error_at=now,
            first_error_at=feed.first_error_at or now,
            last_success_at=feed.last_success_at,
            etag=feed.etag,
            last_modified=feed.last_modified,
            body_hash=feed.body_hash,
            redirect_url=feed.redirect_url,
            disabled=True,
        )

    succeeded = result.outcome is FetchOutcome.NOT_MODIFIED or (
        result.outcome is FetchOutcome.OK and feed_data is not None and parse_error is None
    )
    if not succeeded:
        return _after_failure(feed, result, parse_error, now, policy, key)

    new_url, redirect_url = _redirect_decision(feed, result)
    if result.outcome is FetchOutcome.NOT_MODIFIED:
        previous = feed.poll_interval_s or policy.default_interval_s
        poll = next_poll(
            now,
            feed_key=key,
            policy=policy,
            previous_interval_s=int(previous * policy.not_modified_growth),
            cache_control=result.cache_control,
            expires=result.expires,
            retry_after_s=result.retry_after_s,
        )
        title = site_url = None
        item_index, index_changed = feed.item_index, False
        etag = result.etag or feed.etag
        last_modified = result.last_modified or feed.last_modified
        body_hash = result.body_hash or feed.body_hash
    else:
        assert feed_data is not None  # narrowed by ``succeeded``
        poll = next_poll(
            now,
            feed_key=key,
            policy=policy,
            entry_dates=feed_data.entry_dates,
            previous_interval_s=feed.poll_interval_s,
            ttl_s=feed_data.ttl_s,
            update_period_s=feed_data.update_period_s,
            cache_control=result.cache_control,
            expires=result.expires,
            retry_after_s=result.retry_after_s,
        )
        title, site_url = feed_data.title, feed_data.site_url
        etag, last_modified, body_hash = result.etag, result.last_modified, result.body_hash
        # A parsed document without an index clears the stored one (even one this poll
        # was not given): the next poll then parses everything.
        item_index = feed_data.item_index
        index_changed = item_index is None or item_index != feed.item_index
    return FeedUpdate(
        fetched_at=now,
        status=_keep_curator_disabled(feed, FeedStatus.OK),
        next_poll_at=poll.at,
        poll_interval_s=poll.interval_s,
        error_count=0,
        last_error=None,
        last_error_at=None,
        first_error_at=None,
        last_success_at=now,
        etag=etag,
        last_modified=last_modified,
        body_hash=body_hash,
        title=title,
        site_url=site_url,
        new_url=new_url,
        redirect_url=redirect_url,
        item_index=item_index,
        item_index_changed=index_changed,
    )


def _keep_curator_disabled(feed: Feed, status: FeedStatus) -> FeedStatus:
    # A forced refresh of a feed a curator disabled must not quietly re-enable it.
    return FeedStatus.DISABLED if feed.status is FeedStatus.DISABLED else status


def _redirect_decision(feed: Feed, result: FetchResult) -> tuple[str | None, str | None]:
    """(new_url, redirect_url): move on the second consecutive sighting, remember the first."""
    target = result.permanent_redirect
    if not target or target == feed.url:
        return None, None
    if feed.redirect_url == target:
        return target, None
    return None, target


def _after_failure(
    feed: Feed,
    result: FetchResult,
    parse_error: str | None,
    now: datetime,
    policy: PollPolicy,
    key: str,
) -> FeedUpdate:
    error_count = feed.error_count + 1
    first_error_at = feed.first_error_at or now
    failing_for = (now - first_error_at).total_seconds()
    message = _failure_message(result, parse_error)
    retry_after = result.retry_after_s if result.retry_after_s and result.retry_after_s > 0 else 0
    if failing_for >= policy.broken_after_s:
        status = FeedStatus.BROKEN
        base = float(policy.broken_interval_s)
        message += (
            f" (failing for {_describe_duration(failing_for)}; now tried once a day until it"
            " answers)"
        )
    else:
        status = FeedStatus.ERROR
        base = float(backoff_interval_s(error_count, policy))
    floor = float(min(max(retry_after, 0), policy.max_backoff_s))
    if result.error_kind is ErrorKind.RATE_LIMITED and retry_after:
        message += f" (the server asked to wait {_describe_duration(retry_after)})"
    base = max(base, floor)
    ceiling = max(float(policy.max_backoff_s), base, float(policy.broken_interval_s))
    interval = _with_jitter(base, max(floor, 60.0), ceiling, key, policy)
    return FeedUpdate(
        fetched_at=now,
        status=_keep_curator_disabled(feed, status),
        next_poll_at=now + timedelta(seconds=interval),
        poll_interval_s=feed.poll_interval_s or policy.default_interval_s,
        error_count=error_count,
        last_error=message,
        last_error_at=now,
        first_error_at=first_error_at,
        last_success_at=feed.last_success_at,
        etag=feed.etag,
        last_modified=feed.last_modified,
        body_hash=feed.body_hash,
        redirect_url=feed.redirect_url,
    )
