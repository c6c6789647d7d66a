"""The demo site's HTTP server (aiohttp.web), with ETag/Last-Modified and 304 answers.

The site is rendered once per base URL, with dates relative to the moment the app was
created, so the same URL always returns the same bytes and conditional GETs work.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from aiohttp import web

from aggregator.demo.content import demo_sources
from aggregator.demo.render import CONTENT_TYPES, Resource, build_site, render_not_found


def _monotonic_timer() -> Callable[[], float]:
    started = time.monotonic()
    return lambda: time.monotonic() - started


@dataclass
class _DemoState:
    anchor: datetime
    elapsed_s: Callable[[], float]  # seconds since the site started
    base_url: str | None = None  # set once the listening port is known
    # (base URL, released articles) -> rendered site
    sites: dict[tuple[str, tuple[str, ...]], dict[str, Resource]] = field(default_factory=dict)


STATE_KEY: Final = web.AppKey("demo_state", _DemoState)
# Feed readers may poll every minute; the demo wants them to see changes quickly.
CACHE_CONTROL: Final = "public, max-age=60"
# Host headers the demo will build links from; anything else gets 400 (no header injection).
_HOST_PATTERN: Final = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_MAX_CACHED_SITES: Final = 16


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    # Weak comparison, as RFC 9110 asks for If-None-Match.
    candidates = (value.strip().removeprefix("W/") for value in header.split(","))
    return etag in candidates


def _not_modified(request: web.Request, resource: Resource) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, resource.etag)
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return resource.last_modified <= since
    return False


def _base_url(request: web.Request) -> str | None:
    fixed = request.app[STATE_KEY].base_url
    if fixed:
        return fixed
    host = request.host
    if not _HOST_PATTERN.match(host):
        return None
    return f"{request.scheme}://{host}"


def _site(request: web.Request, base_url: str) -> dict[str, Resource]:
    state = request.app[STATE_KEY]
    elapsed_s = state.elapsed_s()
    released = tuple(
        article.slug
        for source in demo_sources()
        for article in source.articles
        if article.release_after_s is not None and article.released(elapsed_s)
    )
    key = (base_url, released)
    site = state.sites.get(key)
    if site is None:
        if len(state.sites) >= _MAX_CACHED_SITES:
            state.sites.clear()
        site = state.sites[key] = build_site(base_url, state.anchor, elapsed_s)
    return site


async def _serve(request: web.Request) -> web.StreamResponse:
    base_url = _base_url(request)
    if base_url is None:
        raise web.HTTPBadRequest(text="bad Host header")
    site = _site(request, base_url)
    path = request.path
    resource = site.get(path)
    if resource is None and not path.endswith("/") and path + "/" in site:
        # WordPress answers /slug with a permanent redirect to /slug/.
        raise web.HTTPMovedPermanently(location=f"{base_url}{path}/")
    if resource is None:
        return web.Response(
            status=404,
            body=render_not_found(base_url, path),
            headers={"Content-Type": CONTENT_TYPES["html"]},
        )
    compress = len(resource.body) > 1024 and "gzip" in request.headers.get("Accept-Encoding", "")
    headers = {
        # A gzipped body is another representation: its validator is weak (as nginx does).
        "ETag": f"W/{resource.etag}" if compress else resource.etag,
        "Last-Modified": resource.last_modified_header,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
    }
    if _not_modified(request, resource):
        return web.Response(status=304, headers=headers)
    response = web.Response(
        body=resource.body, headers={**headers, "Content-Type": resource.content_type}
    )
    if compress:
        response.enable_compression(web.ContentCoding.gzip)
    return response


def create_demo_app(
    now: datetime | None = None,
    base_url: str | None = None,
    elapsed_s: Callable[[], float] | None = None,
) -> web.Application:
    """The demo site as an aiohttp application.

    ``now`` anchors every date (default: the current time, to the second); ``base_url`` fixes
    the origin used in links (default: taken from each request's Host header); ``elapsed_s``
    says how long the site has run (default: a monotonic timer from now), which releases the
    articles that appear during the demo (``release_after_s`` in the site files).
    """
    app = web.Application()
    anchor = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    app[STATE_KEY] = _DemoState(
        anchor=anchor,
        elapsed_s=elapsed_s or _monotonic_timer(),
        base_url=base_url.rstrip("/") if base_url else None,
    )
    app.router.add_get("/{path:.*}", _serve)
    return app


@dataclass
class DemoSite:
    """A running demo site. ``feed_urls`` lists (title, feed URL, category)."""

    base_url: str
    feed_urls: list[tuple[str, str, str]]
    runner: web.AppRunner = field(repr=False)

    async def close(self) -> None:
        await self.runner.cleanup()

    async def __aenter__(self) -> DemoSite:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


async def start_demo_site(
    host: str = "127.0.0.1",
    port: int = 0,
    now: datetime | None = None,
    elapsed_s: Callable[[], float] | None = None,
) -> DemoSite:
    """Start the demo site (``port=0``: any free port) and return where it listens.

    ``now`` and ``elapsed_s`` as for ``create_demo_app`` (tests inject them).
    """
    app = create_demo_app(now=now, elapsed_s=elapsed_s)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        tcp_site = web.TCPSite(runner, host, port)
        await tcp_site.start()
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        base_url = f"http://{shown_host}:{bound_port}"
        app[STATE_KEY].base_url = base_url
    except BaseException:
        await runner.cleanup()
        raise
    feed_urls = [
        (source.name, base_url + source.feed_url_path, source.category) for source in demo_sources()
    ]
    return DemoSite(base_url=base_url, feed_urls=feed_urls, runner=runner)
