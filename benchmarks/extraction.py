"""Article-extraction quality and speed on the shared dev corpus.

Scores this project's extractor and, in the same run, trafilatura (include_comments=False)
and readability-lxml, with the article-extraction-benchmark's shingle scoring. Prints F1,
precision, recall, pages with empty output, median CPU ms per page and the time ratio against
trafilatura. Run: ``python benchmarks/extraction.py`` (the corpus is found at
../shared/corpus relative to the repository root, or under $AGGREGATOR_SHARED_DIR).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # run as a script: make the aggregator package importable

# --- Scoring, as the article-extraction-benchmark's evaluate.py does it --------------------
# Texts become multisets of 4-token shingles (tokens: runs of Unicode word characters, case
# kept). Per page, TP/FP/FN are normalised to sum to 1 so every page weighs the same.
# Precision is averaged over pages with output, recall over pages with expected text, and
# F1 combines the two averages.

TOKEN_RE = re.compile(r"\w+", re.UNICODE)
SHINGLE_SIZE = 4


@dataclass(frozen=True, slots=True)
class PageScore:
    """Normalised true positives, false positives and false negatives of one page."""

    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float:
        if self.fp == self.fn == 0:
            return 1.0
        if self.tp == self.fp == 0:
            return 0.0
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        if self.fp == self.fn == 0:
            return 1.0
        if self.tp == self.fn == 0:
            return 0.0
        return self.tp / (self.tp + self.fn)


@dataclass(frozen=True, slots=True)
class CorpusScore:
    f1: float
    precision: float
    recall: float
    pages: int
    empty: int  # pages where the extractor returned no text


def tokenize(text: str | None) -> list[str]:
    return TOKEN_RE.findall(text or "")


def shingles(text: str | None, size: int = SHINGLE_SIZE) -> Counter[str]:
    tokens = tokenize(text)
    grams = (" ".join(tokens[i : i + size]) for i in range(max(1, len(tokens) - size + 1)))
    return Counter(gram for gram in grams if gram)


def score_page(expected: str | None, predicted: str | None) -> PageScore:
    expected_shingles = shingles(expected)
    predicted_shingles = shingles(predicted)
    tp = fp = fn = 0.0
    for key in expected_shingles.keys() | predicted_shingles.keys():
        want = expected_shingles.get(key, 0)
        got = predicted_shingles.get(key, 0)
        tp += min(want, got)
        fp += max(0, got - want)
        fn += max(0, want - got)
    total = tp + fp + fn
    if total > 0:
        tp, fp, fn = tp / total, fp / total, fn / total
    return PageScore(tp, fp, fn)


def score_corpus(pairs: Iterable[tuple[str | None, str | None]]) -> CorpusScore:
    """Score (expected, predicted) text pairs the way the benchmark does."""
    scores = [score_page(expected, predicted) for expected, predicted in pairs]
    with_output = [s.precision for s in scores if s.tp + s.fp > 0]
    with_expected = [s.recall for s in scores if s.tp + s.fn > 0]
    precision = statistics.mean(with_output) if with_output else 0.0
    recall = statistics.mean(with_expected) if with_expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    empty = sum(1 for s in scores if s.tp + s.fp == 0)
    return CorpusScore(f1=f1, precision=precision, recall=recall, pages=len(scores), empty=empty)


# --- The benchmark -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CorpusPage:
    page_id: str
    url: str
    html: str
    expected: str


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    score: CorpusScore
    median_ms: float
    texts: dict[str, str]


def extraction_corpus_dir() -> Path:
    shared = os.environ.get("AGGREGATOR_SHARED_DIR")
    base = Path(shared) if shared else REPO_ROOT.parent / "shared"
    return base / "corpus" / "extraction"


def load_pages(directory: Path | None = None) -> list[CorpusPage]:
    directory = directory or extraction_corpus_dir()
    truth = json.loads((directory / "ground-truth.json").read_text("utf-8"))
    pages = []
    for page_id in sorted(truth):
        raw = gzip.decompress((directory / "html" / f"{page_id}.html.gz").read_bytes())
        pages.append(
            CorpusPage(
                page_id=page_id,
                url=truth[page_id].get("url", ""),
                html=raw.decode("utf-8"),
                expected=truth[page_id].get("articleBody", ""),
            )
        )
    return pages


def project_text(html: str, url: str) -> str:
    from aggregator.errors import ExtractionError
    from aggregator.extract import extract

    try:
        return extract(html, url).text
    except ExtractionError:
        return ""


def trafilatura_text(html: str, url: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False) or ""


def readability_text(html: str, url: str) -> str:
    from readability import Document

    from aggregator.sanitize import html_to_text

    return html_to_text(Document(html).summary(html_partial=True))


EXTRACTORS: dict[str, Callable[[str, str], str]] = {
    "aggregator": project_text,
    "trafilatura": trafilatura_text,
    "readability-lxml": readability_text,
}


def run_all(
    extractors: dict[str, Callable[[str, str], str]], pages: list[CorpusPage]
) -> list[Result]:
    """Run every extractor on every page, interleaved page by page, so that load from other
    processes on the machine weighs on all of them alike and the time ratios stay fair."""
    texts: dict[str, dict[str, str]] = {name: {} for name in extractors}
    durations: dict[str, list[float]] = {name: [] for name in extractors}
    for extractor in extractors.values():
        extractor(pages[0].html, pages[0].url)  # warm-up: imports and caches are not per-page cost
    for page in pages:
        for name, extractor in extractors.items():
            # CPU time of this process: other jobs on a shared machine do not inflate it.
            started = time.process_time()
            texts[name][page.page_id] = extractor(page.html, page.url)
            durations[name].append(time.process_time() - started)
    results = []
    for name in extractors:
        score = score_corpus((page.expected, texts[name][page.page_id]) for page in pages)
        results.append(Result(name, score, statistics.median(durations[name]) * 1000, texts[name]))
    return results


def main() -> int:
    directory = extraction_corpus_dir()
    if not directory.is_dir():
        print(f"extraction corpus not found at {directory} (set AGGREGATOR_SHARED_DIR)")
        return 1
    pages = load_pages(directory)
    results = run_all(EXTRACTORS, pages)
    baseline_ms = next(r.median_ms for r in results if r.name == "trafilatura")
    print(
        f"{len(pages)} pages from {directory.name}/ (4-token shingles, as the benchmark's evaluate.py)"
    )
    print(
        f"{'extractor':<18} {'F1':>6} {'prec':>6} {'recall':>6} {'empty':>5} {'cpu ms':>8} {'vs traf':>7}"
    )
    for r in results:
        s = r.score
        print(
            f"{r.name:<18} {s.f1:6.4f} {s.precision:6.4f} {s.recall:6.4f} {s.empty:5d}"
            f" {r.median_ms:8.1f} {r.median_ms / baseline_ms:6.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
