"""Tagging quality and speed on the labelled dev corpus, against the naive keyword baselines.

Run: ``python benchmarks/tagging.py`` (finds ``../shared/corpus`` beside the repository, or
``$AGGREGATOR_SHARED_DIR/corpus``). Prints, per topic, precision / recall / F1 of the shipped
default topics and of the two keyword baselines of ``corpus/tagging/README.md``, measured in
the same run, then articles tagged per second of CPU time (one core) for the tagging stage
alone (document in, results with explanations out), with the baseline's speed for scale, and
the time one hostile entry takes (a megabyte of news text on one line, NEAR on every hit).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from aggregator.tagging import (  # noqa: E402
    TaggableDocument,
    compile_topic,
    compile_topics,
    load_default_topics,
    match_all,
)
from aggregator.tagging.document import MAX_TEXT_CHARS, MAX_TITLE_CHARS  # noqa: E402
from tests.tagging_support import NEAR_TOPIC  # noqa: E402

SLUGS = ("us-iran", "sanctions")
Article = dict[str, object]
Tagger = Callable[[str, str], set[str]]


def corpus_dir() -> Path:
    shared = os.environ.get("AGGREGATOR_SHARED_DIR")
    return (Path(shared) if shared else REPO_ROOT.parent / "shared") / "corpus"


# ---------------------------------------------------------------------------
# The naive keyword baselines, as the corpus README describes them

_IRAN = re.compile(r"\b(?:Iran|Iranians?|Tehran)\b")
_US = re.compile(r"(?<!\w)U\.S\.|\bUnited States\b|\bWashington\b|\bAmerican\w*")
_SANCTION = re.compile(r"sanction", re.IGNORECASE)
# A sentence ends at . ! or ? (optionally a closing quote or bracket), not after
# abbreviations such as U.S., U.N., Mr., Gen., Sen., Rep. or single-capital initials.
_NOT_AFTER = ("U.S", "U.N", "Mr", "Mrs", "Ms", "Dr", "Gen", "Sen", "Rep", "Gov", "Jr", "St")
_SENTENCE_END = re.compile(
    "".join(rf"(?<!\b{re.escape(word)})" for word in _NOT_AFTER)
    + r"(?<!\b[A-Z])[.!?][\"'”’)\]]?(?=\s|$)"
)


def keyword_tags(title: str, text: str) -> set[str]:
    whole = f"{title}\n{text}"
    tags = set()
    if _IRAN.search(whole) and _US.search(whole):
        tags.add("us-iran")
    if _SANCTION.search(whole):
        tags.add("sanctions")
    return tags


def first_sentences(text: str, count: int = 2) -> str:
    end = 0
    for _ in range(count):
        found = _SENTENCE_END.search(text, end)
        if found is None:
            return text
        end = found.end()
    return text[:end]


def keyword_lead_tags(title: str, text: str) -> set[str]:
    return keyword_tags(title, first_sentences(text))


# ---------------------------------------------------------------------------


def score(articles: list[Article], tagger: Tagger) -> dict[str, tuple[float, float, float]]:
    counts = {slug: [0, 0, 0] for slug in SLUGS}
    for article in articles:
        tags = tagger(str(article["title"]), str(article["text"]))
        labels = set(article["labels"])  # type: ignore[call-overload]
        for slug in SLUGS:
            tally = counts[slug]
            if slug in tags and slug in labels:
                tally[0] += 1
            elif slug in tags:
                tally[1] += 1
            elif slug in labels:
                tally[2] += 1
    result = {}
    for slug, (tp, fp, fn) in counts.items():
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        result[slug] = (p, r, 2 * p * r / (p + r) if p + r else 0.0)
    return result


def cpu_rate(items: Iterable[object], work: Callable[[object], object], rounds: int) -> float:
    """Items per CPU second, best of ``rounds`` passes (other processes only slow the wall)."""
    items = list(items)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for item in items:
            work(item)
        best = min(best, time.process_time() - started)
    return len(items) / best if best else float("inf")


def _tag_corpus(path: str, rounds: int) -> tuple[int, float]:
    """One worker of the all-cores run: tag the corpus ``rounds`` times; (articles, seconds)."""
    topics = compile_topics(load_default_topics())
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    articles = [json.loads(line) for line in lines]
    documents = [TaggableDocument(title=a["title"], body=a["text"]) for a in articles]
    for document in documents:
        match_all(topics, document)
    started = time.perf_counter()
    for _ in range(rounds):
        for document in documents:
            match_all(topics, document)
    return len(documents) * rounds, time.perf_counter() - started


def all_cores_rate(path: Path, rounds: int) -> tuple[int, float]:
    """Articles per wall-clock second with one worker process per core."""
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=cores) as pool:
        results = list(pool.map(_tag_corpus, [str(path)] * cores, [rounds] * cores))
    return cores, sum(n for n, _ in results) / max(seconds for _, seconds in results)


def hostile_rates(articles: list[Article]) -> None:
    """Milliseconds to tag a megabyte entry made of the corpus's own text on one line (as
    feed content reaches the tagger: one paragraph), with the default topics and with a
    topic of NEAR parts."""
    labelled = [a for a in articles if "us-iran" in a["labels"]]  # type: ignore[operator]
    line = " ".join(" ".join(str(a["text"]).split()) for a in labelled + articles)
    text = (line * (1_000_000 // len(line) + 1))[:1_000_000]
    document = TaggableDocument(title="Iran and the U.S.", body=text)
    for name, topics in (
        ("default topics", compile_topics(load_default_topics())),
        ("NEAR topic", [compile_topic("near", "Near", NEAR_TOPIC)]),
    ):
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            match_all(topics, document)
            best = min(best, time.process_time() - started)
        print(f"  1 MB entry, {name:<15} {best * 1000:>9,.1f} ms (CPU, best of 3)")


def main() -> int:
    path = corpus_dir() / "tagging" / "articles.jsonl"
    if not path.is_file():
        print(f"tagging corpus not found at {path} (set AGGREGATOR_SHARED_DIR)", file=sys.stderr)
        return 1
    articles: list[Article] = [json.loads(line) for line in path.open(encoding="utf-8")]

    started = time.process_time()
    topics = compile_topics(load_default_topics())
    compile_ms = (time.process_time() - started) * 1000

    def ours(title: str, text: str) -> set[str]:
        document = TaggableDocument(title=title, body=text)
        return {r.topic_slug for r in match_all(topics, document) if r.matched}

    rows = [
        ("aggregator default topics", score(articles, ours)),
        ("baseline (a) keyword, whole text", score(articles, keyword_tags)),
        ("baseline (b) keyword, title + 2 sentences", score(articles, keyword_lead_tags)),
    ]
    print(f"dev corpus: {len(articles)} articles ({path.parent.name}/{path.name})")
    longest_text = max(len(str(a["text"])) for a in articles)
    longest_title = max(len(str(a["title"])) for a in articles)
    cut = sum(
        len(str(a["text"])) > MAX_TEXT_CHARS or len(str(a["title"])) > MAX_TITLE_CHARS
        for a in articles
    )
    print(
        f"longest text {longest_text:,} characters, title {longest_title:,} "
        f"(read: {MAX_TEXT_CHARS:,} / {MAX_TITLE_CHARS:,}); articles cut: {cut}\n"
    )
    print(f"{'tagger':<44}" + "".join(f"{slug + '  P / R / F1':>26}" for slug in SLUGS))
    for name, scores in rows:
        cells = "".join(f"{'{:.3f} / {:.3f} / {:.3f}'.format(*scores[s]):>26}" for s in SLUGS)
        print(f"{name:<44}{cells}")

    documents = [TaggableDocument(title=str(a["title"]), body=str(a["text"])) for a in articles]
    for document in documents:  # warm the span caches, as a long-running tagger would be
        match_all(topics, document)
    rounds = 7
    rate = cpu_rate(documents, lambda d: match_all(topics, d), rounds)  # type: ignore[arg-type]
    pairs = [(str(a["title"]), str(a["text"])) for a in articles]
    baseline_rate = cpu_rate(pairs, lambda p: keyword_tags(*p), rounds)  # type: ignore[misc]
    words = sum(len(str(a["text"]).split()) for a in articles) / len(articles)
    print(
        f"\nspeed (tagging stage alone, {len(topics)} topics, explanations included; "
        f"mean {words:.0f} words per article; best of {rounds} passes, CPU time):"
    )
    print(f"  aggregator      {rate:>9,.0f} articles/s per core  ({1e6 / rate:,.0f} µs/article)")
    print(f"  baseline (a)    {baseline_rate:>9,.0f} articles/s per core")
    print(f"  ratio           {rate / baseline_rate:>9.2f} x the keyword baseline's speed")
    print(f"  compile         {compile_ms:>9.1f} ms for the default topics")
    cores, wall_rate = all_cores_rate(path, rounds=3)
    print(
        f"  all {cores} cores   {wall_rate:>9,.0f} articles/s (wall clock, shared with whatever else runs)"
    )
    hostile_rates(articles)
    target = 2000
    print(
        f"  target          {target:>9,} articles/s per core: {'met' if rate >= target else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
