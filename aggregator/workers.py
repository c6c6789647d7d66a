"""CPU-bound stages (feed parsing, article extraction) off the event loop.

In threads they would share one core under the GIL; a small pool of processes uses every
core. With one worker (or one core) they run in a thread of this process instead.

Every document gets a CPU-time limit (``cpu_limit_s``, the ``document_cpu_limit_s``
setting; 0: none). Past it the caller gets ``CpuLimitError`` and the pool goes on with the
next document:

- In a worker process an ``ITIMER_PROF`` timer (CPU time of the process) fires at the limit
  and again every ``REFIRE_S`` until the task ends; its handler raises ``_OverCpuLimit``, a
  ``BaseException`` so that a library's ``except Exception`` cannot swallow it. Python code
  (feedparser and its SAX handlers, sgmllib, bs4, trafilatura, and ``re``, which checks for
  signals while matching) stops within milliseconds of the limit.
- A signal handler only runs between bytecodes: a C call that does not come back to Python
  (lxml parsing a huge tree, nh3, hashlib) runs to its end first. For those the worker also
  sets its ``RLIMIT_CPU`` soft limit to its CPU use so far plus ``HARD_FACTOR`` times the
  limit plus ``HARD_SLACK_S``: the kernel ends a worker that overruns it (SIGXCPU), and the
  owner restarts the pool as for any crashed worker (``WorkerCrashedError``; the other
  documents in flight on that pool fail with it too and are tried again on a later poll).
  This is CPU time, not wall-clock time, so a busy machine or a long queue of documents
  never trips it.
- In the thread path (one worker) no signal can reach the thread: a watchdog thread reads
  each task thread's own CPU clock and raises ``_OverCpuLimit`` in it
  (``PyThreadState_SetAsyncExc``). Python code stops as above; a C call runs to its end, and
  there is no backstop (killing the thread would kill the whole process).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import math
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import FrameType
from typing import Any, TypeVar

from aggregator.errors import AggregatorError, CpuLimitError

T = TypeVar("T")
log = logging.getLogger("aggregator.workers")
MAX_AUTO_WORKERS = 4
# After the limit the timer fires again this often, in case the first interruption landed
# in code that swallowed even a BaseException.
REFIRE_S = 0.05
# The kernel's backstop for C calls that ignore the timer: CPU seconds past the task's start.
HARD_FACTOR = 2.0
HARD_SLACK_S = 2.0
# What the caller's error message calls each task (by function name).
TASK_NAMES = {
    "parse_feed": "parsing",
    "parse_feed_changes": "parsing",
    "extract": "article extraction",
    "extract_from_feed_content": "article extraction",
}


class WorkerCrashedError(AggregatorError):
    """A worker process died on one document (out of memory, a crash in a C library)."""


class _OverCpuLimit(BaseException):
    """Raised inside a task that ran past its CPU-time limit; never leaves this module."""


class _QuietOverLimit:
    """``sys.unraisablehook`` that drops ``_OverCpuLimit`` and passes anything else on.

    The limit is raised between two bytecodes of the task, which may be inside a callback
    Python cannot propagate from (a garbage-collector or weakref callback): Python prints
    "Exception ignored in ..." with a traceback. Nothing is lost there, since the limit is
    raised again ``REFIRE_S`` later, so the traceback would only alarm an operator.
    """

    def __init__(self, previous: Callable[[Any], object]) -> None:
        self.previous = previous

    def __call__(self, unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, _OverCpuLimit):
            self.previous(unraisable)


def _quiet_unraisable_over_limit() -> None:
    # Checked on every use: a test runner may have put its own hook in since.
    if not isinstance(sys.unraisablehook, _QuietOverLimit):
        sys.unraisablehook = _QuietOverLimit(sys.unraisablehook)


def auto_workers(requested: int) -> int:
    """``requested`` if set, else one per core (at most MAX_AUTO_WORKERS)."""
    return requested if requested > 0 else min(os.cpu_count() or 1, MAX_AUTO_WORKERS)


def task_name(fn: Callable[..., Any]) -> str:
    return TASK_NAMES.get(getattr(fn, "__name__", ""), "processing the document")


def _init_worker(owner_pid: int) -> None:
    # Ctrl-C (and systemd's SIGTERM) reach the whole process group; the owner finishes the
    # documents in flight and shuts the pool down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGPROF, _on_cpu_timer)
    _quiet_unraisable_over_limit()
    # A worker ended by its CPU backstop (SIGXCPU) would otherwise leave a core file.
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
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


# ---------------------------------------------------------------------- in a worker process

_timer_armed = False


def _on_cpu_timer(signum: int, frame: FrameType | None) -> None:
    if _timer_armed:
        raise _OverCpuLimit


def _cpu_seconds_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_limited(call: Callable[[], T], limit_s: float, task: str) -> T:
    """Run ``call`` in this (worker) process with at most ``limit_s`` seconds of CPU time.

    Needs the SIGPROF handler that ``_init_worker`` installs, and the main thread.
    """
    global _timer_armed
    if limit_s <= 0:
        return call()
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    backstop = math.ceil(_cpu_seconds_used() + HARD_FACTOR * limit_s + HARD_SLACK_S)
    if soft == resource.RLIM_INFINITY or backstop < soft:
        resource.setrlimit(resource.RLIMIT_CPU, (backstop, hard))
    try:
        try:
            _timer_armed = True
            signal.setitimer(signal.ITIMER_PROF, limit_s, REFIRE_S)
            return call()
        finally:
            _timer_armed = False
            signal.setitimer(signal.ITIMER_PROF, 0)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except _OverCpuLimit:
        raise CpuLimitError(task, limit_s) from None


# ---------------------------------------------------------------------- in a thread


def _raise_in_thread(ident: int, exc: type[BaseException] | None) -> None:
    # None clears an exception set earlier that the thread has not raised yet.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc) if exc is not None else None
    )


class ThreadWatch:
    """CPU-time limits for tasks run in threads of this process (the one-worker path)."""

    def __init__(self, every_s: float = REFIRE_S) -> None:
        self.every_s = every_s
        self._lock = threading.Lock()
        self._tasks: dict[int, tuple[int, float]] = {}  # thread -> (its CPU clock, deadline)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, call: Callable[[], T], limit_s: float, task: str) -> T:
        if limit_s <= 0:
            return call()
        ident = threading.get_ident()
        clock = time.pthread_getcpuclockid(ident)
        with self._lock:
            self._tasks[ident] = (clock, time.clock_gettime(clock) + limit_s)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="aggregator-cpu-watch", daemon=True
                )
                self._thread.start()
            self._wake.set()
        try:
            try:
                return call()
            finally:
                with self._lock:
                    del self._tasks[ident]
                    _raise_in_thread(ident, None)  # one that came too late
        except _OverCpuLimit:
            raise CpuLimitError(task, limit_s) from None

    def _watch(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.every_s)
            with self._lock:
                if not self._tasks:
                    self._wake.clear()
                for ident, (clock, deadline) in self._tasks.items():
                    try:
                        over = time.clock_gettime(clock) >= deadline
                    except OSError:  # cannot happen while the thread runs its task
                        continue
                    if over:
                        _quiet_unraisable_over_limit()
                        _raise_in_thread(ident, _OverCpuLimit)


_thread_watch = ThreadWatch()


# ---------------------------------------------------------------------- the owner


class CpuPool:
    def __init__(self, workers: int, cpu_limit_s: float = 0.0) -> None:
        self.workers = auto_workers(workers)
        self.cpu_limit_s = cpu_limit_s
        self._executor: ProcessPoolExecutor | None = None
        # The pool's worker processes as they start: a broken pool may already have
        # forgotten them when the caller hears of it, and their exit codes say why.
        self._worker_processes: dict[int, Any] = {}

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver: forking a process that runs threads (database, event loop) is unsafe.
            # The server imports the heavy modules once; workers forked from it share them.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["aggregator.item_index", "aggregator.extract"])
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
        return self._executor

    async def start(self) -> list[int]:
        """Start the worker processes now; their process ids (none when running in threads).

        Each worker imports the parser and the extractor before its first document: done
        at start-up, the first documents of a pass do not wait about half a second for it.
        """
        if self.workers <= 1:
            return []
        executor = self._pool()
        loop = asyncio.get_running_loop()
        # Idle workers take several of these at once: ask until every worker has answered.
        pids: set[int] = set()
        for _ in range(10):
            answers = await asyncio.gather(
                *(loop.run_in_executor(executor, _worker_pid) for _ in range(self.workers))
            )
            pids.update(answers)
            if len(pids) >= self.workers:
                break
        self._worker_processes.update(getattr(executor, "_processes", None) or {})
        return sorted(pids)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker; ``CpuLimitError`` past the CPU-time limit,
        ``WorkerCrashedError`` when the worker died."""
        call = functools.partial(fn, *args, **kwargs)
        task = task_name(fn)
        if self.workers <= 1:
            return await asyncio.to_thread(_thread_watch.run, call, self.cpu_limit_s, task)
        executor = self._pool()
        try:
            result = asyncio.get_running_loop().run_in_executor(
                executor, functools.partial(run_limited, call, self.cpu_limit_s, task)
            )
            if len(self._worker_processes) < self.workers:  # a submit may have started one
                self._worker_processes.update(getattr(executor, "_processes", None) or {})
            return await result
        except BrokenProcessPool:
            # One worker died; the pool is unusable. Start a new one for the next documents.
            if self._executor is executor:
                processes = list(self._worker_processes.values())
                self.close()
                cause = await asyncio.to_thread(_death_cause, processes)
                log.error(
                    "a worker process died while running %s%s; restarting the pool",
                    getattr(fn, "__name__", fn),
                    cause,
                )
            raise WorkerCrashedError(
                "the worker process handling this document died (too large or malformed?)"
            ) from None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._worker_processes = {}


def _worker_pid() -> int:
    # Long enough that one worker does not take every call before the others exist.
    time.sleep(0.05)
    return os.getpid()


def _death_cause(processes: list[Any], wait_s: float = 2.0) -> str:
    """`` (ended by SIGXCPU ...)`` when a worker was ended by a signal, for the log.

    A forkserver child's exit code reaches this process a moment after the pool is found
    broken: wait a little for it (in a thread), and name the kernel's SIGXCPU first (the
    pool then ends the other workers with SIGTERM).
    """
    deadline = time.monotonic() + wait_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    codes = [p.exitcode for p in processes if p.exitcode is not None and p.exitcode < 0]
    if -signal.SIGXCPU in codes:
        return " (ended by the kernel past its CPU backstop, SIGXCPU)"
    if codes:
        return f" (ended by {signal.Signals(-codes[0]).name})"
    return ""
