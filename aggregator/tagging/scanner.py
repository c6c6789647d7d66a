"""Find every term of a topic in one pass over the text.

An Aho-Corasick automaton (``ahocorasick_rs``) finds each term's literal start in linear time;
Python then keeps whole words only and extends wildcards with a small anchored regex. Every
occurrence of every term is reported, overlapping ones too ("White House" and "House"); the
matcher decides what hides what (ignore phrases). This is several times faster than a regex
alternation, which tries every position of the text. ``regex_spans`` is the same semantics
with one regular expression per term, kept as the reference the tests compare against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import ahocorasick_rs

from aggregator.tagging.language import TermSpec

# Whitespace that may sit between the words of a phrase, read as a plain space when scanning.
_SPACE_LIKE = ("\n", "\r", "\t", "\xa0")


def scan_text(lower: str) -> str:
    """The lower-cased text as scanners read it (same length, so offsets still apply)."""
    for char in _SPACE_LIKE:
        if char in lower:
            lower = lower.replace(char, " ")
    return lower


def _term_regex(term: TermSpec) -> str:
    return "".join(term.pattern_atoms)


Candidates = list[re.Pattern[str] | None]  # None: the keyword is a whole literal term


def _candidates(terms: Iterable[TermSpec]) -> dict[str, Candidates]:
    """Keyword (a term's text up to its first wildcard) -> what may match from there."""
    candidates: dict[str, Candidates] = {}
    for term in terms:
        text = " ".join(term.words).lower()
        star = text.find("*")
        if star < 0:
            entry = candidates.setdefault(text, [])
            if None not in entry:
                entry.append(None)
        else:
            pattern = re.compile(_term_regex(term) + r"(?!\w)")
            candidates.setdefault(text[:star], []).append(pattern)
    return candidates


class MultiScanner:
    """Leftmost-longest, whole-word spans of several term sets in one pass over the text.

    Each set (a topic's terms) gets the spans it would get alone: the automaton reports
    every occurrence of every keyword (overlapping), and each set picks among its own.
    """

    __slots__ = ("_automaton", "_sets", "_targets")

    def __init__(self, term_sets: Sequence[Iterable[TermSpec]]) -> None:
        self._sets = len(term_sets)
        targets: dict[str, list[tuple[int, Candidates | None]]] = {}
        for slot, terms in enumerate(term_sets):
            for keyword, candidates in _candidates(terms).items():
                # None for a keyword that is only a literal term: the fast path.
                targets.setdefault(keyword, []).append(
                    (slot, None if candidates == [None] else candidates)
                )
        keywords = list(targets)
        self._targets = [targets[keyword] for keyword in keywords]
        self._automaton = ahocorasick_rs.AhoCorasick(
            keywords, matchkind=ahocorasick_rs.MatchKind.Standard
        )

    def spans(self, text: str) -> list[list[tuple[int, int]]]:
        """Per term set, every (start, end) of its terms in ``text`` (lower-cased and passed
        through ``scan_text``), ordered by start, longest first."""
        length = len(text)
        found: list[set[tuple[int, int]]] = [set() for _ in range(self._sets)]
        targets = self._targets
        # The hot path of tagging: word-boundary checks are inlined on purpose.
        for index, start, end in self._automaton.find_matches_as_indexes(text, overlapping=True):
            if start:
                before = text[start - 1]
                if before.isalnum() or before == "_":
                    continue  # inside a word
            ends_word = end == length or not (text[end].isalnum() or text[end] == "_")
            for slot, patterns in targets[index]:
                if patterns is None:
                    if ends_word:
                        found[slot].add((start, -end))
                    continue
                for pattern in patterns:
                    if pattern is None:
                        if ends_word:
                            found[slot].add((start, -end))
                    else:
                        extended = pattern.match(text, start)
                        if extended is not None:
                            found[slot].add((start, -extended.end()))
        # Stored as (start, -end) so a plain tuple sort puts the longest first at each start.
        return [[(start, -end) for start, end in sorted(spans)] for spans in found]


def _by_start_longest_first(span: tuple[int, int]) -> tuple[int, int]:
    return span[0], -span[1]


class TermScanner:
    """Leftmost-longest, whole-word spans of one set of terms (one topic)."""

    __slots__ = ("_scanner", "terms")

    def __init__(self, terms: Iterable[TermSpec]) -> None:
        self.terms = tuple(terms)
        self._scanner = MultiScanner([self.terms])

    def spans(self, text: str) -> list[tuple[int, int]]:
        return self._scanner.spans(text)[0]


def regex_spans(terms: Iterable[TermSpec], text: str) -> list[tuple[int, int]]:
    """Reference implementation of ``TermScanner.spans``: one regular expression per term."""
    found: set[tuple[int, int]] = set()
    for term in terms:
        pattern = re.compile(r"(?<!\w)(?=(" + _term_regex(term) + r")(?!\w))")
        found.update(match.span(1) for match in pattern.finditer(text))
    return sorted(found, key=_by_start_longest_first)
