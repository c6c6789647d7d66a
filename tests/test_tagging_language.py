"""The topic rule language: parsing, each construct, and errors that point at the mistake."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.errors import RuleError
from aggregator.tagging import TaggableDocument, compile_topic, match
from aggregator.tagging.language import (
    AndNode,
    GroupNode,
    NearNode,
    NotNode,
    OrNode,
    TermNode,
    parse_expression,
    parse_term,
)

BASE = """
threshold = 1
[groups]
us = ["United States", "U.S.", "{US}", "Washington"]
iran = ["Iran", "Iranian*", "Tehran"]
"""


def topic(rules: str, *, head: str = BASE) -> str:
    return head + rules


def fires(definition: str, title: str = "", body: str = "") -> bool:
    compiled = compile_topic("t", "T", definition)
    return match(compiled, TaggableDocument(title=title, body=body)).matched


# ---------------------------------------------------------------------------
# Terms


def test_term_words_case_and_wildcard() -> None:
    term = parse_term("sanction*", "k")
    assert term.words == ("sanction*",) and not term.case_sensitive
    acronym = parse_term("{US}", "k")
    assert acronym.case_sensitive and acronym.words == ("US",)
    phrase = parse_term('"White House"', "k")
    assert phrase.words == ("White", "House")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("*ran", "may not start with the wildcard"),
        ("{US", "case-sensitive term is written"),
        ("Iran(", "character '(' is not allowed"),
        ("", "empty term"),
        ("sanc**", "single *"),
    ],
)
def test_bad_terms_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        parse_term(text, "groups.x[0]")


# ---------------------------------------------------------------------------
# Expressions


def test_expression_precedence_not_near_and_or() -> None:
    node = parse_expression("@a OR @b AND NOT @c", "m")
    assert isinstance(node, OrNode)
    assert isinstance(node.operands[1], AndNode)
    assert isinstance(node.operands[1].operands[1], NotNode)
    near = parse_expression('@a NEAR/5 ("x y" OR z)', "m")
    assert isinstance(near, NearNode) and near.distance == 5
    assert isinstance(near.left, GroupNode) and isinstance(near.right, OrNode)
    assert isinstance(near.right.operands[0], TermNode)


@pytest.mark.parametrize(
    ("expression", "position", "message"),
    [
        ("@us AND", 8, "expected a term"),
        ("@us AND AND @iran", 9, "expected a term"),
        ("White House", 7, "expected AND, OR or NEAR/n"),
        ("(@us AND @iran", 15, "missing ')'"),
        ("@us)", 4, "unbalanced ')'"),
        ('"White House', 1, "unclosed quote"),
        ("@us NEAR @iran", 5, "write NEAR/n"),
        ("@us NEAR/999 @iran", 5, "between 0 and 200"),
        ("(@us AND @iran) NEAR/3 x", 1, "terms or groups on its left side"),
        ("@Us", 1, "group name"),
    ],
)
def test_expression_errors_point_at_the_position(
    expression: str, position: int, message: str
) -> None:
    with pytest.raises(RuleError) as info:
        parse_expression(expression, "rules[0].match")
    text = str(info.value)
    assert f"position {position}" in text
    assert message in text
    assert text.startswith("rules[0].match")


def test_not_alone_is_refused() -> None:
    with pytest.raises(RuleError, match="can be true where none of its terms occurs"):
        parse_expression("NOT @iran", "m")
    with pytest.raises(RuleError, match="can be true"):
        parse_expression("@us OR NOT @iran", "m")


# ---------------------------------------------------------------------------
# Definitions: each construct changes what matches


def test_group_cooccurrence_within_a_sentence() -> None:
    rules = '[[rules]]\nid = "both"\nmatch = "@us AND @iran"\n'
    definition = topic(rules)
    assert fires(definition, body="The United States warned Iran on Monday.")
    # Both named, but in different sentences: not one unit.
    assert not fires(definition, body="The United States voted. Iran abstained.")


def test_paragraph_scope_spans_sentences_but_not_paragraphs() -> None:
    rules = '[[rules]]\nid = "both"\nmatch = "@us AND @iran"\nscope = "paragraph"\n'
    definition = topic(rules)
    assert fires(definition, body="The United States voted. Iran abstained.")
    assert not fires(definition, body="The United States voted.\n\nIran abstained.")


def test_case_sensitive_acronym() -> None:
    rules = '[[rules]]\nid = "both"\nmatch = "@us AND @iran"\n'
    definition = topic(rules)
    assert fires(definition, body="US envoys met Iran's officials.")
    assert not fires(definition, body="Iran told us nothing.")


def test_wildcard_word_forms_and_whole_words() -> None:
    definition = topic('[[rules]]\nid = "s"\nmatch = "sanction*"\n')
    for body in ("Sanctions bite.", "They sanctioned Iran.", "A new sanction."):
        assert fires(definition, body=body), body
    assert not fires(definition, body="Desanctioning is not a word here.")
    literal = topic('[[rules]]\nid = "s"\nmatch = "Iran"\n')
    assert not fires(literal, body="Iranian officials spoke.")  # whole words only
    assert fires(literal, body="Iran’s officials spoke.")


def test_near_counts_words_between_terms() -> None:
    definition = topic('[[rules]]\nid = "n"\nmatch = "@us NEAR/3 @iran"\n')
    assert fires(definition, body="Washington and Tehran talked.")
    assert fires(definition, body="Washington said that Tehran talked.")
    assert not fires(definition, body="Washington said today in a statement that Tehran talked.")


def test_not_inside_an_expression_excludes_a_context() -> None:
    definition = topic('[[rules]]\nid = "n"\nmatch = "sanction* AND NOT (FIFA OR league)"\n')
    assert fires(definition, body="Sanctions on Iran were tightened.")
    assert not fires(definition, body="FIFA sanctions the club.")


def test_ignore_phrases_hide_the_words_inside_them() -> None:
    head = BASE.replace("threshold = 1", 'threshold = 1\nignore = ["Washington Post"]')
    definition = topic('[[rules]]\nid = "both"\nmatch = "@us AND @iran"\n', head=head)
    assert fires(definition, body="Washington warned Iran.")
    assert not fires(definition, body="The Washington Post covered Iran.")


def test_field_weights_threshold_and_max() -> None:
    head = BASE.replace("threshold = 1", "threshold = 3")
    rules = '[[rules]]\nid = "iran"\nmatch = "@iran"\nweight = 1\n'
    definition = topic(rules, head=head)
    # Title weighs 3 by default: enough alone; one body sentence (weight 1) is not.
    assert fires(definition, title="Iran votes")
    assert not fires(definition, body="Filler. More filler. Iran votes.")
    capped = topic(rules + "max = 2\n", head=head)
    assert not fires(capped, title="Iran votes", body="Filler. Iran. Iran again. Tehran.")


def test_negative_weights_count_against() -> None:
    head = BASE.replace("threshold = 1", "threshold = 2")
    rules = (
        '[[rules]]\nid = "iran"\nmatch = "@iran"\nweight = 1\n'
        '[[rules]]\nid = "war"\nmatch = "\\"Iran-Iraq war\\""\nweight = -3\n'
    )
    definition = topic(rules, head=head)
    assert fires(definition, body="Filler here. Iran spoke. Tehran agreed.")
    assert not fires(definition, body="Filler here. Iran spoke. The Iran-Iraq war went on.")


def test_required_part_gates_the_match() -> None:
    rules = (
        '[[rules]]\nid = "iran"\nmatch = "@iran"\nweight = 5\n'
        '[[rules]]\nid = "us"\nmatch = "@us"\nweight = 0.1\nrequired = true\n'
    )
    definition = topic(rules)
    assert not fires(definition, body="Iran spoke.")
    assert fires(definition, body="Iran spoke to Washington.")


def test_share_counts_the_share_of_units() -> None:
    head = BASE.replace("threshold = 1", "threshold = 2")
    rules = '[[rules]]\nid = "share"\nmatch = "@iran"\nscope = "paragraph"\ncount = "share"\nweight = 4\n'
    definition = topic(rules, head=head)
    assert fires(definition, body="Iran spoke.\nTehran agreed.\nOther news.")  # 2/3 of 4
    assert not fires(definition, body="Iran spoke.\nA.\nB.\nC.")  # 1/4 of 4


def test_nested_groups_are_included() -> None:
    definition = """
threshold = 1
[groups]
officials = ["Pompeo"]
us = ["Washington", "@officials"]
iran = ["Iran"]
[[rules]]
id = "both"
match = "@us AND @iran"
"""
    assert fires(definition, body="Pompeo warned Iran.")


# ---------------------------------------------------------------------------
# Definition errors name the key


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("threshold = 1\n[[rules]]\nid='a'\nmatch='@nope'\n", "position 1: unknown group @nope"),
        ("thresold = 1\n", "unknown key 'thresold' (did you mean 'threshold'?)"),
        ("threshold = 0\n[[rules]]\nid='a'\nmatch='x'\n", "threshold: must be greater than 0"),
        ("threshold = 1\n", "missing [[rules]]"),
        ("threshold = 1\n[[rules]]\nmatch='x'\n", "rules[0]: missing key 'id'"),
        (
            "threshold = 1\n[[rules]]\nid='a'\nmatch='x'\nscope='page'\n",
            "rules[0] (a).scope: 'page'",
        ),
        (
            "threshold = 1\n[[rules]]\nid='a'\nmatch='x'\n[[rules]]\nid='a'\nmatch='y'\n",
            "duplicate rule part id 'a'",
        ),
        (
            "threshold = 1\n[groups]\nus = ['*us']\n[[rules]]\nid='a'\nmatch='@us'\n",
            "groups.us[0]: term '*us'",
        ),
        (
            "threshold = 1\n[groups]\na = ['@b']\nb = ['@a']\n[[rules]]\nid='x'\nmatch='@a'\n",
            "includes itself",
        ),
        (
            "threshold = 1\n[[rules]]\nid='a'\nmatch='x'\nweight='big'\n",
            "rules[0] (a).weight: expected a number",
        ),
        ("threshold = 1\n[[rules]]\nid='a'\nmatch='x'\nweight=-1\n", "needs a positive weight"),
        ("threshold = [\n", "invalid TOML"),
        (
            "threshold = 1\n[weights]\nheadline = 2\n[[rules]]\nid='a'\nmatch='x'\n",
            "weights: unknown key 'headline'",
        ),
    ],
)
def test_definition_errors_point_at_the_key(definition: str, message: str) -> None:
    with pytest.raises(RuleError) as info:
        compile_topic("t", "T", definition)
    assert message in str(info.value)


# ---------------------------------------------------------------------------
# The parser never crashes: arbitrary input gives a topic or a RuleError


_TOML_LINES = st.sampled_from(
    [
        "threshold = 1",
        "threshold = -2",
        "threshold = 'x'",
        "threshold = inf",
        "lead_sentences = 99",
        "ignore = ['Washington Post']",
        "ignore = [1]",
        "ignore = 'x'",
        "[weights]",
        "title = 2",
        "lead = -1",
        "body = nan",
        "[groups]",
        "us = ['U.S.', '{US}']",
        "iran = ['Iran*', '@us']",
        "x = []",
        "x = [[1]]",
        "bad-name = ['a']",
        "[[rules]]",
        "id = 'a'",
        "id = 'b'",
        "id = 3",
        "match = '@us AND @iran'",
        "match = '@nope'",
        "match = '(('",
        "match = 'NOT x'",
        "scope = 'paragraph'",
        "scope = 3",
        "count = 'share'",
        "weight = -1",
        "weight = 2",
        "max = 0",
        "fields = ['title']",
        "fields = ['x']",
        "fields = []",
        "required = 'yes'",
        "[rules]",
        "rules = 1",
        "[groups.us]",
        "note = 1",
        "unknown = 1",
        "= broken",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(_TOML_LINES, max_size=14).map("\n".join)))
def test_definition_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(RuleError):
        compiled = compile_topic("t", "T", text)
        match(compiled, TaggableDocument(title="Iran and the U.S.", body="US and Iran talk."))


_EXPRESSION_ALPHABET = st.sampled_from(
    [
        "@us",
        "@iran",
        "AND",
        "OR",
        "NOT",
        "NEAR/3",
        "(",
        ")",
        '"',
        "{",
        "}",
        "x*",
        "*",
        " ",
        "Iran",
        "@",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EXPRESSION_ALPHABET, max_size=12).map(" ".join), st.text(max_size=40))
def test_expression_parser_never_crashes(expression: str, noise: str) -> None:
    for candidate in (expression, expression + noise):
        escaped = candidate.replace("\\", "\\\\").replace('"', '\\"')
        definition = BASE + f'[[rules]]\nid = "a"\nmatch = "{escaped}"\n'
        try:
            compiled = compile_topic("t", "T", definition)
        except RuleError:
            continue
        match(compiled, TaggableDocument(title="Iran", body="The U.S. and Iran x talked."))


def test_overlapping_terms_all_count_but_ignore_phrases_hide() -> None:
    # A phrase used by one rule part must not hide the words inside it from another.
    definition = topic(
        '[[rules]]\nid = "iran"\nmatch = "@iran"\n'
        '[[rules]]\nid = "talks"\nmatch = "\\"Iran talks\\""\nweight = 0.5\n'
    )
    result = match(
        compile_topic("t", "T", definition), TaggableDocument(body="Filler. Iran talks resumed.")
    )
    assert result.fired == ("iran", "talks")
    hidden = topic('[[rules]]\nid = "iran"\nmatch = "@iran"\n').replace(
        "threshold = 1", 'threshold = 1\nignore = ["Iran talks"]'
    )
    assert not fires(hidden, body="Filler. Iran talks resumed.")
    assert fires(hidden, body="Filler. Iran said no.")
