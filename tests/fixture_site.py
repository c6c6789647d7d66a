"""A local web site for tests: feeds, pages and misbehaving servers on 127.0.0.1.

Reused by the fetch, discover, extract, pipeline and web tests. A real aiohttp server on a
free port; nothing leaves the machine. The fetcher refuses loopback addresses by default, so
configure it with ``allowed_networks=FIXTURE_ALLOWED_NETWORKS`` (``"127.0.0.0/8,::1/128"``).

Use the ``fixture_site`` fixture (async, one fresh site per test)::

    async def test_something(fixture_site: FixtureSite) -> None:
        fixture_site.add_feed("/feed.xml", rss_feed("News", [{"title": "A", "link": "/a"}]))
        url = fixture_site.url("/feed.xml")          # http://127.0.0.1:PORT/feed.xml
        other = fixture_site.url("/feed.xml", host="localhost")  # same server, another name
        ...
        assert fixture_site.hits("/feed.xml") == 1
        assert fixture_site.last_request("/feed.xml").headers["If-None-Match"] == '"..."'

Routes (each ``add_*`` replaces whatever was registered at that path; the key is the path
without the query string, unless a route was registered with the query included):

- ``add_document(path, body, content_type, *, etag=True, last_modified=True, encoding=None,
  ignore_conditional=False, headers=None)``: a static document with an automatic strong ETag
  (hash of the body) and a Last-Modified that moves forward on every change, answering 304 to
  a matching If-None-Match / If-Modified-Since. ``encoding`` ("gzip", "deflate", "br") serves
  it compressed. ``ignore_conditional`` plays a server that always answers 200.
  ``add_feed`` (RSS content type) and ``add_page`` (HTML) are shorthands; calling them again
  with a new body is how a feed "changes".
- ``add_redirect(path, location, status=301)``; ``add_redirect_chain(prefix, length, final,
  status=301)`` returns the first path of ``length`` hops ending at ``final``; loops are two
  ``add_redirect`` calls pointing at each other.
- ``add_status(path, status, *, body=b"", headers=None)``: e.g. 404, 410, 500, or 429/503
  with ``headers={"Retry-After": "120"}``.
- ``add_slow(path, body, *, delay_s=0, byte_delay_s=None)``: answer after ``delay_s``; with
  ``byte_delay_s``, send the body one byte at a time with that pause between bytes.
- ``add_endless(path)``: a body that never ends; ``add_huge(path, size)``: ``size`` bytes
  streamed without holding them in memory (with or without Content-Length).
- ``add_bomb(path, encoding, inflated_size)``: a small gzip/deflate/br body that inflates to
  ``inflated_size`` bytes of zeros (default 2 GiB; generated in well under a second).
- ``add_handler(path, handler)``: any aiohttp handler, for cases not covered here.

``start(host, ssl_context=...)`` serves HTTPS instead (tests bring their own certificate).

Counters: ``hits(path)``, ``requests[path]`` (``RecordedRequest``: method, headers, host),
``last_request(path)``, ``max_in_flight`` (most requests served at once) and
``max_in_flight_by_host`` (same, per Host name), ``reset_counters()``.

Documents: ``rss_feed``, ``atom_feed`` and ``json_feed`` build small valid feeds.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import ssl
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from xml.sax.saxutils import escape

import brotli
import pytest
from aiohttp import web

FIXTURE_ALLOWED_NETWORKS = "127.0.0.0/8,::1/128"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MiB = 1024 * 1024
_BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path_qs: str
    host: str
    headers: Mapping[str, str]


@dataclass
class _Document:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: datetime | None
    encoding: str | None
    ignore_conditional: bool
    headers: Mapping[str, str] = field(default_factory=dict)


def compress(body: bytes, encoding: str) -> bytes:
    """``body`` encoded as a server would send it with ``Content-Encoding: encoding``."""
    if encoding == "gzip":
        obj = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return obj.compress(body) + obj.flush()
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "br":
        return bytes(brotli.compress(body))
    raise ValueError(f"unknown encoding {encoding!r}")


@functools.lru_cache(maxsize=8)
def make_bomb(encoding: str, inflated_size: int) -> bytes:
    """A compressed body inflating to ``inflated_size`` zero bytes, built in milliseconds.

    Compress 1 MiB of zeros, flush, and repeat: after a flush the compressor emits the same
    bytes for the same input, so the segment is repeated instead of compressing gigabytes.
    gzip's trailer checksum is that of the first segments only (a decoder notices only at
    the very end, long after any sane cap); brotli has no checksum, so its bomb is valid.
    """
    segment = bytes(MiB)
    count = max(2, inflated_size // MiB)
    if encoding in ("gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        zobj = zlib.compressobj(9, zlib.DEFLATED, wbits)
        first = zobj.compress(segment) + zobj.flush(zlib.Z_FULL_FLUSH)
        repeated = zobj.compress(segment) + zobj.flush(zlib.Z_FULL_FLUSH)
        return first + repeated * (count - 1) + zobj.flush()
    if encoding == "br":
        bobj = brotli.Compressor(quality=5)
        first = bobj.process(segment) + bobj.flush()
        repeated = bobj.process(segment) + bobj.flush()
        return bytes(first + repeated * (count - 1) + bobj.finish())
    raise ValueError(f"unknown encoding {encoding!r}")


def rss_feed(
    title: str,
    items: Sequence[Mapping[str, str]],
    *,
    link: str = "https://example.org/",
    extra: str = "",
) -> bytes:
    """A small RSS 2.0 document; item keys: title, link, guid, description, pubDate."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
        f"<description>{escape(title)}</description>{extra}",
    ]
    for item in items:
        parts.append("<item>")
        for key in ("title", "link", "guid", "description", "pubDate"):
            if key in item:
                parts.append(f"<{key}>{escape(item[key])}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def atom_feed(title: str, entries: Sequence[Mapping[str, str]], *, feed_id: str = "") -> bytes:
    """A small Atom 1.0 document; entry keys: title, link, id, summary, updated."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(title)}</title><id>{escape(feed_id or 'urn:fixture:' + title)}</id>",
        "<updated>2024-01-01T00:00:00Z</updated>",
    ]
    for entry in entries:
        parts.append("<entry>")
        parts.append(f"<title>{escape(entry.get('title', ''))}</title>")
        if "link" in entry:
            parts.append(f'<link href="{escape(entry["link"], {chr(34): "&quot;"})}"/>')
        parts.append(
            f"<id>{escape(entry.get('id', entry.get('link', entry.get('title', ''))))}</id>"
        )
        parts.append(f"<updated>{escape(entry.get('updated', '2024-01-01T00:00:00Z'))}</updated>")
        if "summary" in entry:
            parts.append(f"<summary>{escape(entry['summary'])}</summary>")
        parts.append("</entry>")
    parts.append("</feed>\n")
    return "".join(parts).encode()


def json_feed(title: str, items: Sequence[Mapping[str, Any]]) -> bytes:
    """A small JSON Feed 1.1 document; items are JSON Feed item objects (need "id")."""
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": title, "items": list(items)}
    ).encode()


class FixtureSite:
    """The local site; see the module docstring for the routes and counters."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._routes: dict[str, Handler] = {}
        self._runner: web.AppRunner | None = None
        self._version = 0
        self.port = 0
        self.scheme = "http"
        self.requests: dict[str, list[RecordedRequest]] = {}
        self._hits: Counter[str] = Counter()
        self._in_flight = 0
        self._in_flight_by_host: Counter[str] = Counter()
        self.max_in_flight = 0
        self.max_in_flight_by_host: Counter[str] = Counter()

    # -- lifecycle

    async def start(
        self, host: str = "127.0.0.1", *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        """Listen on a free port of ``host``; with ``ssl_context``, speak HTTPS."""
        # A short shutdown: endless and slow handlers must not hold up a test's teardown.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        self.scheme = "https" if ssl_context else "http"
        site = web.TCPSite(self._runner, host, 0, ssl_context=ssl_context)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str = "/", *, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    # -- counters

    def hits(self, path: str) -> int:
        return self._hits[path]

    def last_request(self, path: str) -> RecordedRequest:
        return self.requests[path][-1]

    def reset_counters(self) -> None:
        self.requests.clear()
        self._hits.clear()
        self.max_in_flight = 0
        self.max_in_flight_by_host.clear()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        key = request.path_qs if request.path_qs in self._routes else request.path
        handler = self._routes.get(key)
        host = (request.host or "").rsplit(":", 1)[0]
        self._hits[key] += 1
        self.requests.setdefault(key, []).append(
            RecordedRequest(request.method, request.path_qs, host, dict(request.headers))
        )
        self._in_flight += 1
        self._in_flight_by_host[host] += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        self.max_in_flight_by_host[host] = max(
            self.max_in_flight_by_host[host], self._in_flight_by_host[host]
        )
        try:
            if handler is None:
                return web.Response(status=404, text=f"no route for {key}")
            return await handler(request)
        finally:
            self._in_flight -= 1
            self._in_flight_by_host[host] -= 1

    # -- routes

    def add_handler(self, path: str, handler: Handler) -> None:
        self._routes[path] = handler

    def add_document(
        self,
        path: str,
        body: bytes | str,
        content_type: str,
        *,
        etag: bool = True,
        last_modified: bool = True,
        encoding: str | None = None,
        ignore_conditional: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self._version += 1
        document = _Document(
            body=compress(data, encoding) if encoding else data,
            content_type=content_type,
            etag=f'"{hashlib.sha1(data).hexdigest()[:16]}"' if etag else None,
            last_modified=_BASE_TIME + timedelta(minutes=self._version) if last_modified else None,
            encoding=encoding,
            ignore_conditional=ignore_conditional,
            headers=dict(headers or {}),
        )

        async def serve(request: web.Request) -> web.StreamResponse:
            return _serve_document(request, document)

        self.add_handler(path, serve)

    def add_feed(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "application/rss+xml; charset=utf-8",
        **options: Any,
    ) -> None:
        self.add_document(path, body, content_type, **options)

    def add_page(
        self,
        path: str,
        html: bytes | str,
        content_type: str = "text/html; charset=utf-8",
        **options: Any,
    ) -> None:
        self.add_document(path, html, content_type, **options)

    def add_redirect(self, path: str, location: str, status: int = 301) -> None:
        async def redirect(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": location})

        self.add_handler(path, redirect)

    def add_redirect_chain(self, prefix: str, length: int, final: str, status: int = 301) -> str:
        """``prefix/0 -> prefix/1 -> ... -> final`` (``length`` redirects); returns the start."""
        paths = [f"{prefix}/{i}" for i in range(length)]
        for here, there in zip(paths, [*paths[1:], final], strict=True):
            self.add_redirect(here, there, status)
        return paths[0]

    def add_status(
        self,
        path: str,
        status: int,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/plain",
    ) -> None:
        async def answer(request: web.Request) -> web.StreamResponse:
            return web.Response(
                status=status, body=body, headers=dict(headers or {}), content_type=content_type
            )

        self.add_handler(path, answer)

    def add_slow(
        self,
        path: str,
        body: bytes,
        *,
        delay_s: float = 0.0,
        byte_delay_s: float | None = None,
        content_type: str = "application/rss+xml",
    ) -> None:
        async def slow(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(delay_s)
            if byte_delay_s is None:
                return web.Response(body=body, content_type=content_type)
            response = web.StreamResponse(headers={"Content-Type": content_type})
            response.content_length = len(body)
            await response.prepare(request)
            for index in range(len(body)):
                await response.write(body[index : index + 1])
                await asyncio.sleep(byte_delay_s)
            await response.write_eof()
            return response

        self.add_handler(path, slow)

    def add_endless(
        self, path: str, *, content_type: str = "application/rss+xml", chunk_size: int = 65536
    ) -> None:
        async def endless(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": content_type})
            await response.prepare(request)
            chunk = b"<rss>" + b" " * (chunk_size - 5)
            while True:  # ends when the client hangs up (the write raises)
                await response.write(chunk)

        self.add_handler(path, endless)

    def add_huge(
        self,
        path: str,
        size: int,
        *,
        content_type: str = "application/rss+xml",
        declare_length: bool = True,
    ) -> None:
        async def huge(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": content_type})
            if declare_length:
                response.content_length = size
            await response.prepare(request)
            chunk = b" " * 65536
            sent = 0
            while sent < size:
                piece = chunk[: size - sent]
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
            return response

        self.add_handler(path, huge)

    def add_bomb(
        self,
        path: str,
        encoding: str = "gzip",
        inflated_size: int = 2 * 1024 * MiB,
        *,
        content_type: str = "application/rss+xml",
    ) -> None:
        body = make_bomb(encoding, inflated_size)

        async def bomb(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=body, headers={"Content-Type": content_type, "Content-Encoding": encoding}
            )

        self.add_handler(path, bomb)


def _serve_document(request: web.Request, document: _Document) -> web.Response:
    headers: dict[str, str] = {"Content-Type": document.content_type, **document.headers}
    if document.etag:
        headers["ETag"] = document.etag
    if document.last_modified:
        headers["Last-Modified"] = format_datetime(document.last_modified, usegmt=True)
    if document.encoding:
        headers["Content-Encoding"] = document.encoding
    if not document.ignore_conditional and _not_modified(request, document):
        return web.Response(
            status=304, headers={k: v for k, v in headers.items() if k in ("ETag", "Last-Modified")}
        )
    return web.Response(body=document.body, headers=headers)


def _not_modified(request: web.Request, document: _Document) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return document.etag is not None and ("*" in tags or document.etag in tags)
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since and document.last_modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return document.last_modified <= since
    return False


@pytest.fixture
async def fixture_site() -> AsyncIterator[FixtureSite]:
    """A fresh local site on 127.0.0.1 (also reachable as ``localhost``) for one test."""
    site = FixtureSite()
    await site.start()
    try:
        yield site
    finally:
        await site.close()
