"""What the real-browser tests share (not a test module): Debian's chromium driven by
Playwright, the marks that skip them with a reason where either is missing, and screenshots
to test-artifacts/ (git-ignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"

BROWSER_MARKS: list[Any] = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    BROWSER_MARKS.append(pytest.mark.skip(reason="the playwright package is not installed"))
    Browser = Page = Any  # type: ignore[misc,assignment]
    async_playwright = None  # type: ignore[assignment]


async def shot(page: Page, name: str) -> None:
    """A full-page screenshot, test-artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


__all__ = [
    "ARTIFACTS",
    "BROWSER_MARKS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "Browser",
    "Page",
    "async_playwright",
    "shot",
]
