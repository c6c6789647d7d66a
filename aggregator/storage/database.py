"""The database handle: an async SQLAlchemy engine with the per-dialect settings we rely on."""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
    future: Future[Any] = field(default_factory=Future)


class _GroupWriter:
    """The one SQLite writer thread, with group commit.

    Writes queued while a transaction runs share the next transaction, each inside its own
    SAVEPOINT: a failing write rolls back alone, the others commit together, and no caller
    hears "done" before the commit that made its write durable. One commit per batch
    instead of one per write is what keeps many small writes (a 304 per feed) cheap.
    """

    def __init__(self, engine: Engine, max_batch: int = 64) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_WriteJob | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        job = _WriteJob(work, args, kwargs)
        self._queue.put(job)
        return job.future

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
            self._write(batch)

    def _write(self, batch: list[_WriteJob]) -> None:
        outcomes: list[tuple[_WriteJob, bool, Any]] = []
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    for job in batch:
                        if not job.future.set_running_or_notify_cancel():
                            continue  # the caller gave up before its turn
                        try:
                            with conn.begin_nested():
                                result = job.work(conn, *job.args, **job.kwargs)
                        except Exception as exc:
                            outcomes.append((job, False, exc))
                        else:
                            outcomes.append((job, True, result))
        except Exception as exc:  # the commit failed: nothing of this batch is stored
            for job in batch:
                if job.future.running():
                    job.future.set_exception(exc)
            return
        for job, ok, value in outcomes:
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)


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
        return await asyncio.wrap_future(self._writer.submit(work, *args, **kwargs))

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
