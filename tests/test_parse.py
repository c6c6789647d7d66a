"""aggregator.parse / aggregator.jsonfeed: golden files, identity, dates, caps, hostile input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.cli.parse import feed_data_to_json
from aggregator.errors import ParseError
from aggregator.parse import TITLE_MAX_CHARS, parse_feed
from aggregator.types import FeedData

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
FEED_URL = "https://news.example.org/feed"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def parse(body: bytes | str, **kwargs: object) -> FeedData:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return parse_feed(data, FEED_URL, now=NOW, **kwargs)  # type: ignore[arg-type]


def rss(items: str, channel_extra: str = "", prolog: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}\n<rss version="2.0"><channel>'
        f"<title>T</title><link>https://site.example/</link>{channel_extra}{items}</channel></rss>"
    )


# ---------------------------------------------------------------------------
# Golden files: what the CLI prints for small hand-written feeds


@pytest.mark.parametrize(
    "name",
    [
        "rss20_content_encoded.xml",
        "atom10_xml_base.xml",
        "rss10_rdf.xml",
        "jsonfeed11.json",
        "hostile_entries.xml",
    ],
)
def test_golden(name: str) -> None:
    feed = parse((FIXTURES / name).read_bytes())
    actual = feed_data_to_json(FEED_URL, feed)
    golden = FIXTURES / (name.rsplit(".", 1)[0] + ".golden.json")
    if os.environ.get("AGGREGATOR_UPDATE_GOLDEN"):  # regenerate after a deliberate change
        golden.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert golden.exists(), f"{golden.name} missing: run with AGGREGATOR_UPDATE_GOLDEN=1"
    assert actual == json.loads(golden.read_text("utf-8"))


def test_rss_content_encoded_details() -> None:
    feed = parse((FIXTURES / "rss20_content_encoded.xml").read_bytes())
    assert feed.format == "rss20"
    assert feed.ttl_s == 90 * 60
    assert feed.update_period_s == 1800  # hourly, twice
    assert feed.title == "Sanctions & Trade Desk"
    first = feed.entries[0]
    assert first.identity == "desk-1001"
    assert first.title == "Treasury adds new designations"
    assert first.published_at == datetime(2024, 5, 14, 13, 30, tzinfo=UTC)
    # Relative links resolve against the entry link; the script is gone.
    assert first.content_html is not None
    assert 'src="https://news.example.org/2024/05/img/chart.png"' in first.content_html
    assert 'href="https://news.example.org/2024/archive"' in first.content_html
    assert "script" not in first.content_html
    assert first.image_url == "https://cdn.example.org/thumb/1001.jpg"
    assert feed.entries[1].identity == "https://news.example.org/2024/05/second"
    assert feed.entries[2].identity.startswith("hash:")


def test_atom_xml_base_resolution() -> None:
    feed = parse((FIXTURES / "atom10_xml_base.xml").read_bytes())
    assert feed.format == "atom10"
    assert feed.title == "Notes from the <Gulf>"  # type="text": markup-like text is kept
    assert feed.site_url == "https://blog.example.net/"
    shipping, undated = feed.entries
    assert shipping.url == "https://blog.example.net/posts/2024/shipping.html"
    assert shipping.content_html is not None
    assert "https://static.example.net/media/map.png" in shipping.content_html
    assert "https://static.example.net/media/notes/1" in shipping.content_html
    assert shipping.published_at == datetime(2024, 5, 14, 6, 0, tzinfo=UTC)
    assert shipping.updated_at == datetime(2024, 5, 14, 8, 15, tzinfo=UTC)
    assert undated.url == "https://blog.example.net/posts/undated"
    assert undated.published_at is None and undated.updated_at is None


def test_json_feed_types_validated() -> None:
    feed = parse((FIXTURES / "jsonfeed11.json").read_bytes())
    assert feed.format == "json11"
    assert [e.identity for e in feed.entries] == ["brief-42", "43", "bad-types"]
    brief = feed.entries[0]
    assert brief.categories == ("energy", "oil")
    assert brief.image_url == "https://briefs.example.com/img/42.png"
    assert brief.content_html is not None and "iframe" not in brief.content_html
    assert feed.entries[1].published_at is None  # "not a date"
    assert feed.entries[2].title is None and feed.entries[2].url is None
    assert any("skipped 2 item" in w for w in feed.warnings)


def test_json_feed_1_0_with_author_object() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "title": "Old",
        "items": [{"id": "a", "content_text": "x", "author": {"name": "Ann"}}],
    }
    feed = parse(json.dumps(doc))
    assert feed.format == "json10"
    assert feed.entries[0].author == "Ann"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", None, "empty"),
        (b"   \n ", None, "empty"),
        (b"<!DOCTYPE html><html><head><title>Hi</title></head><body>x</body></html>", None, "HTML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None, "image"),
        (b"\x1f\x8b\x08\x00garbage", None, "gzip"),
        (b'{"version": "https://jsonfeed.org/version/9", "items": []}', None, "not a JSON Feed"),
        (b'{"rss": {"channel": {}}}', None, "RSS-in-JSON"),
        (b"[1, 2, 3]", None, "not a JSON Feed"),
        (b"{not json", None, "invalid JSON"),
        (b"[" * 100_000, None, "JSON"),
        (b'<?xml version="1.0"?><opml version="2.0"><body/></opml>', None, "<opml>"),
        (b"just some text, no markup at all", None, "not an RSS"),
        (b'{"version": 1}', "application/feed+json", "not a JSON Feed"),
    ],
)
def test_not_a_feed(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, FEED_URL, content_type=content_type, now=NOW)
    assert caught.value.url == FEED_URL
    assert message in caught.value.message
    assert "\n" not in str(caught.value)


def test_empty_feeds_are_feeds() -> None:
    feed = parse(rss(""))
    assert feed.entries == () and feed.title == "T"
    atom = parse('<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title></feed>')
    assert atom.format == "atom10" and atom.entries == ()


# ---------------------------------------------------------------------------
# Identity


def item(guid: str | None = None, link: str | None = None, title: str = "t", desc: str = "") -> str:
    parts = [f"<title>{title}</title>"]
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if desc:
        parts.append(f"<description>{desc}</description>")
    return "<item>" + "".join(parts) + "</item>"


def test_identity_prefers_guid_then_link_then_hash() -> None:
    feed = parse(
        rss(
            item(guid="g1", link="https://s.example/1")
            + item(link="https://s.example/2")
            + item(title="only a title")
        )
    )
    assert [e.identity for e in feed.entries][:2] == ["g1", "https://s.example/2"]
    assert feed.entries[2].identity.startswith("hash:")


def test_repeated_guid_falls_back_to_link() -> None:
    items = "".join(
        item(guid="same", link=f"https://s.example/{i}", title=f"t{i}") for i in range(4)
    )
    feed = parse(rss(items))
    identities = [e.identity for e in feed.entries]
    assert identities == [f"https://s.example/{i}" for i in range(4)]
    assert all(e.guid == "same" for e in feed.entries)


def test_repeated_guid_and_link_fall_back_to_distinct_hashes() -> None:
    items = "".join(item(guid="same", link="https://s.example/", title=f"t{i}") for i in range(3))
    identities = [e.identity for e in parse(rss(items)).entries]
    assert len(set(identities)) == 3 and all(i.startswith("hash:") for i in identities)


def test_hash_identity_is_stable_across_parses() -> None:
    doc = rss(item(title="no guid no link", desc="body"))
    assert parse(doc).entries[0].identity == parse(doc).entries[0].identity


def test_phantom_entries_dropped() -> None:
    feed = parse(rss("<item></item>" + item(link="https://s.example/1") + "<item> </item>"))
    assert [e.url for e in feed.entries] == ["https://s.example/1"]


# ---------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("Tue, 14 May 2024 09:30:00 -0400", datetime(2024, 5, 14, 13, 30, tzinfo=UTC)),
        ("Fri, 31 Dec 9999 23:59:59 GMT", NOW),  # far future: clamped
        ("Sun, 02 Jun 2024 11:00:00 GMT", datetime(2024, 6, 2, 11, 0, tzinfo=UTC)),  # < 1 day
        ("Wed, 05 Jun 2024 11:00:00 GMT", NOW),  # days ahead: clamped
        ("Mon, 01 Jan 1900 00:00:00 GMT", None),  # placeholder date
        ("not a date at all", None),
        ("", None),
    ],
)
def test_dates(pub_date: str, expected: datetime | None) -> None:
    feed = parse(rss(f"<item><link>https://s.example/1</link><pubDate>{pub_date}</pubDate></item>"))
    assert feed.entries[0].published_at == expected


# ---------------------------------------------------------------------------
# Content hash, text cleaning, caps


def test_content_hash_ignores_dates_but_not_text() -> None:
    one = parse(
        rss(
            item(guid="g", desc="body").replace(
                "</item>", "<pubDate>Mon, 13 May 2024 00:00:00 GMT</pubDate></item>"
            )
        )
    )
    two = parse(rss(item(guid="g", desc="body")))
    three = parse(rss(item(guid="g", desc="body changed")))
    assert one.entries[0].content_hash == two.entries[0].content_hash
    assert two.entries[0].content_hash != three.entries[0].content_hash


def test_nul_bytes_and_huge_title() -> None:
    huge = "A" * 5_000_000
    doc = rss(item(guid="g\x00", title=f"Big\x00 {huge}", desc="x\x00y"))
    feed = parse(doc)
    entry = feed.entries[0]
    assert entry.title is not None and len(entry.title) <= TITLE_MAX_CHARS
    for value in (entry.title, entry.guid, entry.summary_html, entry.identity):
        assert value is not None and "\x00" not in value


def test_title_markup_and_whitespace() -> None:
    feed = parse(
        rss(item(guid="g", title="  A &amp;amp; B\n\n &lt;b&gt;bold&lt;/b&gt;   x &lt; y "))
    )
    assert feed.entries[0].title == "A & B bold x < y"


def test_entry_cap_keeps_document_order() -> None:
    items = "".join(item(guid=f"g{i}") for i in range(30))
    feed = parse(rss(items), max_entries=10)
    assert [e.identity for e in feed.entries] == [f"g{i}" for i in range(10)]
    assert any("kept the first 10" in w for w in feed.warnings)


def test_bozo_warning_for_recovered_feed() -> None:
    feed = parse(rss(item(guid="g", title="AT&T unescaped")))
    assert feed.entries and feed.warnings and feed.warnings[0].startswith("recovered from:")


def test_charset_from_content_type() -> None:
    body = rss(item(guid="g", title="caf\xe9")).replace('encoding="utf-8"', "").encode("latin-1")
    feed = parse_feed(body, FEED_URL, content_type="text/xml; charset=ISO-8859-1", now=NOW)
    assert feed.entries[0].title == "café"


def test_utf16_document() -> None:
    body = rss(item(guid="g", title="Привет")).replace("utf-8", "utf-16").encode("utf-16")
    assert parse(body).entries[0].title == "Привет"


def test_blank_line_before_declaration_parses_strictly() -> None:
    feed = parse("\n\n" + rss(item(guid="g")))
    assert feed.warnings == () and feed.entries[0].identity == "g"


def test_sy_update_period_and_ttl_edge_values() -> None:
    extra = (
        "<ttl>abc</ttl>"
        '<sy:updatePeriod xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">daily'
        "</sy:updatePeriod>"
    )
    feed = parse(rss("", channel_extra=extra))
    assert feed.ttl_s is None and feed.update_period_s == 86400


# ---------------------------------------------------------------------------
# Hostile HTML


def test_hostile_html_is_sanitized() -> None:
    feed = parse((FIXTURES / "hostile_entries.xml").read_bytes())
    html = " ".join((e.summary_html or "") + (e.content_html or "") for e in feed.entries).lower()
    for needle in (
        "<script",
        "<form",
        "javascript:",
        "onerror",
        "onclick",
        "onmouseover",
        "onload",
        "<iframe",
        "<object",
        "<svg",
        "<meta",
        "<style",
        "data:text/html",
        "alert(",
    ):
        assert needle not in html, needle
    assert "safe text" in html


# ---------------------------------------------------------------------------
# XML attacks


def test_external_entity_cannot_read_local_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-7f3a9")
    uri = secret_file.as_uri()
    variants = [
        # multi-line DTD, one-line DTD, parameter entity, external DTD subset
        f'\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{uri}">\n]>',
        f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}">]>',
        f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{uri}"> %p;]>',
        f'<!DOCTYPE rss SYSTEM "{uri}">',
    ]
    for prolog in variants:
        doc = rss(item(guid="g", title="a &xxe; b", desc="&xxe;"), prolog=prolog)
        for body in (doc.encode("utf-8"), doc.replace("utf-8", "utf-16").encode("utf-16")):
            try:
                feed = parse(body)
            except ParseError:
                continue
            assert "TOP-SECRET" not in repr(feed), prolog


BILLION_LAUGHS = textwrap.dedent(
    """\
    import resource, sys
    from datetime import UTC, datetime
    from aggregator.parse import parse_feed
    from aggregator.errors import ParseError
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10)
    ]
    for sep in ("\\n", ""):
        dtd = "<!DOCTYPE lolz [" + sep + sep.join(levels) + sep + "]>"
        doc = ('<?xml version="1.0"?>' + dtd + '<rss version="2.0"><channel><title>&lol9;</title>'
               '<item><title>x &lol9;</title><link>https://s.example/1</link></item>'
               '</channel></rss>')
        try:
            feed = parse_feed(doc.encode(), "https://x.example/", now=datetime.now(UTC))
            assert len(repr(feed)) < 100_000, "entities expanded"
        except ParseError:
            pass
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def test_billion_laughs_is_bounded() -> None:
    # A subprocess with a hard address-space limit: an expansion would die there, not here.
    script = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
    completed = subprocess.run(
        [sys.executable, "-c", script + BILLION_LAUGHS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    peak_kib = int(completed.stdout.strip().splitlines()[-1])
    assert peak_kib < 400 * 1024  # a couple hundred MiB at most for the interpreter and imports


def test_guid_of_one_entry_equal_to_link_of_another_stays_distinct() -> None:
    feed = parse(
        rss(
            item(guid="https://s.example/1", link="https://s.example/a", title="A")
            + item(link="https://s.example/1", title="B")
        )
    )
    identities = [e.identity for e in feed.entries]
    assert len(set(identities)) == 2 and identities[0] == "https://s.example/1"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/rss+xml; charset=bogus-enc",  # unknown charset
        "text/html",  # lying type
        "application/json",  # lying type, XML body
        "text/xml; charset=utf-16",  # contrary to the bytes
        None,
    ],
)
def test_wrong_content_type_or_charset(content_type: str | None) -> None:
    doc = rss(item(guid="g", title="über")).replace("utf-8", "iso-8859-1").encode("latin-1")
    feed = parse_feed(doc, FEED_URL, content_type=content_type, now=NOW)
    assert feed.entries[0].title == "über"


def test_bom_contradicting_declaration() -> None:
    doc = b"\xef\xbb\xbf" + rss(item(guid="g", title="über")).replace("utf-8", "iso-8859-1").encode(
        "utf-8"
    )
    assert parse(doc).entries[0].title == "über"


def test_default_entry_cap_bounds_huge_feeds() -> None:
    items = "".join(f"<item><guid>g{i}</guid></item>" for i in range(6000))
    feed = parse(rss(items))
    assert len(feed.entries) == 5000
    assert feed.entries[0].identity == "g0" and feed.entries[-1].identity == "g4999"


def test_same_guid_on_every_entry_of_a_big_feed() -> None:
    items = "".join(
        f"<item><guid>same</guid><link>https://s.example/{i}</link></item>" for i in range(500)
    )
    identities = {e.identity for e in parse(rss(items)).entries}
    assert len(identities) == 500


def test_parse_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    documents = [
        (FIXTURES / n).read_bytes() for n in sorted(os.listdir(FIXTURES)) if "golden" not in n
    ]
    expected = [parse(d) for d in documents]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(5):
            assert list(pool.map(parse, documents)) == expected


def test_utf16_bytes_with_a_single_byte_charset_header() -> None:
    body = rss(item(guid="g", title="Привет")).replace("utf-8", "utf-16").encode("utf-16")
    feed = parse_feed(body, FEED_URL, content_type="text/xml; charset=iso-8859-1", now=NOW)
    assert feed.entries[0].title == "Привет"


@pytest.mark.parametrize(
    ("date_published", "expected"),
    [
        ("2024-05-12T10:00:00-05:00", datetime(2024, 5, 12, 15, 0, tzinfo=UTC)),
        ("2024-05-12T10:00:00Z", datetime(2024, 5, 12, 10, 0, tzinfo=UTC)),
        ("2024-05-12 10:00:00", datetime(2024, 5, 12, 10, 0, tzinfo=UTC)),  # naive: UTC
        ("Sun, 12 May 2024 10:00:00 GMT", datetime(2024, 5, 12, 10, 0, tzinfo=UTC)),
        ("0001-01-01T00:00:00+05:00", None),  # offset overflows datetime's range
        ("9999-12-31T23:00:00-05:00", NOW),
        ("9999-12-31T23:59:59Z", NOW),
        ("1969-12-31T23:59:59Z", None),
        ("not a date", None),
        (12345, None),
    ],
)
def test_json_feed_dates(date_published: object, expected: datetime | None) -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": "a", "content_text": "x", "date_published": date_published}],
    }
    assert parse(json.dumps(doc)).entries[0].published_at == expected


@pytest.mark.parametrize(("attributes", "elements"), [(100_000, 1), (900, 100)])
def test_attribute_floods_are_refused(attributes: int, elements: int) -> None:
    # feedparser's SAX layer is quadratic in attributes per element: minutes of CPU otherwise.
    tag = "<item " + " ".join(f'a{i}="1"' for i in range(attributes)) + "></item>"
    with pytest.raises(ParseError, match="attributes"):
        parse(rss(tag * elements))


def test_attribute_heavy_but_legitimate_markup_parses() -> None:
    link = '<a href="https://x.example/?a=1&amp;b=2" title="t" class="c">l</a>'
    items = "".join(
        f"<item><guid>g{i}</guid><description><![CDATA[{link * 100}]]></description></item>"
        for i in range(200)
    )
    assert len(parse(rss(items)).entries) == 200


def test_tag_floods_are_refused() -> None:
    with pytest.raises(ParseError, match="tags in one document"):
        parse(rss("<item><title>" + "<a" * 1_000_001))


@pytest.mark.parametrize("separator", ["\n", ""])
def test_simple_internal_entities_still_work(separator: str) -> None:
    prolog = (
        f"<!DOCTYPE rss [{separator}<!ENTITY copy2 '&#169;'>{separator}"
        f'<!ENTITY org "Example Org">{separator}]>'
    )
    feed = parse(rss(item(guid="g", title="&copy2; 2024 &org;"), prolog=prolog))
    assert feed.entries[0].title == "© 2024 Example Org"


def test_guids_differing_only_past_the_length_cap_stay_distinct_and_stable() -> None:
    # Two entries whose guids share their first 2,000 characters: each keeps an identity
    # of its own, derived from the whole guid, so editing a title makes no duplicate.
    prefix = "urn:x:" + "a" * 2000
    first = parse(rss(item(guid=prefix + "1", title="one") + item(guid=prefix + "2", title="two")))
    edited = parse(rss(item(guid=prefix + "1", title="one, edited") + item(guid=prefix + "2")))
    identities = [e.identity for e in first.entries]
    assert len(set(identities)) == 2
    assert not any(i.startswith("hash:") for i in identities)  # not the title fallback
    assert [e.identity for e in edited.entries] == identities


def test_json_feed_long_ids_keep_their_whole_value() -> None:
    prefix = "a" * 3000
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [
            {"id": prefix + "1", "content_text": "one"},
            {"id": prefix + "2", "content_text": "two"},
        ],
    }
    identities = [
        e.identity for e in parse(json.dumps(doc), content_type="application/feed+json").entries
    ]
    assert len(set(identities)) == 2
    assert not any(i.startswith("hash:") for i in identities)
