"""Find every term of a topic in one pass over the text.

An Aho-Corasick automaton (``ahocorasick_rs``) finds each term's literal start in linear time;
Python then keeps whole words only, extends wildcards with a small anchored regex, and picks
leftmost-longest, non-overlapping spans: a longer phrase hides the words inside it. This is
several times faster than one big regex alternation, which tries every position of the text.
``regex_spans`` is the same semantics as one regular expression, kept as the reference that
tests compare the fast path against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

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
        """Per term set, its spans in ``text`` (lower-cased and passed through ``scan_text``)."""
        length = len(text)
        # (start, -end) per set: a plain sort then puts the longest match first.
        found: list[list[tuple[int, int]]] = [[] for _ in range(self._sets)]
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
                        found[slot].append((start, -end))
                    continue
                best = -1
                for pattern in patterns:
                    if pattern is None:
                        if ends_word:
                            best = max(best, end)
                    else:
                        extended = pattern.match(text, start)
                        if extended is not None:
                            best = max(best, extended.end())
                if best > start:
                    found[slot].append((start, -best))
        return [_leftmost_longest(spans) for spans in found]


def _leftmost_longest(found: list[tuple[int, int]]) -> list[tuple[int, int]]:
    found.sort()
    spans: list[tuple[int, int]] = []
    last_end = -1
    for start, negative_end in found:
        if start >= last_end:
            last_end = -negative_end
            spans.append((start, last_end))
    return spans


class TermScanner:
    """Leftmost-longest, whole-word spans of one set of terms (one topic)."""

    __slots__ = ("_scanner", "terms")

    def __init__(self, terms: Iterable[TermSpec]) -> None:
        self.terms = tuple(terms)
        self._scanner = MultiScanner([self.terms])

    def spans(self, text: str) -> list[tuple[int, int]]:
        return self._scanner.spans(text)[0]


def _trie_regex(atom_lists: Iterable[tuple[str, ...]]) -> str:
    root: dict[str, Any] = {}
    for atoms in atom_lists:
        node = root
        for atom in atoms:
            node = node.setdefault(atom, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        # Literal characters first, wildcards last: the longer, more specific term wins.
        children = sorted((a for a in node if a), key=lambda a: (a == r"\w*", a == r"\s+", a))
        alternatives = [atom + render(node[atom]) for atom in children]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return render(root)


def regex_spans(terms: Iterable[TermSpec], text: str) -> list[tuple[int, int]]:
    """Reference implementation of ``TermScanner.spans`` as one regular expression."""
    atom_lists = sorted((t.pattern_atoms for t in terms), key=len, reverse=True)
    scanner = re.compile(r"(?<!\w)(?:" + _trie_regex(atom_lists) + r")(?!\w)")
    return [m.span() for m in scanner.finditer(text)]
