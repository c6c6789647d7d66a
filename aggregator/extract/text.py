"""Plain text from (sanitized) article HTML: one paragraph per block, blank lines between."""

from __future__ import annotations

import re

import lxml.html
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


def html_to_paragraphs(html: str) -> list[str]:
    if not html.strip():
        return []
    return paragraphs(lxml.html.fragment_fromstring(html, create_parent="div"))


def join_paragraphs(parts: list[str]) -> str:
    """Blank lines between paragraphs; consecutive list items stay on adjacent lines."""
    text = ""
    for index, part in enumerate(parts):
        if index:
            both_items = part.startswith("- ") and parts[index - 1].startswith("- ")
            text += "\n" if both_items else "\n\n"
        text += part
    return text
