"""CPU-bound stages (feed parsing, article extraction) off the event loop.

In threads they would share one core under the GIL; a small pool of processes uses every
core. With one worker (or one core) they run in a thread of this process instead.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from aggregator.errors import AggregatorError

T = TypeVar("T")
log = logging.getLogger("aggregator.workers")
MAX_AUTO_WORKERS = 4


class WorkerCrashedError(AggregatorError):
    """A worker process died on one document (out of memory, a crash in a C library)."""


def auto_workers(requested: int) -> int:
    """``requested`` if set, else one per core (at most MAX_AUTO_WORKERS)."""
    return requested if requested > 0 else min(os.cpu_count() or 1, MAX_AUTO_WORKERS)


def _init_worker(owner_pid: int) -> None:
    # Ctrl-C (and systemd's SIGTERM) reach the whole process group; the owner finishes the
    # documents in flight and shuts the pool down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A worker's own pipes keep it (and the forkserver) alive even when the owner is
    # killed with SIGKILL: watch the owner and leave with it.
    threading.Thread(target=_exit_with, args=(owner_pid,), daemon=True).start()


def _exit_with(owner_pid: int, every_s: float = 1.0) -> None:
    while True:
        time.sleep(every_s)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass  # the pid was reused by another user's process: still treat as alive


class CpuPool:
    def __init__(self, workers: int) -> None:
        self.workers = auto_workers(workers)
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver: forking a process that runs threads (database, event loop) is unsafe.
            # The server imports the heavy modules once; workers forked from it share them.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["aggregator.parse", "aggregator.extract"])
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
        return self._executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(fn, *args, **kwargs)
        if self.workers <= 1:
            return await asyncio.to_thread(call)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool(), call)
        except BrokenProcessPool:
            # One worker died; the pool is unusable. Start a new one for the next documents.
            log.error("a worker process died while running %s; restarting the pool", fn.__name__)
            self.close()
            raise WorkerCrashedError(
                "the worker process handling this document died (too large or malformed?)"
            ) from None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
