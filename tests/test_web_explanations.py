"""Why an article is in a topic, as the article and review pages show it."""

from __future__ import annotations

from datetime import UTC, datetime

from aggregator.tagging import TaggableDocument, load_default_topics, match
from aggregator.types import MatchOrigin, MatchState, TopicMatch
from web.reader import explanation_lines


def us_iran_match(state: MatchState = MatchState.AUTO, **kw: object) -> TopicMatch:
    topic = next(t for t in load_default_topics() if t.slug == "us-iran").compile()
    result = match(
        topic,
        TaggableDocument(
            title="U.S. and Iran resume nuclear talks in Oman",
            body="Washington and Tehran resumed indirect talks on the nuclear program.",
        ),
    )
    assert result.matched
    return TopicMatch(
        entry_id=1,
        topic_slug="us-iran",
        score=result.score,
        explanation=result.explanation,
        origin=MatchOrigin.RULE,
        state=state,
        topic_version=1,
        **kw,  # type: ignore[arg-type]
    )


def test_rule_parts_are_named_with_contribution_terms_and_snippet() -> None:
    lines = explanation_lines(us_iran_match())
    assert lines[0].startswith("Score ") and "(threshold 8)" in lines[0]
    headline = next(line for line in lines if line.startswith("headline-us-iran"))
    assert "(+" in headline and "Iran" in headline and "in title" in headline
    assert "“U.S. and Iran resume nuclear talks in Oman”" in headline
    assert not any(line.lstrip().startswith("{") for line in lines)  # no raw JSON


def test_curator_decisions_say_who_and_when() -> None:
    when = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    lines = explanation_lines(us_iran_match(MatchState.PINNED, decided_by="dana", decided_at=when))
    assert lines[0] == "Pinned by dana on 2026-11-02 09:30 UTC."
    by_hand = TopicMatch(
        entry_id=1,
        topic_slug="us-iran",
        score=0.0,
        explanation={},
        origin=MatchOrigin.CURATOR,
        state=MatchState.APPROVED,
        topic_version=1,
        decided_by="lee",
        decided_at=when,
    )
    assert explanation_lines(by_hand) == ["Added by hand by lee on 2026-11-02 09:30 UTC."]
