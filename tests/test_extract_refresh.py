"""`aggregator extract --refresh [--feed URL]`: stored entries re-extracted through the pipeline.

The CLI runs in a worker thread (it starts its own event loop) while the local fixture site
keeps serving from the test's loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from aggregator import storage
from aggregator.cli import main
from aggregator.storage import Database
from tests.fixture_site import FIXTURE_ALLOWED_NETWORKS, FixtureSite, rss_feed


def _page(version: str) -> str:
    paragraphs = "".join(
        f"<p>Version {version}, paragraph {n}: the harbour board met again to discuss the repairs "
        f"and the ferry timetable for the coming season.</p>"
        for n in range(6)
    )
    return f"<html><body><article><h1>Harbour board</h1>{paragraphs}</article></body></html>"


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def _stored_text(database_url: str) -> str:
    db = await Database.open(database_url)
    try:
        (entry,) = await storage.recent_entries(db, 10)
        article = await storage.get_article(db, entry.id)
        assert article is not None and article.text is not None
        return article.text
    finally:
        await db.close()


async def test_refresh_re_extracts_stored_entries(
    fixture_site: FixtureSite, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'refresh.sqlite3'}"
    env = {
        "AGGREGATOR_DATABASE_URL": database_url,
        "AGGREGATOR_AUTO_MIGRATE": "true",
        "AGGREGATOR_IMPORT_OPML": "",
        "AGGREGATOR_ALLOWED_NETWORKS": FIXTURE_ALLOWED_NETWORKS,
    }
    feed_url = fixture_site.url("/feed.xml")
    item = {"title": "Harbour board", "guid": "post-1", "link": fixture_site.url("/post"),
            "description": "The harbour board met again."}  # fmt: skip
    fixture_site.add_feed("/feed.xml", rss_feed("Harbour", [item]))
    fixture_site.add_page("/post", _page("one"))

    code, _, err = await _cli(env, "feeds", "add", feed_url, "--no-discover")
    assert code == 0, err
    code, _, err = await _cli(env, "fetch", "--once")
    assert code == 0, err
    assert "Version one, paragraph 5" in await _stored_text(database_url)

    fixture_site.add_page("/post", _page("two"))  # the publisher corrected the article
    code, out, err = await _cli(env, "extract", "--refresh", "--feed", feed_url)
    assert code == 0, err
    assert out.strip() == "re-extracted 1 entries: 1 ok"
    text = await _stored_text(database_url)
    assert "Version two, paragraph 5" in text and "Version one" not in text

    code, _, err = await _cli(env, "extract", "--refresh", "--feed", "https://unknown.example/feed")
    assert code == 1 and "not subscribed" in err and "Traceback" not in err
