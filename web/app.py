"""The web view's application factory: routes, middlewares, templates.

``create_app(settings, db, services)`` returns an ``aiohttp.web.Application``; tests drive it
in-process with aiohttp's test client, ``aggregator serve`` runs it. The caller may add routes
(``/healthz``, ``/metrics``) to ``app.router`` before the app starts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from aggregator.config import parse_trusted_proxies
from aggregator.publish import http_url, plain_text, sanitized_html
from aggregator.storage.database import is_unavailable
from web.cache import DEFAULT_TTL_S, RenderCache
from web.context import (
    APP_CONTEXT,
    SESSION,
    SESSION_CHANGED,
    AppContext,
    current_user,
    render,
)
from web.security import (
    SECURITY_HEADERS,
    SESSION_COOKIE,
    TRUSTED_PROXIES,
    LoginThrottle,
    Session,
    SessionSigner,
    csrf_matches,
    set_session_cookie,
)
from web.services import WebServices
from web.store import WebStore

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
# Large enough for an OPML import of a few thousand feeds; anything bigger is refused (413).
MAX_REQUEST_BYTES = 2 * 1024 * 1024
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WebSettings(Protocol):
    """The settings the web view reads (``aggregator.config.Settings`` has them all)."""

    @property
    def base_url(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def secure_cookies(self) -> bool: ...

    @property
    def feed_page_size(self) -> int: ...

    @property
    def feed_page_max(self) -> int: ...


def _format_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime(fmt)


def _make_templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    env.filters["dt"] = _format_datetime

    def sanitized(html: str | None, base_url: str | None = None) -> Markup:
        # The one way templates output HTML: sanitized again right here, then marked safe.
        return Markup(sanitized_html(html, base_url))

    env.filters["sanitized"] = sanitized
    # Titles and names are plain text everywhere (as in the topic feeds): markup is dropped.
    env.filters["plain"] = plain_text
    env.filters["http_url"] = http_url
    return env


Handler = Callable[[web.Request], Any]


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loads the signed session cookie, checks CSRF on every POST, keeps anonymous users out
    of /curate, and empties the render cache after every curator action."""
    context: AppContext = request.app[APP_CONTEXT]
    raw = request.cookies.get(SESSION_COOKIE)
    session = context.signer.loads(raw) if raw else None
    if session is not None:
        request[SESSION] = session
    # A session that did not verify (expired, forged) is replaced if the page needs one.
    if request.method in UNSAFE_METHODS:
        await _check_csrf(request, session)
    path = request.path
    if (path == "/curate" or path.startswith("/curate/")) and current_user(request) is None:
        # Everything under /curate needs a curator: pages redirect, actions are refused.
        if request.method in ("GET", "HEAD"):
            raise web.HTTPFound(f"/login?{_next_query(request)}")
        raise web.HTTPForbidden(text="Sign in as a curator first.")
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        _after(request, exc, context)
        raise
    _after(request, response, context)
    return response


def _after(request: web.Request, response: web.StreamResponse, context: AppContext) -> None:
    if request.method in UNSAFE_METHODS and request.path.startswith("/curate/"):
        # After the change is committed, so no render can cache the state before it.
        context.cache.invalidate()
    if request.get(SESSION_CHANGED):
        set_session_cookie(
            response, context.signer, request[SESSION], secure=context.settings.secure_cookies
        )
    session = request.get(SESSION)
    if session is not None and session.signed_in and response.content_type == "text/html":
        # Pages for a signed-in curator carry their CSRF token: never stored by any cache.
        response.headers["Cache-Control"] = "private, no-store"


async def _check_csrf(request: web.Request, session: Session | None) -> None:
    # Reading the form enforces the body size limit (413) before anything else happens.
    form = await request.post()
    if session is None or not csrf_matches(session, form.get("csrf_token")):
        raise web.HTTPForbidden(
            text="This form has expired or did not come from this site. Reload the page and try again.",
        )
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.rstrip("/") != _own_origin(request):
        raise web.HTTPForbidden(text="Cross-site form submissions are refused.")


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _next_query(request: web.Request) -> str:
    return urlencode({"next": request.path_qs})


@web.middleware
async def response_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every response; friendly HTML for 4xx raised as bare exceptions."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "text/html" or _is_feed_error(request, exc):
            exc.headers.update(SECURITY_HEADERS)
            raise
        response = await _error_page(request, exc)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # The database is down or restarting: say so, and let clients retry; the engine
        # reconnects by itself once it answers again.
        log.error("database unavailable while serving %s: %s", request.path, exc)
        unavailable = web.HTTPServiceUnavailable(
            text="The database is not answering right now; please try again in a minute.",
            headers={"Retry-After": "30"},
        )
        if _is_feed_error(request, unavailable):
            unavailable.headers.update(SECURITY_HEADERS)
            raise unavailable from None
        response = await _error_page(request, unavailable)
    response.headers.update(SECURITY_HEADERS)
    return response


def _is_feed_error(request: web.Request, exc: web.HTTPException) -> bool:
    # Feed readers get a short plain-text reason; an unknown feed still gets the helpful page.
    return request.path.endswith((".atom", ".rss", ".json", ".opml")) and exc.status != 404


async def _error_page(request: web.Request, exc: web.HTTPException) -> web.Response:
    message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    page = render(
        request,
        "error.html",
        status=exc.status,
        title=exc.reason,
        message=message,
        topics=await _topics_for_error(request) if exc.status == 404 else [],
    )
    page.set_status(exc.status, exc.reason)
    for name, value in exc.headers.items():
        if name.lower() in ("retry-after", "allow"):
            page.headers[name] = value
    return page


async def _topics_for_error(request: web.Request) -> list[Any]:
    try:
        return list(await request.app[APP_CONTEXT].store.list_topics())
    except Exception:  # a 404 page must not fail because the database is down
        log.exception("listing topics for the 404 page failed")
        return []


def create_app(
    settings: WebSettings,
    db: Any,
    services: WebServices | None = None,
    *,
    store: WebStore | None = None,
    clock: Callable[[], datetime] | None = None,
    login_throttle: LoginThrottle | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    cache_ttl_s: float = DEFAULT_TTL_S,
) -> web.Application:
    """Build the web view. ``db`` is an open ``aggregator.storage.Database``.

    ``store`` replaces the storage adapter (tests, other backends); ``clock`` the wall clock.
    ``settings.trusted_proxies`` (optional: ``aggregator.config.Settings`` has it) lists the
    reverse proxies whose X-Forwarded-For is believed; a bad block raises ``ConfigError``.
    ``cache_ttl_s``: how long another process's writes (new entries from the worker) may take
    to show in cached feeds and anonymous pages (0: no caching); see ``web.cache``.
    """
    from web import curator, feeds_view, reader

    if store is None:
        from web.storage_adapter import StorageWebStore

        store = StorageWebStore(db)
    secret = settings.secret_key or secrets.token_urlsafe(32)
    context = AppContext(
        settings=settings,
        store=store,
        services=services or WebServices(),
        templates=_make_templates(),
        signer=SessionSigner(secret),
        throttle=login_throttle or LoginThrottle(),
        clock=clock or (lambda: datetime.now(UTC)),
        cache=RenderCache(cache_ttl_s),
    )
    app = web.Application(
        middlewares=[response_middleware, session_middleware],
        client_max_size=max_request_bytes,
    )
    app[APP_CONTEXT] = context
    app[TRUSTED_PROXIES] = parse_trusted_proxies(getattr(settings, "trusted_proxies", "") or "")
    reader.add_routes(app)
    feeds_view.add_routes(app)
    curator.add_routes(app)
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=False)
    return app
