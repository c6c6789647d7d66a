"""Parsing only the items that changed: the split, the index, and exactness against a full parse.

The promise of ``parse_feed_changes`` is that, given the index of the last document, it
returns exactly what a full ``parse_feed`` would return for the items that are new or
changed, and the same dates for the rest; where it cannot be sure, it parses everything.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.errors import ParseError
from aggregator.item_index import (
    INDEX_FORMAT,
    IndexedItem,
    ItemIndex,
    decode_index,
    key_digest,
    lists_unchanged,
    parse_feed_changes,
    plain_identities,
    split_items,
)
from aggregator.parse import parse_feed
from aggregator.types import FeedData

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "https://news.example/feed/"


def rss_item(n: int, *, title: str | None = None, guid: str | None = None) -> str:
    return (
        f"<item><title>{title or f'Story {n}'}</title>"
        f"<link>https://news.example/{n}.html</link>"
        f'<guid isPermaLink="false">{guid or f"story-{n}"}</guid>'
        f"<pubDate>Sun, 01 Mar 2026 {n % 24:02d}:00:00 GMT</pubDate>"
        f'<description><![CDATA[<p>Body of story {n} <a href="/more">more</a></p>]]></description>'
        "</item>"
    )


def rss(items: list[str], *, built: str = "Sun, 01 Mar 2026 11:00:00 GMT", root: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rss version="2.0"{root}><channel><title>News</title>'
        "<link>https://news.example/</link><description>Daily news</description>"
        f"<lastBuildDate>{built}</lastBuildDate>" + "".join(items) + "</channel></rss>\n"
    ).encode()


def without_index(data: FeedData) -> FeedData:
    return replace(data, unchanged=(), item_index=None)


def changes(body: bytes, previous: bytes | None, **kw: object) -> FeedData:
    return parse_feed_changes(body, URL, now=NOW, previous_index=previous, **kw)  # type: ignore[arg-type]


def index_of(body: bytes) -> bytes:
    index = changes(body, None).item_index
    assert index is not None
    return index


# --- splitting


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        (
            b"<rss><channel><item>a</item><item>b</item></channel></rss>",
            [b"<item>a</item>", b"<item>b</item>"],
        ),
        (
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            b"<entry><id>1</id></entry>\n<entry ><id>2</id></entry  ></feed>",
            [b"<entry><id>1</id></entry>", b"<entry ><id>2</id></entry  >"],
        ),
        (  # RSS 1.0: items are siblings of the channel
            b'<rdf:RDF xmlns:rdf="r" xmlns="p"><channel><title>t</title></channel>'
            b'<item rdf:about="x"><title>x</title></item></rdf:RDF>',
            [b'<item rdf:about="x"><title>x</title></item>'],
        ),
        (  # an end tag inside CDATA, a comment and a processing instruction is text
            b"<rss><channel><item><description><![CDATA[</item><item>]]></description>"
            b"<!-- </item> --><?pi </item> ?></item></channel></rss>",
            [
                b"<item><description><![CDATA[</item><item>]]></description>"
                b"<!-- </item> --><?pi </item> ?></item>"
            ],
        ),
        (  # "<items>" and "<itemCount>" are other elements; ">" may sit in an attribute
            b'<rss><channel a="1>0"><items n="2"/><item><itemCount>1</itemCount></item>'
            b"</channel></rss>",
            [b"<item><itemCount>1</itemCount></item>"],
        ),
        (  # brackets and dashes short of a terminator stay inside the section
            b"<rss><channel><item><![CDATA[a]b]]c]]><!-- a-b--c --><?p a?b ?>"
            b"<items>1</items></item ></channel></rss>",
            [b"<item><![CDATA[a]b]]c]]><!-- a-b--c --><?p a?b ?><items>1</items></item >"],
        ),
        (b"<rss><channel><title>no items</title></channel></rss>", []),
    ],
)
def test_split_finds_the_item_elements(body: bytes, segments: list[bytes]) -> None:
    items = split_items(body)
    assert items is not None
    assert [items.segment(i) for i in range(len(items.spans))] == segments
    assert items.without_items(range(len(items.spans))) == body


def test_split_context_is_the_prolog_and_the_items_ancestors() -> None:
    body = rss([rss_item(1), rss_item(2)], root=' xmlns:dc="http://purl.org/dc/elements/1.1/"')
    items = split_items(body)
    assert items is not None and len(items.spans) == 2
    assert items.context == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
    )
    # The rest of the channel (title, lastBuildDate) is not context: it changes freely.
    assert split_items(rss([rss_item(1)], built="Mon, 02 Mar 2026 00:00:00 GMT")) is not None
    kept = items.without_items([1])
    assert rss_item(1).encode() not in kept and rss_item(2).encode() in kept


@pytest.mark.parametrize(
    "body",
    [
        b"<rss><channel><item><item>x</item></item></channel></rss>",  # nested
        b"<rss><channel><item>x</channel></rss>",  # unclosed
        b"<rss><channel><item/><item>x</item></channel></rss>",  # empty item
        b"<rss><channel></item></channel></rss>",  # stray end tag
        b'<feed xmlns:atom="a"><atom:entry>x</atom:entry></feed>',  # prefixed
        b"<rss><channel><item>a</item><x><item>b</item></x></channel></rss>",  # two depths
        b"<rss><channel><title>a < b</title><item>x</item></channel></rss>",  # bare "<"
        b"<rss><channel><item>x</item></channel>",  # unbalanced
        b"<rss><channel><item>x</item></channel></rss><!-- unterminated",
        b"<rss><channel><item><![CDATA[x</item></channel></rss>",  # unterminated CDATA
        b"<rss><channel><item><!DOCTYPE x></item></channel></rss>",  # a doctype in an item
        b"<rss><channel><item><entry>x</entry></item></channel></rss>",  # crossed kinds
        b"",
        b"not xml at all",
    ],
)
def test_documents_that_do_not_split_cleanly(body: bytes) -> None:
    assert split_items(body) is None


@pytest.mark.parametrize(
    "unit",
    [
        b"<a ",
        b'<a "',
        b"<![CDATA[",
        b"<!-- ",
        b"<?p ",
        b"<!DOCTYPE [",
        b"<item>",
        b"<item><![CDATA[",
    ],
)
def test_hostile_documents_split_in_linear_time(unit: bytes) -> None:
    # Two megabytes of one unterminated construct: a search retried at every "<" would
    # scan the rest of the document each time (hours); the split gives up at the first.
    body = b"<rss><channel><title>t</title>" + unit * (2_000_000 // len(unit))
    assert split_items(body) is None


# --- the index


def test_index_round_trip_and_foreign_data() -> None:
    index = ItemIndex(
        b"c" * 16,
        (
            IndexedItem(
                b"d" * 16, key_digest("guid"), key_digest("https://x/1"), key_digest("guid"), NOW
            ),
            IndexedItem(b"e" * 16, key_digest("g2"), key_digest(None), key_digest("g2"), None),
        ),
    )
    data = index.encode()
    assert decode_index(data) == index
    assert decode_index(None) is None and decode_index(b"") is None
    assert decode_index(data[:-1]) is None  # truncated
    assert decode_index(bytes([INDEX_FORMAT + 1]) + data[1:]) is None  # another format


@pytest.mark.parametrize(
    ("keys", "plain"),
    [
        ([("a",), ("b",)], True),
        ([("a", "u1"), ("b", "u2")], True),
        ([("a", "a")], True),  # a guid that is its own link
        ([("a", "u1"), ("a", "u2")], False),  # shared guid
        ([("a", "u1"), ("b", "u1")], False),  # shared link
        ([("a", "u1"), ("u1",)], False),  # one's guid is another's link
        ([("a",), ()], False),  # no guid and no link: identity from content
    ],
)
def test_plain_identities(keys: list[tuple[str, ...]], plain: bool) -> None:
    assert plain_identities([tuple(key_digest(k) for k in entry) for entry in keys]) is plain


# --- parsing only what changed


def test_without_an_index_everything_is_parsed_and_an_index_made() -> None:
    body = rss([rss_item(n) for n in range(5, 0, -1)])
    data = changes(body, None)
    assert without_index(data) == parse_feed(body, URL, now=NOW)
    index = decode_index(data.item_index)
    assert index is not None and len(index.items) == 5
    assert data.unchanged == ()


def test_new_items_are_parsed_alone_and_the_rest_keep_their_dates() -> None:
    old = rss([rss_item(n) for n in range(5, 0, -1)])
    new = rss([rss_item(n) for n in range(7, 2, -1)], built="Sun, 01 Mar 2026 11:30:00 GMT")
    full = parse_feed(new, URL, now=NOW)
    data = changes(new, index_of(old))
    assert [e.guid for e in data.entries] == ["story-7", "story-6"]
    assert without_index(data) == replace(full, entries=full.entries[:2])
    assert len(data.unchanged) == 3
    assert sorted(data.entry_dates, key=str) == sorted(full.entry_dates, key=str)
    # The index is the one a full parse of the new document makes.
    assert decode_index(data.item_index) == decode_index(index_of(new))


def test_a_changed_item_is_parsed_again() -> None:
    old = rss([rss_item(2), rss_item(1)])
    new = rss([rss_item(2), rss_item(1, title="Story 1, corrected")])
    data = changes(new, index_of(old))
    assert [(e.guid, e.title) for e in data.entries] == [("story-1", "Story 1, corrected")]
    assert data.entries[0] == parse_feed(new, URL, now=NOW).entries[1]


def test_nothing_changed_but_the_channel() -> None:
    old = rss([rss_item(2), rss_item(1)])
    new = rss([rss_item(2), rss_item(1)], built="Mon, 02 Mar 2026 00:00:00 GMT")
    data = changes(new, index_of(old))
    assert data.entries == () and len(data.unchanged) == 2
    assert data.title == "News" and data.site_url == "https://news.example/"


@pytest.mark.parametrize(
    "change",
    [
        "namespace",  # an ancestor's start tag differs: the items may mean something else
        "url",  # relative links resolve against the feed's URL
        "charset",  # the same bytes decode differently
    ],
)
def test_a_different_context_parses_everything(change: str) -> None:
    items = [rss_item(2), rss_item(1)]
    old = rss(items)
    new, url, content_type = rss(items), URL, None
    if change == "namespace":
        new = rss(items, root=' xmlns:media="http://search.yahoo.com/mrss/"')
    elif change == "url":
        url = "https://news.example/other-feed/"
    else:
        content_type = "application/rss+xml; charset=iso-8859-1"
    data = parse_feed_changes(
        new, url, content_type=content_type, now=NOW, previous_index=index_of(old)
    )
    assert len(data.entries) == 2 and data.unchanged == ()
    assert without_index(data) == parse_feed(new, url, content_type=content_type, now=NOW)


def test_a_new_item_sharing_a_guid_with_a_known_one_parses_everything() -> None:
    # With a shared guid both entries fall back to their links: only a full parse sees that.
    old = rss([rss_item(2), rss_item(1)])
    new = rss([rss_item(3, guid="story-1"), rss_item(2), rss_item(1)])
    data = changes(new, index_of(old))
    full = parse_feed(new, URL, now=NOW)
    assert without_index(data) == full and data.item_index is None
    assert full.entries[0].identity == "https://news.example/3.html"


def test_a_malformed_new_item_parses_everything() -> None:
    old = rss([rss_item(2), rss_item(1)])
    broken = rss_item(3).replace("<title>", "<title><b>", 1)  # an unclosed <b>
    new = rss([broken, rss_item(2), rss_item(1)])
    data = changes(new, index_of(old))
    full = parse_feed(new, URL, now=NOW)
    assert without_index(data) == full and data.item_index is None
    assert any("recovered from" in w for w in full.warnings)


def test_the_entry_cap_applies_as_in_a_full_parse() -> None:
    old = rss([rss_item(n) for n in range(6, 0, -1)])
    new = rss([rss_item(n) for n in range(8, 0, -1)])
    data = changes(new, changes(old, None, max_entries=4).item_index, max_entries=4)
    full = parse_feed(new, URL, now=NOW, max_entries=4)
    assert [e.guid for e in data.entries] == ["story-8", "story-7"]
    assert data.warnings == full.warnings == ("8 entries in the document; kept the first 4",)
    assert len(data.entry_dates) == 4


def test_json_feeds_and_unsplittable_documents_have_no_index() -> None:
    json_feed = b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": []}'
    assert changes(json_feed, None).item_index is None
    odd = rss([rss_item(1)]).replace(b"<channel>", b"<channel><x><item>y</item></x>")
    assert changes(odd, None).item_index is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><head><title>x</title></head><body><item>x</item></body></html>", "HTML page"),
        (b"", "empty document"),
        (b"\x89PNG\r\n\x1a\n<rss><channel><item>x</item></channel></rss>", "binary"),
    ],
)
def test_what_parse_feed_refuses_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(body, URL, now=NOW)
    with pytest.raises(ParseError, match=message):
        changes(body, None)


def test_the_planner_learns_which_identities_were_not_parsed_again() -> None:
    old = rss([rss_item(2), rss_item(1)])
    data = changes(rss([rss_item(3), rss_item(2), rss_item(1)]), index_of(old))
    listed = lists_unchanged(data)
    assert [listed(f"story-{n}") for n in (1, 2, 3)] == [True, True, False]
    assert not lists_unchanged(changes(old, None))("story-1")  # all parsed: none listed


def test_a_foreign_index_is_ignored() -> None:
    body = rss([rss_item(2), rss_item(1)])
    data = changes(body, b"not an index")
    assert len(data.entries) == 2 and data.item_index is not None


# --- exactness on generated documents


@settings(max_examples=60, deadline=None)
@given(
    old=st.lists(st.integers(0, 30), min_size=0, max_size=12, unique=True),
    new=st.lists(st.integers(0, 30), min_size=0, max_size=12, unique=True),
    edited=st.sets(st.integers(0, 30), max_size=3),
)
def test_incremental_equals_full_on_random_documents(
    old: list[int], new: list[int], edited: set[int]
) -> None:
    old_body = rss([rss_item(n) for n in old])
    new_body = rss(
        [rss_item(n, title=f"Edited {n}" if n in edited else None) for n in new],
        built="Mon, 02 Mar 2026 00:00:00 GMT",
    )
    full = parse_feed(new_body, URL, now=NOW)
    data = changes(new_body, index_of(old_body))
    unchanged = {f"story-{n}" for n in old if n not in edited}
    assert [e for e in full.entries if e.guid not in unchanged] == list(data.entries)
    assert replace(without_index(data), entries=full.entries) == full
    assert sorted(data.entry_dates, key=str) == sorted(full.entry_dates, key=str)
    assert decode_index(data.item_index) == decode_index(index_of(new_body))


# --- exactness on the shared corpus of real feeds


def test_real_feeds_give_what_a_full_parse_gives(shared_corpus: Path) -> None:
    """Every corpus file gets what ``parse_feed`` gives (or the same error); every feed with
    at least two items was seen by the last poll without its first item, and the
    incremental parse of the whole must match the full parse exactly."""
    feeds_dir = shared_corpus / "feeds"
    with (feeds_dir / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    incremental = 0
    real_world_incremental = 0
    for row in rows:
        body = (feeds_dir / row["path"]).read_bytes()
        try:
            full = parse_feed(body, URL, now=NOW)
        except ParseError as refused:
            with pytest.raises(ParseError) as also_refused:
                changes(body, None)
            assert also_refused.value.message == refused.message, row["path"]
            continue
        first = changes(body, None)
        assert without_index(first) == full, row["path"]
        items = split_items(body)
        if first.item_index is None or items is None or len(items.spans) < 2:
            continue
        older = items.without_items(range(1, len(items.spans)))
        previous = changes(older, None).item_index
        assert previous is not None, row["path"]
        data = changes(body, previous)
        assert without_index(data) == replace(full, entries=full.entries[:1]), row["path"]
        assert sorted(data.entry_dates, key=str) == sorted(full.entry_dates, key=str)
        assert decode_index(data.item_index) == decode_index(first.item_index), row["path"]
        incremental += 1
        real_world_incremental += row["path"].startswith("realworld/")
    # Most real-world feeds take the fast path (the rest: one item, shared guids, bad XML).
    assert real_world_incremental >= 40 and incremental >= 60, (
        real_world_incremental,
        incremental,
    )
