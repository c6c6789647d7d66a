"""The tagging stage of the pipeline: topics from storage, compiled once per version, and
matched against an entry's text. Matching itself is pure (``aggregator.tagging``)."""

from __future__ import annotations

import logging
from datetime import datetime

from aggregator import storage
from aggregator.errors import RuleError
from aggregator.storage import Database
from aggregator.tagging import CompiledTopic, TaggableDocument, compile_topic, match_all
from aggregator.types import MatchOrigin, MatchState, Topic, TopicMatch

log = logging.getLogger("aggregator.tagger")


class Tagger:
    """Compiled topics keyed by slug; recompiled only when a topic's version changes."""

    def __init__(self) -> None:
        self._compiled: dict[str, tuple[int, CompiledTopic]] = {}

    async def refresh(self, db: Database) -> None:
        self.load(await storage.list_topics(db))

    def load(self, topics: list[Topic]) -> None:
        compiled: dict[str, tuple[int, CompiledTopic]] = {}
        for topic in topics:
            cached = self._compiled.get(topic.slug)
            if cached is not None and cached[0] == topic.version:
                compiled[topic.slug] = cached
                continue
            try:
                compiled[topic.slug] = (
                    topic.version,
                    compile_topic(topic.slug, topic.name, topic.definition),
                )
            except RuleError as exc:
                # A stored definition was validated when saved; an old one that no longer
                # compiles must not stop tagging for the other topics.
                log.error("topic %s does not compile and is skipped: %s", topic.slug, exc)
        self._compiled = compiled

    @property
    def slugs(self) -> list[str]:
        return sorted(self._compiled)

    def tag_document(
        self, document: TaggableDocument, *, entry_id: int, now: datetime
    ) -> list[TopicMatch]:
        """The rule matches of every loaded topic that matches ``document``."""
        topics = [compiled for _, compiled in self._compiled.values()]
        matches = []
        for result in match_all(topics, document):
            if not result.matched:
                continue
            version = self._compiled[result.topic_slug][0]
            matches.append(
                TopicMatch(
                    entry_id=entry_id,
                    topic_slug=result.topic_slug,
                    score=result.score,
                    explanation=result.explanation,
                    origin=MatchOrigin.RULE,
                    state=MatchState.AUTO,
                    topic_version=version,
                    matched_at=now,
                )
            )
        return matches
