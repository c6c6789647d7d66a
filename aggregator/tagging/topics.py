"""Topics files: several topic definitions in one TOML file (the shipped ``topics.toml``).

A topics file is a list of ``[[topic]]`` tables, each with ``slug``, ``name`` and
``description`` followed by the topic's definition (``threshold``, ``[topic.groups]``,
``[[topic.rules]]`` ...; see ``aggregator.tagging.compiler``). The definition stored in the
database is that part as its own TOML text, with the ``topic.`` prefix dropped from its table
headers. Comments are kept both ways, so curators' notes survive import and export.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aggregator.errors import RuleError
from aggregator.tagging.compiler import CompiledTopic, compile_topic, parse_definition

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
_META_KEYS = ("slug", "name", "description")
_TOPIC_HEADER = re.compile(r"^\s*\[\[\s*topic\s*\]\]\s*(#.*)?$")
_META_LINE = re.compile(r"^\s*(slug|name|description)\s*=")
_SUB_ARRAY_HEADER = re.compile(r"^(\s*)\[\[\s*topic\.([^\]]+?)\s*\]\](.*)$")
_SUB_TABLE_HEADER = re.compile(r"^(\s*)\[\s*topic\.([^\]]+?)\s*\](.*)$")
_ARRAY_HEADER = re.compile(r"^(\s*)\[\[\s*([^\]]+?)\s*\]\](.*)$")
_TABLE_HEADER = re.compile(r"^(\s*)\[\s*([^\]\[]+?)\s*\](.*)$")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class TopicDefinition:
    """A topic as a curator writes it: metadata plus the rule text (TOML)."""

    slug: str
    name: str
    description: str
    definition: str

    def compile(self) -> CompiledTopic:
        return compile_topic(self.slug, self.name, self.definition)


# ---------------------------------------------------------------------------
# A small TOML writer for the fallback path (tables of strings, numbers, lists)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise RuleError(f"cannot write {value!r} as TOML")


def _dump_table(table: dict[str, Any], prefix: str) -> list[str]:
    lines: list[str] = []
    subtables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            subtables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, sub in subtables:
        name = prefix + _toml_key(key)
        lines += ["", f"[{name}]", *_dump_table(sub, name + ".")]
    for key, items in arrays:
        name = prefix + _toml_key(key)
        for item in items:
            lines += ["", f"[[{name}]]", *_dump_table(item, name + ".")]
    return lines


def dump_table(table: dict[str, Any]) -> str:
    return "\n".join(_dump_table(table, "")).strip() + "\n"


# ---------------------------------------------------------------------------
# Parsing and writing topics files


def _split_sections(text: str) -> list[list[str]] | None:
    sections: list[list[str]] = []
    for line in text.splitlines():
        if _TOPIC_HEADER.match(line):
            sections.append([])
        elif sections:
            sections[-1].append(line)
    return sections


def _definition_text(lines: list[str]) -> str | None:
    """The section's text as a standalone definition, or None when it cannot be cut safely."""
    out: list[str] = []
    in_tables = False
    for line in lines:
        sub_array = _SUB_ARRAY_HEADER.match(line)
        sub_table = _SUB_TABLE_HEADER.match(line)
        if sub_array:
            in_tables = True
            out.append(f"{sub_array.group(1)}[[{sub_array.group(2)}]]{sub_array.group(3)}")
        elif sub_table:
            in_tables = True
            out.append(f"{sub_table.group(1)}[{sub_table.group(2)}]{sub_table.group(3)}")
        elif not in_tables and _META_LINE.match(line):
            if '"""' in line or "'''" in line:
                return None
            continue
        else:
            out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n"


def _metadata(table: dict[str, Any], where: str) -> tuple[str, str, str]:
    for key in ("slug", "name"):
        if key not in table:
            raise RuleError(f"{where}: missing key {key!r}")
    slug, name, description = table["slug"], table["name"], table.get("description", "")
    for key, value in (("slug", slug), ("name", name), ("description", description)):
        if not isinstance(value, str):
            raise RuleError(f"{where}.{key}: expected a string, got {value!r}")
    if not _SLUG.fullmatch(slug):
        raise RuleError(f"{where}.slug: {slug!r} must be lower case letters, digits and '-'")
    if not name.strip():
        raise RuleError(f"{where}.name: must not be empty")
    return slug, name, description


def parse_topics_file(text: str) -> list[TopicDefinition]:
    """Parse and validate a topics file; RuleError names the topic and the mistake."""
    if not isinstance(text, str):
        raise RuleError("topics file: expected TOML text")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"topics file: invalid TOML: {exc}") from None
    except RecursionError:
        raise RuleError("topics file: invalid TOML: nested too deeply") from None
    for key in data:
        if key != "topic":
            raise RuleError(f"topics file: unknown key {key!r} (write each topic as [[topic]])")
    tables = data.get("topic", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RuleError("topics file: 'topic' must be a list of [[topic]] tables")
    sections = _split_sections(text)
    if sections is not None and len(sections) != len(tables):
        sections = None
    topics: list[TopicDefinition] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        where = f"topic[{index}]"
        slug, name, description = _metadata(table, where)
        if slug in seen:
            raise RuleError(f"{where}.slug: duplicate topic {slug!r}")
        seen.add(slug)
        rules = {k: v for k, v in table.items() if k not in _META_KEYS}
        definition = _definition_text(sections[index]) if sections is not None else None
        if definition is None or _safe_parse(definition) != rules:
            definition = dump_table(rules)  # unusual layout: write it out plainly
        try:
            compile_topic(slug, name, definition)
        except RuleError as exc:
            raise RuleError(f"{where} ({slug}): {exc}") from None
        topics.append(TopicDefinition(slug, name, description, definition))
    return topics


def _safe_parse(definition: str) -> dict[str, Any] | None:
    try:
        return parse_definition(definition)
    except RuleError:
        return None


def _prefixed(definition: str) -> str | None:
    out: list[str] = []
    for line in definition.splitlines():
        array = _ARRAY_HEADER.match(line)
        table = _TABLE_HEADER.match(line) if not array else None
        if array:
            out.append(f"{array.group(1)}[[topic.{array.group(2)}]]{array.group(3)}")
        elif table and not line.lstrip().startswith("[["):
            out.append(f"{table.group(1)}[topic.{table.group(2)}]{table.group(3)}")
        elif _META_LINE.match(line):
            return None  # would clash with the topic's own metadata
        else:
            out.append(line)
    return "\n".join(out).strip("\n")


def dump_topics(topics: list[TopicDefinition]) -> str:
    """Write topics as a topics file that ``parse_topics_file`` reads back unchanged."""
    chunks: list[str] = []
    for topic in topics:
        head = [
            "[[topic]]",
            f"slug = {_toml_value(topic.slug)}",
            f"name = {_toml_value(topic.name)}",
            f"description = {_toml_value(topic.description)}",
        ]
        body = _prefixed(topic.definition)
        rules = parse_definition(topic.definition)
        candidate = "\n".join(head) + ("\n" + body if body else "") + "\n"
        if body is None or _safe_topic(candidate) != {
            **rules,
            "slug": topic.slug,
            "name": topic.name,
            "description": topic.description,
        }:
            plain = _dump_table(rules, "topic.")
            candidate = "\n".join(head + plain) + "\n"
        chunks.append(candidate)
    return "\n".join(chunks)


def _safe_topic(chunk: str) -> dict[str, Any] | None:
    try:
        tables = tomllib.loads(chunk).get("topic")
    except tomllib.TOMLDecodeError:
        return None
    if not isinstance(tables, list) or len(tables) != 1:
        return None
    result: dict[str, Any] = tables[0]
    return result


def load_default_topics() -> list[TopicDefinition]:
    """The topics shipped with the package (``aggregator/tagging/topics.toml``)."""
    text = resources.files("aggregator.tagging").joinpath("topics.toml").read_text(encoding="utf-8")
    return parse_topics_file(text)


def compile_topics(topics: list[TopicDefinition]) -> list[CompiledTopic]:
    return [topic.compile() for topic in topics]
