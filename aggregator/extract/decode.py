"""Bytes of an HTML page -> text, with the charset a browser would pick."""

from __future__ import annotations

import codecs
import re

# A browser looks for the declaration in the first 1024 bytes; pages in the wild put it later.
_SNIFF_BYTES = 4096
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE
)
_HEADER_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _codec(name: str | None) -> str | None:
    """The Python codec for a declared charset, or None when unknown."""
    if not name:
        return None
    name = name.strip().lower()
    # As in the WHATWG encoding standard: latin-1 labels mean windows-1252, and a page that
    # declares UTF-16 in a meta tag is ASCII-compatible, so it cannot really be UTF-16.
    if name in ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"):
        name = "cp1252"
    if name.startswith("utf-16"):
        name = "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value, if any."""
    if not content_type:
        return None
    match = _HEADER_CHARSET_RE.search(content_type)
    return match.group(1) if match else None


def decode_html(data: bytes, charset: str | None = None) -> str:
    """Decode a page: BOM first, then the transport charset, then the page's own meta
    declaration, then UTF-8, and windows-1252 as the last resort (it never fails)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    candidates: list[str] = []
    for declared in (charset, _declared_charset(data)):
        codec = _codec(declared)
        if codec and codec not in candidates:
            candidates.append(codec)
    for fallback in ("utf-8", "cp1252"):
        if fallback not in candidates:
            candidates.append(fallback)
    for codec in candidates:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode(candidates[0], errors="replace")


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET_RE.search(data[:_SNIFF_BYTES])
    return match.group(1).decode("ascii", errors="ignore") if match else None
