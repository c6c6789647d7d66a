"""The fetcher against the local fixture site: conditional GET, encodings, redirects, statuses."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from aggregator import PROJECT_URL, __version__
from aggregator.fetch import (
    Fetcher,
    FetcherConfig,
    fetch_document_once,
    fetch_page_once,
    format_size,
    parse_retry_after,
)
from aggregator.types import ErrorKind, FetchOutcome, FetchRequest
from tests.fixture_site import FIXTURE_ALLOWED_NETWORKS, FixtureSite, atom_feed, rss_feed

FEED = rss_feed("Fixture news", [{"title": "One", "link": "https://example.org/1", "guid": "1"}])
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

TEST_CONFIG = FetcherConfig(
    connect_timeout_s=2, read_timeout_s=2, total_timeout_s=5
).with_allowed_networks(FIXTURE_ALLOWED_NETWORKS)


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(TEST_CONFIG, clock=lambda: NOW) as fetcher:
        yield fetcher


async def test_plain_fetch_records_body_headers_and_identity(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/feed.xml", FEED, headers={"Cache-Control": "max-age=600"})
    url = fixture_site.url("/feed.xml")

    result = await fetcher.fetch_feed(FetchRequest(url=url))

    assert result.outcome is FetchOutcome.OK
    assert result.status == 200
    assert result.body == FEED
    assert result.body_hash == hashlib.sha256(FEED).hexdigest()
    assert result.requested_url == result.final_url == url
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified == "Mon, 01 Jan 2024 00:01:00 GMT"
    assert result.cache_control == "max-age=600"
    assert result.bytes_read == len(FEED)
    assert result.permanent_redirect is None
    assert result.error is None and result.error_kind is None
    assert result.duration_s > 0
    sent = fixture_site.last_request("/feed.xml").headers
    assert sent["User-Agent"] == f"aggregator/{__version__} (+{PROJECT_URL})"
    assert "application/rss+xml" in sent["Accept"] and "application/atom+xml" in sent["Accept"]
    assert {e.strip() for e in sent["Accept-Encoding"].split(",")} == {"gzip", "deflate", "br"}
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


async def test_etag_round_trip_gives_not_modified_then_new_body(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/feed.xml", FEED)
    url = fixture_site.url("/feed.xml")
    first = await fetcher.fetch_feed(FetchRequest(url=url))

    second = await fetcher.fetch_feed(
        FetchRequest(url=url, etag=first.etag, previous_body_hash=first.body_hash)
    )
    assert second.outcome is FetchOutcome.NOT_MODIFIED
    assert second.status == 304
    assert second.body is None
    assert second.etag == first.etag
    assert second.body_hash == first.body_hash  # unchanged state to keep
    assert fixture_site.last_request("/feed.xml").headers["If-None-Match"] == first.etag

    changed = rss_feed("Fixture news", [{"title": "Two", "guid": "2"}])
    fixture_site.add_feed("/feed.xml", changed)
    third = await fetcher.fetch_feed(FetchRequest(url=url, etag=first.etag))
    assert third.outcome is FetchOutcome.OK
    assert third.body == changed
    assert third.etag != first.etag
    assert fixture_site.hits("/feed.xml") == 3


async def test_last_modified_round_trip(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    fixture_site.add_feed("/feed.xml", FEED, etag=False)
    url = fixture_site.url("/feed.xml")
    first = await fetcher.fetch_feed(FetchRequest(url=url))
    assert first.etag is None and first.last_modified is not None

    second = await fetcher.fetch_feed(FetchRequest(url=url, last_modified=first.last_modified))

    assert second.outcome is FetchOutcome.NOT_MODIFIED
    assert second.last_modified == first.last_modified
    sent = fixture_site.last_request("/feed.xml").headers
    assert sent["If-Modified-Since"] == first.last_modified


async def test_identical_body_from_a_server_ignoring_validators_is_not_modified(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/feed.xml", FEED, ignore_conditional=True)
    url = fixture_site.url("/feed.xml")
    first = await fetcher.fetch_feed(FetchRequest(url=url))

    again = await fetcher.fetch_feed(
        FetchRequest(url=url, etag=first.etag, previous_body_hash=first.body_hash)
    )
    assert again.status == 200
    assert again.outcome is FetchOutcome.NOT_MODIFIED
    assert again.body_hash == first.body_hash
    assert again.body is None

    fixture_site.add_feed("/feed.xml", FEED + b"\n<!-- changed -->", ignore_conditional=True)
    changed = await fetcher.fetch_feed(
        FetchRequest(url=url, etag=first.etag, previous_body_hash=first.body_hash)
    )
    assert changed.outcome is FetchOutcome.OK
    assert changed.body_hash != first.body_hash


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_compressed_bodies_are_decoded(
    fixture_site: FixtureSite, fetcher: Fetcher, encoding: str
) -> None:
    body = atom_feed("Compressed", [{"title": f"entry {i}", "id": str(i)} for i in range(200)])
    fixture_site.add_feed("/feed", body, "application/atom+xml", encoding=encoding)

    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/feed")))

    assert result.outcome is FetchOutcome.OK
    assert result.body == body
    assert result.bytes_read < len(body) / 3  # the compressed size went over the wire


async def test_raw_deflate_and_multi_member_gzip_are_decoded(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    import zlib

    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_body = raw.compress(FEED) + raw.flush()

    async def raw_deflate(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        return aiohttp.web.Response(body=raw_body, headers={"Content-Encoding": "deflate"})

    import gzip

    members = gzip.compress(FEED[:100]) + gzip.compress(FEED[100:])

    async def two_members(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        return aiohttp.web.Response(body=members, headers={"Content-Encoding": "gzip"})

    fixture_site.add_handler("/raw", raw_deflate)
    fixture_site.add_handler("/members", two_members)

    for path in ("/raw", "/members"):
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url(path)))
        assert result.outcome is FetchOutcome.OK, result.error
        assert result.body == FEED


async def test_permanent_redirect_chain_is_reported(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/new/feed.xml", FEED)
    fixture_site.add_redirect("/old", "/middle", 301)
    fixture_site.add_redirect("/middle", fixture_site.url("/new/feed.xml"), 308)

    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/old")))

    assert result.outcome is FetchOutcome.OK
    assert result.body == FEED
    assert result.final_url == fixture_site.url("/new/feed.xml")
    assert result.permanent_redirect == fixture_site.url("/new/feed.xml")
    assert result.requested_url == fixture_site.url("/old")


async def test_permanent_redirect_stops_at_the_first_temporary_hop(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/final", FEED)
    fixture_site.add_redirect("/a", "/b", 301)
    fixture_site.add_redirect("/b", "/final", 302)
    fixture_site.add_redirect("/t", "/final2", 307)
    fixture_site.add_redirect("/final2", "/final", 301)

    moved = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/a")))
    assert moved.outcome is FetchOutcome.OK
    assert moved.final_url == fixture_site.url("/final")
    assert moved.permanent_redirect == fixture_site.url("/b")

    temporary = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/t")))
    assert temporary.outcome is FetchOutcome.OK
    assert temporary.permanent_redirect is None


async def test_conditional_headers_are_sent_to_the_redirect_target(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/feed", FEED)
    fixture_site.add_redirect("/moved", "/feed", 302)
    first = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/moved")))

    second = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/moved"), etag=first.etag))

    assert second.outcome is FetchOutcome.NOT_MODIFIED
    assert second.final_url == fixture_site.url("/feed")


async def test_redirect_loop_is_an_error(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    fixture_site.add_redirect("/ping", "/pong", 302)
    fixture_site.add_redirect("/pong", "/ping", 302)

    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/ping")))

    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.TOO_MANY_REDIRECTS
    assert result.error is not None and result.error.startswith("redirect loop: ")
    assert "/ping -> " in result.error and "/pong" in result.error
    assert fixture_site.hits("/ping") == 1 and fixture_site.hits("/pong") == 1


async def test_redirect_chain_longer_than_the_limit_is_an_error(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/end", FEED)
    ok_start = fixture_site.add_redirect_chain("/five", 5, "/end")
    long_start = fixture_site.add_redirect_chain("/six", 6, "/end")

    within = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url(ok_start)))
    assert within.outcome is FetchOutcome.OK
    assert within.permanent_redirect == fixture_site.url("/end")

    fixture_site.reset_counters()
    too_long = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url(long_start)))
    assert too_long.outcome is FetchOutcome.ERROR
    assert too_long.error_kind is ErrorKind.TOO_MANY_REDIRECTS
    assert too_long.error == f"more than 5 redirects (gave up before {fixture_site.url('/end')})"
    assert fixture_site.hits("/six/5") == 1
    assert fixture_site.hits("/end") == 0  # the sixth redirect is not followed


async def test_redirect_to_a_non_http_scheme_is_refused(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_redirect("/ftp", "ftp://example.org/feed.xml", 302)
    fixture_site.add_redirect("/file", "file:///etc/passwd", 302)
    for path in ("/ftp", "/file"):
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url(path)))
        assert result.outcome is FetchOutcome.ERROR
        assert result.error_kind is ErrorKind.BAD_URL
        assert result.error is not None and "only http:// and https://" in result.error


async def test_redirect_to_an_invalid_url_is_a_bad_url(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_redirect("/bad", "http://[not-an-ip/feed", 302)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/bad")))
    assert result.error_kind is ErrorKind.BAD_URL
    assert result.error is not None and "redirects to an invalid URL" in result.error


async def test_failed_hop_after_a_redirect_reports_no_stale_status(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fixture_site.add_redirect("/away", f"http://127.0.0.1:{port}/feed", 302)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/away")))
    assert result.error_kind is ErrorKind.CONNECT
    assert result.status is None
    assert result.final_url == f"http://127.0.0.1:{port}/feed"


async def test_redirect_without_location_is_an_http_error(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_status("/broken-redirect", 302)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/broken-redirect")))
    assert result.error_kind is ErrorKind.HTTP
    assert result.status == 302
    assert result.error is not None and "without a Location" in result.error


async def test_gone(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    fixture_site.add_status("/gone", 410)
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/gone")))
    assert result.outcome is FetchOutcome.GONE
    assert result.status == 410
    assert result.error_kind is None


async def test_429_with_retry_after_seconds(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    fixture_site.add_status("/busy", 429, headers={"Retry-After": "120"})
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/busy")))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.RATE_LIMITED
    assert result.status == 429
    assert result.retry_after_s == 120
    assert result.error == "HTTP 429 Too Many Requests from 127.0.0.1, asked to retry after 120 s"


async def test_503_with_retry_after_date(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    # NOW is 12:00:00; the server asks for 12:05:00.
    fixture_site.add_status("/down", 503, headers={"Retry-After": "Sat, 01 Mar 2025 12:05:00 GMT"})
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/down")))
    assert result.error_kind is ErrorKind.RATE_LIMITED
    assert result.status == 503
    assert result.retry_after_s == 300


@pytest.mark.parametrize(
    ("status", "phrase"), [(404, "Not Found"), (500, "Internal Server Error"), (403, "Forbidden")]
)
async def test_other_http_errors(
    fixture_site: FixtureSite, fetcher: Fetcher, status: int, phrase: str
) -> None:
    fixture_site.add_status("/x", status, body=b"<html>nope</html>")
    result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/x")))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.HTTP
    assert result.status == status
    assert result.error == f"HTTP {status} {phrase} from {fixture_site.url('/x')}"
    assert result.body is None


async def test_connection_refused(fetcher: Fetcher) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bind, note, close
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await fetcher.fetch_feed(FetchRequest(url=f"http://127.0.0.1:{port}/feed"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.CONNECT
    assert result.error == f"connection refused by 127.0.0.1:{port}"


class NoSuchHostResolver(AbstractResolver):
    """DNS that knows no names (keeps the test off any real DNS server)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_dns_failure() -> None:
    async with Fetcher(TEST_CONFIG, resolver=NoSuchHostResolver()) as fetcher:
        result = await fetcher.fetch_feed(FetchRequest(url="https://no-such-host.example/feed"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.DNS
    assert result.error is not None
    assert result.error.startswith("could not resolve host no-such-host.example")


async def test_tls_error_against_a_plain_http_server(
    fixture_site: FixtureSite, fetcher: Fetcher
) -> None:
    fixture_site.add_feed("/feed", FEED)
    url = f"https://127.0.0.1:{fixture_site.port}/feed"
    result = await fetcher.fetch_feed(FetchRequest(url=url))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.TLS
    assert result.error is not None and f"127.0.0.1:{fixture_site.port}" in result.error


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "feed.xml", "http:///nohost"])
async def test_bad_urls(fetcher: Fetcher, url: str) -> None:
    result = await fetcher.fetch_feed(FetchRequest(url=url))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.BAD_URL
    assert result.requested_url == url


async def test_unsupported_content_encoding(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    async def compress_encoding(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        return aiohttp.web.Response(body=b"\x1f\x9d...", headers={"Content-Encoding": "compress"})

    async def corrupt_gzip(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        return aiohttp.web.Response(
            body=b"\x1f\x8bnot gzip at all", headers={"Content-Encoding": "gzip"}
        )

    fixture_site.add_handler("/compress", compress_encoding)
    fixture_site.add_handler("/corrupt", corrupt_gzip)

    unsupported = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/compress")))
    assert unsupported.error_kind is ErrorKind.DECODING
    assert (
        unsupported.error == "the server used Content-Encoding 'compress', which is not supported"
    )

    corrupt = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/corrupt")))
    assert corrupt.error_kind is ErrorKind.DECODING
    assert corrupt.error is not None and "gzip" in corrupt.error


async def test_fetch_page_asks_for_html(fixture_site: FixtureSite, fetcher: Fetcher) -> None:
    html = "<html><head><title>Article</title></head><body><p>Text</p></body></html>"
    fixture_site.add_page("/article", html, encoding="gzip")
    result = await fetcher.fetch_page(fixture_site.url("/article"))
    assert result.outcome is FetchOutcome.OK
    assert result.body == html.encode()
    assert result.content_type == "text/html; charset=utf-8"
    assert fixture_site.last_request("/article").headers["Accept"].startswith("text/html")


async def test_one_shot_helpers_use_the_allowed_networks(fixture_site: FixtureSite) -> None:
    fixture_site.add_feed("/feed", FEED)
    fixture_site.add_page("/page", "<p>hello</p>")

    document = await fetch_document_once(
        fixture_site.url("/feed"), allowed_networks=FIXTURE_ALLOWED_NETWORKS
    )
    page = await fetch_page_once(fixture_site.url("/page"), allowed_networks="127.0.0.1/32")
    refused = await fetch_document_once(fixture_site.url("/feed"))

    assert document.outcome is FetchOutcome.OK and document.body == FEED
    assert page.outcome is FetchOutcome.OK and page.body == b"<p>hello</p>"
    assert refused.error_kind is ErrorKind.BLOCKED_ADDRESS
    assert fixture_site.hits("/feed") == 1


async def test_per_host_limit_holds_across_many_concurrent_fetches(
    fixture_site: FixtureSite,
) -> None:
    fixture_site.add_slow("/slow", FEED, delay_s=0.05)
    config = FetcherConfig(max_per_host=2, total_timeout_s=20).with_allowed_networks(
        FIXTURE_ALLOWED_NETWORKS
    )
    urls = [fixture_site.url("/slow", host=host) for host in ("127.0.0.1", "localhost")] * 8

    async with Fetcher(config) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch_feed(FetchRequest(url=u)) for u in urls))

    assert all(r.outcome is FetchOutcome.OK for r in results)
    assert fixture_site.hits("/slow") == 16
    # Never more than 2 at once per host name; the two names were served side by side.
    assert fixture_site.max_in_flight_by_host["127.0.0.1"] == 2
    assert fixture_site.max_in_flight_by_host["localhost"] == 2
    assert fixture_site.max_in_flight <= 4


async def test_global_connection_limit(fixture_site: FixtureSite) -> None:
    fixture_site.add_slow("/slow", FEED, delay_s=0.05)
    config = FetcherConfig(max_connections=3, max_per_host=10).with_allowed_networks(
        FIXTURE_ALLOWED_NETWORKS
    )
    async with Fetcher(config) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/slow"))) for _ in range(12))
        )
    assert all(r.outcome is FetchOutcome.OK for r in results)
    assert fixture_site.max_in_flight == 3


class ExplodingFetcher(Fetcher):
    """A fetcher with a bug in body handling, to see that bugs become INTERNAL results."""

    async def _read_body(self, resp: aiohttp.ClientResponse, progress: object) -> bytes:
        raise KeyError("boom")


async def test_unexpected_exception_becomes_internal_error(
    fixture_site: FixtureSite, caplog: pytest.LogCaptureFixture
) -> None:
    fixture_site.add_feed("/feed", FEED)
    async with ExplodingFetcher(TEST_CONFIG) as fetcher:
        result = await fetcher.fetch_feed(FetchRequest(url=fixture_site.url("/feed")))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.INTERNAL
    assert result.error == "internal error: KeyError: 'boom'"
    assert "unexpected error fetching" in caplog.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("Sat, 01 Mar 2025 12:01:00 GMT", 60.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # in the past
        ("-5", None),
        ("soon", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("size", "text"),
    [(10 * 1024 * 1024, "10 MiB"), (1536, "1.5 KiB"), (512, "512 bytes"), (3 * 2**30, "3 GiB")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.fixture
def self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    """A server TLS context with a freshly made self-signed certificate (needs openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_untrusted_certificate_is_a_tls_error(
    fetcher: Fetcher, self_signed_context: ssl.SSLContext
) -> None:
    site = FixtureSite()
    await site.start(ssl_context=self_signed_context)
    try:
        site.add_feed("/feed", FEED)
        result = await fetcher.fetch_feed(FetchRequest(url=site.url("/feed")))
    finally:
        await site.close()
    assert site.url("/feed").startswith("https://")
    assert result.outcome is FetchOutcome.ERROR
    assert result.error_kind is ErrorKind.TLS
    assert result.error is not None
    assert result.error.startswith(f"TLS certificate of 127.0.0.1:{site.port} not accepted")
    assert site.hits("/feed") == 0  # no request is sent over an untrusted connection
