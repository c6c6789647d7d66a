"""Does ``parse_feed`` still return the same thing? One digest per document, compared across runs.

Run before a change to ``aggregator/parse.py`` (or ``sanitize.py``, ``jsonfeed.py``)::

    python benchmarks/parse_equivalence.py --write before.tsv

and after it::

    python benchmarks/parse_equivalence.py --check before.tsv

Every file of the shared feed corpus and of ``tests/fixtures/feeds`` is parsed twice (once
from an https URL, once from a ``file:`` URL as ``aggregator parse FILE`` does), plus
feed-farm and synthetic documents. The digest is the SHA-256 of
``aggregator.cli.parse.feed_data_to_json`` (sorted keys), or of the ``ParseError`` message.
``--check`` lists the documents whose digest changed and exits 1 when any did; ``--dump DIR``
writes each result as JSON for a diff.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from aggregator.cli.parse import feed_data_to_json  # noqa: E402
from aggregator.errors import ParseError  # noqa: E402
from aggregator.parse import parse_feed  # noqa: E402
from benchmarks.farm import FeedFarm  # noqa: E402
from benchmarks.parse import synthetic_feed  # noqa: E402
from tests.conftest import corpus_dir  # noqa: E402

# A fixed clock: dates in the future are clamped to it, so it is part of the output.
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FARM_EPOCH = 1_700_000_000
_SKIPPED_NAMES = {"MANIFEST.tsv", "README.md", "feedparser-6.0.14-baseline.tsv"}


def documents() -> Iterator[tuple[str, bytes, str]]:
    """(name, body, base URL) of every document checked, in a stable order."""
    feeds = corpus_dir() / "feeds"
    if feeds.is_dir():
        for path in sorted(feeds.rglob("*")):
            relative = path.relative_to(feeds).as_posix()
            if not path.is_file() or path.name in _SKIPPED_NAMES or relative.startswith("LICENSES"):
                continue
            body = path.read_bytes()
            yield f"corpus/{relative}", body, f"https://corpus.example/feeds/{relative}"
            yield f"corpus/{relative}#file", body, f"file:///corpus/feeds/{relative}"
    else:
        print("(shared corpus not found: only the fixtures are checked)", file=sys.stderr)
    fixtures = REPO_ROOT / "tests" / "fixtures" / "feeds"
    for path in sorted(fixtures.iterdir()):
        if path.suffix in (".xml", ".json") and not path.name.endswith(".golden.json"):
            body = path.read_bytes()
            yield f"fixtures/{path.name}", body, f"https://fixtures.example/{path.name}"
            yield f"fixtures/{path.name}#file", body, f"file:///fixtures/{path.name}"
    farm = FeedFarm(feeds=20, epoch=FARM_EPOCH, port=8000)
    for index in range(20):
        body, _, _ = farm.document(index)
        yield f"farm/{index}", body, farm.url(index)
    for index in range(5):
        yield f"synthetic/{index}", synthetic_feed(index), f"https://site{index}.example/feed"


def result_of(body: bytes, url: str) -> dict[str, object]:
    try:
        return feed_data_to_json(url, parse_feed(body, url, now=NOW))
    except ParseError as exc:
        return {"url": url, "error": exc.message}


def digest(result: dict[str, object]) -> str:
    text = json.dumps(result, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, metavar="TSV", help="store the digests here")
    action.add_argument("--check", type=Path, metavar="TSV", help="compare with these digests")
    parser.add_argument("--dump", type=Path, metavar="DIR", help="write each result as JSON")
    args = parser.parse_args(argv)

    digests: dict[str, str] = {}
    for name, body, url in documents():
        result = result_of(body, url)
        digests[name] = digest(result)
        if args.dump:
            target = args.dump / (name.replace("/", "__").replace("#", "__") + ".json")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False))

    if args.write:
        args.write.write_text("".join(f"{name}\t{value}\n" for name, value in digests.items()))
        print(f"{len(digests)} digests written to {args.write}")
        return 0

    expected = dict(
        line.split("\t", 1) for line in args.check.read_text().splitlines() if "\t" in line
    )
    changed = sorted(name for name in digests if expected.get(name) not in (None, digests[name]))
    missing = sorted(set(expected) - set(digests))
    added = sorted(set(digests) - set(expected))
    for name in changed:
        print(f"changed: {name}")
    for name in missing:
        print(f"missing: {name}")
    for name in added:
        print(f"new: {name}")
    same = len(digests) - len(changed) - len(added)
    print(f"{same} of {len(digests)} documents identical, {len(changed)} changed")
    return 1 if changed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
