"""Topic feeds over HTTP: Atom, RSS and JSON Feed with conditional GET, gzip and paging.

Documents are rendered on every request from storage (a curator's decision shows at once);
what is cached is only the gzip of recent bodies, keyed by their strong ETag.
"""

from __future__ import annotations

import asyncio
import gzip
from collections import OrderedDict
from datetime import datetime, timedelta
from functools import partial

from aiohttp import web

from aggregator.publish import (
    OPML_CONTENT_TYPE,
    FeedFormat,
    FeedPage,
    PublishedFeed,
    render_feed,
    render_topics_opml,
    strong_etag,
)
from web.context import APP_CONTEXT, app_context
from web.params import cursor_param, int_param

FEED_CACHE_CONTROL = "public, no-cache"  # clients may keep it, but must revalidate (304s are cheap)
GZIP_CACHE_ENTRIES = 256
VALIDATOR_ENTRIES = 10_000
MIN_GZIP_BYTES = 512

_FEED_FORMATS: dict[str, FeedFormat] = {"atom": "atom", "rss": "rss", "json": "json"}


class FeedResponder:
    """Per-app state for topic feed responses: gzip bodies and monotonic Last-Modified."""

    def __init__(self) -> None:
        self._gzipped: OrderedDict[str, bytes] = OrderedDict()
        # (url) -> (etag, last_modified): when the bytes change without a newer Last-Modified
        # (a hidden entry leaves the feed), Last-Modified moves forward so If-Modified-Since
        # clients see the change too.
        self._validators: OrderedDict[str, tuple[str, datetime]] = OrderedDict()

    def gzip(self, etag: str, body: bytes) -> bytes:
        cached = self._gzipped.get(etag)
        if cached is None:
            cached = gzip.compress(body, compresslevel=6, mtime=0)
            self._gzipped[etag] = cached
            if len(self._gzipped) > GZIP_CACHE_ENTRIES:
                self._gzipped.popitem(last=False)
        else:
            self._gzipped.move_to_end(etag)
        return cached

    def last_modified(self, key: str, etag: str, computed: datetime, now: datetime) -> datetime:
        previous = self._validators.get(key)
        result = computed
        if previous is not None:
            old_etag, old_modified = previous
            if old_etag == etag:
                result = old_modified
            elif computed <= old_modified:
                result = max(now.replace(microsecond=0), old_modified + timedelta(seconds=1))
        self._validators[key] = (etag, result)
        self._validators.move_to_end(key)
        if len(self._validators) > VALIDATOR_ENTRIES:
            self._validators.popitem(last=False)
        return result


FEED_RESPONDER: web.AppKey[FeedResponder] = web.AppKey("aggregator_feed_responder", FeedResponder)


def _gzip_etag(etag: str) -> str:
    return etag[:-1] + '-gz"'


def not_modified(request: web.Request, etags: set[str], last_modified: datetime) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match wins; If-Modified-Since only without it."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in candidates or bool(candidates & etags)
    since = request.if_modified_since
    return since is not None and last_modified.replace(microsecond=0) <= since


def conditional_response(
    request: web.Request,
    *,
    body: bytes,
    etag: str,
    last_modified: datetime,
    content_type: str,
    responder: FeedResponder,
) -> web.Response:
    accepts_gzip = "gzip" in request.headers.get("Accept-Encoding", "").lower()
    headers = {
        "Cache-Control": FEED_CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        "Last-Modified": _http_date(last_modified),
        "X-Content-Type-Options": "nosniff",
    }
    use_gzip = accepts_gzip and len(body) >= MIN_GZIP_BYTES
    current = _gzip_etag(etag) if use_gzip else etag
    headers["ETag"] = current
    if not_modified(request, {etag, _gzip_etag(etag)}, last_modified):
        return web.Response(status=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        payload = responder.gzip(etag, body)
    else:
        payload = body
    headers["Content-Type"] = content_type
    return web.Response(body=payload, headers=headers)


def _http_date(moment: datetime) -> str:
    from aggregator.publish import http_date

    return http_date(moment)


async def topic_feed(request: web.Request) -> web.StreamResponse:
    context = app_context(request)
    slug, _, extension = request.match_info["name"].rpartition(".")
    fmt = _FEED_FORMATS.get(extension)
    settings = context.settings
    limit = int_param(
        request, "limit", default=settings.feed_page_size, low=1, high=settings.feed_page_max
    )
    assert limit is not None
    before = cursor_param(request)
    extra = {"limit": str(limit)} if "limit" in request.query else {}

    async def render_document() -> PublishedFeed | None:
        topic = await context.store.get_topic(slug) if fmt and slug else None
        if topic is None or fmt is None:
            return None
        try:
            page = await context.store.topic_entries(topic.slug, limit=limit, before=before)
        except ValueError:
            raise web.HTTPBadRequest(text="before is not a cursor this site gave out") from None
        # Rendering is pure CPU work (tens of ms for a cold page): off the event loop, so
        # requests served from the cache meanwhile are not held up behind it.
        return await asyncio.to_thread(
            partial(
                render_feed,
                fmt,
                topic,
                page.items,
                base_url=context.base_url,
                page=FeedPage(
                    limit=limit, before=before, next_before=page.next_cursor, extra_query=extra
                ),
                now=context.clock(),
            )
        )

    key = ("feed", slug, fmt, limit, before, tuple(extra.items()))
    published: PublishedFeed | None = await context.cache.get(key, render_document)
    if published is None:
        raise web.HTTPNotFound(
            text="There is no such topic feed. Each topic has .atom, .rss and .json feeds:"
        )
    responder = request.app[FEED_RESPONDER]
    modified = responder.last_modified(
        request.path_qs, published.etag, published.last_modified, context.clock()
    )
    return conditional_response(
        request,
        body=published.body,
        etag=published.etag,
        last_modified=modified,
        content_type=published.content_type,
        responder=responder,
    )


async def topics_opml(request: web.Request) -> web.StreamResponse:
    context = request.app[APP_CONTEXT]
    topics = await context.store.list_topics()
    now = context.clock()
    body = render_topics_opml(topics, base_url=context.base_url, now=now)
    # dateCreated changes every call; the ETag covers the list itself.
    etag = strong_etag(repr([(t.slug, t.name, t.description) for t in topics]).encode())
    modified = max((t.updated_at for t in topics if t.updated_at), default=now)
    return conditional_response(
        request,
        body=body,
        etag=etag,
        last_modified=modified,
        content_type=OPML_CONTENT_TYPE,
        responder=request.app[FEED_RESPONDER],
    )


def add_routes(app: web.Application) -> None:
    app[FEED_RESPONDER] = FeedResponder()
    app.router.add_get("/topics.opml", topics_opml, name="topics_opml")
