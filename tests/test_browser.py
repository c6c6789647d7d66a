"""Real-browser tests: Playwright drives Debian's chromium against the web view served on
127.0.0.1, wired with the real discovery and preview services and a local fixture site.

Screenshots of the main pages go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from aggregator import storage
from aggregator.cli.services import build_web_services
from aggregator.fetch import Fetcher, FetcherConfig
from aggregator.netguard import parse_allowed_networks
from aggregator.publish import entry_id_uri
from aggregator.storage import Database
from aggregator.tagger import Tagger
from aggregator.tagging import load_default_topics
from tests.browser_support import (
    BROWSER_MARKS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Browser,
    Page,
    async_playwright,
    shot,
)
from tests.fixture_site import FixtureSite, rss_feed
from tests.web_support import CURATOR, PASSWORD, Seeded, WebTestSettings, open_seeded_copy
from web.app import create_app

pytestmark = BROWSER_MARKS


@dataclass
class Running:
    base_url: str
    db: Database
    seeded: Seeded
    site: FixtureSite


SITE_PAGE = """<!doctype html><html><head><title>Gulf Desk</title>
<link rel="alternate" type="application/rss+xml" title="Gulf Desk news" href="/news.xml">
</head><body><h1>Gulf Desk</h1></body></html>"""


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    db, seeded = await open_seeded_copy(tmp_path, entries=6)
    default = next(t for t in load_default_topics() if t.slug == "us-iran")
    await storage.upsert_topic(db, "us-iran", default.name, default.description, default.definition)
    site = FixtureSite()
    await site.start()
    site.add_page("/", SITE_PAGE)
    site.add_feed(
        "/news.xml",
        rss_feed(
            "Gulf Desk news",
            [
                {
                    "title": "Envoys meet in Muscat",
                    "link": site.url("/a/1"),
                    "guid": "g1",
                    "pubDate": "Sat, 28 Nov 2026 09:00:00 GMT",
                },
                {
                    "title": "Oil exports under new rules",
                    "link": site.url("/a/2"),
                    "guid": "g2",
                    "pubDate": "Fri, 27 Nov 2026 09:00:00 GMT",
                },
            ],
            link=site.url("/"),
        ),
    )
    config = FetcherConfig(
        allowed_networks=parse_allowed_networks("127.0.0.0/8"), total_timeout_s=10
    )
    async with Fetcher(config) as fetcher:
        services = build_web_services(db, fetcher, Tagger())
        # The browser reaches the app at the address the server binds to, so that is its base URL.
        runner = web.AppRunner(create_app(WebTestSettings(), db, services), access_log=None)
        await runner.setup()
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        port = runner.addresses[0][1]
        try:
            yield Running(f"http://127.0.0.1:{port}", db, seeded, site)
        finally:
            await runner.cleanup()
            await site.close()
            await db.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(browser: Browser, width: int = 1200) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    return await context.new_page()


async def sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("User name").fill(CURATOR)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r".*/curate/feeds.*"))


async def test_reader_opens_a_topic_and_an_article(running: Running, browser: Browser) -> None:
    page = await new_page(browser)
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    await page.goto(running.base_url + "/")
    await shot(page, "home")
    await page.get_by_role("link", name="U.S.–Iran relations").first.click()
    await page.wait_for_url(re.compile(r".*/topics/us-iran$"))
    assert await page.locator("h1").inner_text() == "U.S.–Iran relations"
    feeds = await page.locator('link[rel="alternate"]').evaluate_all("els => els.map(e => e.type)")
    assert sorted(feeds) == ["application/atom+xml", "application/feed+json", "application/rss+xml"]
    await shot(page, "topic")
    await page.get_by_role("link", name="Iran story 1", exact=True).click()
    await page.wait_for_url(re.compile(r".*/articles/\d+$"))
    assert await page.get_by_role("link", name="Read the original article").is_visible()
    await shot(page, "article")
    # The article that carries XSS payloads renders as text; no script ran, CSP held.
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(f"{running.base_url}/articles/{running.seeded.xss_entry_id}")
    assert await page.locator("h1").inner_text() == "Iran talks resume"
    await shot(page, "article-hostile")
    await page.goto(running.base_url + "/search?q=story")
    await shot(page, "search")
    await page.goto(running.base_url + "/sources")
    await shot(page, "sources")
    assert dialogs == []
    assert not [e for e in errors if "Content Security Policy" in e]
    mobile = await new_page(browser, width=390)
    await mobile.goto(running.base_url + "/topics/us-iran")
    await shot(mobile, "topic-mobile")
    width = await mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone


async def test_curator_adds_a_feed_and_hides_an_article(running: Running, browser: Browser) -> None:
    page = await new_page(browser)
    await sign_in(page, running.base_url)
    await shot(page, "curate-feeds")
    await page.get_by_label("Site or feed address").fill(running.site.url("/"))
    await page.get_by_role("button", name="Find feeds").click()
    await page.wait_for_url(re.compile(r".*/curate/feeds/discover$"))
    assert await page.get_by_text("Envoys meet in Muscat").is_visible()
    await shot(page, "curate-discover")
    await page.get_by_role("button", name="Subscribe to this feed").first.click()
    await page.wait_for_url(re.compile(r".*/curate/feeds\?done=added$"))
    assert await page.get_by_text("Feed added.").is_visible()
    assert await page.get_by_text(running.site.url("/news.xml")).is_visible()
    # Removing asks first, then the subscription is gone.
    await page.get_by_role("button", name="Remove Other Wire").click()
    assert await page.get_by_role("heading", name="Remove Other Wire?").is_visible()
    await shot(page, "curate-remove")
    await page.get_by_role("button", name="Remove it").click()
    await page.wait_for_url(re.compile(r".*/curate/feeds\?done=removed$"))
    assert await page.get_by_text("https://other.example.test/rss").count() == 0

    target = running.seeded.entry_ids[0]
    atom_id = entry_id_uri("http://127.0.0.1:8080", target)
    before = await page.request.get(f"{running.base_url}/topics/us-iran.atom")
    assert atom_id in await before.text()
    await page.goto(f"{running.base_url}/articles/{target}")
    await page.get_by_role("button", name="Hide in us-iran").click()
    await page.wait_for_url(re.compile(r".*done=decided$"))
    await shot(page, "article-curator")
    after = await page.request.get(f"{running.base_url}/topics/us-iran.atom")
    assert after.status == 200
    assert atom_id not in await after.text()
    # The browser itself, revalidating its cached copy, gets the new document too.
    await page.goto(f"{running.base_url}/topics/us-iran.atom")
    assert atom_id not in await page.content()

    await page.goto(f"{running.base_url}/curate/topics")
    await shot(page, "curate-topics")
    await page.goto(f"{running.base_url}/curate/topics/us-iran")
    rules = page.get_by_label("Rules")
    await rules.fill((await rules.input_value()).replace("threshold = 7", "threshold = 2", 1))
    await page.get_by_role("button", name="Preview the change").click()
    await page.wait_for_load_state()
    assert await page.get_by_role("heading", name="What saving would change").is_visible()
    await shot(page, "curate-topic-edit")
    await page.get_by_role("button", name="Save these rules").click()
    await page.wait_for_url(re.compile(r".*/curate/topics\?done=saved$"))
    assert await page.get_by_text("Topic saved.").is_visible()


async def test_anonymous_user_is_refused_every_curator_action(
    running: Running, browser: Browser
) -> None:
    page = await new_page(browser)
    for path in (
        "/curate/feeds",
        "/curate/topics",
        "/curate/topics/us-iran",
        "/curate/topics/us-iran/entries",
        "/curate/feeds/export",
    ):
        await page.goto(running.base_url + path)
        assert "/login?next=" in page.url, path
        assert await page.get_by_role("heading", name="Curator sign-in").is_visible()
    await shot(page, "login")
    await page.goto(f"{running.base_url}/articles/{running.seeded.entry_ids[0]}")
    assert await page.get_by_role("button", name=re.compile("Hide")).count() == 0
    # Submitting curator forms by hand (even with this browser's own anonymous token) fails.
    await page.goto(running.base_url + "/login")
    token = await page.locator('input[name="csrf_token"]').first.get_attribute("value")
    actions: list[tuple[str, dict[str, Any]]] = [
        (f"/curate/feeds/{running.seeded.feed_id}/remove", {"confirm": "yes"}),
        (f"/curate/feeds/{running.seeded.feed_id}/disable", {}),
        (f"/curate/feeds/{running.seeded.feed_id}/refresh", {}),
        ("/curate/feeds/add", {"url": "https://x.example/feed"}),
        ("/curate/feeds/discover", {"url": "https://x.example/"}),
        ("/curate/topics/us-iran", {"name": "x", "action": "save"}),
        (
            f"/curate/articles/{running.seeded.entry_ids[0]}/decide",
            {"topic": "us-iran", "state": "hidden"},
        ),
    ]
    for path, form in actions:
        response = await page.request.post(
            running.base_url + path, form={"csrf_token": token or "", **form}, max_redirects=0
        )
        assert response.status == 403, path
