"""Every CLI command through its real entry point on a temporary database.

Commands that need no network run through click's runner; those that fetch run the
installed console entry point as a subprocess against the local fixture site."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.cli import main
from aggregator.opml import parse_opml
from tests.fixture_site import FIXTURE_ALLOWED_NETWORKS, FixtureSite, rss_feed

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        "AGGREGATOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
        "AGGREGATOR_AUTO_MIGRATE": "true",
        "AGGREGATOR_IMPORT_OPML": "",
        "AGGREGATOR_ALLOWED_NETWORKS": FIXTURE_ALLOWED_NETWORKS,
    }


def invoke(env: dict[str, str], *args: str, input: str | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aggregator",
        *args,
        env={**os.environ, **env},
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_fresh_database_without_migration_is_refused_with_the_command_to_run(
    cli_env: dict[str, str],
) -> None:
    env = {**cli_env, "AGGREGATOR_AUTO_MIGRATE": "false"}
    code, _, err = invoke(env, "feeds", "list")
    assert code == 1
    assert "aggregator db upgrade" in err
    assert "Traceback" not in err
    code, _, _ = invoke(env, "db", "upgrade")
    assert code == 0
    code, out, _ = invoke(env, "feeds", "list")
    assert code == 0 and "no feeds" in out


def test_feeds_add_list_remove_and_duplicates(cli_env: dict[str, str]) -> None:
    code, out, err = invoke(
        cli_env,
        "feeds",
        "add",
        "https://News.Example.org:443/feed.xml#top",
        "--no-discover",
        "--category",
        "Wires",
        "--title",
        "Example wire",
    )
    assert code == 0, err
    assert "subscribed to https://news.example.org/feed.xml" in out

    # The same feed spelled differently is refused with a clear message.
    code, _, err = invoke(
        cli_env, "feeds", "add", "HTTPS://news.example.org/feed.xml", "--no-discover"
    )
    assert code == 1
    assert "already" in err.lower() and err.count("\n") == 1

    code, out, _ = invoke(cli_env, "feeds", "list", "--json")
    feeds = json.loads(out)
    assert [(f["url"], f["title"], f["category"], f["status"], f["entries"]) for f in feeds] == [
        ("https://news.example.org/feed.xml", "Example wire", "Wires", "new", 0)
    ]
    code, out, _ = invoke(cli_env, "feeds", "list")
    assert "Example wire" in out and "news.example.org/feed.xml" in out

    code, out, _ = invoke(cli_env, "feeds", "mode", "https://news.example.org/feed.xml", "page")
    assert code == 0 and "full text from page" in out
    code, _, err = invoke(cli_env, "feeds", "mode", "https://news.example.org/feed.xml", "pdf")
    assert code == 2 and "pdf" in err

    code, _, err = invoke(cli_env, "feeds", "add", "ftp://example.org/feed", "--no-discover")
    assert code == 1 and "http" in err

    code, out, _ = invoke(cli_env, "feeds", "remove", "https://news.example.org/feed.xml")
    assert code == 0
    code, _, err = invoke(cli_env, "feeds", "remove", "https://news.example.org/feed.xml")
    assert code == 1 and "Traceback" not in err
    code, out, _ = invoke(cli_env, "feeds", "list", "--json")
    assert json.loads(out) == []


def test_opml_import_export_round_trip_and_reimport(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = invoke(cli_env, "opml", "import", str(REPO / "feeds.opml"))
    assert code == 0, err
    original = parse_opml((REPO / "feeds.opml").read_bytes())
    n = len(original.feeds)
    assert err.strip().endswith(f"importing: {n}/{n}")  # progress, as plain lines off a terminal
    assert f"imported {len(original.feeds)} feeds" in out

    exported = tmp_path / "export.opml"
    code, _, _ = invoke(cli_env, "opml", "export", str(exported))
    assert code == 0
    again = parse_opml(exported.read_bytes())
    key = lambda f: (f.url, f.title, f.site_url, f.category)  # noqa: E731
    assert sorted(map(key, again.feeds)) == sorted(map(key, original.feeds))

    code, out, _ = invoke(cli_env, "opml", "import", str(exported))
    assert code == 0 and "imported 0 feeds" in out
    assert f"{len(original.feeds)} already subscribed" in out


def test_malformed_opml_imports_nothing(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text(
        '<?xml version="1.0"?>\n<opml version="2.0"><body>\n'
        '<outline xmlUrl="https://a.example/feed"/>\n<outline xmlUrl="https://b.example/feed">\n'
        "</body></opml>\n"
    )
    code, _, err = invoke(cli_env, "opml", "import", str(bad))
    assert code == 1
    assert "line" in err and "Traceback" not in err
    _, out, _ = invoke(cli_env, "feeds", "list", "--json")
    assert json.loads(out) == []


def test_topics_commands(cli_env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = invoke(cli_env, "topics", "list")
    assert code == 0 and "us-iran" in out and "sanctions" in out
    code, out, _ = invoke(cli_env, "topics", "show", "sanctions")
    assert code == 0 and 'slug = "sanctions"' in out
    exported = tmp_path / "topics.toml"
    assert invoke(cli_env, "topics", "export", str(exported))[0] == 0
    text = exported.read_text()
    assert "us-iran" in text
    # Re-importing the same definitions does not bump versions.
    code, out, _ = invoke(cli_env, "topics", "import", str(exported))
    assert code == 0 and "us-iran: version 1" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[[topic]]\nslug = "x"\nname = "X"\n[topic.rules]\nthreshold = "high"\n')
    code, _, err = invoke(cli_env, "topics", "import", str(bad))
    assert code == 1 and "Traceback" not in err and err.startswith("error:")
    code, out, _ = invoke(cli_env, "topics", "retag")
    assert code == 0 and "re-tagged 0 articles" in out
    code, _, err = invoke(cli_env, "topics", "show", "nope")
    assert code == 1 and "no topic 'nope'" in err


def test_status_on_a_fresh_database(cli_env: dict[str, str]) -> None:
    code, out, _ = invoke(cli_env, "status")
    assert code == 0
    assert "no feeds" in out and "last scheduler tick: never" in out


async def test_fetch_once_polls_and_prints_a_summary(
    cli_env: dict[str, str], fixture_site: FixtureSite
) -> None:
    fixture_site.add_feed(
        "/feed.xml",
        rss_feed("Local", [{"title": f"Item {i}", "guid": f"i{i}"} for i in range(3)]),
    )
    fixture_site.add_status("/broken.xml", 500)
    for path in ("/feed.xml", "/broken.xml"):
        code, _, err = await run_cli(
            cli_env, "feeds", "add", fixture_site.url(path), "--no-discover"
        )
        assert code == 0, err

    code, out, err = await run_cli(cli_env, "fetch", "--once", "--skip-articles")
    assert code == 0, err
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith("polled 2 feeds: 0 not modified, 3 new entries, 0 updated, 1 errors in ")
    )
    assert "500" in err
    code, out, _ = await run_cli(
        cli_env,
        "fetch",
        "--once",
        "--all",
        "--skip-articles",
        "--feed",
        fixture_site.url("/feed.xml"),
    )
    assert code == 0
    assert "polled 1 feeds: 1 not modified, 0 new entries" in out
    code, out, _ = await run_cli(cli_env, "status")
    assert "error 1" in out and "ok 1" in out

    code, _, err = await run_cli(cli_env, "fetch", "--once", "--feed", "https://unknown.example/x")
    assert code == 1 and "not subscribed" in err


async def test_feeds_add_discovers_the_feed_of_a_site(
    cli_env: dict[str, str], fixture_site: FixtureSite
) -> None:
    fixture_site.add_feed("/feed/", rss_feed("Blog", [{"title": "Hello", "guid": "h"}]))
    fixture_site.add_page(
        "/",
        b'<html><head><link rel="alternate" type="application/rss+xml" title="Blog feed" '
        b'href="/feed/"></head><body>Blog</body></html>',
    )
    code, out, err = await run_cli(cli_env, "feeds", "add", fixture_site.url("/"))
    assert code == 0, err
    assert f"subscribed to {fixture_site.url('/feed/')}" in out

    fixture_site.add_feed("/comments/feed/", rss_feed("Comments", []))
    fixture_site.add_page(
        "/two",
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed/">'
        b'<link rel="alternate" type="application/rss+xml" href="/comments/feed/"></head></html>',
    )
    code, _, err = await run_cli(cli_env, "feeds", "add", fixture_site.url("/two"))
    assert code == 1
    assert fixture_site.url("/comments/feed/") in err and "add one of them" in err


def test_settle_gc_hides_start_up_objects_and_collects_less_often() -> None:
    import gc

    from aggregator.cli.runtime import GC_YOUNG_THRESHOLD, settle_gc

    before = gc.get_threshold()
    try:
        settle_gc()
        assert gc.get_freeze_count() > 0  # what start-up built is no longer walked
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # garbage made afterwards is still collected
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
