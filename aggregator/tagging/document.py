"""Documents as the matcher sees them: fields, paragraphs and sentences of plain text."""

from __future__ import annotations

import re
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
    return re.compile(
        r"[.!?](?<!\b[^\W\d_]\.)" + not_abbreviation + r"[.!?]*[\"'”’)\]]*[ \t]+(?![a-z])"
    )


# A sentence ends at . ! or ? (and a closing quote or bracket) followed by a space and no
# lower-case letter; a line break always ends a paragraph and so a sentence.
_SENTENCE_END = _sentence_end_regex()
_PARAGRAPH_BREAK = re.compile(r"\n\s*")


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


def _sentence_starts(text: str, paragraph_starts: list[int]) -> list[int]:
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
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
        "document",
        "text",
        "text_lower",
        "title",
        "title_lower",
    )

    def __init__(self, document: TaggableDocument) -> None:
        self.document = document
        self.title = " ".join((document.title or "").split())
        self.title_lower = scan_text(_lower(self.title))
        body = document.body if document.body and document.body.strip() else document.summary
        self.text = body or ""
        self.text_lower = scan_text(_lower(self.text))
        self._paragraph_starts: list[int] | None = None
        self._sentence_starts: list[int] | None = None

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


def prepare(document: TaggableDocument | PreparedDocument) -> PreparedDocument:
    return document if isinstance(document, PreparedDocument) else PreparedDocument(document)
