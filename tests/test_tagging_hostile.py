"""Tagging stays near-linear on hostile documents: it runs on the event loop for every entry.

A megabyte of repeated news text, NEAR rules whose sides occur thousands of times (matching
and never matching), runs of end marks, and many distinct terms in one unit. The NEAR sweep
and the word index are checked against the pairwise reference they replaced.
"""

from __future__ import annotations

import itertools
import random
import re
from datetime import UTC, datetime

import pytest

from aggregator.retag import document_for
from aggregator.tagger import Tagger
from aggregator.tagging import (
    CompiledTopic,
    PreparedDocument,
    TaggableDocument,
    compile_topic,
    compile_topics,
    compiler,
    load_default_topics,
    match,
    match_all,
)
from aggregator.tagging.compiler import Hit, near_hits
from aggregator.tagging.document import (
    _ABBREVIATIONS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    WordIndex,
    _sentence_ends,
    _sentence_starts,
    cap_text,
)
from aggregator.tagging.matcher import _scan
from aggregator.types import Entry, Topic
from tests.pipeline_support import US_IRAN_PARAGRAPHS
from tests.tagging_support import NEAR_TOPIC

MEGABYTE = 1_000_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Words the default sanctions topic reads as another sense of "sanction" (court, league ...),
# far from every "sanctions": its NEAR/5 exclusion never holds, on every one of them.
OTHER_SENSE = "The court adjourned and the league coach spoke to the club after the tournament."


def _hostile_text(paragraphs: list[str], size: int = MEGABYTE) -> str:
    # One line, as html_to_text makes of feed content: the whole text is one paragraph.
    unit = " ".join(paragraphs) + " "
    return (unit * (size // len(unit) + 1))[:size]


def _topics() -> list[CompiledTopic]:
    return [*compile_topics(load_default_topics()), compile_topic("near", "Near", NEAR_TOPIC)]


def _verdicts(
    topics: list[CompiledTopic], document: TaggableDocument | PreparedDocument
) -> list[object]:
    return [(r.topic_slug, r.matched, r.score, r.explanation) for r in match_all(topics, document)]


@pytest.mark.parametrize("extra", [[], [OTHER_SENSE]], ids=["near-matches", "near-never"])
def test_a_megabyte_of_news_is_tagged_as_its_capped_text(extra: list[str]) -> None:
    text = _hostile_text([*US_IRAN_PARAGRAPHS, *extra])
    topics = _topics()
    document = PreparedDocument(TaggableDocument(title="Iran and the U.S.", body=text))
    assert len(document.text) <= MAX_TEXT_CHARS < len(text)
    results = {r.topic_slug: r for r in match_all(topics, document)}
    assert results["us-iran"].matched and results["sanctions"].matched
    assert results["near"].fired == ("near",)  # "never" and "never-document" did not fire
    assert "other-sense" not in results["sanctions"].fired
    capped = TaggableDocument(title="Iran and the U.S.", body=cap_text(text, MAX_TEXT_CHARS))
    assert _verdicts(topics, capped) == _verdicts(topics, document)
    # Each NEAR evaluation looks up each hit of its unit at most twice (its start, its end).
    bound = 0
    for topic in topics:
        spans = topic.scanner.spans(document.text_lower)
        hits = len(_scan(topic, spans, document.text_lower, document.text, False, 0))
        bound += 2 * hits * sum(part.match.count("NEAR/") for part in topic.rules)
    assert 0 < document.words(False).lookups <= bound


def test_the_pipeline_tagger_tags_a_megabyte_feed_entry() -> None:
    html = "".join(f"<p>{p}</p>" for p in [*US_IRAN_PARAGRAPHS, OTHER_SENSE]) * 2_500
    assert len(html) > MEGABYTE
    entry = Entry(
        id=1,
        feed_id=1,
        identity="big",
        url=None,
        title="Iran and the U.S. resume talks",
        author=None,
        published_at=NOW,
        updated_at=None,
        summary_html=None,
        content_html=html,
        content_hash="x",
        first_seen_at=NOW,
    )
    tagger = Tagger()
    tagger.load(
        [
            Topic(
                id=i, slug=t.slug, name=t.name, description="", definition=t.definition, version=1
            )
            for i, t in enumerate(load_default_topics())
        ]
        + [Topic(id=9, slug="near", name="Near", description="", definition=NEAR_TOPIC, version=1)]
    )
    matches = tagger.tag_document(document_for(entry, None), entry_id=1, now=NOW)
    assert {m.topic_slug for m in matches} == {"us-iran", "sanctions", "near"}


def test_what_is_read_is_capped_at_a_space() -> None:
    text = "word " * 30_000
    capped = cap_text(text, MAX_TEXT_CHARS)
    assert len(capped) <= MAX_TEXT_CHARS and capped.endswith("word")
    assert cap_text("short text", MAX_TEXT_CHARS) == "short text"
    assert cap_text("x" * 300, 100) == "x" * 100  # no space near the limit: cut there
    document = PreparedDocument(TaggableDocument(title="Iran " * 1_000, body=text))
    assert len(document.title) <= MAX_TITLE_CHARS and document.title.endswith("Iran")
    # Terms past the cap are not read.
    late = TaggableDocument(body="Filler text. " * 10_000 + "Iran and Washington talk.")
    assert match(compile_topic("near", "Near", NEAR_TOPIC), late).fired == ()


# ---------------------------------------------------------------------------
# The NEAR sweep and the word index against the pairwise reference

_WORD = re.compile(r"\w+")


def _reference_near(
    hits: list[Hit],
    left: frozenset[str],
    right: frozenset[str],
    distance: int,
    doc: PreparedDocument,
) -> bool:
    """NEAR as it was: every left hit against every right hit, reading the words between."""

    def words(a: Hit, b: Hit) -> int:
        if a.start > b.start:
            a, b = b, a
        if b.start <= a.end:
            return 0
        source = doc.title_lower if a.in_title else doc.text_lower
        return len(_WORD.findall(source, a.end, b.start))

    lefts = [h for h in hits if not h.symbols.isdisjoint(left)]
    rights = [h for h in hits if not h.symbols.isdisjoint(right)]
    return any(
        a is not b and a.in_title == b.in_title and words(a, b) <= distance
        for a in lefts
        for b in rights
    )


_VOCABULARY = [
    *["Iran", "Iran's", "Iranian", "Iranians", "United States", "U.S.", "US", "us", "White"],
    *["House", "White House", "Washington", "Post", "sanctions", "sanctioned", "court", "x_y"],
    *["the", "a", "said", "é", "naïve", "2015", ".", "!", "?", '"', "-", ",", "_", "Iran-Iraq"],
    *["talks", "Ü", "ﬁ", "İran", "\n", "  ", "\t", "Tehran-Washington", "U.S.A."],
]
_GROUPS = """
threshold = 1
ignore = ["Washington Post"]
[groups]
us = ["United States", "U.S.", "{US}", "White House", "{House}", "Washington"]
iran = ["Iran", "Iranian*", "Iran's", "Tehran"]
other = ["court", "x_y", "sanction*"]
[[rules]]
id = "any"
match = "@us OR @iran OR @other"
"""
_SIDES = [
    ("@us", "@iran"),
    ("@iran", "@iran"),
    ("@us", "@us"),
    ("=sanction*", "@other"),
    ("@other", "@iran"),
    ("=white house", "={house}"),
]


@pytest.mark.parametrize("pairwise_limit", [0, compiler.PAIRWISE_LIMIT], ids=["sweep", "mixed"])
def test_near_sweep_agrees_with_the_pairwise_reference(
    pairwise_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiler, "PAIRWISE_LIMIT", pairwise_limit)
    topic = compile_topic("t", "T", _GROUPS)
    rng = random.Random(20260101)
    agreed = {True: 0, False: 0}
    for _ in range(3_000):
        words = [rng.choice(_VOCABULARY) for _ in range(rng.randint(0, 50))]
        text = "".join(w + rng.choice([" ", " ", "", ". ", "\n"]) for w in words)
        title = " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(0, 8)))
        doc = PreparedDocument(TaggableDocument(title=title, body=text))
        hits = _scan(
            topic, topic.scanner.spans(doc.title_lower), doc.title_lower, doc.title, True, 0
        )
        hits += _scan(
            topic, topic.scanner.spans(doc.text_lower), doc.text_lower, doc.text, False, 5
        )
        known = {symbol for hit in hits for symbol in hit.symbols}
        for left_name, right_name in _SIDES:
            left = frozenset(s for s in known if s.startswith(left_name))
            right = frozenset(s for s in known if s.startswith(right_name))
            distance = rng.choice([0, 0, 1, 2, 3, 5, 8])
            expected = _reference_near(hits, left, right, distance, doc)
            assert near_hits(hits, left, right, distance, doc) == expected, (
                title,
                text,
                left,
                right,
                distance,
            )
            agreed[expected] += 1
    assert min(agreed.values()) > 1_000  # both verdicts were exercised


def test_word_index_counts_what_a_regex_over_the_gap_counts() -> None:
    texts = ["", "a", "  ", "Iran's U.S. talks_x", "x_y é ﬁ 2015 naïve--İran", "ab cd\nef\tgh!"]
    for text in texts:
        index = WordIndex(text)
        for start, end in itertools.product(range(len(text) + 1), repeat=2):
            expected = len(_WORD.findall(text, start, end)) if end > start else 0
            assert index.between(start, end) == expected, (text, start, end)


# ---------------------------------------------------------------------------
# Sentences and evidence


def _reference_sentence_end() -> re.Pattern[str]:
    """The single regex sentence ends were found with (quadratic on a run of end marks)."""
    by_length: dict[int, list[str]] = {}
    for word in _ABBREVIATIONS:
        by_length.setdefault(len(word), []).append(word)
    not_abbreviation = "".join(
        rf"(?<!\b(?i:{'|'.join(words)})\.)" for _, words in sorted(by_length.items())
    )
    return re.compile(
        r"[.!?](?<!\b[^\W\d_]\.)" + not_abbreviation + r"[.!?]*[\"'”’)\]]*[ \t]+(?![a-z])"
    )


def test_sentence_ends_agree_with_the_single_regex_they_replaced() -> None:
    reference = _reference_sentence_end()
    rng = random.Random(7)
    alphabet = ["a", "A", "Mr", "U", "S", ".", "!", "?", '"', ")", "”", " ", " ", "\t", "x", "b"]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert _sentence_ends(text) == [m.end() for m in reference.finditer(text)], repr(text)


def test_runs_of_end_marks_split_in_linear_time() -> None:
    # The single regex took about 4 s for 20,000 marks and grew with the square of the run.
    text = "Iran spoke" + "!" * MEGABYTE + " Then the U.S. answered." + "?!" * MEGABYTE
    assert _sentence_starts(text, [0]) == [0, 10 + MEGABYTE + 1]


def test_evidence_lists_many_distinct_terms_once_each_in_order() -> None:
    topic = compile_topic(
        "t",
        "T",
        'threshold = 1\n[[rules]]\nid = "s"\nmatch = "sanction*"\nscope = "document"\n',
    )
    words = ["sanction" + "".join(p) for p in itertools.product("abcdefghij", repeat=4)]
    body = " ".join(words + words)
    result = match(topic, TaggableDocument(body=body))
    (evidence,) = result.explanation["parts"][0]["evidence"]
    assert len(evidence["terms"]) > 5_000  # every distinct word up to the cap, once each
    assert evidence["terms"] == words[: len(evidence["terms"])]


def test_a_span_is_tried_against_the_terms_it_may_match_and_gets_the_same_symbols() -> None:
    topic = compile_topic(
        "t",
        "T",
        "threshold = 1\n[groups]\n"
        'a = ["kelvin*", "Kelvin", "{KGB}", "sanction*", "ſtraße", "straße", "Éclat", "éclat*"]\n'
        'b = ["İran", "iran", "ıran", "2015 deal", ".net", "k"]\n'
        '[[rules]]\nid = "a"\nmatch = "@a OR @b"\n',
    )
    spans = ["kelvin", "\u212aelvin", "\u212aelvins", "kgb", "KGB", "\u212aGB", "sanctionx"]
    spans += ["ſanctions", "straße", "ſtraße", "éclat", "Éclat", "éclats", "iran", "İran", "ıran"]
    spans += ["2015 deal", ".net", "k", "\u212a", "x", ""]
    for span in spans:
        for original in (span, span.upper(), span.title()):
            insensitive: set[str] = set()
            exact: set[str] = set()
            for folded, case, symbols in topic.exact_terms:
                if folded.fullmatch(span):
                    if case is None:
                        insensitive |= symbols
                    elif case.fullmatch(original):
                        exact |= symbols
            expected = frozenset(insensitive | exact)
            assert topic.symbols_for(span, original) == expected, (span, original)
    assert topic.symbols_for("\u212aelvin", "\u212aelvin")  # the Kelvin sign folds to k


def test_a_wildcard_spans_at_most_64_letters() -> None:
    # Two wildcards in one word used to backtrack over a hostile 100,000-letter "word" for
    # 18 s on the event loop; a wildcard now stands for at most 64 letters.
    topic = compile_topic(
        "w", "W", 'threshold = 1\n[[rules]]\nid = "w"\nmatch = "i*a*n"\nscope = "document"\n'
    )

    def matched(body: str) -> bool:
        return match(topic, TaggableDocument(title="t", body=body)).matched

    assert matched("the word " + "i" + "x" * 60 + "a" + "y" * 60 + "n" + " ends here")
    assert not matched("the word " + "i" + "x" * 65 + "an ends here")
    assert not matched("i" + "a" * 99_990 + "x")  # one hostile word: refused at once
