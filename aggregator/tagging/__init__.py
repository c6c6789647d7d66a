"""Topic tagging: a rule language, a compiled matcher with explanations, and topics files.

Pure: no I/O beyond reading the shipped ``topics.toml``. Typical use::

    topics = compile_topics(load_default_topics())
    for result in match_all(topics, TaggableDocument(title=..., body=...)):
        print(result.topic_slug, result.matched, result.score, result.explanation)
"""

from __future__ import annotations

from aggregator.tagging.compiler import CompiledRulePart, CompiledTopic, compile_topic
from aggregator.tagging.document import PreparedDocument, TaggableDocument, prepare
from aggregator.tagging.matcher import MatchResult, PreviewResult, match, match_all, preview
from aggregator.tagging.quality import (
    DecisionRecord,
    RulePartQuality,
    fired_rule_parts,
    rule_part_quality,
)
from aggregator.tagging.topics import (
    TopicDefinition,
    compile_topics,
    dump_topics,
    load_default_topics,
    parse_topics_file,
)

__all__ = [
    "CompiledRulePart",
    "CompiledTopic",
    "DecisionRecord",
    "MatchResult",
    "PreparedDocument",
    "PreviewResult",
    "RulePartQuality",
    "TaggableDocument",
    "TopicDefinition",
    "compile_topic",
    "compile_topics",
    "dump_topics",
    "fired_rule_parts",
    "load_default_topics",
    "match",
    "match_all",
    "parse_topics_file",
    "prepare",
    "preview",
    "rule_part_quality",
]
