"""Builders shared by the web tests (not a test module): a seeded database, settings,
an app and sign-in helpers."""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from aggregator import storage
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.types import (
    Article,
    ArticleStatus,
    EntryData,
    EntryPlan,
    FetchLogRecord,
    FetchOutcome,
    MatchOrigin,
    MatchState,
    NewFeed,
    TopicMatch,
)
from tests.storage_helpers import ok_update

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock for both the app (datetimes) and the throttle (seconds)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()


CURATOR = "alice"
PASSWORD = "correct horse battery staple"
# Argon2 hashes carry their own cost parameters, so a cheap hash made here verifies fast in
# the real code path (the production cost is ~0.5 s per verification on a busy machine).
PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
XSS_TITLE = "<script>alert('title')</script>Iran talks <b>resume</b>"
XSS_HTML = (
    "<p>Body</p><script>alert(1)</script><img src=x onerror=alert(2)>"
    '<a href="javascript:alert(3)">link</a><iframe src="https://evil.example/"></iframe>'
    '<form action="javascript:alert(4)"><input></form><svg onload=alert(5)></svg>'
)


@dataclass
class WebTestSettings:
    base_url: str = "http://127.0.0.1:8080"
    secret_key: str = "test-secret-key-not-for-production"
    secure_cookies: bool = False
    feed_page_size: int = 50
    feed_page_max: int = 200


@dataclass
class Seeded:
    feed_id: int
    other_feed_id: int
    entry_ids: list[int] = field(default_factory=list)  # newest first
    xss_entry_id: int = 0


def _entry(identity: str, title: str, published: datetime, html: str = "<p>Text</p>") -> EntryData:
    return EntryData(
        identity=identity,
        guid=identity,
        url=f"https://news.example.test/{identity}",
        title=title,
        author="Reporter",
        published_at=published,
        updated_at=None,
        summary_html=f"<p>Lead of {identity}</p>{html}",
        content_html=html,
        content_hash=f"hash-{identity}",
    )


def _log(feed_id: int, now: datetime) -> FetchLogRecord:
    return FetchLogRecord(
        feed_id=feed_id,
        started_at=now,
        outcome=FetchOutcome.OK,
        status=200,
        duration_s=0.01,
        bytes_read=100,
        new_entries=0,
        updated_entries=0,
        error=None,
    )


def rule_match(entry_id: int, slug: str, score: float = 1.5) -> TopicMatch:
    return TopicMatch(
        entry_id=entry_id,
        topic_slug=slug,
        score=score,
        explanation={"fired": ["title:iran"], "summary": "The title mentions Iran."},
        origin=MatchOrigin.RULE,
        state=MatchState.AUTO,
        topic_version=1,
        matched_at=NOW,
    )


async def open_seeded_database(url: str, entries: int = 8) -> tuple[Database, Seeded]:
    """A migrated database with two feeds, ``entries`` entries in us-iran (one carries XSS
    payloads), a sanctions topic and one curator."""
    db = await Database.open(url)
    await upgrade(db)
    await storage.upsert_topic(
        db, "us-iran", "U.S.–Iran relations", "Diplomacy and talks", "", now=NOW
    )
    await storage.upsert_topic(db, "sanctions", "Sanctions", "Sanctions news", "", now=NOW)
    feed = await storage.add_feed(
        db, NewFeed(url="https://news.example.test/feed.xml", title="Example News")
    )
    other = await storage.add_feed(
        db, NewFeed(url="https://other.example.test/rss", title="Other Wire")
    )
    seeded = Seeded(feed_id=feed.id, other_feed_id=other.id)
    plain = tuple(
        _entry(f"story-{i}", f"Iran story {i}", NOW - timedelta(hours=i)) for i in range(1, entries)
    )
    xss = _entry("xss", XSS_TITLE, NOW - timedelta(minutes=30), XSS_HTML)
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="test",
        update=ok_update(NOW, etag=None, body_hash="b"),
        plan=EntryPlan(new=(xss, *plain)),
        log=_log(feed.id, NOW),
        now=NOW,
    )
    other_result = await storage.apply_poll(
        db,
        feed_id=other.id,
        owner="test",
        update=ok_update(NOW, etag=None, body_hash="b"),
        plan=EntryPlan(new=(_entry("wire-1", "Wire: Iran sanctions", NOW - timedelta(days=3)),)),
        log=_log(other.id, NOW),
        now=NOW,
    )
    ids = list(result.new_entry_ids) + list(other_result.new_entry_ids)
    for entry_id in ids:
        await storage.replace_rule_matches(db, entry_id, [rule_match(entry_id, "us-iran")], now=NOW)
    await storage.replace_rule_matches(
        db,
        other_result.new_entry_ids[0],
        [
            rule_match(other_result.new_entry_ids[0], "us-iran"),
            rule_match(other_result.new_entry_ids[0], "sanctions"),
        ],
        now=NOW,
    )
    seeded.xss_entry_id = result.new_entry_ids[0]
    await storage.save_article(
        db,
        Article(
            entry_id=seeded.xss_entry_id,
            status=ArticleStatus.OK,
            title=XSS_TITLE,
            text="First paragraph of the article.\n\nSecond paragraph <script>alert(9)</script>.",
            html=XSS_HTML,
            extracted_at=NOW,
        ),
    )
    page = await storage.topic_entries(db, "us-iran", limit=100)
    seeded.entry_ids = [item.entry.id for item in page.items]
    await storage.add_user(db, CURATOR, PASSWORD_HASH, now=NOW)
    return db, seeded


_TEMPLATES: dict[int, tuple[Path, Seeded]] = {}


async def open_seeded_copy(directory: Path, entries: int = 8) -> tuple[Database, Seeded]:
    """Like ``open_seeded_database`` on SQLite, but copies a database seeded once per test
    process (migrations and seeding are most of a web test's set-up time)."""
    if entries not in _TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix="web-template-")) / "seeded.sqlite3"
        db, seeded = await open_seeded_database(f"sqlite+aiosqlite:///{template}", entries)
        await db.close()  # the last connection closing folds the WAL into the file
        _TEMPLATES[entries] = (template, seeded)
    template, seeded = _TEMPLATES[entries]
    target = directory / "aggregator.sqlite3"
    shutil.copyfile(template, target)
    db = await Database.open(f"sqlite+aiosqlite:///{target}")
    return db, dataclasses.replace(seeded, entry_ids=list(seeded.entry_ids))


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "page has no CSRF token"
    return found.group(1)


async def csrf_token(client: TestClient, path: str = "/login") -> str:
    response = await client.get(path)
    return csrf_from(await response.text())


async def post_login(
    client: TestClient,
    name: str = CURATOR,
    password: str = PASSWORD,
    *,
    forwarded_for: str | None = None,
    next_path: str | None = None,
) -> ClientResponse:
    """Post the sign-in form once (with a fresh CSRF token); the answer, not followed."""
    data = {"csrf_token": await csrf_token(client), "username": name, "password": password}
    if next_path is not None:
        data["next"] = next_path
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    return await client.post("/login", data=data, headers=headers, allow_redirects=False)


async def sign_in(client: TestClient, name: str = CURATOR, password: str = PASSWORD) -> str:
    """Sign in and return the new session's CSRF token."""
    response = await post_login(client, name, password, next_path="/curate/feeds")
    assert response.status == 303, await response.text()
    return await csrf_token(client, "/curate/feeds")
