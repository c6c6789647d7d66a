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
from collections.abc import Iterable
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


class TermScanner:
    """Leftmost-longest, whole-word spans of a set of terms in lower-cased text."""

    __slots__ = ("_automaton", "_wildcards")

    def __init__(self, terms: Iterable[TermSpec]) -> None:
        candidates: dict[str, list[re.Pattern[str] | None]] = {}
        for term in terms:
            text = " ".join(term.words).lower()
            star = text.find("*")
            if star < 0:
                candidates.setdefault(text, [])
                if None not in candidates[text]:
                    candidates[text].append(None)  # a literal: the keyword is the whole term
            else:
                pattern = re.compile(_term_regex(term) + r"(?!\w)")
                candidates.setdefault(text[:star], []).append(pattern)
        keywords = list(candidates)
        # None for a keyword that is only a literal term, else the candidates to try.
        self._wildcards: list[list[re.Pattern[str] | None] | None] = [
            None if candidates[keyword] == [None] else candidates[keyword] for keyword in keywords
        ]
        self._automaton = ahocorasick_rs.AhoCorasick(
            keywords, matchkind=ahocorasick_rs.MatchKind.Standard
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of terms in ``text`` (lower-cased and passed through ``scan_text``)."""
        length = len(text)
        found: list[tuple[int, int]] = []  # (start, -end): a plain sort puts longest first
        append = found.append
        wildcards = self._wildcards
        # The hot path of tagging: word-boundary checks are inlined on purpose.
        for index, start, end in self._automaton.find_matches_as_indexes(text, overlapping=True):
            if start:
                before = text[start - 1]
                if before.isalnum() or before == "_":
                    continue  # inside a word
            patterns = wildcards[index]
            if patterns is None:  # a literal term: it must end where a word ends
                if end == length or not (text[end].isalnum() or text[end] == "_"):
                    append((start, -end))
                continue
            best = -1
            for pattern in patterns:
                if pattern is None:
                    if end == length or not (text[end].isalnum() or text[end] == "_"):
                        best = max(best, end)
                else:
                    extended = pattern.match(text, start)
                    if extended is not None:
                        best = max(best, extended.end())
            if best > start:
                append((start, -best))
        if len(found) < 2:
            return [(start, -negative_end) for start, negative_end in found]
        found.sort()
        spans: list[tuple[int, int]] = []
        last_end = -1
        for start, negative_end in found:
            if start >= last_end:
                last_end = -negative_end
                spans.append((start, last_end))
        return spans


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
