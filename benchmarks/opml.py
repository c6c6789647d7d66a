"""OPML benchmark: the safe reader and the writer against plain parsers, in the same run.

Run ``python benchmarks/opml.py [--outlines 1000 20000] [--repeat 5]``. For each size, one
synthetic OPML file (folders of 50 feeds, two levels deep, realistic attribute sets) is read by:

- ``aggregator``: ``aggregator.opml.parse_opml`` (DTD refused, bounds, URL validation and
  normalisation, duplicate detection, categories);
- ``etree``: the standard library's ``xml.etree.ElementTree.fromstring`` plus a walk that
  collects xmlUrl/title/htmlUrl per outline (no validation, no safety checks): the baseline;
- ``lxml``: ``lxml.etree.fromstring`` with ``resolve_entities=False`` plus the same walk.

The best CPU time of ``--repeat`` runs is printed, in outlines per second and as a ratio to ``etree``.
``write_opml`` for the same feeds is timed too.
"""

from __future__ import annotations

import argparse
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from lxml import etree

from aggregator.opml import OpmlFeed, parse_opml, write_opml


def synthetic_feeds(count: int) -> list[OpmlFeed]:
    return [
        OpmlFeed(
            url=f"https://news{i % 997}.example/feeds/{i}.xml?format=rss&amp=1",
            title=f"Feed number {i} – Middle East & sanctions desk",
            site_url=f"https://news{i % 997}.example/",
            category=f"Region {i // 500} / Desk {i // 50 % 10}",
        )
        for i in range(count)
    ]


def walk_etree(data: bytes) -> int:
    root = ElementTree.fromstring(data)
    found = [
        (node.get("xmlUrl"), node.get("title") or node.get("text"), node.get("htmlUrl"))
        for node in root.iter("outline")
        if node.get("xmlUrl")
    ]
    return len(found)


_LXML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def walk_lxml(data: bytes) -> int:
    root = etree.fromstring(data, _LXML_PARSER)
    found = [
        (node.get("xmlUrl"), node.get("title") or node.get("text"), node.get("htmlUrl"))
        for node in root.iter("outline")
        if node.get("xmlUrl")
    ]
    return len(found)


def walk_aggregator(data: bytes) -> int:
    return len(parse_opml(data).feeds)


def best_seconds(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()  # CPU time: steadier than wall time on a shared machine
        function()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--outlines", type=int, nargs="+", default=[1000, 20000])
    arguments.add_argument("--repeat", type=int, default=5)
    options = arguments.parse_args()
    now = datetime(2026, 11, 28, tzinfo=UTC)
    print(f"{'outlines':>9} {'reader':<11} {'seconds':>9} {'outlines/s':>12} {'vs etree':>9}")
    for count in options.outlines:
        feeds = synthetic_feeds(count)
        data = write_opml(feeds, "benchmark", now)
        for name, walk in (
            ("etree", walk_etree),
            ("lxml", walk_lxml),
            ("aggregator", walk_aggregator),
        ):
            assert walk(data) == count, name  # all three read every feed
        baseline = best_seconds(partial(walk_etree, data), options.repeat)
        for name, walk in (
            ("etree", walk_etree),
            ("lxml", walk_lxml),
            ("aggregator", walk_aggregator),
        ):
            seconds = (
                baseline if name == "etree" else best_seconds(partial(walk, data), options.repeat)
            )
            print(
                f"{count:>9} {name:<11} {seconds:>9.4f} {count / seconds:>12,.0f} {seconds / baseline:>8.2f}x"
            )
        write_seconds = best_seconds(partial(write_opml, feeds, "benchmark", now), options.repeat)
        print(
            f"{count:>9} {'write_opml':<11} {write_seconds:>9.4f} {count / write_seconds:>12,.0f} "
            f"{write_seconds / baseline:>8.2f}x  ({len(data) / 1e6:.1f} MB written)"
        )


if __name__ == "__main__":
    main()
