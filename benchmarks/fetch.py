"""Fetcher overhead benchmark: ``aggregator.fetch.Fetcher`` against a bare aiohttp loop.

Run ``python benchmarks/fetch.py [--feeds 2000] [--concurrency 64] [--rounds 3]``
(``make bench-fetch``). Both clients meet the same local feed farm (``benchmarks/farm.py``,
in its own process so the server does not share the client's core) and fetch every feed
with the same concurrency:

- ``bare``: one ``aiohttp.ClientSession`` with aiohttp's defaults (its own decompression and
  redirects, no address guard, no caps), reading each body; the baseline.
- ``fetcher``: ``Fetcher.fetch_feed`` (address guard on every hop, manual redirects,
  streaming decompression under caps, per-host semaphore, hashing of the body).

Two passes each: a first pass (every answer a 200 with a ~20 KB body) and a conditional pass
(If-None-Match from the first pass: every answer a 304). Each client runs ``--rounds`` times,
alternating, and the best round counts. Printed: fetches per second and the ratio of the
fetcher to the bare loop measured in the same run, and the client's CPU time per fetch
(``time.process_time``, which a busy machine disturbs less than the wall clock).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from aggregator.fetch import Fetcher, FetcherConfig  # noqa: E402
from aggregator.types import FetchOutcome, FetchRequest  # noqa: E402
from benchmarks.farm import FarmProcess  # noqa: E402

Timing = tuple[float, float]  # (wall seconds, client CPU seconds)


async def bare_pass(urls: list[str], etags: dict[str, str], concurrency: int) -> Timing:
    """Seconds for the bare aiohttp loop to fetch ``urls`` (conditional when ``etags``)."""
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=100, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> None:
            headers = {"If-None-Match": etags[url]} if url in etags else {}
            async with limit, session.get(url, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    etags[url] = response.headers["ETag"]

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(url) for url in urls))
        return time.perf_counter() - started, time.process_time() - cpu


async def fetcher_pass(urls: list[str], etags: dict[str, str], concurrency: int) -> Timing:
    """Seconds for the Fetcher to fetch ``urls`` (conditional when ``etags``)."""
    config = FetcherConfig(max_per_host=concurrency).with_allowed_networks("127.0.0.0/8")
    async with Fetcher(config) as fetcher:
        started, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(
            *(fetcher.fetch_feed(FetchRequest(url=url, etag=etags.get(url))) for url in urls)
        )
        elapsed = time.perf_counter() - started, time.process_time() - cpu
    for url, result in zip(urls, results, strict=True):
        if result.outcome is FetchOutcome.ERROR:
            raise RuntimeError(f"{url}: {result.error}")
        if result.etag:
            etags[url] = result.etag
    return elapsed


async def run(feeds: int, concurrency: int, rounds: int) -> None:
    with FarmProcess(feeds) as farm:
        urls = farm.urls()
        best: dict[tuple[str, str], Timing] = {}
        for _ in range(rounds):
            for name, client in (("bare", bare_pass), ("fetcher", fetcher_pass)):
                etags: dict[str, str] = {}
                first = await client(urls, etags, concurrency)
                conditional = await client(urls, etags, concurrency)
                for label, timing in (("first", first), ("conditional", conditional)):
                    key = (name, label)
                    previous = best.get(key, (float("inf"), float("inf")))
                    best[key] = (min(previous[0], timing[0]), min(previous[1], timing[1]))
    print(f"fetch benchmark: {feeds} feeds, concurrency {concurrency}, best of {rounds} rounds")
    for label in ("first", "conditional"):
        bare_wall, bare_cpu = best[("bare", label)]
        our_wall, our_cpu = best[("fetcher", label)]
        bare, ours = feeds / bare_wall, feeds / our_wall
        print(
            f"  {label:<12} bare aiohttp {bare:6.0f} fetches/s {bare_cpu / feeds * 1e6:5.0f} us CPU"
            f"   fetcher {ours:6.0f} fetches/s {our_cpu / feeds * 1e6:5.0f} us CPU"
            f"   ratio {ours / bare:.2f} (CPU {our_cpu / bare_cpu:.2f}x)"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    asyncio.run(run(args.feeds, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
