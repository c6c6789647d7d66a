"""Plain text from (sanitized) article HTML: one paragraph per block, blank lines between."""

from __future__ import annotations

import re

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

# Elements that start a new paragraph in the plain text.
BLOCK_TAGS: frozenset[str] = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "li",
     "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "figure", "figcaption",
     "section", "article", "main", "header", "footer", "aside", "nav", "address", "hr",
     "details", "summary", "caption", "body", "html"}
)  # fmt: skip

_SPACE_RE = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_CJK_OR_WORD_RE = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]|[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+"
)


# Characters XML (and so lxml) refuses: C0 controls but tab/newline/CR, surrogates, non-characters.
_NOT_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML_RE.sub("", text)


def count_words(text: str) -> int:
    """Words, counting each Chinese/Japanese character as one (those scripts use no spaces)."""
    return len(_CJK_OR_WORD_RE.findall(text))


class _Paragraphs:
    def __init__(self) -> None:
        self.done: list[str] = []
        self.current: list[str] = []
        self.prefix = ""

    def add(self, text: str | None) -> None:
        if text:
            self.current.append(text)

    def line_break(self) -> None:
        self.current.append("\n")

    def close(self, prefix: str = "") -> None:
        lines = [_SPACE_RE.sub(" ", line).strip() for line in "".join(self.current).split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            self.done.append(self.prefix + text)
        self.current = []
        self.prefix = prefix


def _flow(text: str | None, preformatted: bool) -> str | None:
    """Source line breaks are spaces in HTML, except inside <pre>."""
    if not text or preformatted:
        return text
    return text.replace("\n", " ")


def _walk(element: HtmlElement, out: _Paragraphs, preformatted: bool = False) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in ("script", "style", "template"):
        out.add(_flow(element.tail, preformatted))
        return
    block = tag in BLOCK_TAGS
    if block:
        out.close("- " if tag == "li" else "")
    elif tag == "br":
        out.line_break()
    inner_preformatted = preformatted or tag == "pre"
    out.add(_flow(element.text, inner_preformatted))
    for child in element:
        _walk(child, out, inner_preformatted)
    if block:
        out.close()
    elif tag in ("td", "th"):
        out.add(" ")
    out.add(_flow(element.tail, preformatted))


def paragraphs(root: HtmlElement) -> list[str]:
    """The text of each block element under ``root``, whitespace-normalised, in order."""
    out = _Paragraphs()
    _walk(root, out)
    out.close()
    return out.done


def parse_fragment(html: str) -> HtmlElement:
    """A <body> element holding the HTML fragment; odd markup never raises."""
    try:
        document = lxml.html.document_fromstring(f"<html><body>{xml_safe(html)}</body></html>")
    except (ValueError, etree.LxmlError):
        document = None
    body = document.find("body") if document is not None else None
    return body if body is not None else lxml.html.Element("body")


def html_to_paragraphs(html: str) -> list[str]:
    if not html.strip():
        return []
    return paragraphs(parse_fragment(html))


def join_paragraphs(parts: list[str]) -> str:
    """Blank lines between paragraphs; consecutive list items stay on adjacent lines."""
    text = ""
    for index, part in enumerate(parts):
        if index:
            both_items = part.startswith("- ") and parts[index - 1].startswith("- ")
            text += "\n" if both_items else "\n\n"
        text += part
    return text


# Scripts that name their language well enough to label an undeclared page; Latin and Cyrillic
# are shared by too many languages to guess from the script alone.
_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
)
_PERSIAN_LETTERS_RE = re.compile(r"[\u067e\u0686\u0698\u06af]")  # پ چ ژ گ: not in Arabic
_SCRIPT_SHARE = 0.3  # of the letters in the text


def guess_language(text: str) -> str | None:
    """The language of ``text`` when its script names one (ja, ko, zh, fa, ar, he, el, th)."""
    sample = text[:5000]
    letters = sum(1 for char in sample if char.isalpha())
    if not letters:
        return None
    if len(_KANA_RE.findall(sample)) >= 0.1 * letters:
        return "ja"  # Japanese mixes kana with han
    for language, script in _SCRIPTS:
        if len(script.findall(sample)) >= _SCRIPT_SHARE * letters:
            if language == "ar" and len(_PERSIAN_LETTERS_RE.findall(sample)) >= 0.01 * letters:
                return "fa"
            return language
    return None
