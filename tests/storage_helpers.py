"""Builders shared by the storage tests (not a test module)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.types import (
    EntryData,
    FeedStatus,
    FeedUpdate,
    FetchLogRecord,
    FetchOutcome,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry_data(
    identity: str,
    *,
    title: str | None = None,
    content_hash: str | None = None,
    published_at: datetime | None = NOW,
) -> EntryData:
    return EntryData(
        identity=identity,
        guid=identity,
        url=f"https://news.example/{identity}",
        title=title if title is not None else f"Title {identity}",
        author="Reporter",
        published_at=published_at,
        updated_at=None,
        summary_html="<p>summary</p>",
        content_html="<p>content</p>",
        content_hash=content_hash or f"hash-{identity}",
        categories=("world",),
    )


def ok_update(now: datetime = NOW, **changes: object) -> FeedUpdate:
    values: dict[str, object] = {
        "fetched_at": now,
        "status": FeedStatus.OK,
        "next_poll_at": now + timedelta(hours=1),
        "poll_interval_s": 3600,
        "error_count": 0,
        "last_error": None,
        "last_error_at": None,
        "first_error_at": None,
        "last_success_at": now,
        "etag": '"v1"',
        "last_modified": None,
        "body_hash": "body",
    }
    values.update(changes)
    return FeedUpdate(**values)  # type: ignore[arg-type]


def ok_log(feed_id: int, now: datetime = NOW) -> FetchLogRecord:
    return FetchLogRecord(
        feed_id=feed_id,
        started_at=now,
        outcome=FetchOutcome.OK,
        status=200,
        duration_s=0.05,
        bytes_read=1000,
        new_entries=0,
        updated_entries=0,
        error=None,
    )
