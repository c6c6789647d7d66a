"""A local feed farm: N deterministic RSS 2.0 feeds on 127.0.0.1 for benchmarks and tests.

Each feed ``/feed/<i>.xml`` holds ``entries_per_feed`` items of about ``entry_bytes`` bytes.
Feed ``i`` at version ``v`` shows the newest ``entries_per_feed`` of its serials
``0 .. entries_per_feed + v * new_per_mutation - 1``; ``mutate(fraction)`` bumps the version
of a deterministic sample of feeds, so each round adds ``new_per_mutation`` entries to them.
Every response carries an ETag and a Last-Modified; a matching If-None-Match (or, without
one, an If-Modified-Since not older than the document) gets a 304.

Documents are generated on demand from a small pool of paragraphs and kept in a bounded
LRU cache, so memory stays small at N = 10,000. Request counters per feed let tests assert
"fetched exactly once".

In-process::

    async with FeedFarm(feeds=300) as farm:
        farm.url(0); farm.opml_bytes(); farm.mutate(0.1); farm.requests[0]

As a subprocess (``python benchmarks/farm.py --feeds N --port P [--latency S]``), it prints
``farm listening on http://127.0.0.1:P`` and serves until SIGTERM/SIGINT; ``FarmProcess``
drives it through the control routes ``/opml.xml``, ``/_farm/mutate``, ``/_farm/stats``
and ``/_farm/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

_WORDS = [
    "sanctions",
    "embargo",
    "treaty",
    "envoy",
    "tehran",
    "washington",
    "enrichment",
    "uranium",
    "talks",
    "oil",
    "tanker",
    "strait",
    "hormuz",
    "treasury",
    "waiver",
    "negotiation",
    "summit",
    "minister",
    "council",
    "resolution",
    "vienna",
    "inspectors",
    "reactor",
    "centrifuge",
    "deal",
    "agreement",
    "tariff",
    "export",
    "license",
    "shipping",
    "bank",
    "currency",
    "rial",
    "market",
    "pressure",
    "diplomacy",
    "parliament",
    "statement",
    "spokesman",
    "briefing",
    "analysis",
    "report",
    "week",
    "region",
    "security",
    "alliance",
    "drone",
    "missile",
    "naval",
    "exercise",
]
_PARAGRAPHS = 64
_ENTRY_STEP_S = 600  # ten minutes between consecutive serials of one feed


def _paragraph_pool(seed: int, size: int, length: int) -> list[str]:
    rng = random.Random(seed)
    pool = []
    for _ in range(size):
        words: list[str] = []
        total = 0
        while total < length:
            word = rng.choice(_WORDS)
            words.append(word)
            total += len(word) + 1
        text = " ".join(words)
        # Some markup, so pollers sanitize and resolve links as they would for real feeds.
        pool.append(
            f'<p>{text[: length // 2]}</p><p><a href="/about">more</a> {text[length // 2 :]}</p>'
        )
    return pool


@dataclass(frozen=True, slots=True)
class FarmStats:
    """What the farm served: per-feed request counts and totals by status."""

    requests: list[int]
    ok: int
    not_modified: int

    @property
    def total(self) -> int:
        return self.ok + self.not_modified


class FeedFarm:
    """The feed farm server; use as an async context manager (or ``start()``/``stop()``)."""

    def __init__(
        self,
        feeds: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        entries_per_feed: int = 20,
        entry_bytes: int = 1000,
        new_per_mutation: int = 3,
        latency_s: float = 0.0,
        seed: int = 0,
        cache_size: int = 2048,
        epoch: int | None = None,
    ) -> None:
        if feeds < 1:
            raise ValueError("a farm needs at least one feed")
        self.feeds = feeds
        self.host = host
        self.port = port
        self.entries_per_feed = entries_per_feed
        self.new_per_mutation = new_per_mutation
        self.latency_s = latency_s
        self.seed = seed
        # Recent dates (two days ago, on the hour) so retention and date clamping leave them alone.
        self.epoch = epoch if epoch is not None else int(time.time()) // 3600 * 3600 - 2 * 86400
        self.versions = [0] * feeds
        self.requests = [0] * feeds
        self.ok = 0
        self.not_modified = 0
        self.other_requests: dict[str, int] = {}
        self._rounds = 0
        self._paragraphs = _paragraph_pool(seed, _PARAGRAPHS, entry_bytes)
        self._cache: OrderedDict[tuple[int, int], tuple[bytes, str, str]] = OrderedDict()
        self._cache_size = cache_size
        self._runner: web.AppRunner | None = None

    # --- what the farm serves

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, index: int) -> str:
        return f"{self.base_url}/feed/{index}.xml"

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.feeds)]

    def serials(self, index: int) -> range:
        """Every serial feed ``index`` has shown so far (oldest first)."""
        return range(self.entries_per_feed + self.versions[index] * self.new_per_mutation)

    def guid(self, index: int, serial: int) -> str:
        return f"farm-{index}-{serial}"

    def expected_guids(self) -> set[tuple[int, str]]:
        """(feed index, guid) of every entry served so far, if each version was fetched."""
        return {(i, self.guid(i, s)) for i in range(self.feeds) for s in self.serials(i)}

    def expected_entry_count(self) -> int:
        return sum(len(self.serials(i)) for i in range(self.feeds))

    def current_guids(self, index: int) -> list[str]:
        """The guids in feed ``index``'s current document, newest first."""
        last = len(self.serials(index))
        first = max(0, last - self.entries_per_feed)
        return [self.guid(index, s) for s in range(last - 1, first - 1, -1)]

    def mutate(self, fraction: float) -> list[int]:
        """Add ``new_per_mutation`` entries to a deterministic ``fraction`` of the feeds."""
        self._rounds += 1
        count = round(self.feeds * fraction)
        rng = random.Random(self.seed * 1_000_003 + self._rounds)
        chosen = sorted(rng.sample(range(self.feeds), count))
        for index in chosen:
            self.versions[index] += 1
        return chosen

    def stats(self) -> FarmStats:
        return FarmStats(list(self.requests), self.ok, self.not_modified)

    def reset_counters(self) -> None:
        self.requests = [0] * self.feeds
        self.ok = 0
        self.not_modified = 0
        self.other_requests.clear()

    def opml_bytes(self) -> bytes:
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<opml version="2.0"><head><title>feed farm</title></head><body>',
        ]
        for i in range(self.feeds):
            lines.append(
                f'<outline type="rss" text="Farm feed {i}" title="Farm feed {i}" '
                f'xmlUrl="{escape(self.url(i))}"/>'
            )
        lines.append("</body></opml>")
        return "\n".join(lines).encode()

    def document(self, index: int) -> tuple[bytes, str, str]:
        """(body, ETag, Last-Modified) of feed ``index``'s current version, cached."""
        key = (index, self.versions[index])
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        built = self._build(index)
        self._cache[key] = built
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return built

    def _date(self, serial: int) -> datetime:
        return datetime.fromtimestamp(self.epoch + serial * _ENTRY_STEP_S, UTC)

    def _build(self, index: int) -> tuple[bytes, str, str]:
        serials = self.serials(index)
        newest = serials[-1]
        first = max(0, len(serials) - self.entries_per_feed)
        base = self.base_url
        items = []
        for serial in range(newest, first - 1, -1):
            paragraph = self._paragraphs[(index * 31 + serial * 7) % _PARAGRAPHS]
            words = paragraph[3:40].split(" ")
            items.append(
                "<item>"
                f"<title>Feed {index} entry {serial}: {' '.join(words[:-1])}</title>"
                f"<link>{base}/item/{index}/{serial}.html</link>"
                f'<guid isPermaLink="false">{self.guid(index, serial)}</guid>'
                f"<pubDate>{format_datetime(self._date(serial), usegmt=True)}</pubDate>"
                f"<description><![CDATA[{paragraph}]]></description>"
                "</item>"
            )
        etag, last_modified = self.validators(index)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0"><channel>'
            f"<title>Farm feed {index}</title>"
            f"<link>{base}/site/{index}/</link>"
            f"<description>Feed {index} of the local feed farm</description>"
            f"<lastBuildDate>{last_modified}</lastBuildDate>"
            + "".join(items)
            + "</channel></rss>\n"
        ).encode()
        return body, etag, last_modified

    def validators(self, index: int) -> tuple[str, str]:
        """(ETag, Last-Modified) of feed ``index``'s current version, without building it.

        Derived from what determines the document, so a 304 costs no document generation.
        """
        version = self.versions[index]
        key = f"{self.seed}:{self.epoch}:{index}:{version}:{self.port}".encode()
        etag = '"' + hashlib.blake2b(key, digest_size=8).hexdigest() + '"'
        newest = self.serials(index)[-1]
        return etag, format_datetime(self._date(newest), usegmt=True)

    # --- HTTP

    def _not_modified(self, request: web.Request, etag: str, last_modified: str) -> bool:
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
            tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
            return etag in tags or "*" in tags
        since = request.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(last_modified)
        except (TypeError, ValueError):
            return False

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            index = int(name)
        except ValueError:
            raise web.HTTPNotFound() from None
        if not 0 <= index < self.feeds:
            raise web.HTTPNotFound()
        self.requests[index] += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        etag, last_modified = self.validators(index)
        headers = {"ETag": etag, "Last-Modified": last_modified}
        if self._not_modified(request, etag, last_modified):
            self.not_modified += 1
            return web.Response(status=304, headers=headers)
        self.ok += 1
        body, _, _ = self.document(index)
        return web.Response(body=body, headers=headers, content_type="application/rss+xml")

    async def _count_other(self, request: web.Request) -> web.StreamResponse:
        self.other_requests[request.path] = self.other_requests.get(request.path, 0) + 1
        raise web.HTTPNotFound()

    async def _opml(self, _: web.Request) -> web.StreamResponse:
        return web.Response(body=self.opml_bytes(), content_type="text/x-opml")

    async def _control_mutate(self, request: web.Request) -> web.StreamResponse:
        fraction = float(request.query.get("fraction", "0.1"))
        return web.json_response({"mutated": self.mutate(fraction)})

    async def _control_stats(self, _: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "requests": self.requests,
                "ok": self.ok,
                "not_modified": self.not_modified,
                "versions": self.versions,
                "expected_entries": self.expected_entry_count(),
            }
        )

    async def _control_reset(self, _: web.Request) -> web.StreamResponse:
        self.reset_counters()
        return web.json_response({"reset": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/feed/{name}.xml", self._feed)
        app.router.add_get("/opml.xml", self._opml)
        app.router.add_post("/_farm/mutate", self._control_mutate)
        app.router.add_get("/_farm/stats", self._control_stats)
        app.router.add_post("/_farm/reset", self._control_reset)
        app.router.add_get("/{tail:.*}", self._count_other)
        return app

    async def start(self) -> None:
        # Access logs off: at thousands of requests a second they would cost more than serving.
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FeedFarm:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class FarmProcess:
    """A farm in its own process (so it does not share a core's GIL with the poller)."""

    def __init__(
        self,
        feeds: int,
        *,
        latency_s: float = 0.0,
        seed: int = 0,
        python: str = sys.executable,
    ) -> None:
        self.feeds = feeds
        self._args = [
            python,
            str(Path(__file__).resolve()),
            "--feeds",
            str(feeds),
            "--port",
            "0",
            "--latency",
            str(latency_s),
            "--seed",
            str(seed),
        ]
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def start(self) -> None:
        self.process = subprocess.Popen(self._args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("farm listening on "):
            self.stop()
            raise RuntimeError(f"the feed farm did not start: {line!r}")
        self.base_url = line.removeprefix("farm listening on ").strip()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> FarmProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, index: int) -> str:
        return f"{self.base_url}/feed/{index}.xml"

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.feeds)]

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.base_url + path, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    def opml_bytes(self) -> bytes:
        data: bytes = self._call("GET", "/opml.xml")
        return data

    def mutate(self, fraction: float) -> list[int]:
        mutated: list[int] = json.loads(self._call("POST", f"/_farm/mutate?fraction={fraction}"))[
            "mutated"
        ]
        return mutated

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = json.loads(self._call("GET", "/_farm/stats"))
        return stats

    def reset_counters(self) -> None:
        self._call("POST", "/_farm/reset")


async def _serve(farm: FeedFarm) -> None:
    await farm.start()
    print(f"farm listening on {farm.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await farm.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a local feed farm on 127.0.0.1.")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    farm = FeedFarm(args.feeds, port=args.port, latency_s=args.latency, seed=args.seed)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(farm))


if __name__ == "__main__":
    main()
