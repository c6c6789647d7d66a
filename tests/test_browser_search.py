"""A reader searches in a real browser (Playwright driving Debian's chromium) and pages
through the results with "Older results" and "Newer results"."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.browser_support import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, async_playwright, shot
from tests.search_support import add_convoy_entries, add_hostile_entries
from tests.web_support import NOW, WebTestSettings, open_seeded_copy
from web.app import create_app

pytestmark = BROWSER_MARKS


@pytest.fixture
async def base_url(tmp_path: Path) -> AsyncIterator[str]:
    db, _ = await open_seeded_copy(tmp_path)
    await add_convoy_entries(db, 70)
    await add_hostile_entries(db)
    runner = web.AppRunner(
        create_app(WebTestSettings(), db, clock=lambda: NOW, cache_ttl_s=0), access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await db.close()


async def test_reader_searches_and_pages_to_older_results(base_url: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            dialogs: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            await page.goto(base_url + "/")
            await page.get_by_role("link", name="Search", exact=True).click()
            await page.wait_for_url(re.compile(r".*/search$"))
            await page.get_by_label("Words to look for in titles and article text").fill("convoy")
            await page.get_by_role("button", name="Search").click()
            await page.wait_for_url(re.compile(r".*/search\?q=convoy$"))
            assert await page.get_by_text("Results 1–50 for “convoy”").is_visible()
            assert await page.locator("article.entry").count() == 50
            assert await page.get_by_role("link", name="Newer results").count() == 0
            # The matched word is marked, and the stylesheet (not inline style) colours it.
            first_mark = page.locator("article.entry mark").first
            assert await first_mark.inner_text() == "Convoy"
            background = await first_mark.evaluate("m => getComputedStyle(m).backgroundColor")
            assert background == "rgb(255, 229, 138)"
            await page.get_by_role("link", name="Older results").click()
            await page.wait_for_url(re.compile(r".*/search\?q=convoy&page=2$"))
            assert await page.get_by_text("Results 51–70 for “convoy”").is_visible()
            assert await page.locator("article.entry").count() == 20
            assert await page.get_by_role("link", name="Older results").count() == 0
            assert (
                await page.get_by_label(
                    "Words to look for in titles and article text"
                ).input_value()
                == "convoy"
            )
            await shot(page, "search-older")
            await page.get_by_role("link", name="Newer results").click()
            await page.wait_for_url(re.compile(r".*/search\?q=convoy$"))
            assert await page.locator("article.entry").count() == 50
            # A hostile search typed into the box comes back as text; nothing runs.
            box = page.get_by_label("Words to look for in titles and article text")
            await box.fill('tanker "><img src=x onerror=alert(1)> <script>')
            await page.get_by_role("button", name="Search").click()
            await page.wait_for_url(re.compile(r".*/search\?q=tanker.*"))
            assert await page.locator("article.entry").count() == 2
            assert await page.locator("main img, main script").count() == 0
            assert await page.locator("article.entry mark", has_text="script").count() >= 2
            await shot(page, "search-hostile")
            assert dialogs == []
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            await browser.close()
