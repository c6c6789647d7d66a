"""What every view needs: the app's context object and the page renderer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from jinja2 import Environment
from markupsafe import Markup

from web.cache import RenderCache
from web.security import LoginThrottle, Session, SessionSigner, new_session
from web.services import WebServices
from web.store import WebStore

if TYPE_CHECKING:
    from web.app import WebSettings

HTML_CONTENT_TYPE = "text/html"


@dataclass
class AppContext:
    settings: WebSettings
    store: WebStore
    services: WebServices
    templates: Environment
    signer: SessionSigner
    throttle: LoginThrottle
    clock: Callable[[], datetime]
    cache: RenderCache

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")


APP_CONTEXT: web.AppKey[AppContext] = web.AppKey("aggregator_web", AppContext)
SESSION: web.RequestKey[Session] = web.RequestKey("aggregator_session", Session)
SESSION_CHANGED: web.RequestKey[bool] = web.RequestKey("aggregator_session_changed", bool)


def app_context(request: web.Request) -> AppContext:
    return request.app[APP_CONTEXT]


def session_of(request: web.Request) -> Session:
    """The request's session, started (and its cookie set) only when something needs it."""
    session = request.get(SESSION)
    if session is None:
        session = new_session()
        replace_session(request, session)
    return session


def current_user(request: web.Request) -> str | None:
    """The signed-in curator, without starting a session for anonymous readers."""
    session = request.get(SESSION)
    return session.user if session is not None else None


class LazyCsrfToken:
    """Renders as the session's CSRF token; only a page that shows a form starts a session,
    so pages without forms stay cookie-free and cacheable."""

    def __init__(self, request: web.Request) -> None:
        self._request = request

    def __str__(self) -> str:
        return session_of(self._request).csrf

    def __html__(self) -> str:
        return str(Markup.escape(str(self)))


def replace_session(request: web.Request, session: Session) -> None:
    request[SESSION] = session
    request[SESSION_CHANGED] = True


def _page_values(request: web.Request, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_path": request.path,
        "csrf_token": LazyCsrfToken(request),
        "user": current_user(request),
        "base_url": app_context(request).base_url,
        **values,
    }


def _html_response(page: str, status: int) -> web.Response:
    response = web.Response(
        text=page, status=status, content_type=HTML_CONTENT_TYPE, charset="utf-8"
    )
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


def render(
    request: web.Request, template: str, *, status: int = 200, **values: Any
) -> web.Response:
    page = (
        app_context(request).templates.get_template(template).render(_page_values(request, values))
    )
    return _html_response(page, status)


async def render_in_thread(
    request: web.Request, template: str, *, status: int = 200, **values: Any
) -> web.Response:
    """``render`` for the big listing pages: the template runs off the event loop so other
    requests are not held up. Only for pages whose forms do not start a session (the CSRF
    token of an existing session is read, never created, in the worker thread)."""
    if current_user(request) is not None:
        session_of(request)  # resolved here, on the loop
    page = await asyncio.to_thread(
        app_context(request).templates.get_template(template).render,
        _page_values(request, values),
    )
    return _html_response(page, status)
