"""Composition helpers shared by the CLI commands: open the database (checking or applying
migrations), seed a fresh database, build the pipeline, run the scheduler and web view."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator import storage
from aggregator.config import Settings
from aggregator.errors import AggregatorError, OPMLError
from aggregator.opml import parse_opml
from aggregator.storage import Database
from aggregator.storage.migrate import ensure_schema_current, upgrade_database
from aggregator.tagging import load_default_topics, parse_topics_file
from aggregator.types import NewFeed

if TYPE_CHECKING:
    from aggregator.metrics import Metrics
    from aggregator.pipeline import Pipeline

log = logging.getLogger("aggregator")

# Container allocations between two young-generation collections (Python's default: 700).
# A poll allocates a few hundred short-lived objects (request, response, headers), so at
# the default the collector ran about 65 times in a pass over 1,000 feeds.
GC_YOUNG_THRESHOLD = 5000


def settle_gc() -> None:
    """Once start-up is done: keep the cyclic garbage collector off the objects that live as
    long as the process, and let it run less often.

    The modules, the ORM's table metadata and the parsers' compiled rules are never garbage,
    yet every full collection walked them all: up to 90 ms in which nothing else ran, in
    the middle of a pass. ``gc.freeze`` moves them out of the collector's sight.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def open_database(settings: Settings) -> Database:
    """Open the configured database; migrate it when allowed, else refuse an old schema."""
    if settings.auto_migrate:
        await asyncio.to_thread(upgrade_database, settings.database_url)
    db = await Database.open(settings.database_url)
    try:
        await ensure_schema_current(db)
        await seed_topics(settings, db)
    except BaseException:
        await db.close()
        raise
    return db


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = await open_database(settings)
    try:
        yield db
    finally:
        await db.close()


def topic_definitions(settings: Settings) -> list:
    if settings.topics_file:
        path = Path(settings.topics_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AggregatorError(f"cannot read topics file {path}: {exc.strerror}") from None
        return parse_topics_file(text)
    return load_default_topics()


async def seed_topics(settings: Settings, db: Database) -> None:
    """A fresh database starts with the default topics (or those of AGGREGATOR_TOPICS_FILE)."""
    if not await storage.list_topics(db):
        for topic in topic_definitions(settings):
            await storage.upsert_topic(
                db, topic.slug, topic.name, topic.description, topic.definition
            )
        log.info("imported the default topics")


async def seed_database(settings: Settings, db: Database) -> None:
    """On first start, subscribe to the feeds of feeds.opml (AGGREGATOR_IMPORT_OPML)."""
    if settings.import_opml and not await storage.list_feeds(db):
        path = Path(settings.import_opml)
        if not path.is_file():
            log.info("no %s to import; add feeds with `aggregator feeds add URL`", path)
            return
        try:
            document = parse_opml(path.read_bytes())
        except OPMLError as exc:
            log.error("cannot import %s: %s", path, exc)
            return
        added, skipped = await storage.add_feeds(
            db,
            [
                NewFeed(url=f.url, title=f.title, site_url=f.site_url, category=f.category)
                for f in document.feeds
            ],
        )
        log.info(
            "imported %d feeds from %s (%d already subscribed)", len(added), path, len(skipped)
        )


@contextlib.asynccontextmanager
async def pipeline_for(
    settings: Settings, db: Database, metrics: Metrics | None = None
) -> AsyncIterator[Pipeline]:
    # Imported here: the pipeline pulls in the extractors, which light commands do not need.
    from aggregator.fetch import Fetcher, FetcherConfig
    from aggregator.metrics import Metrics
    from aggregator.pipeline import Pipeline
    from aggregator.tagger import Tagger

    async with Fetcher(FetcherConfig.from_settings(settings)) as fetcher:
        pipeline = Pipeline(
            settings=settings,
            db=db,
            fetcher=fetcher,
            tagger=Tagger(),
            metrics=metrics or Metrics(),
        )
        try:
            yield pipeline
        finally:
            pipeline.close()


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def echo_err(message: str) -> None:
    print(message, file=sys.stderr)


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``: a progress bar on a terminal, plain lines on stderr otherwise."""
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task, n)
        return
    done = 0
    step = max(total // 10, 1)

    def advance(n: int) -> None:
        nonlocal done
        before, done = done, done + n
        if done // step != before // step or done >= total:
            print(f"{label}: {done}/{total}", file=sys.stderr, flush=True)

    yield advance
