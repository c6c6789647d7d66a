"""Query-string parsing for the web view: strict, bounded, and never a 500 on odd input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

MAX_CURSOR_CHARS = 200
MAX_QUERY_CHARS = 200


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


def int_param(
    request: web.Request, name: str, *, default: int | None, low: int, high: int
) -> int | None:
    """An integer query parameter clamped to [low, high]; not a number -> 400."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 12:
        raise bad_request(f"{name} must be a whole number")
    return max(low, min(high, int(raw)))


def cursor_param(request: web.Request) -> str | None:
    raw = request.query.get("before", "")
    if not raw:
        return None
    if len(raw) > MAX_CURSOR_CHARS or not raw.isprintable():
        raise bad_request("before is not a cursor this site gave out")
    return raw


def date_param(request: web.Request, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` date as a UTC datetime (start of that day, or start of the next)."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) != 10 or not raw.isascii():
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"{name} must be a date like 2026-11-28") from None
    moment = datetime.combine(day, time.min, tzinfo=UTC)
    if end_of_day:
        try:
            moment += timedelta(days=1)
        except OverflowError:
            return None
    return moment


def text_param(request: web.Request, name: str, *, max_chars: int = MAX_QUERY_CHARS) -> str:
    raw = request.query.get(name, "")
    # Control characters have no place in a search box; drop them instead of failing.
    cleaned = "".join(ch for ch in raw if ch.isprintable() or ch == " ")
    return cleaned.strip()[:max_chars]
