"""Search-term highlighting for result pages: plain text in, escaped HTML with ``<mark>`` out.

Every piece of the text is escaped; the only markup in the result is the ``<mark>`` and
``</mark>`` this module writes itself, so neither the query nor the feed can inject any.
Matching runs over the plain text (not over escaped text), so a query word such as ``lt`` or
``amp`` can never split a character reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup, escape

MAX_WORDS = 32
_WORD = re.compile(r"\w+")


def query_words(query: str) -> tuple[str, ...]:
    """The words of a search query (the same notion of a word as the search itself), each
    once regardless of case, at most ``MAX_WORDS``."""
    seen: dict[str, str] = {}
    for word in _WORD.findall(query):
        seen.setdefault(word.casefold(), word)
    return tuple(seen.values())[:MAX_WORDS]


def highlighter(query: str) -> Callable[[str | None], Markup]:
    """A function that escapes a text and wraps whole-word, case-insensitive matches of the
    query's words in ``<mark>``."""
    words = query_words(query)
    if not words:
        return lambda text: escape(text or "")
    # Longest first, so a word that starts another one never takes its place.
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def highlight(text: str | None) -> Markup:
        if not text:
            return Markup("")
        parts: list[str] = []
        position = 0
        for found in pattern.finditer(text):
            parts.append(escape(text[position : found.start()]))
            parts.append(Markup("<mark>%s</mark>") % found.group())
            position = found.end()
        parts.append(escape(text[position:]))
        return Markup("").join(parts)

    return highlight
