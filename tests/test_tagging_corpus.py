"""The shipped default topics against the labelled dev corpus and the founding example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.tagging import TaggableDocument, compile_topics, load_default_topics, match_all

# Floors: the figures the shipped rules reach on the dev half, minus a margin of 0.02.
FLOORS = {
    "us-iran": {"precision": 0.90, "f1": 0.94},
    "sanctions": {"precision": 0.93, "f1": 0.93},
}


def _scores(path: Path) -> dict[str, dict[str, float]]:
    topics = compile_topics(load_default_topics())
    counts = {topic.slug: [0, 0, 0] for topic in topics}  # tp, fp, fn
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            article = json.loads(line)
            document = TaggableDocument(title=article["title"], body=article["text"])
            for result in match_all(topics, document):
                labelled = result.topic_slug in article["labels"]
                tally = counts[result.topic_slug]
                if result.matched and labelled:
                    tally[0] += 1
                elif result.matched:
                    tally[1] += 1
                elif labelled:
                    tally[2] += 1
    scores = {}
    for slug, (tp, fp, fn) in counts.items():
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[slug] = {"precision": precision, "recall": recall, "f1": f1}
    return scores


def test_default_topics_reach_the_floors_on_the_dev_corpus(shared_corpus: Path) -> None:
    path = shared_corpus / "tagging" / "articles.jsonl"
    if not path.is_file():
        pytest.skip("tagging corpus not present")
    scores = _scores(path)
    for slug, floor in FLOORS.items():
        got = scores[slug]
        assert got["precision"] >= floor["precision"], (slug, got)
        assert got["f1"] >= floor["f1"], (slug, got)


def test_founding_example_is_tagged_with_both_topics(shared_corpus: Path) -> None:
    pages = sorted((shared_corpus / "seed").glob("*.txt"))
    if not pages:
        pytest.skip("founding example not present")
    text = pages[0].read_text(encoding="utf-8")
    # The page as a reader sees it: tagline, then the headline, then the article.
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    title, body = paragraphs[1], "\n\n".join(paragraphs[2:])
    results = match_all(compile_topics(load_default_topics()), TaggableDocument(title, None, body))
    assert {r.topic_slug for r in results if r.matched} == {"us-iran", "sanctions"}
    sanctions = next(r for r in results if r.topic_slug == "sanctions")
    terms = {
        t for part in sanctions.explanation["parts"] for e in part["evidence"] for t in e["terms"]
    }
    assert "sanctions" in terms and "maximum pressure" in terms
