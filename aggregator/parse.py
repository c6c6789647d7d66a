"""Feed documents (bytes) -> ``FeedData``: the only module that imports feedparser.

RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 go through feedparser with its own HTML sanitizer and
relative-URI rewriting turned off (both are slow); every HTML fragment then goes through
``aggregator.sanitize.sanitize_html`` with the right base URL. JSON Feed 1.0/1.1 is read by
``aggregator.jsonfeed``. Everything here is pure and safe to call from a worker thread.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser import FeedParserDict
from feedparser.datetimes import _parse_date as _feedparser_parse_date

from aggregator.errors import ParseError
from aggregator.sanitize import sanitize_html
from aggregator.types import EntryData, FeedData
from aggregator.urls import MAX_URL_CHARS

# feedparser asks xml.sax for libxml2's driver first, which is not installed: the failed
# import searched sys.path on every document (a quarter of the parse of a document of a few
# items). expat, which it then used, is all that is asked for now.
feedparser.api.PREFERRED_XML_PARSERS = []

DEFAULT_MAX_ENTRIES = 5000
TITLE_MAX_CHARS = 1000
AUTHOR_MAX_CHARS = 500
DESCRIPTION_MAX_CHARS = 5000
URL_MAX_CHARS = MAX_URL_CHARS  # what storage keeps: a longer link would be stored empty
GUID_MAX_CHARS = 1024
CATEGORY_MAX_CHARS = 200
MAX_CATEGORIES = 50
# Raw HTML beyond this is cut before sanitizing: no real entry is this long, and the cap
# keeps a hostile 50 MB <description> from costing seconds of sanitizer time.
HTML_MAX_CHARS = 1_000_000
WARNING_MAX_CHARS = 300
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=UTC)

_SY_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}

# NUL and lone surrogates cannot be stored (PostgreSQL text, UTF-8) and mean nothing.
_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_TAG = re.compile(r"<[^<>]*>")
_WHITESPACE = re.compile(r"\s+")
_DOCTYPE = re.compile(r"<!doctype", re.IGNORECASE)
_ROOT_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]*)")
# An entity whose value is plain text or one character reference: it cannot expand further.
_SAFE_ENTITY = re.compile(r"""<!ENTITY\s+(\w+)\s+(?:"(&#\w+;|[^&%"<]*)"|'(&#\w+;|[^&%'<]*)')\s*>""")
_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
_JSON_TYPES = ("application/json", "application/feed+json", "text/json")


@dataclass(frozen=True, slots=True)
class IdentityCandidate:
    """A parsed entry's raw identity inputs before the document-level duplicate check."""

    guid: str | None
    url: str | None


# ---------------------------------------------------------------------------
# Public API


def parse_feed(
    body: bytes,
    url: str,
    *,
    content_type: str | None = None,
    now: datetime,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> FeedData:
    """Parse one feed document fetched from ``url``.

    Raises ``ParseError(url, message)`` when ``body`` is not a feed (empty, HTML page, image,
    compressed bytes, JSON that is not a JSON Feed, other XML). Entries keep document order;
    only the first ``max_entries`` are kept (feeds list newest first).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    check_document(body, url)
    if is_json_document(body, content_type):
        from aggregator.jsonfeed import parse_json_feed

        return parse_json_feed(body, url, now=now, max_entries=max_entries)
    return _parse_xml_feed(body, url, content_type=content_type, now=now, max_entries=max_entries)


# ---------------------------------------------------------------------------
# Shared helpers (also used by aggregator.jsonfeed)


def clean_text(value: str | None, max_chars: int) -> str | None:
    """Plain text: no NUL or control characters, whitespace collapsed, capped; ``None`` if empty."""
    if value is None:
        return None
    value = value[: max_chars * 4]
    if value.isprintable() and "  " not in value:
        # No control characters and no whitespace but single spaces (most titles, guids,
        # names): the two substitutions below would change nothing.
        return value.strip(" ")[:max_chars] or None
    value = _CONTROL_CHARS.sub("", value)
    value = _WHITESPACE.sub(" ", value).strip()
    return value[:max_chars] or None


def clean_guid(value: str | None) -> str | None:
    """An entry's guid as plain text; one too long to keep becomes a hash of all of it.

    Cutting instead would give two guids that differ only past the cut the same value,
    and both entries would then fall back to a weaker identity.
    """
    if value is None:
        return None
    if len(value) <= GUID_MAX_CHARS:
        return clean_text(value, GUID_MAX_CHARS)
    whole = clean_text(value, len(value))
    if whole is None or len(whole) <= GUID_MAX_CHARS:
        return whole
    return "sha256:" + hashlib.sha256(whole.encode("utf-8", "replace")).hexdigest()


def html_fragment_to_text(value: str | None, max_chars: int) -> str | None:
    """A title that may hold markup or entities, as plain text."""
    if value is None:
        return None
    value = value[: max_chars * 4]
    if "<" in value:
        value = _TAG.sub("", value)  # inline markup (<b>, <em>) is what titles carry
    if "&" in value:
        value = html.unescape(value)
    return clean_text(value, max_chars)


def clean_html(value: str | None, base_url: str | None) -> str | None:
    """Sanitized HTML with absolute URLs, or ``None`` when nothing is left."""
    if not value:
        return None
    value = value[:HTML_MAX_CHARS]
    if _has_unstorable_chars(value):
        value = _UNSTORABLE_CHARS.sub("", value)
    cleaned = sanitize_html(value, base_url).strip()
    return cleaned or None


def _has_unstorable_chars(value: str) -> bool:
    """``_UNSTORABLE_CHARS.search(value)``, without scanning ASCII or surrogate-free text."""
    if "\x00" in value:
        return True
    if value.isascii():  # known without a scan
        return False
    try:
        value.encode("utf-8")  # fails on a lone surrogate; four times faster than the regex
    except UnicodeEncodeError:
        return True
    return False


def absolute_url(value: str | None, base_url: str | None) -> str | None:
    """An absolute http(s) URL, or ``None`` for anything else (javascript:, data:, junk)."""
    if not value:
        return None
    if (
        len(value) <= URL_MAX_CHARS
        and _PLAIN_ABSOLUTE_URL.fullmatch(value) is not None
        and (not base_url or _joinable_base(base_url))
    ):
        return value  # what urljoin and the scheme check below would give back
    value = _CONTROL_CHARS.sub("", value).strip()
    if not value or len(value) > URL_MAX_CHARS:
        return None
    try:
        resolved = urljoin(base_url, value) if base_url else value
        scheme = urlsplit(resolved).scheme
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    return resolved if scheme in ("http", "https") else None


# An http(s) URL that ``urljoin(base, url)`` returns unchanged (with any base of either
# scheme): lower-case scheme, a plain ASCII host, no ";params" (urlparse splits them off the
# last segment), no empty "?" or "#" (urlunsplit drops them), nothing urlsplit strips or
# rejects (spaces, controls, brackets, non-ASCII hosts).
_PLAIN_ABSOLUTE_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?"
    r"(?:/[A-Za-z0-9\-._~!$&'()*+,=:@%/]*)?"
    r"(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]+)?"
    r"(?:#[A-Za-z0-9\-._~!$&'()*+,;=:@%/?#]+)?"
)


@functools.lru_cache(maxsize=256)
def _joinable_base(base_url: str) -> bool:
    """True when ``urljoin`` can parse ``base_url`` (it raises ValueError on a bad IPv6 host)."""
    try:
        urlsplit(base_url)
    except ValueError:
        return False
    return True


def content_hash(
    title: str | None, url: str | None, summary: str | None, content: str | None
) -> str:
    """Hash of what a reader sees of an entry; dates and other volatile fields stay out."""
    # One encode of the joined text: "replace" works per character, so this hashes the same
    # bytes as encoding each part and its separator on its own.
    text = f"{title or ''}\x1f{url or ''}\x1f{summary or ''}\x1f{content or ''}\x1f"
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def clamp_date(value: datetime | None, now: datetime) -> datetime | None:
    """UTC date, clamped to ``now`` when in the future; ``None`` before 1970 (placeholders)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past datetime's range by the offset
        return None if value.year < 1970 else now
    if value < EARLIEST_DATE:
        return None
    if value > now + FUTURE_TOLERANCE:
        return now
    return value


def parse_date_text(value: str) -> datetime | None:
    """Any date string feedparser understands (RFC 822, RFC 3339, W3C-DTF ...) as UTC."""
    try:
        parsed = _feedparser_parse_date(value[:200])
    except (ValueError, OverflowError, IndexError, TypeError):
        return None
    return _struct_to_datetime(parsed)


def assign_identities(
    candidates: Sequence[IdentityCandidate], fallback_keys: Sequence[str]
) -> list[str]:
    """Identity per entry: guid, else link, else ``fallback_keys[i]`` (a content hash).

    A guid repeated inside one document identifies nothing, so those entries fall back to
    their link (as lemon24/reader and miniflux do); a repeated link falls back likewise.
    An identity already taken by another entry (one entry's guid is another's link) is
    skipped too; only entries identical in title, date and summary share an identity.
    """
    if len(candidates) != len(fallback_keys):
        raise ValueError("one fallback key per candidate")
    return _assign_identities(candidates, fallback_keys.__getitem__)


def _assign_identities(
    candidates: Sequence[IdentityCandidate], fallback: Callable[[int], str]
) -> list[str]:
    """``assign_identities`` asking for the fallback key of an entry only when it is used."""
    guid_counts = Counter(c.guid for c in candidates if c.guid)
    url_counts = Counter(c.url for c in candidates if c.url)
    used: set[str] = set()
    identities = []
    for index, candidate in enumerate(candidates):
        identity = None
        if candidate.guid and guid_counts[candidate.guid] == 1:
            identity = _bounded_identity(candidate.guid)
        if (identity is None or identity in used) and (
            candidate.url and url_counts[candidate.url] == 1
        ):
            identity = _bounded_identity(candidate.url)
        if identity is None or identity in used:
            identity = fallback(index)
        used.add(identity)
        identities.append(identity)
    return identities


def _bounded_identity(identity: str) -> str:
    if len(identity) <= 512:
        return identity
    # Long keys are hashed: index-friendly and still stable across polls.
    return "sha256:" + hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()


def identity_fallback(title: str | None, published: datetime | None, summary: str | None) -> str:
    """Identity of an entry with neither guid nor a unique link."""
    digest = hashlib.sha256()
    for part in (title, published.isoformat() if published else None, summary):
        digest.update((part or "").encode("utf-8", "replace"))
        digest.update(b"\x1f")
    return "hash:" + digest.hexdigest()[:40]


# ---------------------------------------------------------------------------
# Sniffing


def _mime_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    if not content_type or "charset" not in content_type.lower():
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset if isinstance(charset, str) and charset.strip() else None


_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_NO_BOM_WIDE: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


def _wide_codec(body: bytes) -> tuple[str, int] | None:
    """(codec, BOM length) when the document is UTF-16/32, else ``None``."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return None if codec == "utf-8" else (codec, len(bom))
    for prefix, codec in _NO_BOM_WIDE:
        if body.startswith(prefix):
            return codec, 0
    return None


def _head_text(body: bytes, limit: int = 4096) -> str:
    """The start of the document as text, good enough to find markup (ASCII in any codec)."""
    wide = _wide_codec(body)
    if wide is None:
        return body[:limit].decode("latin-1").lstrip("\ufeffï»¿ \t\r\n")
    codec, bom_length = wide
    return body[bom_length : bom_length + limit * 4].decode(codec, "ignore").lstrip()


def _charset_contradicts_bytes(body: bytes, charset: str) -> bool:
    """True when the server's charset cannot be right for these bytes."""
    name = charset.strip().lower().replace("_", "-")
    declared_wide = name.startswith(("utf-16", "utf-32", "ucs-2", "ucs-4", "utf16", "utf32"))
    if body.startswith(b"\xef\xbb\xbf"):
        return name not in ("utf-8", "utf8")
    return declared_wide != (_wide_codec(body) is not None)


def _looks_like_json(body: bytes) -> bool:
    head = _head_text(body, 64)
    return head.startswith(("{", "["))


def _looks_like_xml(body: bytes) -> bool:
    return _head_text(body, 64).startswith("<")


def _reject_binary(body: bytes, url: str) -> None:
    if body.startswith(b"\x1f\x8b"):
        raise ParseError(url, "gzip-compressed bytes, not a feed (was Content-Encoding ignored?)")
    if body.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF", b"%PDF")):
        raise ParseError(url, "an image or binary file, not a feed")
    if body.startswith((b"PK\x03\x04", b"BZh", b"\xfd7zXZ", b"(\xb5/\xfd")):
        raise ParseError(url, "an archive or compressed file, not a feed")


def _root_element(body: bytes) -> str | None:
    """Local name (lower case) of the first element, skipping the prolog, comments, DOCTYPE."""
    text = _head_text(body, 16384)
    position = text.find("<")
    while position >= 0:
        if text.startswith("<!--", position):
            close = text.find("-->", position + 4)
            position = -1 if close < 0 else text.find("<", close + 3)
            continue
        if text.startswith("<!", position) or text.startswith("<?", position):
            if _DOCTYPE.match(text, position):
                end, _subset = _doctype_end(text, position + 9)
                position = text.find("<", end)
            else:
                close = text.find(">", position)
                position = -1 if close < 0 else text.find("<", close + 1)
            continue
        match = _ROOT_ELEMENT.match(text, position)
        if match:
            return match.group(1).rsplit(":", 1)[-1].lower()
        position = text.find("<", position + 1)
    return None


# ---------------------------------------------------------------------------
# XML hardening


MAX_MARKUP_TAGS = 1_000_000
_START_TAG = re.compile(rb"<[A-Za-z][^<>]*")
_ATTRIBUTE_VALUE_START = re.compile(rb"=\s*[\"']")
# Cost of the attribute lookups below, in units of (attributes per element) squared:
# 20 million is about two seconds of CPU; real feeds stay far below (a few thousand).
MAX_ATTRIBUTE_WORK = 20_000_000
_ATTRIBUTE_SCAN_THRESHOLD = 50_000


def _refuse_attribute_floods(body: bytes, url: str) -> None:
    """ParseError for documents whose elements carry floods of attributes.

    The SAX layer under feedparser finds each attribute by a linear search, so the work per
    element grows with the square of its attributes: one tag with 100,000 attributes costs
    minutes of CPU. Documents with few "=" signs (all real feeds) skip the per-tag count.
    """
    wide = _wide_codec(body)
    text = body if wide is None else body[wide[1] :].decode(wide[0], "replace").encode("utf-8")
    if text.count(b"=") < _ATTRIBUTE_SCAN_THRESHOLD:
        return
    work = 0
    for match in _START_TAG.finditer(text):
        tag = match.group()
        if b"=" in tag:
            attributes = len(_ATTRIBUTE_VALUE_START.findall(tag))
            work += attributes * attributes
    if work > MAX_ATTRIBUTE_WORK:
        raise ParseError(url, "elements with floods of attributes; refusing to parse them")


def _strip_leading_whitespace(body: bytes) -> bytes:
    """Drop blank lines before ``<?xml``: common (WordPress plugins) and fatal to strict XML."""
    if body[:1].isspace():
        stripped = body.lstrip()
        if stripped.startswith(b"<?xml"):
            return stripped
    return body


def _defuse_doctype(body: bytes) -> bytes:
    """Drop the DOCTYPE internal subset except simple entities, before any XML parser runs.

    expat (2.4+) already refuses entity amplification and feedparser never fetches external
    entities, but this pre-pass also covers the loose parser and one-line DTDs that
    feedparser's own DOCTYPE filter misses, and spares expat the work of detecting an attack.
    """
    wide = _wide_codec(body)
    if wide is None:
        if _DOCTYPE.search(body[:65536].decode("latin-1")) is None:
            return body
        text = body.decode("latin-1")  # lossless for any bytes; markup is ASCII
        defused = _defuse_doctype_text(text)
        return body if defused is None else defused.encode("latin-1", "replace")
    codec, bom_length = wide
    text = body[bom_length:].decode(codec, "replace")
    if _DOCTYPE.search(text[:65536]) is None:
        return body
    defused = _defuse_doctype_text(text)
    return body if defused is None else body[:bom_length] + defused.encode(codec, "replace")


def _defuse_doctype_text(text: str) -> str | None:
    match = _DOCTYPE.search(text)
    if match is None:
        return None
    start = match.start()
    end, subset = _doctype_end(text, match.end())
    if subset is None:
        return None  # no internal subset: nothing can be declared, keep it (rss091n detection)
    head = text[match.end() : text.index("[", match.end())].strip()
    name_and_id = " ".join(head.split()[:1]) or "feed"
    safe = [
        f'<!ENTITY {m.group(1)} "{m.group(2) if m.group(2) is not None else m.group(3)}">'
        for m in _SAFE_ENTITY.finditer(subset)
    ]
    replacement = f"\n<!DOCTYPE {name_and_id} [\n" + "\n".join(safe) + "\n]>\n" if safe else "\n"
    return text[:start] + replacement + text[end:]


def _doctype_end(text: str, position: int) -> tuple[int, str | None]:
    """End of the DOCTYPE starting before ``position`` and its internal subset (or ``None``)."""
    quote: str | None = None
    subset_start: int | None = None
    index = position
    length = len(text)
    while index < length:
        char = text[index]
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif text.startswith("<!--", index):
            close = text.find("-->", index + 4)
            index = length if close < 0 else close + 3
            continue
        elif char == "[" and subset_start is None:
            subset_start = index + 1
        elif char == "]" and subset_start is not None:
            close = text.find(">", index)
            if close < 0:
                break
            return close + 1, text[subset_start:index]
        elif char == ">" and subset_start is None:
            return index + 1, None
        index += 1
    # Unterminated: cut everything up to the first element so no declaration survives.
    root = _ROOT_ELEMENT.search(text, position)
    end = root.start() if root else length
    return end, text[subset_start:end] if subset_start is not None else ""


# ---------------------------------------------------------------------------
# RSS / Atom through feedparser


def _struct_to_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (ValueError, TypeError, OverflowError):
        return None


def _parse_xml_feed(
    body: bytes, url: str, *, content_type: str | None, now: datetime, max_entries: int
) -> FeedData:
    root = check_xml_document(body, url)
    return parse_xml_document(
        body, url, root=root, content_type=content_type, now=now, max_entries=max_entries
    ).feed_data()


def check_xml_document(body: bytes, url: str) -> str | None:
    """ParseError for XML documents too costly or plainly not a feed; else the root's name."""
    tags = body.count(b"<")
    if tags > MAX_MARKUP_TAGS:
        # feedparser spends about 10 us per tag (more in its loose parser): this bounds the CPU
        # one hostile document can take; real feeds have a few thousand tags.
        raise ParseError(url, f"{tags} tags in one document; refusing to parse it")
    _refuse_attribute_floods(body, url)
    root = _root_element(body)
    if root == "html":
        raise ParseError(url, "an HTML page, not a feed (look for the feed's own URL)")
    return root


def check_document(body: bytes, url: str) -> None:
    """ParseError for what is no document at all: empty, or binary (image, compressed...)."""
    if not body or body.isspace():
        raise ParseError(url, "empty document, not a feed")
    _reject_binary(body, url)


def is_json_document(body: bytes, content_type: str | None) -> bool:
    """Whether ``parse_feed`` reads ``body`` as a JSON Feed (else as XML)."""
    mime = _mime_type(content_type)
    return _looks_like_json(body) or (mime in _JSON_TYPES and not _looks_like_xml(body))


def effective_charset(body: bytes, content_type: str | None) -> str | None:
    """The charset of the server's Content-Type that the XML parser is told, if any.

    Only that charset is passed on: feedparser reads RFC 3023 strictly (text/xml without a
    charset would mean US-ASCII), and without any Content-Type it flags every document as
    malformed. A byte-order mark or UTF-16/32 byte pattern beats a lying header.
    """
    charset = _charset(content_type)
    if charset and _charset_contradicts_bytes(body, charset):
        return None
    return charset


def too_many_entries(count: int, max_entries: int) -> str:
    return f"{count} entries in the document; kept the first {max_entries}"


@dataclass(frozen=True, slots=True)
class XmlDocument:
    """One XML feed document through feedparser, before identities are assigned."""

    feed: FeedData  # the feed's fields, with no entries yet
    # One per entry kept (the first ``max_entries``); ``None`` for a phantom entry with
    # nothing to show or identify.
    drafts: list[EntryDraft | None]
    entries_found: int  # before the cut to ``max_entries``
    malformed: bool  # feedparser flagged the document ("bozo") and recovered

    def feed_data(self) -> FeedData:
        """The parsed feed with its entries (identities assigned across the document)."""
        kept = [d for d in self.drafts if d is not None]
        return replace(self.feed, entries=finish_entries(kept))


def parse_xml_document(
    body: bytes,
    url: str,
    *,
    root: str | None,
    content_type: str | None,
    now: datetime,
    max_entries: int,
) -> XmlDocument:
    """Run feedparser over ``body``, whose ``check_xml_document`` gave ``root``; raises
    ``ParseError`` where it is not a feed."""
    charset = effective_charset(body, content_type)
    # No Content-Location: feedparser would resolve guids against it, and an identity must
    # not change when the feed moves.
    headers = {
        "content-type": f"application/xml; charset={charset}" if charset else "application/xml",
    }
    try:
        parsed = feedparser.parse(
            _defuse_doctype(_strip_leading_whitespace(body)),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except RecursionError as exc:
        raise ParseError(url, "document nested too deeply to parse") from exc
    except Exception as exc:
        # feedparser has internal bugs on some malformed input (fuzzing found a KeyError in
        # its tag handling); for us that is an unparseable document, not a crash.
        raise ParseError(url, f"malformed document ({type(exc).__name__} in feedparser)") from exc
    version = parsed.get("version") or ""
    raw_entries = parsed.get("entries") or []
    # feedparser names the format from the root element; RSS 1.1 and CDF roots it reads but
    # leaves unnamed, so those are checked here.
    if not version and root not in _FEED_ROOTS:
        what = f"an XML document with root <{root}>" if root else "no XML root element"
        raise ParseError(url, f"{what}, not an RSS, Atom or JSON feed")

    warnings: list[str] = []
    malformed = bool(parsed.get("bozo"))
    if malformed:
        bozo_exception = parsed.get("bozo_exception")
        message = (
            f"{type(bozo_exception).__name__}: {bozo_exception}"
            if bozo_exception is not None
            else "malformed document"
        )
        warnings.append(clean_text(f"recovered from: {message}", WARNING_MAX_CHARS) or "")
    entries_found = len(raw_entries)
    if entries_found > max_entries:
        warnings.append(too_many_entries(entries_found, max_entries))
        raw_entries = raw_entries[:max_entries]

    feed = parsed.get("feed") or {}
    site_url = absolute_url(feed.get("link"), url)
    drafts = [
        _draft_from_feedparser(entry, url, now) if isinstance(entry, Mapping) else None
        for entry in raw_entries
    ]
    feed_data = FeedData(
        title=_title(feed, TITLE_MAX_CHARS),
        site_url=site_url,
        description=_title(feed, DESCRIPTION_MAX_CHARS, key="subtitle"),
        entries=(),
        format=version or root or "unknown",
        language=clean_text(feed.get("language"), 35),
        ttl_s=_ttl_seconds(feed.get("ttl")),
        update_period_s=_update_period_seconds(
            feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")
        ),
        warnings=tuple(w for w in warnings if w),
    )
    return XmlDocument(feed_data, drafts, entries_found, malformed)


def _ttl_seconds(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if 0 < minutes <= 525_600 else None


def _update_period_seconds(period: Any, frequency: Any) -> int | None:
    if not isinstance(period, str):
        return None
    seconds = _SY_PERIOD_SECONDS.get(period.strip().lower())
    if seconds is None:
        return None
    try:
        times = int(str(frequency).strip()) if frequency is not None else 1
    except ValueError:
        times = 1
    return seconds // max(1, min(times, 10_000))


@dataclass(slots=True)
class EntryDraft:
    """An entry being built, before identities are assigned across the document."""

    guid: str | None
    url: str | None
    title: str | None
    author: str | None
    published_at: datetime | None
    updated_at: datetime | None
    summary_html: str | None
    content_html: str | None
    categories: tuple[str, ...]
    image_url: str | None


def _plain(value: Any) -> Any:
    """A feedparser dict as a plain dict with the same items; anything else unchanged.

    ``FeedParserDict`` looks every key up through Python code that maps legacy names to new
    ones (``description`` -> ``summary`` ...), ten times the cost of a dict lookup, and an entry
    takes a few dozen lookups. None of the keys read through these copies is one it remaps or
    derives; the two that are (``enclosures`` and a media item's ``url``) are read from
    feedparser's own dicts.
    """
    return dict(value) if type(value) is FeedParserDict else value


def _text_value(detail: Mapping[str, Any] | None, fallback: Any) -> str | None:
    value = detail.get("value") if detail else None
    if not isinstance(value, str):
        value = fallback if isinstance(fallback, str) else None
    return value


def _fragment_base(detail: Mapping[str, Any] | None, entry_url: str | None, feed_url: str) -> str:
    """Base URL for relative links in a fragment: its xml:base, else the entry link, else the feed."""
    base = detail.get("base") if detail else None
    if isinstance(base, str) and base:
        resolved = absolute_url(base, feed_url)
        if resolved and resolved != feed_url:
            return resolved
    return entry_url or feed_url


def _as_html(detail: Mapping[str, Any] | None, value: str | None) -> str | None:
    if value is None:
        return None
    content_type = (detail.get("type") if detail else None) or "text/html"
    if content_type == "text/plain":
        return "<p>" + html.escape(value) + "</p>" if value.strip() else None
    return value


def _pick_content(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    contents = entry.get("content") or []
    best: Mapping[str, Any] | None = None
    for content in contents:
        content = _plain(content)
        if not isinstance(content, Mapping) or not isinstance(content.get("value"), str):
            continue
        if content.get("type") in ("text/html", "application/xhtml+xml"):
            return content
        best = best or content
    return best


def _image_url(entry: Mapping[str, Any], base: str) -> str | None:
    """``entry`` is feedparser's own dict: its ``enclosures`` are derived from ``links``."""
    if type(entry) is FeedParserDict:  # its own get() would derive enclosures every time
        fields = cast(dict[str, Any], entry)
        if not dict.get(fields, "media_thumbnail") and not dict.get(fields, "media_content"):
            links = dict.get(fields, "links")
            if not links or (
                isinstance(links, list)
                and all(
                    isinstance(link, dict) and dict.get(link, "rel") != "enclosure"
                    for link in links
                )
            ):
                return None  # feedparser's enclosures: the links with rel="enclosure"
    for thumbnail in entry.get("media_thumbnail") or []:
        found = absolute_url(thumbnail.get("url"), base) if isinstance(thumbnail, Mapping) else None
        if found:
            return found
    for media in entry.get("media_content") or []:
        if not isinstance(media, Mapping):
            continue
        if media.get("medium") == "image" or str(media.get("type", "")).startswith("image/"):
            found = absolute_url(media.get("url"), base)
            if found:
                return found
    for enclosure in entry.get("enclosures") or []:
        if isinstance(enclosure, Mapping) and str(enclosure.get("type", "")).startswith("image/"):
            found = absolute_url(enclosure.get("href"), base)
            if found:
                return found
    return None


def categories_of(values: Iterable[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        term = clean_text(value if isinstance(value, str) else None, CATEGORY_MAX_CHARS)
        if term and term not in seen:
            seen[term] = None
            if len(seen) >= MAX_CATEGORIES:
                break
    return tuple(seen)


def _title(element: Mapping[str, Any], max_chars: int, key: str = "title") -> str | None:
    detail = _plain(element.get(f"{key}_detail"))
    raw = _text_value(detail, element.get(key))
    if detail and detail.get("type") == "text/plain":
        return clean_text(raw, max_chars)
    return html_fragment_to_text(raw, max_chars)


def _date_field(entry: Mapping[str, Any], key: str) -> datetime | None:
    # FeedParserDict.get maps a missing "updated" to "published"; its ``in`` does not.
    return _struct_to_datetime(entry.get(key)) if key in entry else None


def _draft_from_feedparser(
    feedparser_entry: Mapping[str, Any], feed_url: str, now: datetime
) -> EntryDraft | None:
    entry = _plain(feedparser_entry)
    guid = clean_guid(entry.get("id") if isinstance(entry.get("id"), str) else None)
    url = absolute_url(entry.get("link"), feed_url)
    if url is None and guid and entry.get("guidislink"):
        url = absolute_url(guid, feed_url)
    title = _title(entry, TITLE_MAX_CHARS)

    content_detail = _pick_content(entry)
    summary_detail = _plain(entry.get("summary_detail"))
    content_raw = _as_html(content_detail, _text_value(content_detail, None))
    summary_raw = _as_html(summary_detail, _text_value(summary_detail, entry.get("summary")))
    if summary_raw is not None and summary_raw == content_raw:
        summary_raw = None  # feedparser copies content into summary; store it once
    content_html = clean_html(content_raw, _fragment_base(content_detail, url, feed_url))
    summary_html = clean_html(summary_raw, _fragment_base(summary_detail, url, feed_url))

    if not (guid or url or title or content_html or summary_html):
        return None  # a phantom entry (e.g. a stray <item/>): nothing to show or identify

    published = clamp_date(_date_field(entry, "published_parsed"), now)
    updated = clamp_date(_date_field(entry, "updated_parsed"), now)
    author_detail = _plain(entry.get("author_detail"))
    author = entry.get("author")
    if not isinstance(author, str) and isinstance(author_detail, Mapping):
        author = author_detail.get("name")
    tags = entry.get("tags") or []
    return EntryDraft(
        guid=guid,
        url=url,
        title=title,
        author=html_fragment_to_text(author if isinstance(author, str) else None, AUTHOR_MAX_CHARS),
        published_at=published or updated,
        updated_at=updated,
        summary_html=summary_html,
        content_html=content_html,
        categories=categories_of(_tag_term(tag) for tag in tags),
        image_url=_image_url(feedparser_entry, url or feed_url),
    )


def _tag_term(tag: Any) -> Any:
    tag = _plain(tag)
    return (tag.get("label") or tag.get("term")) if isinstance(tag, Mapping) else None


def finish_entries(drafts: Sequence[EntryDraft]) -> tuple[EntryData, ...]:
    """Assign identities across the document and build the ``EntryData`` values."""

    def fallback(index: int) -> str:
        d = drafts[index]
        return identity_fallback(d.title, d.published_at, d.summary_html or d.content_html)

    identities = _assign_identities([IdentityCandidate(d.guid, d.url) for d in drafts], fallback)
    return tuple(
        EntryData(
            identity=identity,
            guid=d.guid,
            url=d.url,
            title=d.title,
            author=d.author,
            published_at=d.published_at,
            updated_at=d.updated_at,
            summary_html=d.summary_html,
            content_html=d.content_html,
            content_hash=content_hash(d.title, d.url, d.summary_html, d.content_html),
            categories=d.categories,
            image_url=d.image_url,
        )
        for identity, d in zip(identities, drafts, strict=True)
    )
