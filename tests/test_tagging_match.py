"""Matching, explanations, previews, per-rule-part quality and topics files."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.errors import RuleError
from aggregator.tagging import (
    CompiledTopic,
    DecisionRecord,
    TaggableDocument,
    TopicDefinition,
    compile_topic,
    dump_topics,
    fired_rule_parts,
    load_default_topics,
    match,
    match_all,
    parse_topics_file,
    preview,
    rule_part_quality,
)
from aggregator.tagging.language import parse_term
from aggregator.tagging.scanner import TermScanner, regex_spans, scan_text
from aggregator.types import MatchState

DEFINITION = """
threshold = 4
[weights]
title = 3
lead = 2
body = 1

[groups]
us = ["United States", "U.S.", "{US}", "Washington"]
iran = ["Iran", "Iranian", "Tehran"]

[[rules]]
id = "both"
match = "@us AND @iran"
weight = 1
max = 5

[[rules]]
id = "iran-title"
match = "@iran"
fields = ["title"]
weight = 1
"""


@pytest.fixture
def compiled() -> CompiledTopic:
    return compile_topic("us-iran", "U.S.-Iran", DEFINITION)


def test_explanation_lists_fired_parts_terms_snippets_and_threshold(
    compiled: CompiledTopic,
) -> None:
    document = TaggableDocument(
        title="Iran rejects U.S. letter",
        body="Tehran said on Monday it would not answer the United States. Other news followed.",
    )
    result = match(compiled, document)
    assert result.matched
    assert result.fired == ("both", "iran-title")
    explanation = result.explanation
    json.dumps(explanation)  # JSON-serialisable as stored
    assert explanation["threshold"] == 4
    assert explanation["fired"] == ["both", "iran-title"]
    both = explanation["parts"][0]
    # Title (3) + lead sentence (2): five, which is also the cap.
    assert both["contribution"] == 5 and both["units"] == 2
    fields = [evidence["field"] for evidence in both["evidence"]]
    assert fields == ["title", "lead"]
    lead = both["evidence"][1]
    assert lead["terms"] == ["Tehran", "United States"]
    assert "Tehran said on Monday" in lead["snippet"]
    assert "Other news" not in lead["snippet"]  # the snippet stays inside its sentence
    assert result.score == pytest.approx(8.0)


def test_body_wins_over_summary_and_summary_is_used_without_body(compiled: CompiledTopic) -> None:
    summary_only = TaggableDocument(title="News", summary="Washington and Tehran met.")
    assert match(compiled, summary_only).fired == ("both",)
    with_body = TaggableDocument(title="News", summary="Washington and Tehran met.", body="Cats.")
    assert match(compiled, with_body).fired == ()


def test_unrelated_text_scores_zero(compiled: CompiledTopic) -> None:
    result = match(compiled, TaggableDocument(title="Weather", body="Rain tomorrow."))
    assert not result.matched and result.score == 0 and result.explanation["parts"] == []


def test_preview_reports_added_removed_and_unchanged() -> None:
    old = compile_topic("t", "T", DEFINITION)
    new = compile_topic("t", "T", DEFINITION.replace("threshold = 4", "threshold = 2.5"))
    docs = [
        TaggableDocument(id=1, body="Washington and Tehran met."),  # 2 (lead): neither
        TaggableDocument(id=2, body="Filler. Washington and Tehran met."),  # 2: neither
        TaggableDocument(id=3, title="Iran", body="Washington and Tehran met."),  # 3+2: both
        TaggableDocument(id=4, title="Iran talks"),  # 3: only new
    ]
    result = preview(old, new, docs)
    assert [key for key, _ in result.added] == [4]
    assert result.removed == ()
    assert result.unchanged_count == 3
    back = preview(new, old, docs)
    assert [key for key, _ in back.removed] == [4]
    first = preview(None, old, docs)
    assert [key for key, _ in first.added] == [3]


def test_rule_part_quality_counts_curator_states_per_part() -> None:
    decisions = [
        DecisionRecord(("both", "iran-title"), MatchState.APPROVED),
        DecisionRecord(("both",), MatchState.HIDDEN),
        DecisionRecord(("both",), "pinned"),
        DecisionRecord(("iran-title",), MatchState.AUTO),
    ]
    quality = rule_part_quality(decisions)
    assert quality["both"].approved == 2 and quality["both"].hidden == 1
    assert quality["both"].precision == pytest.approx(2 / 3)
    assert quality["iran-title"].undecided == 1 and quality["iran-title"].approved == 1
    assert quality["iran-title"].to_json()["precision"] == 1.0
    assert fired_rule_parts({"fired": ["a", "b"]}) == ("a", "b")
    assert fired_rule_parts({}) == ()


# ---------------------------------------------------------------------------
# Topics files


def test_default_topics_load_compile_and_round_trip() -> None:
    topics = load_default_topics()
    assert [t.slug for t in topics] == ["us-iran", "sanctions"]
    for topic in topics:
        compiled = topic.compile()
        assert compiled.rules
        assert "[[topic" not in topic.definition  # a standalone definition
    assert "# The U.S. side" in topics[0].definition  # the expert's comments survive
    again = parse_topics_file(dump_topics(topics))
    assert again == topics


def test_comments_survive_and_headers_lose_their_prefix() -> None:
    text = """
[[topic]]
slug = "a"
name = "A"
description = "about a"
threshold = 1  # one hit is enough
[topic.groups]
x = ["Iran"]
[[topic.rules]]
id = "x"
match = "@x"
"""
    (topic,) = parse_topics_file(text)
    assert "# one hit is enough" in topic.definition
    assert "[groups]" in topic.definition and "[[rules]]" in topic.definition
    assert "slug" not in topic.definition
    assert parse_topics_file(dump_topics([topic])) == [topic]


def test_dump_falls_back_to_plain_toml_for_odd_layouts() -> None:
    odd = TopicDefinition("b", "B", "", 'threshold = 1\nrules = [{id = "x", match = "Iran"}]\n')
    (again,) = parse_topics_file(dump_topics([odd]))
    assert again.slug == "b"
    assert again.compile().rules[0].id == "x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[topic]]\nname = "A"\nthreshold = 1\n', "topic[0]: missing key 'slug'"),
        ('[[topic]]\nslug = "A B"\nname = "A"\n', "topic[0].slug"),
        (
            '[[topic]]\nslug = "a"\nname = "A"\nthreshold = 1\n',
            "topic[0] (a): definition: missing [[rules]]",
        ),
        (
            '[[topic]]\nslug = "a"\nname = "A"\nthreshold = 1\n[[topic.rules]]\nid = "x"\nmatch = "x"\n'
            '[[topic]]\nslug = "a"\nname = "A"\nthreshold = 1\n[[topic.rules]]\nid = "x"\nmatch = "x"\n',
            "duplicate topic 'a'",
        ),
        ("color = 1\n", "unknown key 'color'"),
    ],
)
def test_bad_topics_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_topics_file(text)
    assert message in str(info.value)


# ---------------------------------------------------------------------------
# The fast scanner finds exactly what the reference regular expression finds


_TERMS = [
    parse_term(t, "t")
    for t in (
        "us",
        "u.s.",
        "iran",
        "iran*",
        "white house",
        "sanction*",
        "sanction* relief",
        "sanctioned by the league",
        "house",
        "new york times",
        "a",
    )
]
_WORDS = st.sampled_from(
    [
        "us",
        "U.S.",
        "Iran",
        "Iranian",
        "iran-iraq",
        "white",
        "House",
        "houses",
        "sanctions",
        "relief",
        "sanctioned",
        "by",
        "the",
        "league",
        "new",
        "York",
        "Times",
        "focus",
        "a",
        "x",
        "’s",
        ".",
        ",",
        "\n",
        "  ",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_WORDS, max_size=25))
def test_scanner_agrees_with_reference_regex(words: list[str]) -> None:
    text = scan_text(" ".join(words).lower())
    assert TermScanner(_TERMS).spans(text) == regex_spans(_TERMS, text)


def test_match_all_uses_every_topic() -> None:
    topics = [t.compile() for t in load_default_topics()]
    results = match_all(topics, TaggableDocument(title="Weather", body="Sunny."))
    assert [r.topic_slug for r in results] == ["us-iran", "sanctions"]
    assert not any(r.matched for r in results)


_ARTICLE_WORDS = st.sampled_from(
    [
        "The",
        "U.S.",
        "US",
        "us",
        "Iran",
        "Tehran",
        "sanctions",
        "imposed",
        "on",
        "Russia",
        ".",
        "\n",
        "FIFA",
        "league",
        "Trump",
        "talks",
        "nuclear",
        "deal",
        "Washington",
        "Post",
        "embargo",
        "maximum",
        "pressure",
        "Treasury",
        "oil",
        "exports",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ARTICLE_WORDS, max_size=60), st.lists(_ARTICLE_WORDS, max_size=8))
def test_match_all_equals_matching_each_topic_alone(body: list[str], title: list[str]) -> None:
    topics = _DEFAULT_TOPICS
    document = TaggableDocument(title=" ".join(title), body=" ".join(body))
    together = match_all(topics, document)
    alone = [match(topic, document) for topic in topics]
    assert together == alone


_DEFAULT_TOPICS = [t.compile() for t in load_default_topics()]
