"""Writing one poll's result: entries, feed state, fetch log and lease, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Column, bindparam, case, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select, Update
from sqlalchemy.sql.dml import Insert

from aggregator.storage._common import (
    chunks,
    clean_text,
    dialect_insert,
    fit,
    fit_hash,
    fit_identity,
    fit_url,
)
from aggregator.storage.base import opt_utc, to_utc
from aggregator.storage.database import Database
from aggregator.storage.models import (
    articles_table,
    entries_table,
    entry_topics_table,
    feed_item_indexes_table,
    feeds_table,
    fetch_log_table,
)
from aggregator.types import (
    ArticleStatus,
    EntryData,
    EntryPlan,
    EntryState,
    FeedUpdate,
    FetchLogRecord,
    PollWriteResult,
)
from aggregator.urls import InvalidURL, normalize_url

# Identity lists are matched in batches so huge feeds stay under parameter limits.
_LOOKUP_CHUNK = 500

EntryPlanner = Callable[[Mapping[str, EntryState], Sequence[EntryData]], EntryPlan]


async def entry_states(
    db: Database, feed_id: int, identities: Sequence[str], urls: Sequence[str] = ()
) -> dict[str, EntryState]:
    """What is stored for these identities of one feed (absent ones are new).

    Entries of the feed whose URL is in ``urls`` are included too, under their stored
    identity, so a feed whose guids change on every request is recognised by link.
    """
    return await db.read_with(_entry_states, feed_id, identities, urls)


@cache
def _states_statement(column_name: str) -> Select[Any]:
    # Built once: a poll runs this for every changed feed, and constructing a statement
    # costs more than SQLite takes to run it. ``keys`` expands to the IN list.
    column: Column[Any] = entries_table.c[column_name]
    return select(
        entries_table.c.id,
        entries_table.c.identity,
        entries_table.c.content_hash,
        entries_table.c.update_count,
        entries_table.c.url,
    ).where(
        entries_table.c.feed_id == bindparam("feed_id"),
        column.in_(bindparam("keys", expanding=True)),
    )


def _entry_states(
    conn: Connection, feed_id: int, identities: Sequence[str], urls: Sequence[str] = ()
) -> dict[str, EntryState]:
    asked = {fit_identity(identity): identity for identity in identities}
    states: dict[str, EntryState] = {}
    by_url = ("url", [u for u in {fit_url(u) for u in urls} if u])
    by_identity = ("identity", list(asked))
    # By URL first, so an identity match (the stronger one) wins when both find an entry.
    for column_name, keys in (by_url, by_identity):
        statement = _states_statement(column_name)
        for part in chunks(keys, _LOOKUP_CHUNK):
            rows = conn.execute(statement, {"feed_id": feed_id, "keys": list(part)}).all()
            for entry_id, stored_identity, content_hash, update_count, url in rows:
                identity = asked.get(stored_identity, stored_identity)
                states[identity] = EntryState(
                    entry_id=entry_id,
                    identity=identity,
                    content_hash=content_hash,
                    update_count=update_count,
                    url=url,
                )
    return states


def _entry_values(data: EntryData) -> dict[str, Any]:
    return {
        "url": fit_url(data.url),
        "title": clean_text(data.title),
        "author": clean_text(data.author),
        "updated_at": opt_utc(data.updated_at),
        "summary_html": clean_text(data.summary_html),
        "content_html": clean_text(data.content_html),
        "content_hash": fit_hash(data.content_hash),
        "categories": [fit(c, 512) for c in data.categories],
        "image_url": fit_url(data.image_url),
    }


def _insert_new(
    conn: Connection, feed_id: int, new: Sequence[EntryData], now: datetime
) -> list[int]:
    # First occurrence wins when a feed repeats an identity within one document.
    unique = list({fit_identity(d.identity): d for d in reversed(new)}.items())[::-1]
    rows = [
        {
            **_entry_values(data),
            "feed_id": feed_id,
            "identity": identity,
            # No date in the feed: the entry was published when we first saw it.
            "published_at": to_utc(data.published_at) if data.published_at else now,
            "first_seen_at": now,
            "update_count": 0,
        }
        for identity, data in unique
    ]
    statement = _insert_entries_statement(conn.dialect.name)
    ids: list[int] = []
    for part in chunks(rows):
        ids.extend(conn.execute(statement, list(part)).scalars())
    return sorted(ids)


@cache
def _insert_entries_statement(dialect: str) -> Insert:
    # ON CONFLICT DO NOTHING: a concurrent writer (or a lease taken over after expiry)
    # that stored the same entry first wins; we never create a second row. Executed as
    # "executemany", SQLAlchemy batches the rows into cached multi-row INSERTs.
    return (
        dialect_insert(dialect, entries_table)
        .on_conflict_do_nothing(index_elements=["feed_id", "identity"])
        .returning(entries_table.c.id)
    )


def _update_changed(conn: Connection, feed_id: int, updated: Sequence[EntryData]) -> list[int]:
    ids: list[int] = []
    for identity, data in {fit_identity(d.identity): d for d in updated}.items():
        values = _entry_values(data)
        if data.published_at is not None:
            values["published_at"] = to_utc(data.published_at)
        result = conn.execute(
            update(entries_table)
            .where(entries_table.c.feed_id == feed_id, entries_table.c.identity == identity)
            .values(**values, update_count=entries_table.c.update_count + 1)
            .returning(entries_table.c.id, entries_table.c.published_at)
        )
        row = result.first()
        if row is None:  # pruned meanwhile: nothing to update
            continue
        ids.append(row.id)
        # Keep topic pages ordered by the entry's (possibly corrected) date.
        conn.execute(
            update(entry_topics_table)
            .where(entry_topics_table.c.entry_id == row.id)
            .values(sort_at=row.published_at)
        )
    if ids:
        # Changed content: extract the article again (the old text stays until then).
        conn.execute(
            update(articles_table)
            .where(articles_table.c.entry_id.in_(ids))
            .values(status=ArticleStatus.PENDING.value, attempts=0, error=None)
        )
    return sorted(ids)


def _move_feed(conn: Connection, feed_id: int, new_url: str) -> str | None:
    """The normalised new URL if the feed can move there (no other feed has it)."""
    try:
        target = normalize_url(new_url)
    except InvalidURL:
        return None
    holder = conn.execute(
        select(feeds_table.c.id).where(feeds_table.c.url == target)
    ).scalar_one_or_none()
    if holder is not None and holder != feed_id:
        return None
    return target


# The feed columns every poll writes; the statement below binds each as ``b_<name>``.
_FEED_STATE_COLUMNS = (
    "last_fetched_at",
    "status",
    "next_poll_at",
    "poll_interval_s",
    "error_count",
    "last_error",
    "last_error_at",
    "first_error_at",
    "last_success_at",
    "etag",
    "last_modified",
    "body_hash",
    "redirect_url",
)


@cache
def _feed_state_statement(*, returning: bool = True) -> Update:
    """The feed row's update after a poll, built once (it runs for every feed polled).

    Optional values (title, site, disabled, a new URL) keep the stored value when the
    poll has none. The lease is released in the same statement, only if this worker
    still holds it. Without ``returning`` it can run for many feeds at once (executemany).
    """
    c = feeds_table.c
    values: dict[str, Any] = {
        name: bindparam(f"b_{name}", type_=c[name].type) for name in _FEED_STATE_COLUMNS
    }
    for name in ("title", "site_url", "disabled", "url"):
        values[name] = func.coalesce(bindparam(f"b_{name}", type_=c[name].type), c[name])
    still_ours = c.lease_owner == bindparam("b_owner")
    values["lease_owner"] = case((still_ours, None), else_=c.lease_owner)
    values["lease_expires_at"] = case((still_ours, None), else_=c.lease_expires_at)
    statement = feeds_table.update().where(c.id == bindparam("b_feed_id")).values(values)
    return statement.returning(c.id) if returning else statement


_INSERT_FETCH_LOG = fetch_log_table.insert()


def _feed_state_params(feed_id: int, owner: str, feed_update: FeedUpdate) -> dict[str, Any]:
    return {
        "b_feed_id": feed_id,
        "b_owner": owner,
        "b_last_fetched_at": to_utc(feed_update.fetched_at),
        "b_status": feed_update.status.value,
        "b_next_poll_at": to_utc(feed_update.next_poll_at),
        "b_poll_interval_s": feed_update.poll_interval_s,
        "b_error_count": feed_update.error_count,
        "b_last_error": clean_text(feed_update.last_error),
        "b_last_error_at": opt_utc(feed_update.last_error_at),
        "b_first_error_at": opt_utc(feed_update.first_error_at),
        "b_last_success_at": opt_utc(feed_update.last_success_at),
        "b_etag": clean_text(feed_update.etag),
        "b_last_modified": clean_text(feed_update.last_modified),
        "b_body_hash": fit_hash(feed_update.body_hash) if feed_update.body_hash else None,
        "b_redirect_url": fit_url(feed_update.redirect_url),
        "b_title": clean_text(feed_update.title),
        "b_site_url": fit_url(feed_update.site_url),
        "b_disabled": feed_update.disabled,
        "b_url": None,
    }


def _fetch_log_params(feed_id: int, log: FetchLogRecord, new: int, updated: int) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "started_at": to_utc(log.started_at),
        "outcome": log.outcome.value,
        "http_status": log.status,
        "duration_s": log.duration_s,
        "bytes_read": log.bytes_read,
        "new_entries": new,
        "updated_entries": updated,
        "error": clean_text(log.error),
        "error_kind": log.error_kind.value if log.error_kind else None,
    }


def _write_item_indexes(conn: Connection, changes: Sequence[tuple[int, bytes | None]]) -> None:
    """Store (or, for ``None``, forget) feeds' item indexes, in the poll's transaction: an
    index must never name items whose entries were not stored."""
    stored = [{"feed_id": feed_id, "data": data} for feed_id, data in changes if data is not None]
    forgotten = [feed_id for feed_id, data in changes if data is None]
    if stored:
        conn.execute(_upsert_item_index_statement(conn.dialect.name), stored)
    if forgotten:
        t = feed_item_indexes_table
        conn.execute(t.delete().where(t.c.feed_id.in_(forgotten)))


@cache
def _upsert_item_index_statement(dialect: str) -> Insert:
    insert = dialect_insert(dialect, feed_item_indexes_table)
    return insert.on_conflict_do_update(
        index_elements=["feed_id"], set_={"data": insert.excluded.data}
    )


def _plan(
    conn: Connection, feed_id: int, entries: Sequence[EntryData], planner: EntryPlanner
) -> EntryPlan:
    """Which of a poll's ``entries`` are new or changed, against what is stored."""
    if not entries:
        return EntryPlan()
    stored = _entry_states(
        conn, feed_id, [e.identity for e in entries], [e.url for e in entries if e.url]
    )
    return planner(stored, entries)


def _write_plan(
    conn: Connection, feed_id: int, plan: EntryPlan, now: datetime
) -> tuple[list[int], list[int]]:
    """Store a plan's new and changed entries; their ids."""
    new_ids = _insert_new(conn, feed_id, plan.new, now) if plan.new else []
    updated_ids = _update_changed(conn, feed_id, plan.updated) if plan.updated else []
    return new_ids, updated_ids


def _apply_poll(
    conn: Connection,
    feed_id: int,
    owner: str,
    feed_update: FeedUpdate,
    plan: EntryPlan,
    log: FetchLogRecord,
    now: datetime,
) -> PollWriteResult:
    params = _feed_state_params(feed_id, owner, feed_update)
    moved_to: str | None = None
    if feed_update.new_url:
        moved_to = _move_feed(conn, feed_id, feed_update.new_url)
        if moved_to is not None:
            params["b_url"] = moved_to
            params["b_redirect_url"] = None
    # The feed row first: it is locked for the rest of the transaction, and a feed that
    # was unsubscribed while being polled shows up here (nothing to keep, then).
    found = conn.execute(_feed_state_statement(), params).first()
    if found is None:
        return PollWriteResult()
    new_ids, updated_ids = _write_plan(conn, feed_id, plan, now)
    conn.execute(_INSERT_FETCH_LOG, _fetch_log_params(feed_id, log, len(new_ids), len(updated_ids)))
    if feed_update.item_index_changed:
        _write_item_indexes(conn, [(feed_id, feed_update.item_index)])
    return PollWriteResult(
        new_entry_ids=tuple(new_ids), updated_entry_ids=tuple(updated_ids), moved_to=moved_to
    )


async def apply_poll(
    db: Database,
    *,
    feed_id: int,
    owner: str,
    update: FeedUpdate,
    plan: EntryPlan,
    log: FetchLogRecord,
    now: datetime,
) -> PollWriteResult:
    """Write everything one poll decided, atomically, and release the feed's lease.

    A crash at any point leaves either all of it or none of it; a duplicate entry is
    impossible even if two workers write the same feed.
    """
    return await db.write(_apply_poll, feed_id, owner, update, plan, log, to_utc(now))


@dataclass(frozen=True, slots=True)
class _Poll:
    """One poll's result to store (one without a move: see ``store_poll``)."""

    feed_id: int
    owner: str
    update: FeedUpdate
    entries: tuple[EntryData, ...]
    planner: EntryPlanner
    log: FetchLogRecord
    now: datetime


@cache
def _locked_feed_ids_statement() -> Select[Any]:
    # FOR UPDATE on PostgreSQL (nothing on SQLite, whose writer holds the database lock):
    # the rows stay locked for the rest of the transaction, as an UPDATE would lock them.
    listed = feeds_table.c.id.in_(bindparam("feed_ids", expanding=True))
    return select(feeds_table.c.id).where(listed).with_for_update()


def _store_polls(conn: Connection, polls: list[_Poll]) -> list[PollWriteResult]:
    """Many polls at once: per feed only what its entries need (read what is stored, plan,
    insert, update); the feed rows and the fetch log in one multi-row statement each."""
    if len(polls) == 1:  # alone (always so on PostgreSQL): the feed row's UPDATE finds it
        p = polls[0]
        return [_store_poll(conn, p.feed_id, p.owner, p.update, p.entries, p.planner, p.log, p.now)]
    wanted = list({poll.feed_id for poll in polls})
    found: set[int] = set()
    for part in chunks(wanted, _LOOKUP_CHUNK):
        found.update(conn.execute(_locked_feed_ids_statement(), {"feed_ids": list(part)}).scalars())
    results: list[PollWriteResult] = []
    states: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    indexes: list[tuple[int, bytes | None]] = []
    for poll in polls:
        if poll.feed_id not in found:  # unsubscribed while being polled: nothing to keep
            results.append(PollWriteResult())
            continue
        plan = _plan(conn, poll.feed_id, poll.entries, poll.planner)
        new_ids, updated_ids = _write_plan(conn, poll.feed_id, plan, poll.now)
        states.append(_feed_state_params(poll.feed_id, poll.owner, poll.update))
        logs.append(_fetch_log_params(poll.feed_id, poll.log, len(new_ids), len(updated_ids)))
        if poll.update.item_index_changed:
            indexes.append((poll.feed_id, poll.update.item_index))
        results.append(PollWriteResult(tuple(new_ids), tuple(updated_ids)))
    if states:
        conn.execute(_feed_state_statement(returning=False), states)
        conn.execute(_INSERT_FETCH_LOG, logs)
    _write_item_indexes(conn, indexes)
    return results


def _store_poll(
    conn: Connection,
    feed_id: int,
    owner: str,
    feed_update: FeedUpdate,
    entries: Sequence[EntryData],
    planner: EntryPlanner,
    log: FetchLogRecord,
    now: datetime,
) -> PollWriteResult:
    plan = _plan(conn, feed_id, entries, planner)
    return _apply_poll(conn, feed_id, owner, feed_update, plan, log, now)


async def store_poll(
    db: Database,
    *,
    feed_id: int,
    owner: str,
    update: FeedUpdate,
    entries: Sequence[EntryData],
    planner: EntryPlanner,
    log: FetchLogRecord,
    now: datetime,
) -> PollWriteResult:
    """``apply_poll`` for parsed ``entries``: what is stored is read, ``planner`` decides
    which entries are new or changed, and the result is written, all in one transaction.

    One transaction instead of a read and then a write: no other writer can slip in
    between, and the poll pays for one database round (one thread hop on SQLite) less.
    The counts of ``log`` are replaced by what was written.

    Polls queued at the same moment are written together: their feed rows and fetch log
    rows in one multi-row statement each (most polls are 304s, with nothing else to
    write). A poll that moves the feed (a confirmed permanent redirect) is written alone.
    """
    if not update.new_url:
        poll = _Poll(feed_id, owner, update, tuple(entries), planner, log, to_utc(now))
        return await db.write_merged(_store_polls, poll)
    return await db.write(
        _store_poll, feed_id, owner, update, tuple(entries), planner, log, to_utc(now)
    )


__all__ = ["EntryPlanner", "apply_poll", "entry_states", "store_poll"]
