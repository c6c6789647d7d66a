"""Per-rule-part quality from curator decisions: which part of a rule misfires. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aggregator.types import MatchState


class Decision(Protocol):
    """Anything with the fired rule parts and the curator state (storage's quality rows)."""

    @property
    def fired_parts(self) -> Sequence[str]: ...

    @property
    def state(self) -> MatchState | str: ...


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One rule-made match and what curators did with it."""

    fired_parts: Sequence[str]  # ids of the rule parts that fired (MatchResult.fired)
    state: MatchState | str


@dataclass(frozen=True, slots=True)
class RulePartQuality:
    rule_part: str
    approved: int = 0  # approved or pinned by a curator
    hidden: int = 0
    undecided: int = 0  # still an automatic match

    @property
    def decided(self) -> int:
        return self.approved + self.hidden

    @property
    def precision(self) -> float | None:
        """Share of curator-reviewed matches that were kept; None before any review."""
        return self.approved / self.decided if self.decided else None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_part": self.rule_part,
            "approved": self.approved,
            "hidden": self.hidden,
            "undecided": self.undecided,
            "precision": self.precision,
        }


def fired_rule_parts(explanation: dict[str, Any]) -> tuple[str, ...]:
    """The rule parts recorded in a stored explanation (``MatchResult.explanation``)."""
    fired = explanation.get("fired", [])
    return tuple(part for part in fired if isinstance(part, str)) if isinstance(fired, list) else ()


def rule_part_quality(decisions: Iterable[Decision]) -> dict[str, RulePartQuality]:
    """Count approved / hidden / undecided matches per rule part that fired on them."""
    counts: dict[str, list[int]] = {}
    for decision in decisions:
        state = MatchState(decision.state)
        column = {MatchState.APPROVED: 0, MatchState.PINNED: 0, MatchState.HIDDEN: 1}.get(state, 2)
        for part in dict.fromkeys(decision.fired_parts):
            counts.setdefault(part, [0, 0, 0])[column] += 1
    return {
        part: RulePartQuality(part, approved, hidden, undecided)
        for part, (approved, hidden, undecided) in sorted(counts.items())
    }
