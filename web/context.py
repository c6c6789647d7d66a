"""What every view needs: the app's context object and the page renderer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from jinja2 import Environment

from web.security import LoginThrottle, Session, SessionSigner
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

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")


APP_CONTEXT: web.AppKey[AppContext] = web.AppKey("aggregator_web", AppContext)
SESSION: web.RequestKey[Session] = web.RequestKey("aggregator_session", Session)
SESSION_CHANGED: web.RequestKey[bool] = web.RequestKey("aggregator_session_changed", bool)


def app_context(request: web.Request) -> AppContext:
    return request.app[APP_CONTEXT]


def session_of(request: web.Request) -> Session:
    return request[SESSION]


def replace_session(request: web.Request, session: Session) -> None:
    request[SESSION] = session
    request[SESSION_CHANGED] = True


def render(
    request: web.Request, template: str, *, status: int = 200, **values: Any
) -> web.Response:
    context = app_context(request)
    session = session_of(request)
    page = context.templates.get_template(template).render(
        request_path=request.path,
        csrf_token=session.csrf,
        user=session.user,
        base_url=context.base_url,
        **values,
    )
    response = web.Response(
        text=page, status=status, content_type=HTML_CONTENT_TYPE, charset="utf-8"
    )
    response.headers.setdefault("Cache-Control", "no-cache")
    return response
