"""The async orchestration of one poll cycle: claim -> fetch -> parse -> decide -> store,
then extract -> tag for new and changed entries.

Only I/O lives here; every decision is a pure function elsewhere (``decide``, ``extract``,
``tagging``). Expected failures become stored outcomes on the feed; an unexpected one is
logged loudly, recorded against the feed, and never stops the other feeds of the cycle.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aggregator import decide, item_index, storage
from aggregator.config import Settings
from aggregator.errors import CpuLimitError, ParseError
from aggregator.extract import (
    charset_from_content_type,
    extract,
    extract_from_feed_content,
    feed_content_is_full_article,
)
from aggregator.fetch import Fetcher
from aggregator.logs import feed_logger
from aggregator.metrics import Metrics
from aggregator.retag import document_for
from aggregator.storage import Database
from aggregator.tagger import Tagger
from aggregator.types import (
    Article,
    ArticleStatus,
    ContentMode,
    Entry,
    EntryData,
    EntryPlan,
    EntryState,
    ErrorKind,
    ExtractedArticle,
    Feed,
    FeedData,
    FetchLogRecord,
    FetchOutcome,
    FetchRequest,
    FetchResult,
    PollSummary,
)
from aggregator.workers import CpuPool, WorkerCrashedError

log = logging.getLogger("aggregator.pipeline")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def poll_policy(settings: Settings) -> decide.PollPolicy:
    return decide.PollPolicy(
        min_interval_s=settings.min_interval_s,
        max_interval_s=settings.max_interval_s,
        max_backoff_s=settings.max_backoff_s,
        broken_after_s=settings.broken_after_s,
        jitter_fraction=settings.jitter_fraction,
    )


@dataclass
class FeedPollResult:
    feed: Feed
    outcome: FetchOutcome
    new_entry_ids: tuple[int, ...] = ()
    updated_entry_ids: tuple[int, ...] = ()
    error: str | None = None


@dataclass
class Pipeline:
    """Everything one worker needs to poll feeds; built by the CLI (the composition root)."""

    settings: Settings
    db: Database
    fetcher: Fetcher
    tagger: Tagger
    metrics: Metrics = field(default_factory=Metrics)
    clock: Clock = utc_now
    worker_id: str = ""
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.worker_id = self.worker_id or self.settings.effective_worker_id()
        self.policy = poll_policy(self.settings)
        self._article_slots = asyncio.Semaphore(self.settings.article_concurrency)
        self.cpu = CpuPool(self.settings.cpu_workers, self.settings.document_cpu_limit_s)

    def _plan_entries(
        self,
        stored: Mapping[str, EntryState],
        parsed: Sequence[EntryData],
        lists_unchanged: Callable[[str], bool] | None = None,
    ) -> EntryPlan:
        return decide.plan_entries(
            stored,
            parsed,
            max_updates_per_entry=self.settings.max_updates_per_entry,
            lists_unchanged=lists_unchanged,
        )

    def close(self) -> None:
        """Stop the worker processes (the pipeline's owner calls this when done)."""
        self.cpu.close()

    # ------------------------------------------------------------------ cycle

    def stop(self) -> None:
        """Stop claiming new feeds; feeds in flight finish (graceful shutdown)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run_once(
        self,
        *,
        all_feeds: bool = False,
        feed_urls: Sequence[str] = (),
        skip_articles: bool = False,
        on_feed_done: Callable[[FeedPollResult], None] | None = None,
        on_claimed: Callable[[int], None] | None = None,
    ) -> PollSummary:
        """One pass: claim due (or all / named) feeds in batches and poll them concurrently.

        The next batch is claimed while the last ``poll_concurrency`` feeds of the current
        one start, so up to ``poll_concurrency`` feeds are always in flight: no slot waits
        for a claim, nor at a batch boundary for the slowest feed of the batch.
        """
        started = time.perf_counter()
        results: list[FeedPollResult] = []
        if not skip_articles:  # topics are only needed to tag articles
            await self.tagger.refresh(self.db)
        seen: set[int] = set()
        slots = asyncio.Semaphore(self.settings.poll_concurrency)

        async def one(feed: Feed) -> None:
            try:
                result = await self.poll_feed(feed, skip_articles=skip_articles)
            finally:
                slots.release()
            results.append(result)
            if on_feed_done is not None:
                on_feed_done(result)

        running: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []  # bugs only: poll_feed records every failure

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            failure = None if task.cancelled() else task.exception()
            if failure is not None:
                errors.append(failure)

        def claim() -> asyncio.Task[list[Feed]]:
            return asyncio.create_task(self._claim(seen, all_feeds=all_feeds, feed_urls=feed_urls))

        next_batch: asyncio.Task[list[Feed]] | None = claim()
        try:
            while next_batch is not None and not self.stopping:
                feeds = await next_batch
                next_batch = None
                seen.update(f.id for f in feeds)
                if on_claimed is not None and feeds:
                    on_claimed(len(feeds))
                for index, feed in enumerate(feeds):
                    if next_batch is None and len(feeds) - index <= self.settings.poll_concurrency:
                        next_batch = claim()
                    await slots.acquire()
                    if self.stopping:  # graceful shutdown: hand back what has not started
                        slots.release()
                        await storage.release_leases(
                            self.db, [f.id for f in feeds[index:]], self.worker_id
                        )
                        break
                    task = asyncio.create_task(one(feed))
                    running.add(task)
                    task.add_done_callback(finished)
        except asyncio.CancelledError:
            for task in running:
                task.cancel()
            raise
        finally:
            if next_batch is not None:  # claimed ahead, never started (stopping, an error)
                await self._hand_back(next_batch)
            # The feeds in flight finish before the pass ends, even when a claim failed
            # (the database went away): each records its own outcome.
            await asyncio.gather(*running, return_exceptions=True)
        if errors:
            raise errors[0]
        if not skip_articles and not self.stopping:
            # Entries stored without an article (a crash after storing, an earlier
            # --skip-articles run, a content change) are picked up here.
            await self.drain_article_backlog()
        return summarize(results, time.perf_counter() - started)

    async def drain_article_backlog(self, limit: int = 200) -> int:
        """Extract and tag up to ``limit`` stored entries that have no article yet."""
        if not self.settings.fetch_articles:
            return 0
        entries = await storage.entries_needing_article(self.db, limit)
        if entries:
            await self.process_entries([entry.id for entry in entries])
        return len(entries)

    async def refresh_articles(
        self,
        *,
        feed_id: int | None = None,
        batch: int = 200,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Extract every stored entry's article again (all feeds, or one) and re-tag it."""
        await self.tagger.refresh(self.db)
        done = 0
        after = 0
        while not self.stopping:
            rows = await storage.entries_for_retag(self.db, after, batch)
            if not rows:
                break
            after = rows[-1][0].id
            ids = [entry.id for entry, _ in rows if feed_id is None or entry.feed_id == feed_id]
            await self.process_entries(ids)
            done += len(ids)
            if on_progress is not None:
                on_progress(len(ids))
        return done

    async def _hand_back(self, claiming: asyncio.Task[list[Feed]]) -> None:
        """Release the leases of a batch claimed ahead that this pass will not poll."""
        await asyncio.wait([claiming])
        if claiming.cancelled() or claiming.exception() is not None:
            return
        feed_ids = [feed.id for feed in claiming.result()]
        try:
            await storage.release_leases(self.db, feed_ids, self.worker_id)
        except Exception:  # the leases expire on their own
            log.exception("could not hand back %d claimed feeds", len(feed_ids))

    async def _claim(
        self, seen: set[int], *, all_feeds: bool, feed_urls: Sequence[str]
    ) -> list[Feed]:
        """The next batch of this pass: due feeds (or all / named ones) not polled yet."""
        now = self.clock()
        if all_feeds or feed_urls:
            return await storage.claim_feeds(
                self.db,
                now=now,
                owner=self.worker_id,
                lease_s=self.settings.lease_s,
                urls=list(feed_urls) or None,
                after_id=max(seen, default=None),  # batches come in id order
                limit=self.settings.claim_batch,
            )
        feeds = await storage.claim_due_feeds(
            self.db,
            now=now,
            limit=self.settings.claim_batch,
            owner=self.worker_id,
            lease_s=self.settings.lease_s,
        )
        # A feed polled earlier in this pass can be due again (a zero Retry-After):
        # it waits for the next pass, and its new lease must not block it till then.
        for feed in feeds:
            if feed.id in seen:
                await storage.release_lease(self.db, feed.id, self.worker_id)
        return [f for f in feeds if f.id not in seen]

    # ------------------------------------------------------------------ one feed

    async def poll_feed(self, feed: Feed, *, skip_articles: bool = False) -> FeedPollResult:
        flog = feed_logger(log, feed.url)
        try:
            result = await self._poll_feed(feed, flog)
        except Exception as exc:  # an unexpected bug: record it, never kill the cycle
            flog.exception("unexpected error while polling")
            result = await self._record_internal_error(feed, exc)
        if not skip_articles and (result.new_entry_ids or result.updated_entry_ids):
            await self.process_entries(
                [*result.new_entry_ids, *result.updated_entry_ids], feed=feed
            )
        return result

    async def _poll_feed(self, feed: Feed, flog: logging.LoggerAdapter) -> FeedPollResult:
        fetched = await self.fetcher.fetch_feed(
            FetchRequest(
                url=feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                previous_body_hash=feed.body_hash,
            )
        )
        self.metrics.fetches.labels(fetched.outcome.value, str(fetched.status or "")).inc()
        self.metrics.fetch_seconds.observe(fetched.duration_s)

        feed_data: FeedData | None = None
        parse_error: str | None = None
        if fetched.outcome is FetchOutcome.OK and fetched.body is not None:
            parse_started = time.perf_counter()
            try:
                feed_data = await self.cpu.run(
                    item_index.parse_feed_changes,
                    fetched.body,
                    fetched.final_url,
                    content_type=fetched.content_type,
                    now=self.clock(),
                    max_entries=self.settings.max_entries_per_feed,
                    previous_index=feed.item_index,
                )
            except ParseError as exc:
                parse_error = exc.message
            except (WorkerCrashedError, CpuLimitError) as exc:
                parse_error = str(exc)
            self.metrics.parse_seconds.observe(time.perf_counter() - parse_started)
            if feed_data is not None:
                self.metrics.feed_items.labels("parsed").inc(len(feed_data.entries))
                self.metrics.feed_items.labels("unchanged").inc(len(feed_data.unchanged))

        now = self.clock()
        update = decide.after_fetch(feed, fetched, feed_data, parse_error, now, self.policy)
        error = parse_error or fetched.error
        written = await storage.store_poll(
            self.db,
            feed_id=feed.id,
            owner=self.worker_id,
            update=update,
            entries=feed_data.entries if feed_data is not None else (),
            planner=(
                functools.partial(
                    self._plan_entries, lists_unchanged=item_index.lists_unchanged(feed_data)
                )
                if feed_data is not None and feed_data.unchanged
                else self._plan_entries
            ),
            log=FetchLogRecord(
                feed_id=feed.id,
                started_at=now,
                outcome=FetchOutcome.ERROR if parse_error else fetched.outcome,
                status=fetched.status,
                duration_s=fetched.duration_s,
                bytes_read=fetched.bytes_read,
                new_entries=0,  # counted by storage from what it wrote
                updated_entries=0,
                error=error,
                error_kind=ErrorKind.PARSE if parse_error else fetched.error_kind,
            ),
            now=now,
        )
        self.metrics.entries_stored.labels("new").inc(len(written.new_entry_ids))
        self.metrics.entries_stored.labels("updated").inc(len(written.updated_entry_ids))
        if error:
            flog.warning("poll failed: %s", error)
        else:
            # A poll that changed nothing is the common case: not worth a line at INFO.
            changed = written.new_entry_ids or written.updated_entry_ids
            flog.log(
                logging.INFO if changed else logging.DEBUG,
                "polled: %s, %d new, %d updated",
                fetched.outcome.value,
                len(written.new_entry_ids),
                len(written.updated_entry_ids),
            )
        return FeedPollResult(
            feed=feed,
            outcome=FetchOutcome.ERROR if parse_error else fetched.outcome,
            new_entry_ids=tuple(written.new_entry_ids),
            updated_entry_ids=tuple(written.updated_entry_ids),
            error=error,
        )

    async def _record_internal_error(self, feed: Feed, exc: Exception) -> FeedPollResult:
        now = self.clock()
        message = f"internal error: {type(exc).__name__}: {exc}"[:500]
        fetched = FetchResult(
            requested_url=feed.url,
            final_url=feed.url,
            outcome=FetchOutcome.ERROR,
            error_kind=ErrorKind.INTERNAL,
            error=message,
        )
        update = decide.after_fetch(feed, fetched, None, None, now, self.policy)
        try:
            await storage.apply_poll(
                self.db,
                feed_id=feed.id,
                owner=self.worker_id,
                update=update,
                plan=decide.plan_entries({}, ()),
                log=FetchLogRecord(
                    feed_id=feed.id,
                    started_at=now,
                    outcome=FetchOutcome.ERROR,
                    status=None,
                    duration_s=0.0,
                    bytes_read=0,
                    new_entries=0,
                    updated_entries=0,
                    error=message,
                    error_kind=ErrorKind.INTERNAL,
                ),
                now=now,
            )
        except Exception:
            log.exception("could not record the error of %s", feed.url)
        return FeedPollResult(feed=feed, outcome=FetchOutcome.ERROR, error=message)

    # ------------------------------------------------------------------ articles and tags

    async def process_entries(self, entry_ids: Sequence[int], *, feed: Feed | None = None) -> None:
        """Extract the article of each entry (when enabled) and tag it."""

        async def one(entry_id: int) -> None:
            async with self._article_slots:
                try:
                    entry = await storage.get_entry(self.db, entry_id)
                    entry_feed = feed or await storage.get_feed(self.db, entry.feed_id)
                    article = await self.extract_entry(entry, entry_feed)
                    await self.tag_entry(entry, article)
                except Exception:
                    log.exception("could not process entry %s", entry_id)

        await asyncio.gather(*(one(i) for i in entry_ids))

    async def extract_entry(self, entry: Entry, feed: Feed) -> Article | None:
        if not self.settings.fetch_articles:
            return None
        now = self.clock()
        mode = feed.content_mode
        if mode is ContentMode.FEED or (
            mode is ContentMode.AUTO
            and entry.content_html
            and feed_content_is_full_article(entry.content_html, None)
        ):
            try:
                extracted = await self.cpu.run(
                    extract_from_feed_content,
                    entry.content_html or entry.summary_html or "",
                    entry.url,
                )
            except Exception as exc:  # over the CPU limit, a worker crash: this entry only
                log.warning("extraction of the feed's content failed for %s: %s", entry.url, exc)
                article = _failed(entry.id, ArticleStatus.FAILED, f"extraction failed: {exc}", now)
            else:
                article = _article_from(entry.id, extracted, now)
        elif not entry.url:
            article = _failed(entry.id, ArticleStatus.SKIPPED, "the entry has no link", now)
        else:
            article = await self._article_from_page(entry.id, entry.url, now)
        self.metrics.extractions.labels(article.status.value).inc()
        await storage.save_article(self.db, article)
        return article

    async def _article_from_page(self, entry_id: int, url: str, now: datetime) -> Article:
        page = await self.fetcher.fetch_page(url)
        if page.outcome is not FetchOutcome.OK or page.body is None:
            reason = page.error or f"article page answered {page.status}"
            return _failed(entry_id, ArticleStatus.FAILED, reason, now)
        try:
            extracted = await self.cpu.run(
                extract,
                page.body,
                page.final_url,
                charset=charset_from_content_type(page.content_type),
                # Shipped rules plus the curator's file (each process caches it and re-reads
                # it when it changes).
                rules_path=self.settings.site_rules_file or None,
            )
        except Exception as exc:
            log.warning("extraction failed for %s: %s", url, exc)
            return _failed(entry_id, ArticleStatus.FAILED, f"extraction failed: {exc}", now)
        if not extracted.text.strip():
            return _failed(entry_id, ArticleStatus.FAILED, "no article text found on the page", now)
        return _article_from(entry_id, extracted, now)

    async def tag_entry(self, entry: Entry, article: Article | None) -> None:
        now = self.clock()
        matches = self.tagger.tag_document(document_for(entry, article), entry_id=entry.id, now=now)
        for match in matches:
            self.metrics.matches.labels(match.topic_slug).inc()
        await storage.replace_rule_matches(self.db, entry.id, matches, now=now)


def _failed(entry_id: int, status: ArticleStatus, reason: str, now: datetime) -> Article:
    return Article(entry_id=entry_id, status=status, error=reason[:500], extracted_at=now)


def _article_from(entry_id: int, extracted: ExtractedArticle, now: datetime) -> Article:
    return Article(
        entry_id=entry_id,
        status=ArticleStatus.OK,
        title=extracted.title,
        text=extracted.text,
        html=extracted.html,
        author=extracted.author,
        published=extracted.published,
        lead_image=extracted.lead_image,
        language=extracted.language,
        word_count=extracted.word_count,
        extractor=extracted.extractor,
        extracted_at=now,
    )


def summarize(results: Sequence[FeedPollResult], seconds: float) -> PollSummary:
    errors = [r for r in results if r.outcome in (FetchOutcome.ERROR, FetchOutcome.GONE)]
    return PollSummary(
        feeds=len(results),
        not_modified=sum(r.outcome is FetchOutcome.NOT_MODIFIED for r in results),
        new_entries=sum(len(r.new_entry_ids) for r in results),
        updated_entries=sum(len(r.updated_entry_ids) for r in results),
        errors=len(errors),
        seconds=seconds,
        error_messages=tuple(f"{r.feed.url}: {r.error}" for r in errors if r.error),
    )
