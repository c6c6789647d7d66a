"""The database handle: an async SQLAlchemy engine with the per-dialect settings we rely on."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)

from aggregator.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 5000
_BEGIN_OPTION = "aggregator_sqlite_begin"

P = ParamSpec("P")
T = TypeVar("T")
ItemT = TypeVar("ItemT")


def default_sqlite_url(data_dir: str | Path) -> str:
    """The default database: ``aggregator.sqlite3`` inside ``data_dir`` (the repo's ``db/``)."""
    return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / 'aggregator.sqlite3'}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for other databases and in-memory ones)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook issue BEGIN itself (the driver's implicit
    # transactions cannot do BEGIN IMMEDIATE and break SAVEPOINT handling).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that reads and then
    # writes can fail with SQLITE_BUSY without waiting for the busy timeout.
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@dataclass
class _WriteJob:
    work: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]
    # A merged job's ``work`` takes a list of items (``args[0]`` is this job's item) and
    # returns one result per item; queued jobs with the same ``work`` share one call.
    merged: bool = False

    def run_alone(self, conn: Connection) -> Any:
        if self.merged:
            return _merged_results(conn, self.work, [self.args[0]])[0]
        return self.work(conn, *self.args, **self.kwargs)


_Outcome = tuple[_WriteJob, bool, Any]


def _merged_results(
    conn: Connection, work: Callable[..., Sequence[Any]], items: list[Any]
) -> list[Any]:
    results = list(work(conn, items))
    if len(results) != len(items):
        raise RuntimeError(
            f"{work.__name__} returned {len(results)} results for {len(items)} items"
        )
    return results


def _settle(outcomes: list[_Outcome]) -> None:
    """Hand each caller its result (on the event loop's thread)."""
    for job, ok, value in outcomes:
        if job.future.cancelled():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


class _GroupWriter:
    """The one SQLite writer thread, with group commit.

    Writes queued while a transaction runs share the next transaction, each inside its own
    SAVEPOINT: a failing write rolls back alone, the others commit together, and no caller
    hears "done" before the commit that made its write durable. One commit per batch
    instead of one per write is what keeps many small writes (a 304 per feed) cheap.

    Merged writes go further: the queued writes of one merged ``work`` run as one call
    (one multi-row statement instead of a few statements each). When that call fails, its
    writes run again one by one, so the failing one still fails alone.
    """

    def __init__(self, engine: Engine, max_batch: int = 64) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_WriteJob | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, job: _WriteJob) -> None:
        self._queue.put(job)

    def shutdown(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._settle_later(self._write(batch))

    @staticmethod
    def _units(batch: list[_WriteJob]) -> list[list[_WriteJob]]:
        """The batch in order, merged jobs gathered at the place of the first of their kind."""
        units: list[list[_WriteJob]] = []
        merged: dict[Callable[..., Any], list[_WriteJob]] = {}
        for job in batch:
            if not job.merged:
                units.append([job])
            elif job.work in merged:
                merged[job.work].append(job)
            else:
                merged[job.work] = [job]
                units.append(merged[job.work])
        return units

    def _write(self, batch: list[_WriteJob]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    for unit in self._units(batch):
                        # A caller that gave up before its turn is not written.
                        live = [job for job in unit if not job.future.cancelled()]
                        if len(live) > 1:
                            outcomes.extend(self._run_merged(conn, live))
                        elif live:
                            outcomes.append(self._run_alone(conn, live[0]))
        except Exception as exc:  # the commit failed: nothing of this batch is stored
            return [(job, False, exc) for job in batch]
        return outcomes

    @staticmethod
    def _run_alone(conn: Connection, job: _WriteJob) -> _Outcome:
        try:
            with conn.begin_nested():
                return (job, True, job.run_alone(conn))
        except Exception as exc:
            return (job, False, exc)

    def _run_merged(self, conn: Connection, jobs: list[_WriteJob]) -> list[_Outcome]:
        try:
            with conn.begin_nested():
                results = _merged_results(conn, jobs[0].work, [job.args[0] for job in jobs])
        except Exception:
            return [self._run_alone(conn, job) for job in jobs]
        return [(job, True, result) for job, result in zip(jobs, results, strict=True)]

    @staticmethod
    def _settle_later(outcomes: list[_Outcome]) -> None:
        # One wake-up of each event loop per batch, not one per write.
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].future.get_loop(), []).append(outcome)
        for loop, settled in by_loop.items():
            # RuntimeError: that loop is closed, so nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, settled)


class Database:
    """An open database. Create with ``await Database.open(url)``; close with ``close()``."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.dialect: str = engine.dialect.name
        # SQLite hot-path writes run as plain synchronous transactions on one writer
        # thread: aiosqlite hops threads for every statement, cursor and fetch (about 30
        # hops for one poll write), while SQLite allows one writer at a time anyway.
        self._sync_engine: Engine | None = None
        self._writer: _GroupWriter | None = None
        # (An in-memory database exists once per connection: it keeps the async path only.)
        if self.dialect == "sqlite" and sqlite_path(url) is not None:
            sync_url = make_url(url).set(drivername="sqlite+pysqlite")
            self._sync_engine = create_engine(
                sync_url,
                connect_args={
                    "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                    "check_same_thread": False,  # pooled; used by one thread at a time
                },
            )
            event.listen(self._sync_engine, "connect", _on_sqlite_connect)
            event.listen(self._sync_engine, "begin", _on_sqlite_begin)
            self._writer = _GroupWriter(self._sync_engine)

    @classmethod
    async def open(cls, url: str, *, echo: bool = False) -> Database:
        backend = make_url(url).get_backend_name()
        if backend == "sqlite":
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(
                url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            )
            event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
            event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        elif backend == "postgresql":
            # pre_ping: connections survive a PostgreSQL restart without a worker restart.
            engine = create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10)
        else:
            raise ConfigError(
                f"unsupported database URL {url!r}: use sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return cls(engine, url)

    async def close(self) -> None:
        await self.engine.dispose()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def write(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work(connection, ...)`` (synchronous Core code) in one write transaction.

        SQLite: on the writer thread with BEGIN IMMEDIATE. PostgreSQL: through the async
        engine (``run_sync``). Commits on success, rolls back on any exception.
        """
        if self._sync_engine is None or self._writer is None:
            async with self.transaction() as conn:
                return await conn.run_sync(work, *args, **kwargs)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._writer.submit(_WriteJob(work, args, kwargs, future))
        return await future

    async def write_merged(
        self, work: Callable[[Connection, list[ItemT]], Sequence[T]], item: ItemT
    ) -> T:
        """``work(connection, [item])[0]`` in one write transaction, like ``write``.

        ``work`` returns one result per item, in order. On SQLite, the items of writes
        queued together for the same ``work`` go to one call: many small writes (a 304 for
        every feed of a pass) become a few multi-row statements. If that call fails, each
        item is written alone, so a failing item fails alone, as with ``write``.
        """
        if self._sync_engine is None or self._writer is None:
            return (await self.write(_merged_results, work, [item]))[0]
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._writer.submit(_WriteJob(work, (item,), {}, future, merged=True))
        return await future

    async def read_with(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work(connection, ...)`` (synchronous Core code) in a read transaction.

        SQLite: on a thread of the default executor (one hop instead of one per statement).
        """
        if self._sync_engine is None:
            async with self.read() as conn:
                return await conn.run_sync(work, *args, **kwargs)
        call = functools.partial(self._read_sync, work, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def _read_sync(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        assert self._sync_engine is not None
        with self._sync_engine.connect() as conn, conn.begin():
            return work(conn, *args, **kwargs)

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: commits on success, rolls back on any exception.

        On SQLite it starts with BEGIN IMMEDIATE, so writers queue on the busy timeout
        instead of failing halfway.
        """
        async with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                await conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (a consistent snapshot on both dialects)."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached (down, restarting, refusing
    connections, timing out) rather than a bug: callers report it and retry later."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
