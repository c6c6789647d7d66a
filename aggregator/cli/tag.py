"""`aggregator tag --jsonl`: tag JSON lines from stdin with the configured topics."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from aggregator.errors import AggregatorError, RuleError
from aggregator.tagging import (
    CompiledTopic,
    TaggableDocument,
    compile_topics,
    load_default_topics,
    match_all,
    parse_topics_file,
)


def _load_topics(path: Path | None) -> list[CompiledTopic]:
    if path is None:
        return compile_topics(load_default_topics())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AggregatorError(f"{path}: cannot read topics file: {exc}") from exc
    try:
        return compile_topics(parse_topics_file(text))
    except RuleError as exc:
        raise RuleError(f"{path}: {exc}") from exc


def _document(line: str) -> tuple[Any, TaggableDocument]:
    """The id and document of one input line; ValueError says what is wrong with it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object with id, title and text")
    if "id" not in record:
        raise ValueError("missing 'id'")
    title, text = record.get("title"), record.get("text")
    for key, value in (("title", title), ("text", text)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key!r} must be a string")
    if not title and not text:
        raise ValueError("needs a 'title' or a 'text'")
    return record["id"], TaggableDocument(title=title, body=text, id=None)


def tag_lines(topics: list[CompiledTopic], lines: TextIO, out: TextIO, err: TextIO) -> int:
    """Tag each line; bad lines get a one-line error on ``err``. Returns the bad-line count."""
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            key, document = _document(line)
        except ValueError as exc:
            bad += 1
            err.write(f"line {number}: {exc}\n")
            continue
        results = match_all(topics, document)
        matched = [result for result in results if result.matched]
        record = {
            "id": key,
            "topics": [result.topic_slug for result in matched],
            "explanations": {result.topic_slug: result.explanation for result in matched},
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
    return bad


@click.command("tag")
@click.option(
    "--jsonl",
    "jsonl",
    is_flag=True,
    required=True,
    help="Read JSON lines from stdin and write one JSON line per input line (required).",
)
@click.option(
    "--topics",
    "topics_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A topics TOML file to use instead of the shipped default topics.",
)
def tag_command(jsonl: bool, topics_file: Path | None) -> None:
    """Tag articles: stdin lines {"id", "title", "text"} -> {"id", "topics", "explanations"}.

    Each output line lists the slugs of the topics the article matched and, per matched
    topic, why (rule parts fired, terms, snippets, score and threshold). Topics are the
    shipped defaults (us-iran, sanctions) unless --topics names a topics file. A bad input
    line gets a one-line error on stderr and is skipped; the others are still tagged, and
    the exit status is 1 when any line was bad.
    """
    topics = _load_topics(topics_file)
    bad = tag_lines(topics, sys.stdin, sys.stdout, sys.stderr)
    if bad:
        sys.exit(1)


commands: list[click.Command] = [tag_command]
