"""The curator guide (docs/curators.md) checked against the code, so the two cannot drift.

The guide labels its fenced blocks: ```` ```toml topic ```` (a stored definition that must
compile), ```` ```toml topics-file ```` (a topics file whose topics must compile) and
```` ```toml invalid ```` (a definition that must be refused with exactly the message in the
```` ```text ```` block after it).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from aggregator.cli import main as cli_root
from aggregator.cli.tag import tag_lines
from aggregator.errors import RuleError
from aggregator.tagging import (
    TaggableDocument,
    compile_topic,
    compile_topics,
    load_default_topics,
    match,
    parse_topics_file,
)
from aggregator.tagging import compiler as tagging_compiler
from aggregator.tagging.compiler import parse_definition

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "curators.md"
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    info: str  # the info string after the fence, e.g. "toml topic"
    body: str
    line: int  # 1-based line of the opening fence, for failure messages


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def blocks(guide: str) -> list[Block]:
    return [
        Block(m.group(1).strip(), m.group(2), guide.count("\n", 0, m.start()) + 1)
        for m in _FENCE.finditer(guide)
    ]


def _labelled(blocks: list[Block], info: str) -> list[Block]:
    return [block for block in blocks if block.info == info]


def _rule_language_keywords() -> list[str]:
    """Every key and value the compiler accepts, read from the compiler itself."""
    top_keys = getattr(tagging_compiler, "_TOP_KEYS", None)
    rule_keys = getattr(tagging_compiler, "_RULE_KEYS", None)
    assert top_keys and rule_keys, "the compiler no longer exposes its allowed keys"
    return [
        *top_keys,
        *rule_keys,
        *tagging_compiler.SCOPES,
        *tagging_compiler.FIELDS,
        *tagging_compiler.COUNTS,
    ]


def test_every_rule_language_keyword_is_documented(guide: str) -> None:
    missing = [word for word in _rule_language_keywords() if f"`{word}`" not in guide]
    assert not missing, f"docs/curators.md does not explain: {missing}"
    syntax = ["`AND`", "`OR`", "`NOT`", "`NEAR/n`", "`*`", "`{US}`", "`@name`", "`ignore`"]
    assert [s for s in syntax if s not in guide] == []


def test_topic_definitions_in_the_guide_compile(blocks: list[Block]) -> None:
    definitions = _labelled(blocks, "toml topic")
    files = _labelled(blocks, "toml topics-file")
    assert definitions and files, "the guide lost its labelled topic examples"
    for block in definitions:
        try:
            compile_topic("guide-example", "Guide example", block.body)
        except RuleError as exc:
            pytest.fail(f"docs/curators.md line {block.line}: {exc}")
    for block in files:
        try:
            compiled = compile_topics(parse_topics_file(block.body))
        except RuleError as exc:
            pytest.fail(f"docs/curators.md line {block.line}: {exc}")
        assert compiled, f"docs/curators.md line {block.line}: no topic in the file"


def test_invalid_examples_are_refused_with_the_message_shown(blocks: list[Block]) -> None:
    checked = 0
    for index, block in enumerate(blocks):
        if block.info != "toml invalid":
            continue
        shown = blocks[index + 1] if index + 1 < len(blocks) else None
        assert shown is not None and shown.info == "text", (
            f"docs/curators.md line {block.line}: an invalid example needs its error in a "
            "```text block right after it"
        )
        with pytest.raises(RuleError) as refused:
            compile_topic("guide-example", "Guide example", block.body)
        assert str(refused.value) == shown.body.strip(), f"docs/curators.md line {block.line}"
        checked += 1
    assert checked >= 5


def test_the_default_topics_walkthrough_names_every_group_and_rule_part(guide: str) -> None:
    walkthrough = guide.split("## 2. The two default topics", 1)[1].split("\n## 3.", 1)[0]
    for definition in load_default_topics():
        assert f"### `{definition.slug}`" in walkthrough
        table = parse_definition(definition.definition)
        names = [*table.get("groups", {}), *(rule["id"] for rule in table["rules"])]
        missing = [name for name in names if f"`{name}`" not in walkthrough]
        assert not missing, f"section 2 does not explain {definition.slug}: {missing}"
        assert f"threshold = {table['threshold']}" in walkthrough


def _sample_run(blocks: list[Block]) -> tuple[str, str]:
    """The sample input lines and the pasted `aggregator tag --jsonl` output after them."""
    index = next(i for i, block in enumerate(blocks) if block.info == "jsonl")
    output = next(block for block in blocks[index + 1 :] if block.info == "json")
    return blocks[index].body, output.body


def test_the_pasted_tag_output_is_what_the_tagger_says(blocks: list[Block]) -> None:
    samples, pasted = _sample_run(blocks)
    out, err = io.StringIO(), io.StringIO()
    topics = compile_topics(load_default_topics())
    assert tag_lines(topics, io.StringIO(samples), out, err) == 0, err.getvalue()
    actual = {
        record["id"]: record
        for record in (json.loads(line) for line in out.getvalue().splitlines())
    }
    # The pasted output is trimmed, so read it record by record with patterns.
    records = re.split(r'^\{"id": ', pasted, flags=re.MULTILINE)[1:]
    assert len(records) == len(actual)
    for record in records:
        key = re.match(r'"([^"]+)"', record)
        assert key is not None
        expected = actual[key.group(1)]
        topics_shown = re.search(r'"topics": \[([^\]]*)\]', record)
        assert topics_shown is not None
        assert json.loads(f"[{topics_shown.group(1)}]") == expected["topics"], key.group(1)
        verdicts = re.findall(
            r'"topic": "([^"]+)", "matched": (true|false), "score": (-?[\d.]+)', record
        )
        assert len(verdicts) == len(expected["topics"])
        for slug, matched, score in verdicts:
            explanation = expected["explanations"][slug]
            assert (matched == "true", float(score)) == (
                explanation["matched"],
                explanation["score"],
            ), f"{key.group(1)} / {slug}"
            fired = re.search(rf'"topic": "{slug}".*?"fired": \[([^\]]*)\]', record, re.DOTALL)
            assert fired is not None
            assert json.loads(f"[{fired.group(1)}]") == explanation["fired"]


def test_the_commands_the_guide_names_exist(guide: str) -> None:
    context = click.Context(cli_root)
    named = set(re.findall(r"aggregator ([a-z]+)(?: ([a-z]+))?", guide))
    assert len(named) >= 10
    for command_name, sub_name in sorted(named):
        command = cli_root.get_command(context, command_name)
        assert command is not None, f"aggregator {command_name}"
        if isinstance(command, click.Group) and sub_name:
            assert command.get_command(context, sub_name) is not None, (
                f"aggregator {command_name} {sub_name}"
            )


def test_the_curator_pages_the_guide_names_exist(guide: str) -> None:
    from aiohttp import web

    from web.curator import add_routes

    app = web.Application()
    add_routes(app)
    patterns = [
        re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(resource.canonical)) + "$")
        for resource in app.router.resources()
    ]
    named = set(re.findall(r"`(/curate[^` ]*|/login)`", guide))
    assert len(named) >= 4
    for path in named:
        concrete = re.sub(r"<[^>]+>", "x", path)
        assert any(p.match(concrete) for p in patterns), f"no route for {path}"


def test_the_worked_example_topic_behaves_as_the_guide_says(blocks: list[Block]) -> None:
    (topics_file,) = _labelled(blocks, "toml topics-file")
    (topic,) = compile_topics(parse_topics_file(topics_file.body))
    samples = _labelled(blocks, "jsonl")
    assert len(samples) == 2, "the guide's second jsonl block holds the hormuz samples"
    results = {}
    for line in samples[1].body.splitlines():
        record = json.loads(line)
        document = TaggableDocument(title=record["title"], body=record["text"])
        results[record["id"]] = match(topic, document).explanation
    seized, cruise, street = results["seized"], results["cruise"], results["hormuz-street"]
    # Section 3 states these figures and which parts made them.
    assert (seized["matched"], seized["score"]) == (True, 11.0)
    contributions = {part["id"]: part["contribution"] for part in seized["parts"]}
    assert contributions == {
        "headline": 3.0,
        "incident": 4.0,
        "in-the-strait": 3.0,
        "shipping-share": 1.0,
    }
    assert (cruise["matched"], cruise["score"]) == (False, 0.0)
    assert {part["id"]: part["contribution"] for part in cruise["parts"]} == {
        "in-the-strait": 3.0,
        "leisure": -3.0,
    }
    assert (street["matched"], street["score"]) == (False, 0.0)
    assert street["missing_required"] == ["in-the-strait"]
