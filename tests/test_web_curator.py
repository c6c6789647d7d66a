"""Curator pages in-process: feeds (discovery, preview, add, OPML, disable, refresh, remove),
topics (rule preview before saving, quality) and per-article decisions."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from lxml import etree

from aggregator import storage
from aggregator.errors import FetchError, RuleError
from aggregator.publish import entry_id_uri
from aggregator.storage import Database
from aggregator.types import MatchState
from tests.web_support import NOW, Seeded, WebTestSettings, open_seeded_copy, sign_in
from web.app import create_app
from web.services import (
    DiscoveredFeed,
    FeedPreview,
    PreviewEntry,
    TopicChangeEntry,
    TopicChangePreview,
    WebServices,
)


class FakeServices:
    """Small real stand-ins for discovery, preview and re-tagging, recording their calls."""

    def __init__(self) -> None:
        self.retagged: list[str] = []
        self.previewed: list[tuple[str, str]] = []

    async def discover_feeds(self, url: str) -> list[DiscoveredFeed]:
        if "unreachable" in url:
            raise FetchError(url, "connection refused")
        return [
            DiscoveredFeed(url=url.rstrip("/") + "/feed.xml", title="Site feed"),
            DiscoveredFeed(url=url.rstrip("/") + "/comments.xml", title="Comments"),
        ]

    async def preview_feed(self, url: str) -> FeedPreview:
        if url.endswith("comments.xml"):
            return FeedPreview(url=url, error="HTTP 404")
        return FeedPreview(
            url=url,
            title="Site <News>",
            entries=(PreviewEntry(title="Latest headline", url=url + "#1", published=NOW),),
        )

    async def preview_topic_change(self, slug: str, definition: str) -> TopicChangePreview:
        self.previewed.append((slug, definition))
        if "broken" in definition:
            raise RuleError("line 1: expected a quoted term after 'any'")
        return TopicChangePreview(
            added=(TopicChangeEntry(entry_id=1, title="Newly matched story"),),
            removed=(TopicChangeEntry(entry_id=2, title="No longer matched story"),),
            unchanged=5,
        )

    async def retag_topic(self, slug: str) -> int:
        self.retagged.append(slug)
        return 1

    def wire(self) -> WebServices:
        return WebServices(
            discover_feeds=self.discover_feeds,
            preview_feed=self.preview_feed,
            preview_topic_change=self.preview_topic_change,
            retag_topic=self.retag_topic,
        )


async def definition_of(db: Database, slug: str) -> str:
    topic = await storage.get_topic(db, slug)
    assert topic is not None
    return topic.definition


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[Database, Seeded]]:
    db, seeded = await open_seeded_copy(tmp_path, entries=4)
    try:
        yield db, seeded
    finally:
        await db.close()


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
async def client(
    seeded: tuple[Database, Seeded], services: FakeServices, aiohttp_client: Any
) -> TestClient:
    db, _ = seeded
    result: TestClient = await aiohttp_client(
        create_app(WebTestSettings(), db, services.wire(), clock=lambda: NOW)
    )
    return result


@pytest.fixture
async def token(client: TestClient) -> str:
    return await sign_in(client)


async def test_feeds_page_lists_subscriptions(client: TestClient, token: str) -> None:
    page = await (await client.get("/curate/feeds")).text()
    assert "Example News" in page and "Other Wire" in page
    assert 'name="csrf_token"' in page and "Refresh now" in page


async def test_discover_preview_and_add(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    db, _ = seeded
    response = await client.post(
        "/curate/feeds/discover", data={"csrf_token": token, "url": "https://site.example.test/"}
    )
    page = await response.text()
    assert response.status == 200
    assert "https://site.example.test/feed.xml" in page and "Latest headline" in page
    assert "Site &lt;News&gt;" in page  # escaped
    assert "Could not preview it: HTTP 404" in page
    added = await client.post(
        "/curate/feeds/add",
        data={
            "csrf_token": token,
            "url": "https://site.example.test/feed.xml",
            "title": "Site News",
        },
        allow_redirects=False,
    )
    assert added.status == 303 and added.headers["Location"] == "/curate/feeds?done=added"
    urls = [f.url for f in await storage.list_feeds(db)]
    assert "https://site.example.test/feed.xml" in urls
    again = await client.post(
        "/curate/feeds/add", data={"csrf_token": token, "url": "https://site.example.test/feed.xml"}
    )
    assert again.status == 409 and "already subscribe" in await again.text()


async def test_discover_reports_errors_and_bad_urls(client: TestClient, token: str) -> None:
    failed = await client.post(
        "/curate/feeds/discover", data={"csrf_token": token, "url": "https://unreachable.test/"}
    )
    assert "connection refused" in await failed.text()
    bad = await client.post(
        "/curate/feeds/discover", data={"csrf_token": token, "url": "javascript:alert(1)"}
    )
    assert bad.status == 400
    bad_add = await client.post(
        "/curate/feeds/add", data={"csrf_token": token, "url": "ftp://x.test/feed"}
    )
    assert bad_add.status == 400


async def test_disable_enable_refresh_remove(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    path = f"/curate/feeds/{data.feed_id}"
    assert (
        await client.post(f"{path}/disable", data={"csrf_token": token}, allow_redirects=False)
    ).status == 303
    assert (await storage.get_feed(db, data.feed_id)).disabled
    await client.post(f"{path}/enable", data={"csrf_token": token})
    assert not (await storage.get_feed(db, data.feed_id)).disabled
    await client.post(f"{path}/refresh", data={"csrf_token": token})
    assert (await storage.get_feed(db, data.feed_id)).next_poll_at == NOW
    assert (await client.post(f"{path}/explode", data={"csrf_token": token})).status == 404
    assert (
        await client.post("/curate/feeds/99999/remove", data={"csrf_token": token})
    ).status == 404
    confirm = await client.post(f"{path}/remove", data={"csrf_token": token})
    assert confirm.status == 200 and "Remove it" in await confirm.text()
    assert len(await storage.list_feeds(db)) == 2  # asked, not yet removed
    await client.post(f"{path}/remove", data={"csrf_token": token, "confirm": "yes"})
    assert [f.id for f in await storage.list_feeds(db)] == [data.other_feed_id]


async def test_opml_import_and_export(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    db, _ = seeded
    opml = b"""<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>
      <outline text="A" type="rss" xmlUrl="https://a.example.test/feed"/>
      <outline text="B" type="rss" xmlUrl="https://b.example.test/rss"/>
      <outline text="dup" type="rss" xmlUrl="https://news.example.test/feed.xml"/>
      <outline text="bad" type="rss" xmlUrl="not a url"/>
    </body></opml>"""
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("opml", io.BytesIO(opml), filename="subs.opml", content_type="text/x-opml")
    response = await client.post("/curate/feeds/import", data=form)
    page = await response.text()
    assert response.status == 200, page
    assert "2 new subscriptions added" in page
    assert "Skipped" in page
    assert len(await storage.list_feeds(db)) == 4
    export = await client.get("/curate/feeds/export")
    assert export.headers["Content-Disposition"].startswith("attachment")
    document = etree.fromstring(await export.read())
    assert len(list(document.iter("outline"))) >= 4


async def test_topic_edit_previews_before_saving(
    client: TestClient, token: str, services: FakeServices, seeded: tuple[Database, Seeded]
) -> None:
    db, _ = seeded
    page = await (await client.get("/curate/topics/us-iran")).text()
    assert "Preview the change" in page
    form = {
        "csrf_token": token,
        "name": "U.S.–Iran",
        "description": "d",
        "definition": "any = ['iran']",
    }
    preview = await client.post("/curate/topics/us-iran", data={**form, "action": "preview"})
    text = await preview.text()
    assert "Newly matched story" in text and "No longer matched story" in text
    assert "1 added, 1 removed, 5 unchanged" in text
    assert await definition_of(db, "us-iran") == ""  # not saved yet
    saved = await client.post(
        "/curate/topics/us-iran", data={**form, "action": "save"}, allow_redirects=False
    )
    assert saved.status == 303
    topic = await storage.get_topic(db, "us-iran")
    assert topic is not None and topic.definition == "any = ['iran']" and topic.version == 2
    assert services.retagged == ["us-iran"]


async def test_bad_rules_are_shown_and_not_saved(
    client: TestClient, token: str, seeded: tuple[Database, Seeded], services: FakeServices
) -> None:
    db, _ = seeded
    response = await client.post(
        "/curate/topics/us-iran",
        data={"csrf_token": token, "name": "X", "definition": "broken", "action": "save"},
    )
    assert response.status == 400
    assert "expected a quoted term" in await response.text()
    assert await definition_of(db, "us-iran") == ""
    assert services.retagged == []


async def test_new_topic(client: TestClient, token: str, seeded: tuple[Database, Seeded]) -> None:
    db, _ = seeded
    bad = await client.post(
        "/curate/topics/new",
        data={"csrf_token": token, "slug": "Bad Slug!", "name": "x", "action": "save"},
    )
    assert bad.status == 400
    done = await client.post(
        "/curate/topics/new",
        data={
            "csrf_token": token,
            "slug": "oil",
            "name": "Oil",
            "definition": "any = ['oil']",
            "action": "save",
        },
        allow_redirects=False,
    )
    assert done.status == 303
    assert (await storage.get_topic(db, "oil")) is not None
    assert (await client.get("/topics/oil.atom")).status == 200


async def test_topics_page_shows_quality_from_decisions(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    await storage.set_decision(db, data.entry_ids[0], "us-iran", MatchState.HIDDEN, "alice", NOW)
    await storage.set_decision(db, data.entry_ids[1], "us-iran", MatchState.APPROVED, "alice", NOW)
    await storage.set_decision(db, data.entry_ids[2], "us-iran", MatchState.APPROVED, "alice", NOW)
    page = await (await client.get("/curate/topics")).text()
    assert "Precision of reviewed" in page and "66%" in page
    assert "title:iran" in page  # the rule part behind the hidden article


async def test_hide_from_the_article_page_leaves_the_feed(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    _, data = seeded
    target = data.entry_ids[0]
    article = await (await client.get(f"/articles/{target}")).text()
    assert "Hide in us-iran" in article and "The title mentions Iran." in article
    before = feedparser.parse(await (await client.get("/topics/us-iran.atom")).read())
    assert entry_id_uri("http://127.0.0.1:8080", target) in [e.id for e in before.entries]
    response = await client.post(
        f"/curate/articles/{target}/decide",
        data={
            "csrf_token": token,
            "topic": "us-iran",
            "state": "hidden",
            "next": f"/articles/{target}",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == f"/articles/{target}?done=decided"
    after = feedparser.parse(await (await client.get("/topics/us-iran.atom")).read())
    assert entry_id_uri("http://127.0.0.1:8080", target) not in [e.id for e in after.entries]


async def test_add_to_topic_by_hand_and_pin(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    target = data.entry_ids[-1]
    await client.post(
        f"/curate/articles/{target}/decide",
        data={"csrf_token": token, "topic": "sanctions", "state": "pinned"},
    )
    page = await storage.topic_entries(db, "sanctions", limit=10)
    assert page.items[0].entry.id == target and page.items[0].match.state == MatchState.PINNED
    bad = await client.post(
        f"/curate/articles/{target}/decide",
        data={"csrf_token": token, "topic": "nope", "state": "hidden"},
    )
    assert bad.status == 400
    bad_state = await client.post(
        f"/curate/articles/{target}/decide",
        data={"csrf_token": token, "topic": "sanctions", "state": "auto"},
    )
    assert bad_state.status == 400


async def test_review_page_lists_entries_with_why(client: TestClient, token: str) -> None:
    page = await (await client.get("/curate/topics/us-iran/entries")).text()
    assert "The title mentions Iran." in page and ">Hide<" in page


async def test_curator_pages_are_not_cached(client: TestClient, token: str) -> None:
    response = await client.get("/curate/feeds")
    assert "no-store" in response.headers["Cache-Control"]


async def test_decision_time_is_recorded(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    db, data = seeded
    await client.post(
        f"/curate/articles/{data.entry_ids[0]}/decide",
        data={"csrf_token": token, "topic": "us-iran", "state": "approved"},
    )
    match = {m.topic_slug: m for m in await storage.entry_matches(db, data.entry_ids[0])}["us-iran"]
    assert match.decided_by == "alice" and match.decided_at is not None
    assert abs(match.decided_at - NOW) < timedelta(seconds=1)


async def test_review_page_lists_hidden_entries_so_they_can_be_unhidden(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    _, data = seeded
    target = data.entry_ids[0]
    await client.post(
        f"/curate/articles/{target}/decide",
        data={"csrf_token": token, "topic": "us-iran", "state": "hidden"},
    )
    page = await (await client.get("/curate/topics/us-iran/entries")).text()
    assert f'href="/articles/{target}"' in page
    assert "hidden-entry" in page


async def test_topics_page_names_the_rule_part_curators_hide(
    client: TestClient, token: str, seeded: tuple[Database, Seeded]
) -> None:
    _, data = seeded
    await client.post(
        f"/curate/articles/{data.entry_ids[0]}/decide",
        data={"csrf_token": token, "topic": "us-iran", "state": "hidden"},
    )
    page = await (await client.get("/curate/topics")).text()
    assert "<code>title:iran</code>: 1 hidden of" in page
