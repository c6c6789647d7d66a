"""Attacks on the web view: anonymous curator actions, CSRF, cookies, login throttling,
open redirects, oversized bodies and arbitrary query strings (issue 7)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import storage
from aggregator.storage import Database
from tests.web_support import (
    CURATOR,
    PASSWORD,
    Clock,
    Seeded,
    WebTestSettings,
    csrf_token,
    open_seeded_copy,
    open_seeded_database,
    post_login,
    sign_in,
)
from web.app import create_app
from web.security import LoginThrottle, SessionSigner, new_session, safe_next


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[Database, Seeded]]:
    db, seeded = await open_seeded_copy(tmp_path, entries=3)
    try:
        yield db, seeded
    finally:
        await db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(seeded: tuple[Database, Seeded], clock: Clock) -> web.Application:
    db, _ = seeded
    throttle = LoginThrottle(max_failures=5, lockout_s=60, clock=clock.seconds)
    return create_app(WebTestSettings(), db, clock=clock, login_throttle=throttle)


@pytest.fixture
async def client(app: web.Application, aiohttp_client: Any) -> TestClient:
    result: TestClient = await aiohttp_client(app)
    return result


def curator_routes(app: web.Application, seeded: Seeded) -> list[tuple[str, str]]:
    """Every route under /curate with its placeholders filled in."""
    fill = {
        "feed_id": str(seeded.feed_id),
        "action": "remove",
        "slug": "us-iran",
        "entry_id": str(seeded.entry_ids[0]),
    }
    routes = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if not path.startswith("/curate"):
            continue
        routes.append((route.method, re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], path)))
    return routes


async def test_every_curator_route_refuses_anonymous_users(
    app: web.Application, client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    routes = curator_routes(app, data)
    assert len(routes) >= 12
    token = await csrf_token(client, "/login")  # even with a valid anonymous CSRF token
    for method, path in routes:
        if method == "HEAD":
            continue
        if method == "GET":
            response = await client.get(path, allow_redirects=False)
            assert response.status == 302, path
            assert response.headers["Location"].startswith("/login?next=")
        else:
            response = await client.post(
                path,
                data={"csrf_token": token, "url": "https://x.example/", "confirm": "yes"},
                allow_redirects=False,
            )
            assert response.status == 403, (method, path)
    assert len(await storage.list_feeds(db)) == 2  # nothing was removed


async def test_forged_or_missing_csrf_tokens_are_refused(
    client: TestClient, seeded: tuple[Database, Seeded], aiohttp_client: Any, app: web.Application
) -> None:
    db, data = seeded
    await sign_in(client)
    path = f"/curate/feeds/{data.feed_id}/remove"
    assert (await client.post(path, data={}, allow_redirects=False)).status == 403
    assert (
        await client.post(path, data={"csrf_token": "forged"}, allow_redirects=False)
    ).status == 403
    # A real token from another browser's session is not this session's token.
    other = await aiohttp_client(app)
    foreign = await csrf_token(other, "/login")
    assert (
        await client.post(path, data={"csrf_token": foreign}, allow_redirects=False)
    ).status == 403
    # Right token, but a cross-site Origin.
    own = await csrf_token(client, "/curate/feeds")
    cross = await client.post(
        path,
        data={"csrf_token": own},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert cross.status == 403
    assert len(await storage.list_feeds(db)) == 2
    done = await client.post(
        path, data={"csrf_token": own, "confirm": "yes"}, allow_redirects=False
    )
    assert done.status == 303
    assert len(await storage.list_feeds(db)) == 1


async def test_login_itself_needs_the_csrf_token(client: TestClient) -> None:
    response = await client.post(
        "/login", data={"username": CURATOR, "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 403


async def test_session_cookie_flags(client: TestClient) -> None:
    response = await client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie


async def test_secure_cookie_behind_https(
    seeded: tuple[Database, Seeded], aiohttp_client: Any
) -> None:
    db, _ = seeded
    client = await aiohttp_client(create_app(WebTestSettings(secure_cookies=True), db))
    cookie = (await client.get("/login")).headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


async def test_signed_in_session_is_new_and_tamper_proof(client: TestClient) -> None:
    before = await csrf_token(client)
    after = await sign_in(client)
    assert before != after  # the session (and token) changes at sign-in
    assert (await client.get("/curate/feeds", allow_redirects=False)).status == 200
    # Altering the cookie's payload (making someone else) breaks its signature.
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["agg_session"].value
    payload, _, signature = cookie.partition(".")
    forged = SessionSigner("guess").dumps(new_session("mallory"))
    for value in (forged, payload[:-2] + "AA." + signature, "garbage", "a.b"):
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({"agg_session": value})
        response = await client.get("/curate/feeds", allow_redirects=False)
        assert response.status == 302, value


async def test_logout_ends_the_session(client: TestClient) -> None:
    token = await sign_in(client)
    response = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303
    assert (await client.get("/curate/feeds", allow_redirects=False)).status == 302


async def test_wrong_passwords_lock_out_then_recover(client: TestClient, clock: Clock) -> None:
    for _ in range(5):
        assert (await post_login(client, CURATOR, "wrong password")).status == 401
    locked = await post_login(client)
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in await locked.text()
    # Another name from the same address is throttled too (guessing across accounts).
    other = await post_login(client, "bob", "x" * 10)
    assert other.status == 429
    token = await csrf_token(client)
    clock.now += timedelta(hours=1)  # past both the in-memory and the stored lock
    assert (await sign_in(client)) != token


async def test_an_account_locked_in_the_database_answers_like_a_wrong_password(
    client: TestClient, clock: Clock
) -> None:
    # Five failures lock the account in the database for longer than the in-memory
    # throttle. Past the in-memory lock, a "locked" answer only existing accounts could
    # give would tell which names exist: the locked account answers as a wrong password
    # does, and the right password does not get in until the stored lock has passed.
    for _ in range(5):
        await post_login(client, CURATOR, "wrong password")
    clock.now += timedelta(minutes=2)  # past the in-memory lock (60 s), not the stored one
    locked = await post_login(client)
    assert locked.status == 401
    text = await locked.text()
    assert "Wrong user name or password." in text and "Too many" not in text
    assert (await client.get("/curate/feeds", allow_redirects=False)).status == 302
    clock.now += timedelta(hours=1)  # past every lock: the right password works again
    await sign_in(client)
    assert (await client.get("/curate/feeds", allow_redirects=False)).status == 200


async def test_unknown_user_and_wrong_password_look_the_same(client: TestClient) -> None:
    token = await csrf_token(client)
    unknown = await client.post(
        "/login", data={"csrf_token": token, "username": "nobody", "password": "whatever1"}
    )
    wrong = await client.post(
        "/login", data={"csrf_token": token, "username": CURATOR, "password": "whatever1"}
    )
    assert unknown.status == wrong.status == 401
    assert "Wrong user name or password." in await unknown.text()
    assert "Wrong user name or password." in await wrong.text()


OPEN_REDIRECTS = [
    "https://evil.example/",
    "//evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "http:/evil.example",
    " //evil.example",
    "/%0d%0aSet-Cookie:x=y",
    "/\tevil",
    "",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
async def test_login_next_never_leaves_the_site(client: TestClient, target: str) -> None:
    token = await csrf_token(client, f"/login?next={target}")
    response = await client.post(
        "/login",
        data={"csrf_token": token, "username": CURATOR, "password": PASSWORD, "next": target},
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    assert "evil" not in location or location.startswith("/%")


def test_safe_next_keeps_local_paths() -> None:
    assert safe_next("/curate/topics?x=1") == "/curate/topics?x=1"
    assert safe_next("//evil.example") == "/curate/feeds"


async def test_oversized_bodies_are_refused(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    big = b"x" * (3 * 1024 * 1024)
    response = await client.post(
        "/login", data=big, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 413
    token = await sign_in(client)
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("opml", io.BytesIO(big), filename="huge.opml")
    upload = await client.post("/curate/feeds/import", data=form)
    assert upload.status == 413


async def test_article_decision_by_anonymous_is_refused(
    client: TestClient, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    token = await csrf_token(client, "/login")
    response = await client.post(
        f"/curate/articles/{data.entry_ids[0]}/decide",
        data={"csrf_token": token, "topic": "us-iran", "state": "hidden"},
        allow_redirects=False,
    )
    assert response.status == 403
    page = await storage.topic_entries(db, "us-iran", limit=50)
    assert data.entry_ids[0] in [item.entry.id for item in page.items]


# ---------------------------------------------------------------------------
# Arbitrary strings in every query parameter: never a 500, never a changed database.


@pytest.fixture(scope="module")
def fuzz_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[asyncio.AbstractEventLoop, TestClient, Database]]:
    loop = asyncio.new_event_loop()
    path = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.sqlite3"

    async def start() -> tuple[TestClient, Database]:
        db, _ = await open_seeded_database(f"sqlite+aiosqlite:///{path}", entries=4)
        client = TestClient(TestServer(create_app(WebTestSettings(), db)))
        await client.start_server()
        return client, db

    client, db = loop.run_until_complete(start())
    try:
        yield loop, client, db
    finally:
        loop.run_until_complete(client.close())
        loop.run_until_complete(db.close())
        loop.close()


PATHS = ["/search", "/topics/us-iran", "/topics/us-iran.atom", "/topics/us-iran.json", "/login"]
PARAMS = ["q", "source", "from", "to", "before", "limit", "next"]
SQLISH = st.sampled_from(
    [
        "' OR 1=1 --",
        '" OR ""="',
        "'; DROP TABLE entries; --",
        "NEAR(",
        '"unclosed',
        "*",
        "a AND",
        "col:val",
        "^",
        "()",
        "1) UNION SELECT password_hash FROM users --",
        "%",
        "\\",
        "\x00",
    ]
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(PATHS),
    name=st.sampled_from(PARAMS),
    value=st.one_of(st.text(max_size=300), SQLISH),
)
def test_arbitrary_query_strings_never_give_a_500(
    fuzz_client: tuple[asyncio.AbstractEventLoop, TestClient, Database],
    path: str,
    name: str,
    value: str,
) -> None:
    loop, client, db = fuzz_client

    async def request() -> int:
        response = await client.get(path, params={name: value}, allow_redirects=False)
        await response.read()
        return response.status

    status = loop.run_until_complete(request())
    assert status in (200, 400, 404), (path, name, value, status)
    feeds = loop.run_until_complete(storage.list_feeds(db))
    assert len(feeds) == 2
