"""``aggregator parse`` end to end: files through click, URLs through the real fetcher."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from click.testing import CliRunner

from aggregator.cli import main
from tests.fixture_site import FIXTURE_ALLOWED_NETWORKS, FixtureSite, rss_feed

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
REPO_ROOT = Path(__file__).resolve().parents[1]


def test_file_json_and_base_url() -> None:
    result = CliRunner().invoke(
        main,
        [
            "parse",
            str(FIXTURES / "rss20_content_encoded.xml"),
            "--json",
            "--url",
            "https://news.example.org/feed",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["format"] == "rss20" and document["entry_count"] == 3
    first = document["entries"][0]
    assert first["published"] == "2024-05-14T13:30:00+00:00"
    assert "https://news.example.org/2024/archive" in first["content_html"]


def test_human_summary() -> None:
    result = CliRunner().invoke(main, ["parse", str(FIXTURES / "atom10_xml_base.xml")])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Notes from the <Gulf>  [atom10]"
    assert "2 entries" in lines
    assert any("2024-05-14 06:00  Shipping & insurance" in line for line in lines)


def test_max_entries_option() -> None:
    result = CliRunner().invoke(
        main, ["parse", str(FIXTURES / "rss20_content_encoded.xml"), "--json", "--max-entries", "1"]
    )
    assert json.loads(result.stdout)["entry_count"] == 1


def test_unreadable_file_is_one_line_error(tmp_path: Path) -> None:
    for target in (tmp_path / "missing.xml", tmp_path):
        result = CliRunner().invoke(main, ["parse", str(target), "--json"])
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: cannot read")


def test_not_a_feed_is_one_line_error(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>Hello</p></body></html>")
    result = CliRunner().invoke(main, ["parse", str(page)])
    assert result.exit_code == 1
    assert (
        result.stderr == f"error: {page}: an HTML page, not a feed (look for the feed's own URL)\n"
    )


async def run_cli(*args: str) -> tuple[int, str, str]:
    """The installed entry point in a subprocess (the test's event loop keeps serving)."""
    env = {**os.environ, "AGGREGATOR_ALLOWED_NETWORKS": FIXTURE_ALLOWED_NETWORKS}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aggregator",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
        env=env,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_url_through_the_fetcher(fixture_site: FixtureSite) -> None:
    fixture_site.add_feed("/feed.xml", rss_feed("Local news", [{"title": "A", "link": "/a"}]))
    fixture_site.add_page("/page.html", "<html><body>not a feed</body></html>")
    fixture_site.add_status("/gone.xml", 410)

    code, out, err = await run_cli("parse", fixture_site.url("/feed.xml"), "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["title"] == "Local news"
    assert document["entries"][0]["url"] == fixture_site.url("/a")

    code, out, err = await run_cli("parse", fixture_site.url("/page.html"))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "not a feed" in err and "Traceback" not in err

    code, out, err = await run_cli("parse", fixture_site.url("/gone.xml"))
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
