"""APScheduler wiring: the poll tick, maintenance (retention, fetch-log trimming).

The tick claims due feeds with leases (so several workers on several hosts share one
PostgreSQL database safely) and polls them with bounded concurrency. Jobs never overlap
(``max_instances=1``, ``coalesce=True``). An exception inside a job is logged and the
scheduler keeps running; a database outage is retried on the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from aggregator import storage
from aggregator.pipeline import Pipeline

log = logging.getLogger("aggregator.scheduler")


MAX_RETRY_DELAY_S = 300.0


def retry_delay_s(failures: int, tick_s: float) -> float:
    """Wait after ``failures`` failed ticks in a row: the next tick, then doubling, capped."""
    return float(min(tick_s * 2 ** (failures - 1), max(MAX_RETRY_DELAY_S, tick_s)))


class Scheduler:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._busy = 0  # jobs running now; shutdown waits for them
        self._idle = asyncio.Event()
        self._idle.set()
        self.consecutive_db_failures = 0
        self.retry_at: datetime | None = None  # after failures, ticks wait until then

    async def tick(self) -> None:
        """Record liveness, refresh backlog metrics, poll the due feeds."""
        self._busy += 1
        self._idle.clear()
        try:
            await self._tick()
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _tick(self) -> None:
        pipeline = self.pipeline
        if pipeline.stopping:
            return
        now = pipeline.clock()
        if self.retry_at is not None and now < self.retry_at:
            return  # backing off after failures
        try:
            await storage.record_tick(pipeline.db, pipeline.worker_id, now)
            summary = await pipeline.run_once()
            status = await storage.status_summary(pipeline.db, pipeline.clock())
            pipeline.metrics.due_backlog.set(status.due_backlog)
            pipeline.metrics.oldest_due_age.set(status.oldest_due_age_s or 0)
            self.consecutive_db_failures = 0
            self.retry_at = None
        except Exception as exc:
            self.consecutive_db_failures += 1
            pipeline.metrics.database_errors.inc()
            wait_s = retry_delay_s(self.consecutive_db_failures, self.settings.poll_tick_s)
            self.retry_at = now + timedelta(seconds=wait_s)
            unavailable = storage.is_unavailable(exc)
            log.error(
                "tick failed (%d in a row%s), retrying in %.0f s: %s",
                self.consecutive_db_failures,
                ", database unavailable" if unavailable else "",
                wait_s,
                exc,
                # A database outage is expected and needs no traceback; a bug does.
                exc_info=not unavailable and self.consecutive_db_failures == 1,
            )
            return
        pipeline.metrics.ticks.inc()
        if summary.feeds:
            log.info(
                "tick: %d feeds, %d not modified, %d new, %d updated, %d errors in %.1f s",
                summary.feeds,
                summary.not_modified,
                summary.new_entries,
                summary.updated_entries,
                summary.errors,
                summary.seconds,
            )

    async def maintenance(self) -> None:
        self._busy += 1
        self._idle.clear()
        try:
            await self._maintenance()
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _maintenance(self) -> None:
        pipeline = self.pipeline
        now = pipeline.clock()
        try:
            pruned = await storage.prune_entries(
                pipeline.db, older_than=now - timedelta(days=self.settings.retention_days)
            )
            trimmed = await storage.trim_fetch_log(
                pipeline.db, keep_days=self.settings.fetch_log_days, now=now
            )
            log.info(
                "maintenance: pruned %d old entries, trimmed %d fetch-log rows", pruned, trimmed
            )
        except Exception:
            pipeline.metrics.database_errors.inc()
            log.exception("maintenance failed; it runs again later")

    def start(self) -> None:
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.poll_tick_s,
            id="poll-tick",
            max_instances=1,
            coalesce=True,
            next_run_time=self.pipeline.clock(),
            misfire_grace_time=None,
        )
        self._scheduler.add_job(
            self.maintenance,
            "interval",
            hours=6,
            id="maintenance",
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.start()
        log.info(
            "scheduler started as %s: tick every %d s",
            self.pipeline.worker_id,
            self.settings.poll_tick_s,
        )

    async def shutdown(self, grace_s: float = 30.0) -> None:
        """Stop claiming, let feeds in flight finish (up to ``grace_s``), release leases."""
        self.pipeline.stop()
        if self._scheduler.running:
            self._scheduler.pause()  # no new jobs; the running ones go on
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace_s)
        except TimeoutError:
            log.warning("shutting down with work still in flight after %.0f s", grace_s)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        try:
            await storage.release_all_leases(self.pipeline.db, self.pipeline.worker_id)
        except Exception:
            log.exception("could not release leases; they expire after %d s", self.settings.lease_s)
