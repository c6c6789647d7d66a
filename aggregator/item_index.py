"""Which items of a feed document changed since the last poll: parse only those.

A changed feed usually differs from the last document in a few items: a new post on top,
one dropped at the bottom, a new ``lastBuildDate``. The rest are byte for byte what the
last poll parsed and stored, and parsing them again (feedparser: about half a millisecond
per item) is most of a changed feed's cost. This module splits an XML feed document into
its item elements (RSS ``<item>``, Atom ``<entry>``), remembers a digest of each in an
*item index* stored with the feed, and on the next poll hands feedparser the document
without the items whose bytes it has seen: the channel, and the new or changed items.

The decision is exact, not a heuristic. An element's meaning depends on its own bytes and
on its context: the prolog (encoding, entities) and its ancestors' start tags (namespaces,
``xml:base``, ``xml:lang``), plus the feed URL and charset the parser is given. All of these
go into the index's *context digest*; an item is skipped only under the same context. The
fast path is taken only where a full parse would give the same result, else the whole
document is parsed as before:

- the document splits cleanly (every ``<`` is a tag, CDATA section, comment, processing
  instruction or doctype; items are siblings, unprefixed, not nested, not empty);
- the last document and the reduced one parse without feedparser's "malformed" flag;
- identities are plain: each entry is known by its own guid (else its link), and no guid
  or link appears twice in the document, so no entry's identity depends on another's;
- every item element gives one entry.

An index also records each item's guid, link and identity (short hashes: to find shared
guids and links, and for the planner's matching by link) and its date (the feed's rhythm
is computed from every entry's date, parsed or not; a future date keeps the clamp of the
poll that parsed it).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from aggregator import __version__
from aggregator.jsonfeed import parse_json_feed
from aggregator.parse import (
    DEFAULT_MAX_ENTRIES,
    EntryDraft,
    XmlDocument,
    check_document,
    check_xml_document,
    effective_charset,
    finish_entries,
    is_json_document,
    parse_xml_document,
    too_many_entries,
)
from aggregator.types import EntryData, FeedData, UnchangedEntry

# Bumped when the index layout or what a skipped item means changes; with the project's
# version it is part of every context digest, so an upgrade parses each feed in full once.
INDEX_FORMAT = 2
_DIGEST_BYTES = 16
_KEY_BYTES = 8
_NO_DATE = -(2**63)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEADER = struct.Struct(f">B{_DIGEST_BYTES}sI")
_ITEM = struct.Struct(f">{_DIGEST_BYTES}s{_KEY_BYTES}s{_KEY_BYTES}s{_KEY_BYTES}sq")
_NO_KEY = b"\0" * _KEY_BYTES
_ITEM_NAMES = frozenset({b"item", b"entry"})

# One token of XML markup. Attribute values may hold ">" (quoted alternatives) but not "<".
_TOKEN = re.compile(
    rb"<!\[CDATA\[.*?\]\]>"
    rb"|<!--.*?-->"
    rb"|<\?.*?\?>"
    rb"|<!DOCTYPE(?:[^\[<>\"']|\"[^\"]*\"|'[^']*')*(?:\[.*?\])?\s*>"
    rb"|<(/?)([A-Za-z_][\w.:-]*)(?:[^<>\"']|\"[^<\"]*\"|'[^<']*')*?(/?)>",
    re.S | re.I,
)


def _item_rest(name: bytes) -> re.Pattern[bytes]:
    """The rest of an item element after its start tag, through its end tag, in one match.

    Text and other tags run up to the next "<"; CDATA sections, comments and processing
    instructions are skipped whole (they may hold "</item>" as text). A start or end tag of
    an item or entry, or any other "<!" or "<?", ends the repetition, and only the item's
    end tag may follow: an item inside an item does not match. Possessive
    quantifiers: no backtracking, so the match is linear in the item's length.
    """
    return re.compile(
        rb"(?:[^<]++"
        rb"|<!\[CDATA\[(?:[^\]]++|\](?!\]>))*+\]\]>"
        rb"|<!--(?:[^-]++|-(?!->))*+-->"
        rb"|<\?(?:[^?]++|\?(?!>))*+\?>"
        rb"|<(?!/?(?:item|entry)[\s/>]|!|\?)"
        rb")*+</" + name + rb"\s*>"
    )


# Searched in C: the items are most of the document, and this is the part of the split
# that runs over every byte of them.
_ITEM_REST = {name: _item_rest(name) for name in _ITEM_NAMES}


@dataclass(frozen=True, slots=True)
class DocumentItems:
    """A feed document split into its item elements and the rest (the *skeleton*)."""

    body: bytes
    spans: tuple[tuple[int, int], ...]  # byte ranges of the item elements, in order
    context: bytes  # the prolog and the items' ancestors' start tags

    def segment(self, index: int) -> bytes:
        start, end = self.spans[index]
        return self.body[start:end]

    def without_items(self, keep: Sequence[int]) -> bytes:
        """The document with only the items at positions ``keep`` (ascending) left in."""
        kept = set(keep)
        pieces: list[bytes] = []
        position = 0
        for index, (start, end) in enumerate(self.spans):
            pieces.append(self.body[position:start])
            if index in kept:
                pieces.append(self.body[start:end])
            position = end
        pieces.append(self.body[position:])
        return b"".join(pieces)


def split_items(body: bytes) -> DocumentItems | None:
    """The document's item elements, or ``None`` where it does not split cleanly.

    Outside items every ``<`` must start a token, and tags must balance. Inside an item
    only its end tag is looked for (past CDATA sections, comments and processing
    instructions, where ``</item>`` may appear as text): that is exact for a well-formed
    item, and a malformed one is new, so it is parsed and found out (see the module doc).
    Tokens are matched where each "<" is, and the first that is no token ends the split:
    the work stays linear in the document's length, whatever a hostile document holds.
    """
    names: list[bytes] = []  # the open elements outside items: their names
    stack: list[bytes] = []  # and their start tags
    spans: list[tuple[int, int]] = []
    ancestors: tuple[bytes, ...] | None = None
    prolog_end: int | None = None
    position = 0
    find, match_token = body.find, _TOKEN.match
    while (start := find(b"<", position)) != -1:
        match = match_token(body, start)
        if match is None:
            return None  # a "<" that starts no token: not well-formed, or not understood
        position = match.end()
        name = match.group(2)
        if name is None:
            continue  # CDATA, comment, processing instruction, doctype
        closing, empty = match.group(1), match.group(3)
        if prolog_end is None:
            if closing:
                return None
            prolog_end = start
        if name in _ITEM_NAMES:
            if closing or empty:
                return None  # a stray end tag, or an empty item (a phantom entry)
            here = tuple(stack)
            if ancestors is None:
                ancestors = here
            elif here != ancestors:
                return None  # items at different places in the tree
            end = _item_end(body, position, name)
            if end is None:
                return None
            spans.append((start, end))
            position = end
        elif b":" in name and name.rpartition(b":")[2] in _ITEM_NAMES:
            return None  # prefixed items (rss:item, atom:entry): not handled here
        elif closing:
            if not names or names.pop() != name:
                return None
            stack.pop()
        elif not empty:
            names.append(name)
            stack.append(match.group(0))
    if stack or prolog_end is None:
        return None
    context = body[:prolog_end] + b"".join(ancestors or ())
    return DocumentItems(body=body, spans=tuple(spans), context=context)


def _item_end(body: bytes, position: int, name: bytes) -> int | None:
    """Where the item opened before ``position`` ends; ``None`` if nested or unclosed."""
    closed = _ITEM_REST[name].match(body, position)
    return closed.end() if closed is not None else None


def context_digest(items: DocumentItems, url: str, charset: str | None) -> bytes:
    """What an item's bytes mean depends on: document context, feed URL, charset, code."""
    h = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    for part in (
        f"{INDEX_FORMAT}\0{__version__}\0{url}\0{charset or ''}\0".encode("utf-8", "replace"),
        items.context,
    ):
        h.update(part)
    return h.digest()


def segment_digest(segment: bytes) -> bytes:
    return hashlib.blake2b(segment, digest_size=_DIGEST_BYTES).digest()


def key_digest(value: str | None) -> bytes:
    """A guid's or link's short hash: equal values collide, which is all that is checked."""
    if not value:
        return _NO_KEY
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=_KEY_BYTES).digest()


@dataclass(frozen=True, slots=True)
class IndexedItem:
    """What the index remembers of one item element."""

    digest: bytes
    guid_key: bytes
    url_key: bytes
    identity_key: bytes  # the entry's identity as stored (for the planner's link matching)
    date: datetime | None  # the entry's published (else updated) time, for the rhythm

    @property
    def keys(self) -> tuple[bytes, ...]:
        return tuple(k for k in (self.guid_key, self.url_key) if k != _NO_KEY)


@dataclass(frozen=True, slots=True)
class ItemIndex:
    context: bytes
    items: tuple[IndexedItem, ...]

    def encode(self) -> bytes:
        parts = [_HEADER.pack(INDEX_FORMAT, self.context, len(self.items))]
        for item in self.items:
            micros = _NO_DATE if item.date is None else (item.date - _EPOCH) // _MICROSECOND
            parts.append(
                _ITEM.pack(item.digest, item.guid_key, item.url_key, item.identity_key, micros)
            )
        return b"".join(parts)


def decode_index(data: bytes | None) -> ItemIndex | None:
    """The stored index, or ``None`` if there is none or it is not one this code wrote."""
    if not data or len(data) < _HEADER.size:
        return None
    version, context, count = _HEADER.unpack_from(data)
    if version != INDEX_FORMAT or len(data) != _HEADER.size + count * _ITEM.size:
        return None
    items = []
    for offset in range(_HEADER.size, len(data), _ITEM.size):
        digest, guid_key, url_key, identity_key, micros = _ITEM.unpack_from(data, offset)
        date = None if micros == _NO_DATE else _EPOCH + micros * _MICROSECOND
        items.append(IndexedItem(digest, guid_key, url_key, identity_key, date))
    return ItemIndex(context, tuple(items))


def plain_identities(keys: Sequence[tuple[bytes, ...]]) -> bool:
    """True when no guid or link is shared between two entries (an entry's own guid may
    equal its own link): then each entry's identity is its own guid, else its link."""
    seen: set[bytes] = set()
    for entry_keys in keys:
        own = set(entry_keys)
        if not own or own & seen:
            return False
        seen |= own
    return True


def parse_feed_changes(
    body: bytes,
    url: str,
    *,
    content_type: str | None = None,
    now: datetime,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    previous_index: bytes | None = None,
) -> FeedData:
    """``parse_feed``, parsing only the items not in ``previous_index`` where that is exact.

    The result carries the index to store for the next poll (``None`` where the document
    cannot have one: JSON, malformed, shared guids...). With a usable ``previous_index``
    its ``entries`` are the new and changed items only, and ``unchanged`` tells of the
    others. Raises ``ParseError`` as ``parse_feed`` does.
    """
    check_document(body, url)
    if is_json_document(body, content_type):
        return parse_json_feed(body, url, now=now, max_entries=max_entries)
    # The limits apply to the whole document; what is parsed of it keeps its root.
    how = _How(check_xml_document(body, url), url, content_type, now, max_entries)
    items = split_items(body)
    if items is None:
        return how.parse(body).feed_data()
    context = context_digest(items, url, effective_charset(body, content_type))
    known = decode_index(previous_index)
    if known is not None and known.context == context:
        changed = _parse_changed(items, known, how)
        if changed is not None:
            return changed
    return _parse_all(items, context, how)


@dataclass(frozen=True, slots=True)
class _How:
    """How one document is parsed, whichever of its items are."""

    root: str | None
    url: str
    content_type: str | None
    now: datetime
    max_entries: int

    def parse(self, body: bytes) -> XmlDocument:
        return parse_xml_document(
            body,
            self.url,
            root=self.root,
            content_type=self.content_type,
            now=self.now,
            max_entries=self.max_entries,
        )


def _parse_all(items: DocumentItems, context: bytes, how: _How) -> FeedData:
    document = how.parse(items.body)
    kept = [d for d in document.drafts if d is not None]
    entries = finish_entries(kept)
    if (
        document.malformed
        or document.entries_found != len(items.spans)  # one entry per item element
        or len(kept) != len(document.drafts)  # a phantom entry
    ):
        return replace(document.feed, entries=entries)
    indexed = tuple(
        _indexed(segment_digest(items.segment(i)), draft, entry)
        for i, (draft, entry) in enumerate(zip(kept, entries, strict=True))
    )
    if not plain_identities([item.keys for item in indexed]):
        return replace(document.feed, entries=entries)
    index = ItemIndex(context, indexed)
    return replace(document.feed, entries=entries, item_index=index.encode())


def _parse_changed(items: DocumentItems, known: ItemIndex, how: _How) -> FeedData | None:
    """The document parsed without its known items; ``None`` where that would not be exact."""
    max_entries = how.max_entries
    count = min(len(items.spans), max_entries)  # the rest would be cut after parsing
    digests = [segment_digest(items.segment(i)) for i in range(count)]
    if len(set(digests)) != count:
        return None  # one item twice: shared guids, so identities depend on each other
    by_digest = {item.digest: item for item in known.items}
    changed = [i for i, digest in enumerate(digests) if digest not in by_digest]
    document = how.parse(items.without_items(changed))
    parsed = [d for d in document.drafts if d is not None]
    if document.malformed or document.entries_found != len(changed) or len(parsed) != len(changed):
        return None
    unchanged = [by_digest[d] for d in digests if d in by_digest]
    entries = finish_entries(parsed)
    fresh = {
        digests[i]: _indexed(digests[i], draft, entry)
        for i, draft, entry in zip(changed, parsed, entries, strict=True)
    }
    if not plain_identities([item.keys for item in (*fresh.values(), *unchanged)]):
        return None
    index = ItemIndex(known.context, tuple(by_digest.get(d) or fresh[d] for d in digests))
    warnings = document.feed.warnings
    if len(items.spans) > max_entries:
        warnings = (*warnings, too_many_entries(len(items.spans), max_entries))
    return replace(
        document.feed,
        entries=entries,
        warnings=warnings,
        unchanged=tuple(UnchangedEntry(item.identity_key, item.date) for item in unchanged),
        item_index=index.encode(),
    )


def _indexed(digest: bytes, draft: EntryDraft, entry: EntryData) -> IndexedItem:
    return IndexedItem(
        digest=digest,
        guid_key=key_digest(draft.guid),
        url_key=key_digest(draft.url),
        identity_key=key_digest(entry.identity),
        date=entry.published_at or entry.updated_at,
    )


def lists_unchanged(feed_data: FeedData) -> Callable[[str], bool]:
    """Whether the document lists an identity among the items it did not parse again.

    The planner needs it: an entry found by link keeps a stored identity only where the
    document does not list that identity itself (``decide.plan_entries``).
    """
    keys = frozenset(entry.identity_key for entry in feed_data.unchanged)
    return lambda identity: bool(keys) and key_digest(identity) in keys


__all__ = [
    "INDEX_FORMAT",
    "DocumentItems",
    "IndexedItem",
    "ItemIndex",
    "context_digest",
    "decode_index",
    "key_digest",
    "lists_unchanged",
    "parse_feed_changes",
    "plain_identities",
    "segment_digest",
    "split_items",
]
