"""Pure OPML reading and writing (OPML 1.0 and 2.0).

``parse_opml`` turns an OPML file into the feeds it lists, in order, with nested folders
flattened into categories joined by ``" / "``. It is all-or-nothing: a malformed file raises
:class:`~aggregator.errors.OPMLError` with the line number, so the caller imports nothing.
Outlines that cannot be subscribed to (no ``xmlUrl``, a non-http URL, a duplicate) are not
errors: they are listed in ``OpmlDocument.skipped`` with their line and the reason.

``write_opml`` writes OPML 2.0 whose import gives back exactly the same feeds (URL, title,
site URL, category, order).

Safety: OPML files come from anywhere. The reader uses the standard library's expat parser
directly and refuses any document type declaration before expat looks inside it, which is the
``forbid_dtd`` technique of defusedxml: no DTD means no entity declarations, so there is
nothing to expand ("billion laughs") and no external entity or DTD to fetch (XXE). lxml was
not used because libxml2 still expands internal entities inside attribute values even with
``resolve_entities=False``. Size, outline count and nesting depth are bounded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final
from xml.parsers import expat

from aggregator.errors import OPMLError
from aggregator.types import NewFeed
from aggregator.urls import MAX_URL_CHARS, InvalidURL, normalize_url

MAX_OPML_BYTES: Final = 16 * 1024 * 1024
MAX_OUTLINES: Final = 100_000
# Real exports nest two or three levels; anything near this is an attack or a generator bug.
MAX_FOLDER_DEPTH: Final = 50
# Any element (not only outlines) deeper than this aborts the parse: bounds the builder's stack.
MAX_ELEMENT_DEPTH: Final = MAX_FOLDER_DEPTH + 10

CATEGORY_SEPARATOR: Final = " / "
# What storage's columns hold (feeds.url/site_url 2048 characters: ``urls.MAX_URL_CHARS``,
# category 512); longer values would make PostgreSQL refuse the whole all-or-nothing import.
MAX_CATEGORY_CHARS: Final = 512
MAX_TITLE_CHARS: Final = 1024

# storage's normalize_url would quote inner spaces; in a feed URL they are a typo or a trick.
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")

# Characters XML 1.0 cannot carry at all, even as character references.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One subscribable outline."""

    url: str
    title: str | None = None
    site_url: str | None = None
    category: str | None = None

    def to_new_feed(self) -> NewFeed:
        return NewFeed(
            url=self.url, title=self.title, site_url=self.site_url, category=self.category
        )


@dataclass(frozen=True, slots=True)
class OpmlDocument:
    """What an OPML file lists: feeds in document order, and what was skipped and why."""

    feeds: list[OpmlFeed]
    skipped: list[str] = field(default_factory=list)  # "line N: reason", in document order
    title: str | None = None
    version: str | None = None
    # Feeds imported with a value dropped or shortened: "line N: what", in document order.
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Reading


@dataclass(slots=True)
class _Element:
    name: str  # lower-cased
    attributes: dict[str, str]  # names lower-cased: some readers write ``xmlurl``
    line: int
    children: list[_Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


_KEPT_ELEMENTS: Final = frozenset({"head", "title", "body", "outline"})
_IGNORED: Final = _Element(name="", attributes={}, line=0)  # stands in for skipped subtrees


class _TreeBuilder:
    """Builds a minimal tree from expat events, refusing DTDs and enforcing bounds."""

    def __init__(self, parser: expat.XMLParserType) -> None:
        self._parser = parser
        self.root: _Element | None = None
        self._stack: list[_Element] = []
        self._outline_depth = 0
        self.outline_count = 0

    def _line(self) -> int:
        return int(self._parser.CurrentLineNumber)

    def doctype(self, *_: object) -> None:
        raise OPMLError(
            "document type declarations (DTDs) are not allowed in OPML files; "
            "remove the <!DOCTYPE ...> line",
            line=self._line(),
        )

    def entity(self, *_: object) -> None:
        raise OPMLError("entity declarations are not allowed in OPML files", line=self._line())

    def start(self, name: str, attributes: dict[str, str]) -> None:
        lowered = name.lower()
        if len(self._stack) >= MAX_ELEMENT_DEPTH:
            raise OPMLError(
                f"elements nested more than {MAX_ELEMENT_DEPTH} levels deep", line=self._line()
            )
        if lowered == "outline":
            self._outline_depth += 1
            self.outline_count += 1
            if self._outline_depth > MAX_FOLDER_DEPTH:
                raise OPMLError(
                    f"outlines nested more than {MAX_FOLDER_DEPTH} levels deep; "
                    "flatten the folders and try again",
                    line=self._line(),
                )
            if self.outline_count > MAX_OUTLINES:
                raise OPMLError(
                    f"more than {MAX_OUTLINES} outlines; split the file", line=self._line()
                )
        parent = self._stack[-1] if self._stack else None
        if parent is not None and (parent is _IGNORED or lowered not in _KEPT_ELEMENTS):
            # Elements the reader never looks at are not kept: millions of tiny ones fit in
            # the size limit and would otherwise cost gigabytes.
            self._stack.append(_IGNORED)
            return
        element = _Element(
            name=lowered,
            attributes={key.lower(): value for key, value in attributes.items()},
            line=self._line(),
        )
        if parent is not None:
            parent.children.append(element)
        else:
            self.root = element
        self._stack.append(element)

    def end(self, name: str) -> None:
        element = self._stack.pop()
        if element.name == "outline":
            self._outline_depth -= 1

    def data(self, text: str) -> None:
        # Only <head> children carry text we read (the title); keep nothing else.
        if len(self._stack) >= 2 and self._stack[-2].name == "head":
            self._stack[-1].text.append(text)


def _build_tree(data: bytes) -> _Element:
    parser = expat.ParserCreate()
    builder = _TreeBuilder(parser)
    parser.StartDoctypeDeclHandler = builder.doctype
    parser.EntityDeclHandler = builder.entity
    parser.UnparsedEntityDeclHandler = builder.entity
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    # Belt and braces: even if a DTD slipped through, never read parameter entities.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise OPMLError(f"not well-formed XML: {reason}", line=exc.lineno) from exc
    except (LookupError, UnicodeError) as exc:  # an encoding Python cannot decode
        raise OPMLError(
            f"unreadable character encoding ({exc})", line=int(parser.CurrentLineNumber)
        ) from exc
    except RecursionError as exc:  # pragma: no cover - the depth bound stops us first
        raise OPMLError("document nested too deeply") from exc
    if builder.root is None:
        raise OPMLError("no root element")
    return builder.root


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def _url_key(url: str) -> tuple[str | None, str | None]:
    """(normalised URL, None) for a usable feed URL, else (None, why not)."""
    if _URL_FORBIDDEN.search(url):
        return None, "contains whitespace or control characters"
    try:
        return normalize_url(url), None
    except InvalidURL as exc:
        return None, exc.message


def _attribute_category(value: str | None) -> list[str]:
    """OPML 2.0's ``category`` attribute: comma-separated slash paths; take the first path."""
    if not value:
        return []
    first = value.split(",")[0]
    return [segment.strip() for segment in first.split("/") if segment.strip()]


def _site_url(value: str | None) -> tuple[str | None, str | None]:
    """(site URL, None), or (None, why it was dropped): it becomes a link in the web view."""
    url = _clean(value)
    if url is None:
        return None, None
    key, problem = _url_key(url)
    if key is None:
        return None, f"htmlUrl {url[:200]!r} dropped ({problem})"
    if len(url) > MAX_URL_CHARS:
        return None, f"htmlUrl dropped (longer than {MAX_URL_CHARS} characters)"
    return url, None


def _feed(outline: _Element, url: str, folders: list[str], warnings: list[str]) -> OpmlFeed:
    attributes = outline.attributes
    text = _clean(attributes.get("text"))
    # A text that merely repeats the URL (what we write for untitled feeds) is not a title.
    title = _clean(attributes.get("title")) or (text if text != url else None)
    if title is not None and len(title) > MAX_TITLE_CHARS:
        warnings.append(f"line {outline.line}: title shortened to {MAX_TITLE_CHARS} characters")
        title = title[:MAX_TITLE_CHARS].rstrip()
    site_url, problem = _site_url(attributes.get("htmlurl"))
    if problem is not None:
        warnings.append(f"line {outline.line}: {problem}")
    path = folders or _attribute_category(attributes.get("category"))
    category = CATEGORY_SEPARATOR.join(path) or None
    if category is not None and len(category) > MAX_CATEGORY_CHARS:
        # Keep the outer folders that fit: they name the category best.
        kept: list[str] = []
        for segment in path:
            if len(CATEGORY_SEPARATOR.join([*kept, segment])) > MAX_CATEGORY_CHARS:
                break
            kept.append(segment)
        if not kept:
            kept = [path[0][:MAX_CATEGORY_CHARS].rstrip()]
        category = CATEGORY_SEPARATOR.join(kept)
        warnings.append(
            f"line {outline.line}: category shortened to {len(kept)} of {len(path)} folder "
            f"names (over {MAX_CATEGORY_CHARS} characters)"
        )
    return OpmlFeed(url=url, title=title, site_url=site_url, category=category)


def _describe(outline: _Element) -> str:
    name = _clean(outline.attributes.get("title")) or _clean(outline.attributes.get("text"))
    return f"outline {name!r}" if name else "outline"


def parse_opml(data: bytes) -> OpmlDocument:
    """Read an OPML 1.0/2.0 document. Raises ``OPMLError`` (with a line) when malformed."""
    if len(data) > MAX_OPML_BYTES:
        raise OPMLError(f"file is larger than {MAX_OPML_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise OPMLError("file is empty")
    root = _build_tree(data)
    if root.name != "opml":
        raise OPMLError(
            f"not an OPML document: the root element is <{root.name}>, expected <opml>",
            line=root.line,
        )
    body = next((child for child in root.children if child.name == "body"), None)
    if body is None:
        raise OPMLError("no <body> element", line=root.line)
    head = next((child for child in root.children if child.name == "head"), None)
    title = None
    if head is not None:
        title_element = next((c for c in head.children if c.name == "title"), None)
        if title_element is not None:
            title = _clean("".join(title_element.text)[:MAX_TITLE_CHARS])

    feeds: list[OpmlFeed] = []
    skipped: list[str] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}  # URL key -> line of first occurrence

    def visit(outline: _Element, folders: list[str]) -> None:
        attributes = outline.attributes
        outlines = [child for child in outline.children if child.name == "outline"]
        raw_url = attributes.get("xmlurl")
        if raw_url is None or not raw_url.strip():
            if outlines:
                name = _clean(attributes.get("title")) or _clean(attributes.get("text"))
                # A folder without a name adds no level rather than an empty category segment.
                inner = [*folders, name] if name else folders
                for child in outlines:
                    visit(child, inner)
            else:
                skipped.append(f"line {outline.line}: {_describe(outline)} has no xmlUrl; skipped")
            return
        url = raw_url.strip()
        # The same normalisation storage uses, so "duplicate" means the same thing there.
        key, problem = _url_key(url)  # refuses URLs longer than storage keeps
        if key is None:
            skipped.append(f"line {outline.line}: invalid feed URL {url!r} ({problem}); skipped")
        else:
            if key in seen:
                skipped.append(
                    f"line {outline.line}: duplicate of the feed on line {seen[key]} ({url}); skipped"
                )
            else:
                seen[key] = outline.line
                feeds.append(_feed(outline, url, folders, warnings))
        # A feed outline with children is unusual; its children belong to the same folder.
        for child in outlines:
            visit(child, folders)

    for child in body.children:
        if child.name == "outline":
            visit(child, [])
    return OpmlDocument(
        feeds=feeds,
        skipped=skipped,
        title=title,
        version=root.attributes.get("version"),
        warnings=warnings,
    )


# ---------------------------------------------------------------------------
# Writing


def category_path(category: str | None) -> list[str]:
    """Folder names for a category: split on ``" / "``, trimmed, empty segments dropped."""
    if not category:
        return []
    return [
        segment
        for segment in (
            _XML_INVALID.sub("", part).strip() for part in category.split(CATEGORY_SEPARATOR)
        )
        if segment
    ]


def normalize_category(category: str | None) -> str | None:
    """The category an export of ``category`` reads back as."""
    return CATEGORY_SEPARATOR.join(category_path(category)) or None


def _attribute(value: str) -> str:
    value = _XML_INVALID.sub("", value)
    # Whitespace characters are escaped so attribute-value normalisation cannot change them.
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def _text(value: str) -> str:
    value = _XML_INVALID.sub("", value)
    # A raw CR would be read back as LF (XML end-of-line handling).
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def write_opml(feeds: Sequence[OpmlFeed], title: str, now: datetime) -> bytes:
    """OPML 2.0 with categories as nested folders, feeds in the given order.

    Consecutive feeds of one category share a folder; a category that comes back later gets
    its folder again, so importing the result gives the same feeds in the same order.
    """
    created = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{format_datetime(created, usegmt=True)}</dateCreated>",
        "    <docs>http://opml.org/spec2.opml</docs>",
        "  </head>",
        "  <body>",
    ]
    open_folders: list[str] = []
    for feed in feeds:
        path = category_path(feed.category)
        common = 0
        while common < min(len(path), len(open_folders)) and path[common] == open_folders[common]:
            common += 1
        while len(open_folders) > common:
            open_folders.pop()
            lines.append("  " * (len(open_folders) + 2) + "</outline>")
        for name in path[common:]:
            indent = "  " * (len(open_folders) + 2)
            lines.append(f'{indent}<outline text="{_attribute(name)}" title="{_attribute(name)}">')
            open_folders.append(name)
        attributes = ['type="rss"']
        feed_title = _clean(feed.title)
        if feed_title is not None:
            attributes += [f'text="{_attribute(feed_title)}"', f'title="{_attribute(feed_title)}"']
        else:
            attributes.append(f'text="{_attribute(feed.url)}"')  # OPML 2.0 requires text
        attributes.append(f'xmlUrl="{_attribute(feed.url)}"')
        site_url = _clean(feed.site_url)
        if site_url is not None:
            attributes.append(f'htmlUrl="{_attribute(site_url)}"')
        lines.append("  " * (len(open_folders) + 2) + f"<outline {' '.join(attributes)}/>")
    while open_folders:
        open_folders.pop()
        lines.append("  " * (len(open_folders) + 2) + "</outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")
