"""A small render cache for topic feeds and anonymous pages, safe for curators' changes.

Rendering a topic feed (a storage query plus sanitizing 50 entries) costs tens of
milliseconds; serving the same bytes costs well under one. Entries are kept for ``ttl_s``
seconds, and:

- every curator change made through this app bumps the generation (``invalidate``), and an
  entry from an older generation is never served: a hide shows on the very next request;
- an entry older than ``ttl_s`` (which the worker's new entries may have outdated) is served
  once more while one background task renders its replacement, so readers never queue
  behind a render (stale-while-revalidate, bounded by one render's time);
- concurrent misses for one key share one render (single flight).

Another web process (several behind a balancer) sees a curator's change within ``ttl_s``.
``ttl_s = 0`` turns caching off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 2.0
MAX_ENTRIES = 512


@dataclass(slots=True)
class _Entry:
    value: Any
    generation: int
    created: float


class RenderCache:
    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.generation = 0
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._pending: dict[tuple[Hashable, int], asyncio.Future[Any]] = {}
        self._refreshing: set[asyncio.Task[Any]] = set()
        self.hits = 0
        self.misses = 0

    def invalidate(self) -> None:
        """Forget everything: called after every change a curator makes."""
        self.generation += 1
        self._entries.clear()

    async def get(self, key: Hashable, produce: Callable[[], Awaitable[Any]]) -> Any:
        if self.ttl_s <= 0:
            return await produce()
        entry = self._entries.get(key)
        if entry is not None and entry.generation == self.generation:
            self.hits += 1
            self._entries.move_to_end(key)
            if self.clock() - entry.created >= self.ttl_s:
                self._refresh_in_background(key, produce)
            return entry.value
        self.misses += 1
        return await self._produce(key, produce)

    async def _produce(self, key: Hashable, produce: Callable[[], Awaitable[Any]]) -> Any:
        generation = self.generation
        pending = self._pending.get((key, generation))
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[(key, generation)] = future
        try:
            value = await produce()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unshared failure is not logged twice
            raise
        finally:
            self._pending.pop((key, generation), None)
        future.set_result(value)
        if generation == self.generation:  # a change meanwhile makes this result too old
            self._entries[key] = _Entry(value, generation, self.clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def _refresh_in_background(self, key: Hashable, produce: Callable[[], Awaitable[Any]]) -> None:
        if (key, self.generation) in self._pending:
            return

        async def refresh() -> None:
            try:
                await self._produce(key, produce)
            except Exception:
                log.exception("refreshing a cached page failed; the next request retries")

        task = asyncio.get_running_loop().create_task(refresh())
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)
