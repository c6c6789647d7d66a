"""Parsing benchmark: ``aggregator.parse.parse_feed`` against feedparser in the same run.

Run ``python benchmarks/parse.py [--rounds 5]`` (``make bench-parse``). Three
parsers meet the same documents, each timed as the best of ``--rounds`` passes:

- ``feedparser-defaults``: ``feedparser.parse(bytes)`` with its own HTML sanitizer and
  relative-URI rewriting (what most projects do);
- ``feedparser-bare``: the same with both turned off (a floor: unsafe, not usable as is);
- ``aggregator``: ``parse_feed`` = feedparser bare + DTD hardening + nh3 sanitizing with base
  URLs + identities, dates, caps (everything the pipeline stores).

A second table times what a poll of a *changed* feed parses: the farm's documents after
one round of changes (3 new entries of 20), through ``parse_feed`` (everything), through
``parse_feed_changes`` with the item index of the version before (only the new items,
``aggregator/item_index.py``) and without one (a first poll: everything, plus building the
index). Ratios are against ``parse_feed`` in the same run.

Documents: the feed farm's own documents (``benchmarks/farm.py``: RSS 2.0, 20 entries of
~1 KB, ~26 KB, what ``bench-poll`` parses), a synthetic set (20 entries of ~1 KB of escaped
HTML with relative links, ~30 KB) and, when the shared corpus is present, its real-world
RSS/Atom feeds. Ratios are against ``feedparser-defaults`` measured in the same run, and
``parse_feed / bare`` is the cost of everything the aggregator adds on top of feedparser
itself. The parsers take turns within each round, and times are CPU seconds of this process
(best of the rounds), so other load on the machine disturbs them less.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import feedparser

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from aggregator.errors import ParseError  # noqa: E402
from aggregator.item_index import parse_feed_changes  # noqa: E402
from aggregator.parse import parse_feed  # noqa: E402
from benchmarks.farm import FeedFarm  # noqa: E402
from tests.conftest import corpus_dir  # noqa: E402

PARAGRAPH = (
    "<p>Officials said on <b>Tuesday</b> that the new measures target shipping networks and "
    'front companies; see <a href="/analysis/{i}">the analysis</a> and '
    '<img src="img/{i}.png" alt="chart"> for details. <em>More</em> follows.</p>'
)


def synthetic_feed(index: int, entries: int = 20) -> bytes:
    items = []
    for i in range(entries):
        body = (PARAGRAPH.format(i=i) * 4).replace("&", "&amp;").replace("<", "&lt;")
        items.append(
            f"<item><title>Feed {index} entry {i}: sanctions update</title>"
            f"<link>https://site{index}.example/posts/{i}</link>"
            f'<guid isPermaLink="false">site{index}-{i}</guid>'
            f"<pubDate>Tue, 14 May 2024 {i % 24:02d}:30:00 GMT</pubDate>"
            f"<description>{body}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Site {index}</title><link>https://site{index}.example/</link>"
        f"<description>d</description>{''.join(items)}</channel></rss>"
    ).encode()


def corpus_feeds() -> list[bytes]:
    feeds = corpus_dir() / "feeds"
    manifest = feeds / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        (feeds / row["path"]).read_bytes()
        for row in rows
        if row["path"].startswith("realworld/") and row["format"] in ("rss2", "rss1", "atom")
    ]


def run_defaults(body: bytes) -> None:
    feedparser.parse(body, sanitize_html=True, resolve_relative_uris=True)


def run_bare(body: bytes) -> None:
    feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)


NOW = datetime.now(UTC)
FEED_URL = "https://bench.example/feed"


def run_aggregator(body: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_feed(body, FEED_URL, now=NOW)


def farm_feeds(count: int) -> list[bytes]:
    """The documents ``bench-poll`` parses: the feed farm's, built without serving them."""
    farm = FeedFarm(feeds=count, port=8000)
    return [farm.document(i)[0] for i in range(count)]


PARSERS: dict[str, Callable[[bytes], None]] = {
    "feedparser-defaults": run_defaults,
    "feedparser-bare": run_bare,
    "aggregator": run_aggregator,
}


def timed(parser: Callable[[bytes], None], documents: Sequence[bytes]) -> float:
    started = time.process_time()
    for body in documents:
        parser(body)
    return time.process_time() - started


def report(name: str, documents: Sequence[bytes], rounds: int) -> None:
    megabytes = sum(len(d) for d in documents) / 1e6
    print(f"\n{name}: {len(documents)} documents, {megabytes:.1f} MB, best of {rounds}")
    best = dict.fromkeys(PARSERS, float("inf"))
    for _ in range(rounds):  # the parsers take turns, so a busy spell hits all of them
        for label, parser in PARSERS.items():
            best[label] = min(best[label], timed(parser, documents))
    baseline = best["feedparser-defaults"]
    for label, seconds in best.items():
        per_doc_ms = 1000 * seconds / len(documents)
        print(
            f"  {label:<20} {seconds:7.3f} s  {per_doc_ms:6.2f} ms/doc  "
            f"{len(documents) / seconds:7.1f} docs/s  {baseline / seconds:4.2f}x vs defaults"
        )
    ratio = best["aggregator"] / best["feedparser-bare"]
    print(f"  parse_feed / feedparser-bare: {ratio:.2f} (work beyond feedparser: {ratio - 1:.0%})")


def farm_changes(count: int) -> tuple[list[bytes], list[bytes]]:
    """The farm's documents after one round of changes, and the indexes of the ones before."""
    farm = FeedFarm(feeds=count, port=8000)
    indexes = [
        parse_feed_changes(farm.document(i)[0], FEED_URL, now=NOW).item_index or b""
        for i in range(count)
    ]
    farm.mutate(1.0)
    return [farm.document(i)[0] for i in range(count)], indexes


def report_changes(count: int, rounds: int) -> None:
    documents, indexes = farm_changes(count)

    def full() -> None:
        for body in documents:
            parse_feed(body, FEED_URL, now=NOW)

    def changed_only() -> None:
        for body, index in zip(documents, indexes, strict=True):
            parse_feed_changes(body, FEED_URL, now=NOW, previous_index=index)

    def first_poll() -> None:
        for body in documents:
            parse_feed_changes(body, FEED_URL, now=NOW)

    runs = {
        "parse_feed": full,
        "changes, with index": changed_only,
        "changes, no index": first_poll,
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for label, run in runs.items():
            started = time.process_time()
            run()
            best[label] = min(best[label], time.process_time() - started)
    print(f"\nchanged feed farm documents (3 new of 20 entries): {count}, best of {rounds}")
    for label, seconds in best.items():
        print(
            f"  {label:<20} {seconds:7.3f} s  {1000 * seconds / count:6.2f} ms/doc  "
            f"{best['parse_feed'] / seconds:4.2f}x vs parse_feed"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--synthetic", type=int, default=100, help="synthetic feeds")
    parser.add_argument("--farm", type=int, default=100, help="feed farm documents")
    args = parser.parse_args(argv)
    report("feed farm RSS (20 x 1 KB entries)", farm_feeds(args.farm), args.rounds)
    report_changes(args.farm, args.rounds)
    report(
        "synthetic RSS (20 x 1 KB entries)",
        [synthetic_feed(i) for i in range(args.synthetic)],
        args.rounds,
    )
    real = corpus_feeds()
    if real:
        report("corpus real-world RSS/Atom", real, args.rounds)
    else:
        print("\n(shared corpus not found: real-world set skipped)")


if __name__ == "__main__":
    main()
