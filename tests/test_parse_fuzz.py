"""Fuzzing the feed adapter: any bytes give FeedData or ParseError, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import ParseError
from aggregator.parse import parse_feed
from aggregator.types import FeedData

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
SEEDS = [
    path.read_bytes()
    for path in sorted(FIXTURES.iterdir())
    if path.suffix in (".xml", ".json") and not path.name.endswith(".golden.json")
]
NOW = datetime(2024, 6, 1, tzinfo=UTC)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def check(body: bytes, content_type: str | None = None) -> None:
    try:
        feed = parse_feed(body, "https://fuzz.example/feed", content_type=content_type, now=NOW)
    except ParseError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(feed, FeedData)
    identities = [e.identity for e in feed.entries]
    for entry in feed.entries:
        assert entry.identity
        for value in (entry.title, entry.summary_html, entry.content_html, entry.identity):
            if value is not None:
                assert "\x00" not in value
                value.encode("utf-8")
        for date in (entry.published_at, entry.updated_at):
            assert date is None or date.tzinfo is not None
    assert len(identities) == len(feed.entries)


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from([None, "application/json", "text/html"]))
def test_arbitrary_bytes(body: bytes, content_type: str | None) -> None:
    check(body, content_type)


# Splices of markup that parsers find interesting, inserted into real feeds.
MARKUP = st.sampled_from(
    [
        b"<",
        b">",
        b"&",
        b"&#0;",
        b"&#xD800;",
        b"\x00",
        b"]]>",
        b"<![CDATA[",
        b'<!DOCTYPE x [<!ENTITY a "&a;">]>',
        b'<!ENTITY e SYSTEM "file:///etc/passwd">',
        b"&e;",
        b"\xff\xfe",
        b"\xef\xbb\xbf",
        b"<item>",
        b"</item>",
        b"<entry>",
        b"<pubDate>Fri, 31 Dec 9999 23:59:59 GMT</pubDate>",
        b'"id": 1e999,',
        b"\\ud800",
        b"null",
        b"[",
        b"{",
    ]
)


@st.composite
def mutated_feed(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        if action == "insert":
            body[position:position] = draw(MARKUP | st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del body[position : position + draw(st.integers(1, 64))]
        elif action == "replace" and position < len(body):
            body[position] = draw(st.integers(0, 255))
        elif action == "truncate":
            del body[position:]
    return bytes(body)


@FUZZ
@given(mutated_feed())
def test_mutated_real_feeds(body: bytes) -> None:
    check(body)


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    ["id", "url", "title", "items", "content_html", "date_published", "authors"]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_json_feed_with_arbitrary_values(value: object) -> None:
    import json

    document = {"version": "https://jsonfeed.org/version/1.1", "items": [value, {"id": value}]}
    check(json.dumps(document).encode())


DATE_TEXT = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda moment, offset: moment.replace(tzinfo=timezone(offset)).isoformat(),
        st.datetimes(),
        st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
            lambda delta: timedelta(minutes=delta // timedelta(minutes=1))
        ),
    ),
)


@FUZZ
@given(DATE_TEXT)
def test_any_date_string(date_text: str) -> None:
    import json
    from xml.sax.saxutils import escape

    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": "a", "content_text": "x", "date_published": date_text}],
    }
    check(json.dumps(document).encode())
    check(
        (
            '<rss version="2.0"><channel><item><link>https://s.example/</link>'
            f"<pubDate>{escape(date_text)}</pubDate><dc:date xmlns:dc="
            f'"http://purl.org/dc/elements/1.1/">{escape(date_text)}</dc:date>'
            "</item></channel></rss>"
        ).encode("utf-8", "replace")
    )
