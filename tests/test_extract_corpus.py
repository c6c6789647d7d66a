"""Extraction quality on the shared dev corpus must not regress (one pass over 91 pages)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.extraction import load_pages, project_text, score_corpus, score_page

# Reached 0.985 (trafilatura alone: 0.965); a regression of more than 0.01 fails.
F1_FLOOR = 0.975


def test_score_page_matches_the_benchmark_definition() -> None:
    perfect = score_page("one two three four five", "one two three four five")
    assert (perfect.precision, perfect.recall) == (1.0, 1.0)
    half = score_page("a b c d e f g", "a b c d x y z")  # 4 expected shingles, 1 predicted right
    assert half.recall == 0.25 and half.precision == 0.25
    short = score_page("two words", "two words")  # fewer than 4 tokens: one shingle
    assert short.precision == 1.0
    empty = score_page("some expected text here", "")
    assert empty.recall == 0.0 and empty.tp + empty.fp == 0  # no output: no precision counted


def test_dev_corpus_f1_floor(shared_corpus: Path) -> None:
    pages = load_pages(shared_corpus / "extraction")
    assert len(pages) == 91
    score = score_corpus((page.expected, project_text(page.html, page.url)) for page in pages)
    assert score.empty == 0
    assert score.f1 >= F1_FLOOR, score
