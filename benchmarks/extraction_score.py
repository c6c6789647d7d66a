"""Scoring of article-body extraction, as the article-extraction-benchmark's evaluate.py does it.

Texts become multisets of 4-token shingles (tokens are runs of Unicode word characters, case
kept). Per page, TP/FP/FN are normalised to sum to 1 so every page weighs the same. Precision
is averaged over pages with output, recall over pages with expected text, and F1 combines the
two averages.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

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
