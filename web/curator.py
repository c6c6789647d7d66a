"""Pages for curators: sign in and out, feeds (add with discovery and preview, OPML, disable,
refresh, remove), topics (edit rules with a preview of the change, quality) and decisions.

Every route under /curate is guarded by ``curator_middleware``; every POST carries the
session's CSRF token (``session_middleware``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from aggregator.errors import AggregatorError, DuplicateFeedError, RuleError
from aggregator.opml import OpmlFeed, parse_opml, write_opml
from aggregator.tagging.quality import rule_part_quality
from aggregator.types import MatchState, NewFeed
from web.context import app_context, render, replace_session, session_of
from web.params import cursor_param
from web.passwords import verify_password
from web.reader import explanation_lines
from web.security import (
    address_throttle_key,
    client_address,
    new_session,
    safe_next,
    user_throttle_key,
)
from web.services import DiscoveredFeed

log = logging.getLogger(__name__)

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAX_URL_CHARS = 2048
MAX_CANDIDATES = 5
MAX_DEFINITION_CHARS = 100_000
FLASH_MESSAGES = {
    "added": "Feed added. It will be polled shortly.",
    "removed": "Feed removed.",
    "disabled": "Feed disabled.",
    "enabled": "Feed enabled.",
    "refresh": "Feed queued for a poll right away.",
    "saved": "Topic saved.",
    "decided": "Decision saved.",
}


async def _form(request: web.Request) -> Any:
    return await request.post()  # already read (and size-checked) by the CSRF middleware


def _field(form: Any, name: str, max_chars: int = 1000) -> str:
    value = form.get(name, "")
    return value.strip()[:max_chars] if isinstance(value, str) else ""


def _flash(request: web.Request) -> str | None:
    return FLASH_MESSAGES.get(request.query.get("done", ""))


def _curator(request: web.Request) -> str:
    user = session_of(request).user
    assert user is not None  # curator_middleware let the request through
    return user


def _log_lockouts(locked: dict[str, float], address: str) -> None:
    """One warning per lock, naming the client (for operators' tools such as fail2ban)."""
    for key, seconds in locked.items():
        kind, _, value = key.partition(":")
        if kind == "user":
            # %r: the name is whatever the client typed; it cannot start a new log line.
            log.warning(
                "sign-in locked for %d s for user name %r after repeated failures "
                "(the last from client %s)",
                seconds,
                value,
                address,
            )
        else:
            log.warning(
                "sign-in locked for %d s for client %s after repeated failures", seconds, value
            )


# ---------------------------------------------------------------------------
# Sign in / out


async def login_form(request: web.Request) -> web.Response:
    target = safe_next(request.query.get("next"))
    return render(request, "login.html", title="Sign in", next=target, error=None)


async def login_submit(request: web.Request) -> web.StreamResponse:
    context = app_context(request)
    form = await _form(request)
    name = _field(form, "username", 255)
    password = form.get("password", "")
    password = password if isinstance(password, str) else ""
    target = safe_next(_field(form, "next", 2000))
    # Both the client (behind trusted proxies: the forwarded client) and the account: many
    # addresses guessing one account slow down as one address does.
    address = client_address(request)
    keys = (address_throttle_key(address), user_throttle_key(name))
    wait = context.throttle.retry_after(*keys)
    now = context.clock()
    user = await context.store.get_user(name) if name else None
    # An account locked in the database (after repeated failures, in any web process)
    # refuses even the right password, but answers exactly as a wrong password does: a
    # "locked" answer that only existing accounts can give would tell which names exist.
    stored_lock = user is not None and user.locked_until is not None and user.locked_until > now
    if wait > 0:
        page = render(
            request,
            "login.html",
            status=429,
            title="Sign in",
            next=target,
            error=f"Too many failed attempts. Try again in {int(wait) + 1} seconds.",
        )
        page.headers["Retry-After"] = str(int(wait) + 1)
        return page
    # Always one Argon2 verification (an unknown name costs as long as a wrong password, so
    # timing does not tell which names exist), off the event loop so sign-ins do not stall
    # every other request.
    verified = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, password
    )
    if user is None or not verified or stored_lock:
        _log_lockouts(context.throttle.failure(*keys), address)
        if user is not None:
            await context.store.record_login(user.name, False, now)
        return render(
            request,
            "login.html",
            status=401,
            title="Sign in",
            next=target,
            error=(
                "Wrong user name or password. After repeated failures, sign-in is refused "
                "for a while."
            ),
        )
    context.throttle.success(*keys)
    await context.store.record_login(user.name, True, now)
    # A new session (and CSRF token) on sign-in: a token seen before cannot be reused.
    replace_session(request, new_session(user.name))
    raise web.HTTPSeeOther(target)


async def logout(request: web.Request) -> web.StreamResponse:
    replace_session(request, new_session())
    raise web.HTTPSeeOther("/")


# ---------------------------------------------------------------------------
# Feeds


async def feeds_page(request: web.Request) -> web.Response:
    context = app_context(request)
    feeds = await context.store.list_feeds()
    stats = await context.store.feed_article_stats()
    return render(
        request,
        "curate_feeds.html",
        title="Feeds",
        feeds=sorted(feeds, key=lambda f: (f.title or f.url).lower()),
        stats=stats,
        flash=_flash(request),
        discovery=context.services.discover_feeds is not None,
    )


def _valid_url(url: str) -> str | None:
    """An http(s) URL a curator typed, or None. A bare host name gets https://."""
    url = url.strip()
    if url and not _HAS_SCHEME.match(url):
        url = "https://" + url
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL_CHARS:
        return None
    if any(ord(ch) < 0x21 for ch in url):
        return None
    return url


async def feeds_discover(request: web.Request) -> web.Response:
    """Find feeds at a site or feed URL and preview the latest entries of each candidate."""
    context = app_context(request)
    form = await _form(request)
    url = _valid_url(_field(form, "url", MAX_URL_CHARS))
    services = context.services
    if url is None:
        return await _feeds_error(
            request, "Enter a site or feed address starting with http:// or https://."
        )
    # Without a discovery service the address is taken to be the feed itself.
    candidates = [DiscoveredFeed(url=url)]
    error: str | None = None
    if services.discover_feeds is not None:
        try:
            candidates = list(await services.discover_feeds(url))
        except AggregatorError as exc:
            candidates, error = [], str(exc)
    shown = candidates[:MAX_CANDIDATES]
    preview_feed = services.preview_feed
    # Fetched side by side: a curator waits for the slowest feed, not for all in turn.
    found = (
        await asyncio.gather(*(preview_feed(c.url) for c in shown))
        if preview_feed is not None
        else [None] * len(shown)
    )
    previews = [
        {"candidate": candidate, "preview": preview}
        for candidate, preview in zip(shown, found, strict=True)
    ]
    return render(
        request,
        "curate_discover.html",
        title="Add a feed",
        url=url,
        previews=previews,
        error=error or (None if candidates else "No feed found at that address."),
    )


async def _feeds_error(request: web.Request, message: str, status: int = 400) -> web.Response:
    context = app_context(request)
    feeds = await context.store.list_feeds()
    return render(
        request,
        "curate_feeds.html",
        status=status,
        title="Feeds",
        feeds=feeds,
        stats=await context.store.feed_article_stats(),
        flash=None,
        error=message,
        discovery=context.services.discover_feeds is not None,
    )


async def feeds_add(request: web.Request) -> web.StreamResponse:
    context = app_context(request)
    form = await _form(request)
    url = _valid_url(_field(form, "url", MAX_URL_CHARS))
    if url is None:
        return await _feeds_error(request, "That is not an http:// or https:// address.")
    title = _field(form, "title", 500) or None
    try:
        await context.store.add_feed(NewFeed(url=url, title=title))
    except DuplicateFeedError:
        return await _feeds_error(request, "You already subscribe to that feed.", status=409)
    except AggregatorError as exc:
        return await _feeds_error(request, str(exc))
    raise web.HTTPSeeOther("/curate/feeds?done=added")


async def _feed_id(request: web.Request) -> int:
    raw = request.match_info["feed_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text="There is no such feed.")
    feed = await app_context(request).store.get_feed(int(raw))
    if feed is None:
        raise web.HTTPNotFound(text="There is no such feed.")
    return feed.id


async def feed_action(request: web.Request) -> web.StreamResponse:
    context = app_context(request)
    feed_id = await _feed_id(request)
    action = request.match_info["action"]
    if action == "disable":
        await context.store.set_feed_disabled(feed_id, True)
        done = "disabled"
    elif action == "enable":
        await context.store.set_feed_disabled(feed_id, False)
        done = "enabled"
    elif action == "refresh":
        await context.store.request_refresh(feed_id, context.clock())
        done = "refresh"
    elif action == "remove":
        # Removing deletes the feed's entries and curator decisions: ask once more.
        if (await _form(request)).get("confirm") != "yes":
            feed = await context.store.get_feed(feed_id)
            return render(request, "curate_remove.html", title="Remove a feed", feed=feed)
        await context.store.remove_feed(feed_id)
        done = "removed"
    else:
        raise web.HTTPNotFound(text="There is no such action.")
    raise web.HTTPSeeOther(f"/curate/feeds?done={done}")


async def feeds_import(request: web.Request) -> web.Response:
    context = app_context(request)
    form = await _form(request)
    upload = form.get("opml")
    data = getattr(upload, "file", None)
    if data is None:
        return await _feeds_error(request, "Choose an OPML file to import.")
    try:
        document = parse_opml(data.read())
    except AggregatorError as exc:
        return await _feeds_error(request, f"That OPML file could not be read: {exc}")
    new = [
        NewFeed(url=f.url, title=f.title, site_url=f.site_url, category=f.category)
        for f in document.feeds
    ]
    added = await context.store.add_feeds(new)
    return render(
        request,
        "curate_import.html",
        title="OPML import",
        found=len(document.feeds),
        added=added,
        skipped=document.skipped[:200],
        skipped_total=len(document.skipped),
    )


async def feeds_export(request: web.Request) -> web.Response:
    context = app_context(request)
    feeds = await context.store.list_feeds()
    body = write_opml(
        [
            OpmlFeed(url=f.url, title=f.title, site_url=f.site_url, category=f.category)
            for f in feeds
        ],
        "Subscriptions",
        context.clock(),
    )
    return web.Response(
        body=body,
        content_type="text/x-opml",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="subscriptions.opml"'},
    )


# ---------------------------------------------------------------------------
# Topics


async def topics_page(request: web.Request) -> web.Response:
    context = app_context(request)
    topics = await context.store.list_topics()
    counts = await context.store.topic_counts()
    quality = {t.slug: await _quality(request, t.slug) for t in topics}
    return render(
        request,
        "curate_topics.html",
        title="Topics",
        topics=topics,
        counts=counts,
        quality=quality,
        flash=_flash(request),
    )


async def _quality(request: web.Request, slug: str) -> dict[str, Any]:
    """Per-topic quality from curator decisions: precision and the rule parts hidden most."""
    decisions = await app_context(request).store.decisions_for_quality(slug)
    states = Counter(str(d.state) for d in decisions)
    kept = states["approved"] + states["pinned"]
    reviewed = kept + states["hidden"]
    per_part = rule_part_quality(decisions).values()
    misfiring = sorted((q for q in per_part if q.hidden), key=lambda q: -q.hidden)[:5]
    noisy = [
        {"part": q.rule_part, "hidden": q.hidden, "fired": q.decided + q.undecided}
        for q in misfiring
    ]
    return {
        "auto": states["auto"],
        "approved": states["approved"],
        "pinned": states["pinned"],
        "hidden": states["hidden"],
        "by_hand": sum(1 for d in decisions if str(d.origin) == "curator"),
        "precision": (kept / reviewed) if reviewed else None,
        "noisy": noisy,
    }


async def topic_edit(request: web.Request) -> web.Response:
    slug = request.match_info["slug"]
    topic = await app_context(request).store.get_topic(slug) if slug != "new" else None
    if topic is None and slug != "new":
        raise web.HTTPNotFound(text=f"There is no topic called “{slug}”.")
    values = {
        "slug": topic.slug if topic else "",
        "name": topic.name if topic else "",
        "description": topic.description if topic else "",
        "definition": topic.definition if topic else "",
    }
    return render(
        request,
        "curate_topic_edit.html",
        title="Edit topic",
        topic=topic,
        values=values,
        preview=None,
        error=None,
        can_preview=app_context(request).services.preview_topic_change is not None,
    )


async def topic_save(request: web.Request) -> web.StreamResponse:
    """POST with ``action=preview`` shows what the change adds and removes; ``action=save`` saves."""
    context = app_context(request)
    form = await _form(request)
    current = request.match_info["slug"]
    topic = await context.store.get_topic(current) if current != "new" else None
    if topic is None and current != "new":
        raise web.HTTPNotFound(text=f"There is no topic called “{current}”.")
    values = {
        "slug": topic.slug if topic else _field(form, "slug", 63).lower(),
        "name": _field(form, "name", 200),
        "description": _field(form, "description", 2000),
        "definition": _field(form, "definition", MAX_DEFINITION_CHARS),
    }
    error = None
    if not SLUG_PATTERN.match(values["slug"]):
        error = (
            "The slug may hold lower-case letters, digits and hyphens (it becomes the feed URL)."
        )
    elif not values["name"]:
        error = "Give the topic a name."
    preview = None
    services = context.services
    if error is None and services.preview_topic_change is not None:
        try:
            preview = await services.preview_topic_change(values["slug"], values["definition"])
        except RuleError as exc:
            error = f"The rules have a mistake: {exc}"
        if preview is not None and preview.error:
            error = f"The rules have a mistake: {preview.error}"
            preview = None
    if error is not None or form.get("action") != "save":
        return render(
            request,
            "curate_topic_edit.html",
            status=400 if error else 200,
            title="Edit topic",
            topic=topic,
            values=values,
            preview=preview,
            error=error,
            can_preview=services.preview_topic_change is not None,
        )
    await context.store.upsert_topic(
        values["slug"],
        name=values["name"],
        description=values["description"],
        definition=values["definition"],
        now=context.clock(),
    )
    if services.retag_topic is not None:
        await services.retag_topic(values["slug"])
    raise web.HTTPSeeOther("/curate/topics?done=saved")


async def topic_entries_page(request: web.Request) -> web.Response:
    """A topic's entries, hidden ones included (so they can be un-hidden), with why each
    is there and the decision buttons."""
    context = app_context(request)
    slug = request.match_info["slug"]
    topic = await context.store.get_topic(slug)
    if topic is None:
        raise web.HTTPNotFound(text=f"There is no topic called “{slug}”.")
    before = cursor_param(request)
    try:
        page = await context.store.topic_entries(slug, limit=50, before=before, include_hidden=True)
    except ValueError:
        raise web.HTTPBadRequest(text="before is not a cursor this site gave out") from None
    rows = [{"item": item, "why": explanation_lines(item.match)} for item in page.items]
    older = f"?{urlencode({'before': page.next_cursor})}" if page.next_cursor else None
    return render(
        request,
        "curate_topic_entries.html",
        title=f"Review {topic.name}",
        topic=topic,
        rows=rows,
        older_link=older,
        flash=_flash(request),
        states=[MatchState.APPROVED, MatchState.PINNED, MatchState.HIDDEN],
    )


async def decide(request: web.Request) -> web.StreamResponse:
    """Approve, hide or pin an entry in a topic, or add it to a topic by hand."""
    context = app_context(request)
    raw_id = request.match_info["entry_id"]
    if not raw_id.isdigit() or len(raw_id) > 12:
        raise web.HTTPNotFound(text="There is no such article.")
    entry = await context.store.get_entry(int(raw_id))
    if entry is None:
        raise web.HTTPNotFound(text="There is no such article.")
    form = await _form(request)
    slug = _field(form, "topic", 128)
    try:
        state = MatchState(_field(form, "state", 16))
    except ValueError:
        raise web.HTTPBadRequest(text="Choose approve, pin or hide.") from None
    if state == MatchState.AUTO or await context.store.get_topic(slug) is None:
        raise web.HTTPBadRequest(text="Choose a topic and approve, pin or hide.")
    await context.store.set_decision(entry.id, slug, state, _curator(request), context.clock())
    target = safe_next(_field(form, "next", 2000), default=f"/articles/{entry.id}")
    separator = "&" if "?" in target else "?"
    raise web.HTTPSeeOther(f"{target}{separator}done=decided")


async def curate_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/curate/feeds")


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/login", login_form, name="login")
    router.add_post("/login", login_submit)
    router.add_post("/logout", logout, name="logout")
    router.add_get("/curate", curate_home)
    router.add_get("/curate/feeds", feeds_page, name="curate_feeds")
    router.add_post("/curate/feeds/discover", feeds_discover)
    router.add_post("/curate/feeds/add", feeds_add)
    router.add_post("/curate/feeds/import", feeds_import)
    router.add_get("/curate/feeds/export", feeds_export)
    router.add_post("/curate/feeds/{feed_id}/{action}", feed_action)
    router.add_get("/curate/topics", topics_page, name="curate_topics")
    router.add_get("/curate/topics/{slug}", topic_edit)
    router.add_post("/curate/topics/{slug}", topic_save)
    router.add_get("/curate/topics/{slug}/entries", topic_entries_page)
    router.add_post("/curate/articles/{entry_id}/decide", decide)
