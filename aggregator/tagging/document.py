"""Documents as the matcher sees them: fields, paragraphs and sentences of plain text."""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from aggregator.tagging.scanner import scan_text

# Words before a period that do not end a sentence (titles, months, company suffixes).
_ABBREVIATIONS = [
    "Mr",
    "Mrs",
    "Ms",
    "Dr",
    "Gen",
    "Sen",
    "Rep",
    "Gov",
    "St",
    "Jr",
    "Sr",
    "Lt",
    "Col",
    "Capt",
    "Sgt",
    "Adm",
    "Cmdr",
    "Maj",
    "Prof",
    "Rev",
    "Hon",
    "Inc",
    "Corp",
    "Co",
    "Ltd",
    "No",
    "Vs",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Sept",
    "Oct",
    "Nov",
    "Dec",
    "Ft",
    "Mt",
]


def _sentence_end_regex() -> re.Pattern[str]:
    # One regex, so splitting costs no Python work per candidate: a lookbehind per word
    # length (lookbehinds must be fixed-width) rules out abbreviations and initials (U.S.).
    by_length: dict[int, list[str]] = {}
    for word in _ABBREVIATIONS:
        by_length.setdefault(len(word), []).append(word)
    not_abbreviation = "".join(
        rf"(?<!\b(?i:{'|'.join(words)})\.)" for _, words in sorted(by_length.items())
    )
    return re.compile(r"[.!?](?<!\b[^\W\d_]\.)" + not_abbreviation)


# A sentence ends at . ! or ? (and a closing quote or bracket) followed by a space and no
# lower-case letter; a line break always ends a paragraph and so a sentence.
# Two steps keep this linear on any text: _END_RUN finds a run of end marks (tried only where
# a run starts, read possessively) with what must follow it; _END_MARK then picks the first
# mark of the run that does not close an abbreviation. One regex doing both retried every mark
# of a run that fails, which is quadratic in the run ("!!!!..." without a space).
_END_MARK = _sentence_end_regex()
_END_RUN = re.compile(r"[.!?](?<![.!?][.!?])[.!?]*+[\"'”’)\]]*+[ \t]+(?![a-z])")
_END_MARKS = frozenset(".!?")
_PARAGRAPH_BREAK = re.compile(r"\n\s*")

# What tagging reads of a document: the first MAX_TEXT_CHARS characters of its text and the
# first MAX_TITLE_CHARS of its title (cut at a space near the limit when there is one).
MAX_TEXT_CHARS = 100_000
MAX_TITLE_CHARS = 1_000
_CUT_WINDOW = 200  # how far back from the limit a space is looked for
_WORD = re.compile(r"\w+")
_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class TaggableDocument:
    """What tagging reads: plain text only. ``body`` (extracted text) wins over ``summary``."""

    title: str | None = None
    summary: str | None = None
    body: str | None = None
    id: str | int | None = None  # the caller's key, echoed in previews


def _lower(text: str) -> str:
    # "İ".lower() is two characters; keep offsets in the lower-cased copy aligned.
    if "İ" in text:
        text = text.replace("İ", "I")
    return text.lower()


def _sentence_ends(text: str) -> list[int]:
    """Where sentences end (the offset after the mark, closing quotes and spaces)."""
    ends: list[int] = []
    marks = _END_MARKS
    for run in _END_RUN.finditer(text):
        position = run.start()
        while text[position] in marks:
            if _END_MARK.match(text, position):
                ends.append(run.end())
                break
            position += 1
    return ends


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a space near the limit if any."""
    if len(text) <= limit:
        return text
    window_start = max(0, limit - _CUT_WINDOW)
    space = max(text.rfind(char, window_start, limit + 1) for char in " \n\t\r")
    return text[: space if space > 0 else limit]


def _sentence_starts(text: str, paragraph_starts: list[int]) -> list[int]:
    ends = _sentence_ends(text)
    if not ends:
        return list(paragraph_starts)
    return sorted({*paragraph_starts, *ends} - {len(text)})


class PreparedDocument:
    """A document split once into fields and units; shared by every topic that matches it.

    Offsets index ``text`` (and ``text_lower``, which has the same length).
    The lead is the first ``lead_sentences`` sentences of the text.
    """

    __slots__ = (
        "_paragraph_starts",
        "_sentence_starts",
        "_text_words",
        "_title_words",
        "document",
        "text",
        "text_lower",
        "title",
        "title_lower",
    )

    def __init__(self, document: TaggableDocument) -> None:
        self.document = document
        self.title = " ".join(cap_text(document.title or "", MAX_TITLE_CHARS).split())
        self.title_lower = scan_text(_lower(self.title))
        body = document.body if document.body and document.body.strip() else document.summary
        self.text = cap_text(body or "", MAX_TEXT_CHARS)
        self.text_lower = scan_text(_lower(self.text))
        self._paragraph_starts: list[int] | None = None
        self._sentence_starts: list[int] | None = None
        self._title_words: WordIndex | None = None
        self._text_words: WordIndex | None = None

    @property
    def paragraph_starts(self) -> list[int]:
        if self._paragraph_starts is None:
            starts = [0, *[m.end() for m in _PARAGRAPH_BREAK.finditer(self.text)]]
            if len(starts) > 1 and starts[-1] >= len(self.text):
                starts.pop()  # trailing line breaks start no paragraph
            self._paragraph_starts = starts
        return self._paragraph_starts

    @property
    def sentence_starts(self) -> list[int]:
        if self._sentence_starts is None:
            self._sentence_starts = _sentence_starts(self.text, self.paragraph_starts)
        return self._sentence_starts

    def lead_end(self, lead_sentences: int) -> int:
        """Offset where the lead ends (the start of sentence number ``lead_sentences``)."""
        starts = self.sentence_starts
        return starts[lead_sentences] if lead_sentences < len(starts) else len(self.text)

    def unit_span(self, index: int, scope: str) -> tuple[int, int]:
        starts = self.sentence_starts if scope == "sentence" else self.paragraph_starts
        end = starts[index + 1] if index + 1 < len(starts) else len(self.text)
        return starts[index], end

    def unit_count(self, scope: str) -> int:
        if not self.text.strip():
            return 0
        return len(self.sentence_starts if scope == "sentence" else self.paragraph_starts)

    def field_lower(self, in_title: bool) -> str:
        return self.title_lower if in_title else self.text_lower

    def words(self, in_title: bool) -> WordIndex:
        """The word index of the title or the text (built on first use)."""
        if in_title:
            if self._title_words is None:
                self._title_words = WordIndex(self.title_lower)
            return self._title_words
        if self._text_words is None:
            self._text_words = WordIndex(self.text_lower)
        return self._text_words


class WordIndex:
    """Where the words (``\\w+`` runs) of a text start, to count the words between two
    offsets in O(log n) instead of reading the text between them."""

    __slots__ = ("_starts", "_text", "lookups")

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts = [m.start() for m in _WORD.finditer(text)]
        self.lookups = 0  # how many offsets were looked up (tests bound the work with it)

    def before(self, offset: int) -> int:
        """How many words start before ``offset``."""
        self.lookups += 1
        return bisect_left(self._starts, offset)

    def after_end(self, offset: int) -> int:
        """The word number from which words are counted after a hit ending at ``offset``:
        ``between(start, end) == before(end) - after_end(start)``. A word cut by ``offset``
        counts as a word of its own, as when the text between is read by itself."""
        self.lookups += 1
        count = bisect_left(self._starts, offset)
        if (
            offset < len(self._text)
            and _WORD_CHAR.match(self._text, offset)
            and (count == len(self._starts) or self._starts[count] != offset)
        ):
            return count - 1
        return count

    def between(self, start: int, end: int) -> int:
        """How many words the text ``text[start:end]`` holds (0 when ``end <= start``)."""
        if end <= start:
            return 0
        return self.before(end) - self.after_end(start)


def words_between(text: str, start: int, end: int) -> int:
    """``WordIndex(text).between(start, end)`` without an index: reads the text between."""
    return len(_WORD.findall(text, start, end)) if end > start else 0


def prepare(document: TaggableDocument | PreparedDocument) -> PreparedDocument:
    return document if isinstance(document, PreparedDocument) else PreparedDocument(document)
