"""Every feed of the shared third-party corpus through ``parse_feed`` and ``aggregator parse``.

The corpus (over a thousand real and test feeds, see its README) is reached only through the
``shared_corpus`` fixture; these tests skip where it is absent.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser  # the reference the corpus baseline was measured with
import pytest
from click.testing import CliRunner

from aggregator.cli import main
from aggregator.errors import ParseError
from aggregator.parse import parse_feed
from aggregator.types import FeedData

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FAKE_URL = "https://feeds.example.com/corpus/feed"


@dataclass(frozen=True)
class CorpusFile:
    path: str
    format: str
    expected_kind: str


@dataclass(frozen=True)
class Outcome:
    feed: FeedData | None
    error: ParseError | None


@pytest.fixture(scope="module")
def feeds_dir(shared_corpus: Path) -> Path:
    path = shared_corpus / "feeds"
    if not (path / "MANIFEST.tsv").is_file():
        pytest.skip("corpus feeds/MANIFEST.tsv missing")
    return path


@pytest.fixture(scope="module")
def manifest(feeds_dir: Path) -> list[CorpusFile]:
    with (feeds_dir / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [CorpusFile(r["path"], r["format"], r["expected_kind"]) for r in rows]


@pytest.fixture(scope="module")
def outcomes(feeds_dir: Path, manifest: list[CorpusFile]) -> dict[str, Outcome]:
    """Parse every file once (in-process); anything but FeedData/ParseError fails the test."""
    results: dict[str, Outcome] = {}
    crashes: list[str] = []
    for item in manifest:
        body = (feeds_dir / item.path).read_bytes()
        try:
            results[item.path] = Outcome(parse_feed(body, FAKE_URL, now=NOW), None)
        except ParseError as exc:
            results[item.path] = Outcome(None, exc)
        except Exception as exc:  # a crash is exactly what this test looks for
            crashes.append(f"{item.path}: {type(exc).__name__}: {exc}")
    assert not crashes, "\n".join(crashes[:20])
    return results


def test_corpus_is_complete(manifest: list[CorpusFile]) -> None:
    assert len(manifest) >= 1100


def test_every_file_parses_or_gives_a_one_line_error(
    manifest: list[CorpusFile], outcomes: dict[str, Outcome]
) -> None:
    assert set(outcomes) == {item.path for item in manifest}
    for path, outcome in outcomes.items():
        if outcome.error is not None:
            message = str(outcome.error)
            assert "\n" not in message and len(message) < 400, path
            assert outcome.error.url == FAKE_URL


def test_not_a_feed_files_are_rejected(
    manifest: list[CorpusFile], outcomes: dict[str, Outcome]
) -> None:
    rejected = [i.path for i in manifest if i.expected_kind == "notafeed"]
    assert len(rejected) >= 5
    for path in rejected:
        assert outcomes[path].error is not None, path


def test_feeds_are_not_rejected(manifest: list[CorpusFile], outcomes: dict[str, Outcome]) -> None:
    """RSS, Atom and JSON Feed files that are meant to be feeds never give a ParseError."""
    for item in manifest:
        if item.format in ("rss2", "rss1", "atom", "jsonfeed") and item.expected_kind != (
            "notafeed"
        ):
            error = outcomes[item.path].error
            assert error is None, f"{item.path}: {error}"


def _feedparser_entries(body: bytes) -> list[dict[str, Any]]:
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    return list(parsed.entries)


def _clean(value: Any) -> str:
    return " ".join(str(value).replace("\x00", "").split())


def test_realworld_rss_and_atom_yield_every_real_entry(
    feeds_dir: Path, manifest: list[CorpusFile], outcomes: dict[str, Outcome]
) -> None:
    """Every entry feedparser finds with a title, link or id comes out (phantoms dropped)."""
    checked = 0
    for item in manifest:
        if not item.path.startswith("realworld/") or item.format not in ("rss2", "rss1", "atom"):
            continue
        feed = outcomes[item.path].feed
        assert feed is not None, item.path
        reference = _feedparser_entries((feeds_dir / item.path).read_bytes())
        real = [e for e in reference if e.get("title") or e.get("link") or e.get("id")]
        assert len(real) <= len(feed.entries) <= len(reference), item.path
        assert len({e.identity for e in feed.entries}) == len(feed.entries), item.path
        guids = {e.guid for e in feed.entries}
        for entry in real:
            if entry.get("id"):
                assert _clean(entry["id"])[:1024] in guids, (item.path, entry["id"])
        if item.expected_kind == "wellformed":
            assert feed.entries, f"{item.path}: a well-formed real-world feed gave no entries"
        checked += 1
    assert checked >= 70


def test_illformed_realworld_feeds_are_recovered(
    manifest: list[CorpusFile], outcomes: dict[str, Outcome]
) -> None:
    recovered = 0
    for item in manifest:
        if item.path.startswith("realworld/") and item.expected_kind == "illformed":
            feed = outcomes[item.path].feed
            assert feed is not None, item.path
            recovered += len(feed.entries)
            if "reuters-invalid" not in item.path:  # truncated before its first item
                assert feed.entries, item.path
    # feedparser's loose parser finds 85, one of them an empty phantom (cerclepsy).
    assert recovered >= 84


def test_pcmag_stray_items_are_dropped(outcomes: dict[str, Outcome]) -> None:
    feed = outcomes["realworld/nodefp-pcmag-illegally-nested.xml"].feed
    assert feed is not None
    assert len(feed.entries) == 10
    assert all(e.title and e.url for e in feed.entries)


def test_json_feeds_yield_their_items(
    feeds_dir: Path, manifest: list[CorpusFile], outcomes: dict[str, Outcome]
) -> None:
    checked = 0
    for item in manifest:
        if item.format != "jsonfeed" or item.expected_kind == "notafeed":
            continue
        feed = outcomes[item.path].feed
        assert feed is not None, item.path
        assert feed.format in ("json10", "json11"), item.path
        document = json.loads((feeds_dir / item.path).read_bytes())
        items = [i for i in document.get("items", []) if isinstance(i, dict)]
        if item.path.startswith("realworld/"):
            assert len(feed.entries) == len(items) > 0, item.path
            assert all(e.url or e.guid for e in feed.entries), item.path
        else:
            assert len(feed.entries) <= len(items), item.path
        checked += 1
    assert checked >= 12


_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w:-]*)([^>]*)>")
_FORBIDDEN_TAGS = {"script", "style", "iframe", "object", "embed", "form", "svg", "meta", "link"}
_FORBIDDEN_ATTRIBUTE = re.compile(r"(?:^|\s)on\w+\s*=|javascript:|vbscript:|data:text", re.I)


def _unsafe_markup(html: str) -> str | None:
    """The first tag that could run script, if any (text that merely mentions it is fine)."""
    for match in _TAG.finditer(html):
        if match.group(2).lower() in _FORBIDDEN_TAGS or _FORBIDDEN_ATTRIBUTE.search(match.group(3)):
            return match.group(0)
    return None


def test_sanitize_folder_comes_out_clean(
    manifest: list[CorpusFile], outcomes: dict[str, Outcome]
) -> None:
    checked = 0
    for item in manifest:
        feed = outcomes[item.path].feed
        if feed is None:
            continue
        for entry in feed.entries:
            for html in (entry.summary_html, entry.content_html):
                if html:
                    assert _unsafe_markup(html) is None, (item.path, _unsafe_markup(html))
                    checked += "sanitize/" in item.path
    assert checked >= 50


def test_every_value_is_storable(outcomes: dict[str, Outcome]) -> None:
    """No NUL or lone surrogate anywhere; dates UTC-aware; long fields capped."""
    for path, outcome in outcomes.items():
        if outcome.feed is None:
            continue
        for entry in outcome.feed.entries:
            for value in (entry.identity, entry.title, entry.summary_html, entry.content_html):
                if value is not None:
                    assert "\x00" not in value, path
                    value.encode("utf-8")  # raises on lone surrogates
            for date in (entry.published_at, entry.updated_at):
                assert date is None or (date.tzinfo is not None and date <= NOW), path
            assert entry.title is None or len(entry.title) <= 1000


# ---------------------------------------------------------------------------
# The real command-line entry point on a sample


SAMPLE = [
    "realworld/nnw-daringfireball.rss",
    "realworld/feedjira-techcrunch-wordpress.xml",
    "realworld/nnw-inessential.json",
    "edgecases/reader-full.atom",
    "edgecases/reader-empty.rss",
]
NOT_FEEDS = [
    "edgecases/nodefp-notafeed.html",
    "edgecases/rssparser-document-moved.html",
    "edgecases/nodefp-gzip-not-decoded.xml.gz",
    "edgecases/reader-unknown.json",
    "edgecases/feedkit-feed-not-found.xml",
]


@pytest.mark.parametrize("relative", SAMPLE)
def test_cli_json_on_real_feeds(feeds_dir: Path, relative: str) -> None:
    result = CliRunner().invoke(main, ["parse", str(feeds_dir / relative), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["format"]
    assert document["entry_count"] == len(document["entries"])
    for entry in document["entries"]:
        for key in ("published", "updated"):
            if entry[key] is not None:
                assert datetime.fromisoformat(entry[key]).tzinfo is not None


@pytest.mark.parametrize("relative", NOT_FEEDS)
def test_cli_one_line_error_on_non_feeds(feeds_dir: Path, relative: str) -> None:
    result = CliRunner().invoke(main, ["parse", str(feeds_dir / relative), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
