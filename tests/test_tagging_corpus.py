"""The shipped default topics against the labelled dev corpus and the founding example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.tagging import TaggableDocument, compile_topics, load_default_topics, match_all

# Floors: the figures the shipped rules reach on the dev half, minus a margin of 0.02.
FLOORS = {
    "us-iran": {"precision": 0.92, "f1": 0.94},
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


_DEFAULTS = compile_topics(load_default_topics())


def _tags(title: str, body: str) -> set[str]:
    return {
        r.topic_slug for r in match_all(_DEFAULTS, TaggableDocument(title, None, body)) if r.matched
    }


def test_default_rules_on_written_examples() -> None:
    # Written for this test (not corpus text): one story per kind the topic definitions name.
    assert _tags(
        "EU adopts new sanctions on Russia over Ukraine",
        "The European Union on Monday imposed new sanctions on Russian banks and froze the "
        "assets of twelve oligarchs.\n\nThe sanctions also ban exports of dual-use goods to "
        "Russia, EU officials said.\n\nMoscow called the measures illegal.",
    ) == {"sanctions"}
    assert _tags(
        "U.S. Navy destroys Iranian oil platforms in Gulf",
        "U.S. warships shelled two Iranian oil platforms in the Gulf on Monday in retaliation "
        "for an Iranian missile attack on a U.S.-flagged tanker, the Pentagon said.\n\nIran "
        "vowed revenge against the United States for the attack.",
    ) == {"us-iran"}
    assert (
        _tags(
            "Sprinter banned for two years after failed doping test",
            "The athletics federation sanctioned the sprinter after a failed doping test.\n\n"
            "The IAAF said further sanctions against the club were possible.",
        )
        == set()
    )
    assert (
        _tags(
            "Council sanctions new bike lanes",
            "The city council officially sanctioned the plan on Tuesday.\n\nWork starts in May.",
        )
        == set()
    )
    assert (
        _tags(
            "Iran reports heavy fighting on Iraqi front",
            "Iran said its forces repulsed an Iraqi attack in the north, in the Iran-Iraq war's "
            "heaviest fighting this year.\n\nIraq said it had crushed the Iranian offensive.",
        )
        == set()
    )
