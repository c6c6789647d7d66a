"""Hostile servers (issue 7): every case ends in bounded time and memory with a clear error.

Time is bounded by small timeouts in the test config (never asserted); memory by the caps,
checked with tracemalloc around the fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from aggregator.fetch import Fetcher, FetcherConfig
from aggregator.types import ErrorKind, FetchOutcome, FetchRequest, FetchResult
from tests.fixture_site import (
    FIXTURE_ALLOWED_NETWORKS,
    FixtureSite,
    Handler,
    make_bomb,
    rss_feed,
)

MiB = 1024 * 1024
FEED = rss_feed("Hostile", [{"title": "entry", "guid": "1"}])

HOSTILE_CONFIG = FetcherConfig(
    connect_timeout_s=1,
    read_timeout_s=0.3,
    total_timeout_s=3,
    max_body_bytes=3 * MiB,
    max_decompressed_bytes=8 * MiB,
).with_allowed_networks(FIXTURE_ALLOWED_NETWORKS)


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(HOSTILE_CONFIG) as fetcher:
        yield fetcher


async def fetch(fetcher: Fetcher, url: str) -> tuple[FetchResult, int]:
    """Fetch ``url`` and return the result and the peak of Python allocations meanwhile."""
    tracemalloc.start()
    try:
        result = await fetcher.fetch_feed(FetchRequest(url=url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


async def test_one_byte_per_second_hits_the_read_timeout(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_slow("/drip", FEED, byte_delay_s=1.0)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/drip")))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.TIMEOUT
    assert result.error == "timed out after 0.3 s waiting for data from 127.0.0.1"
    assert result.status == 200  # the headers came; the body did not
    assert result.bytes_read < len(FEED)


async def test_a_trickle_faster_than_the_read_timeout_hits_the_total_timeout(
    fixture_site: FixtureSite,
) -> None:
    fixture_site.add_slow("/trickle", FEED * 20, byte_delay_s=0.01)
    config = FetcherConfig(read_timeout_s=1, total_timeout_s=0.5).with_allowed_networks(
        FIXTURE_ALLOWED_NETWORKS
    )
    async with Fetcher(config) as fetcher:
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/trickle")))
    assert result.error_kind is ErrorKind.TIMEOUT
    assert result.error is not None
    assert result.error.startswith("timed out after 0.5 s (time limit for the whole request)")
    assert 0 < result.bytes_read < len(FEED * 20)


async def test_slow_headers_hit_the_read_timeout(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_slow("/late", FEED, delay_s=2)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/late")))
    assert result.error_kind is ErrorKind.TIMEOUT
    assert result.status is None


async def test_total_timeout_spans_redirect_hops(fixture_site: FixtureSite) -> None:
    # Each hop answers within the read timeout; together they exceed the total.
    for index in range(4):
        fixture_site.add_handler(f"/hop/{index}", _slow_redirect(f"/hop/{index + 1}", 0.2))
    fixture_site.add_feed("/hop/4", FEED)
    config = FetcherConfig(read_timeout_s=1, total_timeout_s=0.5).with_allowed_networks(
        FIXTURE_ALLOWED_NETWORKS
    )
    async with Fetcher(config) as fetcher:
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/hop/0")))
    assert result.error_kind is ErrorKind.TIMEOUT
    assert fixture_site.hits("/hop/4") == 0


def _slow_redirect(location: str, delay_s: float) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay_s)
        return web.Response(status=302, headers={"Location": location})

    return handler


async def test_endless_body_stops_at_the_body_cap(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_endless("/endless")
    result, peak = await fetch(fetcher, fixture_site.url("/endless"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.TOO_LARGE
    assert result.error == "response larger than 3 MiB"
    assert 3 * MiB < result.bytes_read <= 3 * MiB + 256 * 1024
    assert peak < 16 * MiB


async def test_50_mb_body_with_content_length_is_refused_before_reading(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_huge("/huge", 50 * 1000 * 1000)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/huge")))
    assert result.error_kind is ErrorKind.TOO_LARGE
    assert result.error == "response larger than 3 MiB (the server announced 47.7 MiB)"
    assert result.bytes_read == 0


async def test_50_mb_chunked_body_stops_at_the_cap(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_huge("/huge", 50 * 1000 * 1000, declare_length=False)
    result, peak = await fetch(fetcher, fixture_site.url("/huge"))
    assert result.error_kind is ErrorKind.TOO_LARGE
    assert result.error == "response larger than 3 MiB"
    assert result.bytes_read <= 3 * MiB + 256 * 1024
    assert peak < 16 * MiB


async def test_default_caps_refuse_a_50_mb_feed(fixture_site: FixtureSite) -> None:
    fixture_site.add_huge("/huge", 50 * 1000 * 1000, declare_length=False)
    config = FetcherConfig(total_timeout_s=10).with_allowed_networks(FIXTURE_ALLOWED_NETWORKS)
    async with Fetcher(config) as fetcher:
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/huge")))
    assert result.error_kind is ErrorKind.TOO_LARGE
    assert result.error == "response larger than 10 MiB"


@pytest.mark.parametrize(
    ("encoding", "inflated"),
    [("gzip", 2 * 1024 * MiB), ("deflate", 2 * 1024 * MiB), ("br", 100 * 1024 * MiB)],
)
async def test_compression_bombs_stop_at_the_decompressed_cap_in_bounded_memory(
    fixture_site: FixtureSite, fetcher: Fetcher, encoding: str, inflated: int
) -> None:
    bomb = make_bomb(encoding, inflated)
    # A megabyte or two on the wire (under the body cap): only the inflation can hurt.
    assert MiB < len(bomb) < HOSTILE_CONFIG.max_body_bytes
    fixture_site.add_bomb("/bomb", encoding, inflated)

    result, peak = await fetch(fetcher, fixture_site.url("/bomb"))

    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.TOO_LARGE
    assert result.error == "response larger than 8 MiB after decompression"
    assert result.bytes_read < len(bomb)  # stopped reading early
    # The body buffer holds at most the cap plus one decompression step, never gigabytes.
    assert peak < 32 * MiB


async def test_gzip_bomb_with_default_caps(fixture_site: FixtureSite) -> None:
    fixture_site.add_bomb("/bomb", "gzip", 2 * 1024 * MiB)
    config = FetcherConfig(total_timeout_s=10).with_allowed_networks(FIXTURE_ALLOWED_NETWORKS)
    async with Fetcher(config) as fetcher:
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/bomb")))
    assert result.error_kind is ErrorKind.TOO_LARGE
    assert result.error == "response larger than 50 MiB after decompression"


async def test_bomb_generator_really_inflates() -> None:
    import brotli

    assert len(brotli.decompress(make_bomb("br", 20 * MiB))) == 20 * MiB


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0/",
        "http://[fd00::1]/",
    ],
)
async def test_redirect_to_a_private_address_is_refused_before_connecting(
    fixture_site: FixtureSite, fetcher: Fetcher, target: str
) -> None:
    fixture_site.add_redirect("/innocent", target, 302)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/innocent")))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.BLOCKED_ADDRESS
    assert result.final_url == target
    assert result.error is not None and "AGGREGATOR_ALLOWED_NETWORKS" in result.error


async def test_no_request_reaches_a_refused_address(fixture_site: FixtureSite) -> None:
    # A second server on 127.0.0.2 (all of 127/8 is loopback) stands in for an internal
    # service; only 127.0.0.1 is allowed, so the redirect must never reach it.
    internal = FixtureSite()
    await internal.start(host="127.0.0.2")
    try:
        internal.add_page("/admin", "secret")
        fixture_site.add_redirect("/innocent", internal.url("/admin", host="127.0.0.2"), 307)
        config = FetcherConfig().with_allowed_networks("127.0.0.1/32")
        async with Fetcher(config) as fetcher:
            result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/innocent")))
        assert result.error_kind is ErrorKind.BLOCKED_ADDRESS
        assert internal.hits("/admin") == 0
        assert fixture_site.hits("/innocent") == 1
    finally:
        await internal.close()


async def test_a_name_resolving_to_loopback_is_refused_without_allowed_networks(
    fixture_site: FixtureSite,
) -> None:
    fixture_site.add_feed("/feed", FEED)
    async with Fetcher(FetcherConfig()) as fetcher:
        by_name = await fetcher.fetch_feed(
            FetchRequest(url=fixture_site.url("/feed", host="localhost"))
        )
        by_ip = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/feed")))
    for result in (by_name, by_ip):
        assert result.outcome is FetchOutcome.ERROR
        assert result.error_kind is ErrorKind.BLOCKED_ADDRESS
    assert by_name.error is not None and "localhost" in by_name.error
    assert "127.0.0.1" in by_name.error
    assert fixture_site.hits("/feed") == 0


async def test_redirect_to_a_name_resolving_inside_is_refused(
    fixture_site: FixtureSite,
) -> None:
    # The entry point is allowed by its IP; the hop's name resolves (as a rebinding DNS
    # answer would) only to ::1, which is not allowed.
    fixture_site.add_feed("/feed", FEED)
    target = fixture_site.url("/feed", host="internal.example")
    fixture_site.add_redirect("/r", target, 301)
    config = FetcherConfig().with_allowed_networks("127.0.0.1/32")
    async with Fetcher(config, resolver=LoopbackV6Resolver()) as fetcher:
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/r")))
    assert result.error_kind is ErrorKind.BLOCKED_ADDRESS
    assert result.error is not None and "internal.example" in result.error and "::1" in result.error
    assert result.final_url == target
    assert result.permanent_redirect == target
    assert fixture_site.hits("/feed") == 0


class LoopbackV6Resolver(AbstractResolver):
    """Resolves every name to ::1 (a DNS answer pointing inside the network)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host="::1", port=port, family=socket.AF_INET6, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/rss+xml", b"<!DOCTYPE html><html><body>Not a feed</body></html>"),
        ("image/png", FEED),
        ("text/html", FEED),
        ("application/rss+xml", b""),
        ("application/rss+xml; charset=nonsense", FEED),
        ("image/png", b"\x89PNG\r\n\x1a\n" + bytes(100)),
    ],
)
async def test_lying_content_types_pass_the_body_through_untouched(
    fixture_site: FixtureSite, fetcher: Fetcher, content_type: str, body: bytes
) -> None:
    # Judging what the body is belongs to the parser; the fetcher must not mangle it.
    fixture_site.add_document("/doc", body, content_type)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/doc")))
    assert result.outcome is FetchOutcome.OK
    assert result.body == body
    assert result.content_type == content_type


async def test_connection_cut_mid_body(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.content_length = 10_000
        await response.prepare(request)
        await response.write(FEED[:50])
        assert request.transport is not None
        request.transport.close()
        return response

    fixture_site.add_handler("/cut", cut)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/cut")))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.CONNECT
    assert result.error is not None and "127.0.0.1" in result.error


async def test_other_feeds_are_fetched_normally_beside_hostile_ones(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/good", FEED)
    fixture_site.add_endless("/endless")
    fixture_site.add_bomb("/bomb", "gzip", 1024 * MiB)
    fixture_site.add_slow("/drip", FEED, byte_delay_s=1.0)
    fixture_site.add_redirect("/loop", "/loop", 302)
    paths = ["/good", "/endless", "/good", "/bomb", "/drip", "/loop", "/good"]

    results = await asyncio.gather(
        *(fetcher.fetch_feed(FetchRequest(url=fixture_site.url(p))) for p in paths)
    )

    kinds = [r.error_kind for r in results]
    assert kinds == [
        None,
        ErrorKind.TOO_LARGE,
        None,
        ErrorKind.TOO_LARGE,
        ErrorKind.TIMEOUT,
        ErrorKind.TOO_MANY_REDIRECTS,
        None,
    ]
    assert all(r.body == FEED for r, p in zip(results, paths, strict=True) if p == "/good")


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "017700000001", "0x7f.1"])
async def test_numeric_host_spellings_never_connect(
    fixture_site: FixtureSite, fetcher: Fetcher, host: str
) -> None:
    fixture_site.add_feed("/feed", FEED)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/feed", host=host)))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.BAD_URL
    assert fixture_site.hits("/feed") == 0


async def test_a_server_that_never_accepts_hits_the_connect_timeout() -> None:
    # A listening socket with a full accept queue: Linux drops further SYNs, so the
    # connection attempt hangs exactly like a firewalled host.
    server = socket.socket()
    fillers: list[socket.socket] = []
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        await asyncio.sleep(0.05)
        config = FetcherConfig(connect_timeout_s=0.3, total_timeout_s=3).with_allowed_networks(
            FIXTURE_ALLOWED_NETWORKS
        )
        async with Fetcher(config) as fetcher:
            result = await fetcher.fetch_feed(FetchRequest(url=f"http://127.0.0.1:{port}/feed"))
        assert result.error_kind is ErrorKind.TIMEOUT
        assert result.error == f"timed out after 0.3 s connecting to 127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        server.close()


async def test_header_bombs_are_refused_with_a_short_message(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    async def huge_header(request: web.Request) -> web.StreamResponse:
        return web.Response(body=FEED, headers={"X-Padding": "a" * 100_000})

    async def many_headers(request: web.Request) -> web.StreamResponse:
        response = web.Response(body=FEED)
        for index in range(20_000):
            response.headers.add(f"X-Header-{index}", "v")
        return response

    fixture_site.add_handler("/huge-header", huge_header)
    fixture_site.add_handler("/many-headers", many_headers)
    for path in ("/huge-header", "/many-headers"):
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url(path)))
        assert result.outcome is FetchOutcome.ERROR
        assert result.error_kind is ErrorKind.HTTP
        assert result.error is not None
        assert result.error.startswith("invalid HTTP response from 127.0.0.1:")
        assert len(result.error) <= 300 and "\n" not in result.error
