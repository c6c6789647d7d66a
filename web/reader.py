"""Pages for readers (no login): home, topic pages, articles, search, sources."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from aggregator.publish import CONTENT_TYPES, FORMATS, plain_text
from aggregator.sanitize import html_to_text
from aggregator.types import MatchState, TopicMatch
from web.context import SESSION_CHANGED, app_context, current_user, render, render_in_thread
from web.highlight import highlighter
from web.params import cursor_param, date_param, int_param, text_param
from web.store import EntryFilter

TOPIC_PAGE_SIZE = 25
HOME_HEADLINES = 5
SEARCH_LIMIT = 50  # hits on one search page
SEARCH_MAX_PAGE = 200  # deep pages cost the database a scan of every hit before them
LEAD_CHARS = 280


@lru_cache(maxsize=4096)
def lead_text(html: str | None, fallback: str | None = None) -> str:
    """The first words of an entry for listings (kept for recent entries: parsing is slow)."""
    text = html_to_text(html) or " ".join((fallback or "").split())
    return text if len(text) <= LEAD_CHARS else text[: LEAD_CHARS - 1].rsplit(" ", 1)[0] + "…"


def feed_links(base_url: str, slug: str) -> list[dict[str, str]]:
    """The ``<link rel="alternate">`` targets of a topic (autodiscovery)."""
    names = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
    return [
        {
            "href": f"{base_url}/topics/{slug}.{fmt}",
            "type": CONTENT_TYPES[fmt].split(";")[0],
            "title": names[fmt],
            "format": fmt,
        }
        for fmt in FORMATS
    ]


def explanation_lines(match: TopicMatch) -> list[str]:
    """A readable account of why an entry is in a topic (the explanation is a JSON dict):
    the curator's decision, the score against the threshold, then each rule part that
    fired with its contribution, the terms it matched and a snippet."""
    explanation = match.explanation if isinstance(match.explanation, dict) else {}
    lines: list[str] = []
    who = match.decided_by or "a curator"
    when = f" on {_format_when(match.decided_at)}" if match.decided_at else ""
    if match.origin == "curator":
        lines.append(f"Added by hand by {who}{when}.")
    elif match.state != "auto":
        lines.append(f"{str(match.state).capitalize()} by {who}{when}.")
    summary = explanation.get("summary")
    if isinstance(summary, str) and summary:
        lines.append(summary)
    score, threshold = explanation.get("score"), explanation.get("threshold")
    if isinstance(score, int | float) and isinstance(threshold, int | float):
        lines.append(f"Score {score:g} (threshold {threshold:g}).")
    parts = explanation.get("parts")
    if isinstance(parts, list):
        for part in parts[:12]:
            if isinstance(part, dict):
                lines.append(_part_line(part))
    return lines


def _format_when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "strftime") else str(value)


def _part_line(part: dict[str, Any]) -> str:
    name = str(part.get("id") or part.get("match") or "rule")
    contribution = part.get("contribution")
    line = f"{name} (+{contribution:g})" if isinstance(contribution, int | float) else name
    evidence = part.get("evidence")
    if isinstance(evidence, list) and evidence and isinstance(evidence[0], dict):
        first = evidence[0]
        terms = [t for t in first.get("terms", []) if isinstance(t, str)]
        if terms:
            line += ": " + ", ".join(dict.fromkeys(terms))
        if first.get("field"):
            line += f" in {first['field']}"
        snippet = first.get("snippet")
        if isinstance(snippet, str) and snippet:
            line += f" — “{snippet[:200]}”"
    return line


async def cached_page(
    request: web.Request, produce: Callable[[], Awaitable[web.Response]]
) -> web.Response:
    """Anonymous readers share one rendering of a page (see ``web.cache``); curators'
    pages show their own controls and are never cached."""
    if current_user(request) is not None:
        return await produce()

    async def rendered() -> str | None:
        response = await produce()
        # Only plain 200 pages without a session of their own are shareable.
        if response.status != 200 or request.get(SESSION_CHANGED) or response.text is None:
            return None
        return response.text

    text = await app_context(request).cache.get(("html", request.path_qs), rendered)
    if text is None:
        return await produce()
    response = web.Response(text=text, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-cache"
    return response


async def home(request: web.Request) -> web.Response:
    return await cached_page(request, lambda: _home(request))


async def _home(request: web.Request) -> web.Response:
    context = app_context(request)
    topics = await context.store.list_topics()
    counts = await context.store.topic_counts()
    sections = []
    for topic in topics:
        page = await context.store.topic_entries(topic.slug, limit=HOME_HEADLINES)
        sections.append({"topic": topic, "count": counts.get(topic.slug, 0), "items": page.items})
    return await render_in_thread(request, "home.html", sections=sections, title="Topics")


async def _require_topic(request: web.Request, slug: str) -> Any:
    topic = await app_context(request).store.get_topic(slug)
    if topic is None:
        raise web.HTTPNotFound(text=f"There is no topic called “{slug}”. These topics exist:")
    return topic


async def topic_page(request: web.Request) -> web.StreamResponse:
    if "." in request.match_info["name"]:
        from web.feeds_view import topic_feed

        return await topic_feed(request)
    return await cached_page(request, lambda: _topic_page(request))


async def _topic_page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    context = app_context(request)
    topic = await _require_topic(request, name)
    feed_id = int_param(request, "source", default=None, low=0, high=2**31 - 1)
    since = date_param(request, "from")
    until = date_param(request, "to", end_of_day=True)
    before = cursor_param(request)
    filters = EntryFilter(feed_id=feed_id, since=since, until=until)
    try:
        page = await context.store.topic_entries(
            topic.slug, limit=TOPIC_PAGE_SIZE, before=before, filters=filters
        )
    except ValueError:
        raise web.HTTPBadRequest(text="before is not a cursor this site gave out") from None
    feeds = await context.store.list_feeds()
    keep = {k: request.query[k] for k in ("source", "from", "to") if request.query.get(k)}
    older = f"?{urlencode({**keep, 'before': page.next_cursor})}" if page.next_cursor else None
    newest = f"?{urlencode(keep)}" if before else None
    return await render_in_thread(
        request,
        "topic.html",
        title=topic.name,
        topic=topic,
        items=page.items,
        lead=lead_text,
        feeds=sorted(feeds, key=lambda f: (f.title or f.url).lower()),
        selected_feed=feed_id,
        date_from=request.query.get("from", "")[:10],
        date_to=request.query.get("to", "")[:10],
        older_link=older,
        newest_link=newest,
        alternates=feed_links(context.base_url, topic.slug),
    )


async def article_page(request: web.Request) -> web.Response:
    context = app_context(request)
    raw_id = request.match_info["entry_id"]
    if not raw_id.isdigit() or len(raw_id) > 12:
        raise web.HTTPNotFound(text="There is no such article.")
    entry = await context.store.get_entry(int(raw_id))
    if entry is None:
        raise web.HTTPNotFound(text="There is no such article.")
    article = await context.store.get_article(entry.id)
    matches = await context.store.entry_matches(entry.id)
    signed_in = current_user(request) is not None
    visible = [m for m in matches if signed_in or m.state != MatchState.HIDDEN]
    topics = await context.store.list_topics() if signed_in else []
    paragraphs = (
        [p.strip() for p in (article.text or "").split("\n\n") if p.strip()] if article else []
    )
    return render(
        request,
        "article.html",
        title=plain_text(entry.title) or "(untitled)",
        entry=entry,
        article=article,
        paragraphs=paragraphs,
        matches=[{"match": m, "why": explanation_lines(m)} for m in visible],
        all_topics=topics,
        states=[MatchState.APPROVED, MatchState.PINNED, MatchState.HIDDEN],
        json_dump=lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str),
    )


def search_page_number(request: web.Request) -> int:
    """The ``page`` of a search (1 = newest hits). Anything but a whole number from 1 to
    ``SEARCH_MAX_PAGE`` gives the first page: a search link is never an error."""
    raw = request.query.get("page", "").strip()
    if not raw or len(raw) > 6 or not raw.isascii() or not raw.isdigit():
        return 1
    page = int(raw)
    return page if 1 <= page <= SEARCH_MAX_PAGE else 1


def search_link(query: str, page: int) -> str:
    """The address of one page of a search; the first page is plain ``/search?q=…``."""
    params: dict[str, str | int] = {"q": query}
    if page > 1:
        params["page"] = page
    return f"/search?{urlencode(params)}"


async def search_page(request: web.Request) -> web.Response:
    context = app_context(request)
    query = text_param(request, "q")
    page = search_page_number(request) if query else 1
    offset = (page - 1) * SEARCH_LIMIT
    # One more than a page: if it comes back, there is an older page.
    hits = (
        await context.store.search_entries(query, limit=SEARCH_LIMIT + 1, offset=offset)
        if query
        else []
    )
    has_older = len(hits) > SEARCH_LIMIT and page < SEARCH_MAX_PAGE
    hits = hits[:SEARCH_LIMIT]
    return render(
        request,
        "search.html",
        title="Search",
        query=query,
        hits=hits,
        page=page,
        first=offset + 1,
        last=offset + len(hits),
        older_link=search_link(query, page + 1) if has_older else None,
        newer_link=search_link(query, page - 1) if page > 1 else None,
        first_link=search_link(query, 1),
        mark=highlighter(query),
    )


async def sources_page(request: web.Request) -> web.Response:
    context = app_context(request)
    feeds = await context.store.list_feeds()
    stats = await context.store.feed_article_stats()
    summary = await context.store.status_summary(context.clock())
    return render(
        request,
        "sources.html",
        title="Sources",
        feeds=sorted(feeds, key=lambda f: (f.title or f.url).lower()),
        stats=stats,
        summary=summary,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home, name="home")
    app.router.add_get("/topics/{name}", topic_page, name="topic")
    app.router.add_get("/articles/{entry_id}", article_page, name="article")
    app.router.add_get("/search", search_page, name="search")
    app.router.add_get("/sources", sources_page, name="sources")
