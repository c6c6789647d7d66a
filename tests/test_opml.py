"""OPML reading and writing: other readers' exports, round trips, malformed and hostile files."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import OPMLError
from aggregator.opml import (
    MAX_FOLDER_DEPTH,
    MAX_OPML_BYTES,
    OpmlFeed,
    normalize_category,
    parse_opml,
    write_opml,
)
from aggregator.types import NewFeed
from aggregator.urls import normalize_url

FIXTURES = Path(__file__).parent / "fixtures" / "opml"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def opml(body: str, head: str = "<head><title>t</title></head>") -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">{head}<body>\n{body}\n</body></opml>'.encode()


# ---------------------------------------------------------------------------
# Other readers' exports


def test_feedly_export_folders_and_cross_listed_duplicate() -> None:
    document = parse_opml((FIXTURES / "feedly.opml").read_bytes())
    assert document.title == "Dana subscriptions in feedly Cloud"
    assert [(f.title, f.category) for f in document.feeds] == [
        ("Al Jazeera – Middle East", "Middle East"),
        ("BBC News - Middle East", "Middle East"),
        ("Discovery Headlines", "Sanctions"),
    ]
    assert document.feeds[2] == OpmlFeed(
        url="https://discoveryheadlines.com/feed/",
        title="Discovery Headlines",
        site_url="https://discoveryheadlines.com",
        category="Sanctions",
    )
    # Feedly lists a feed once per folder it is in; the second listing is a duplicate.
    assert document.skipped == [
        "line 16: duplicate of the feed on line 10 "
        "(https://feeds.bbci.co.uk/news/world/middle_east/rss.xml); skipped"
    ]


def test_inoreader_export_entities_extra_attributes_and_empty_xmlurl() -> None:
    document = parse_opml((FIXTURES / "inoreader.opml").read_bytes())
    assert [f.category for f in document.feeds] == ["Iran & Gulf", "Iran & Gulf", "Government"]
    assert document.feeds[2].url == "https://ofac.treasury.gov/recent-actions/rss.xml"
    assert document.skipped == ["line 14: outline 'Starred articles' has no xmlUrl; skipped"]


def test_netnewswire_export_top_level_feed_has_no_category() -> None:
    document = parse_opml((FIXTURES / "netnewswire.opml").read_bytes())
    assert document.version == "1.1"
    assert [(f.title, f.category) for f in document.feeds] == [
        ("Arms Control Wonk", None),
        ("Lawfare", "Analysis"),
        ("War on the Rocks", "Analysis"),
        ("JSON Feed Example", "Analysis"),
    ]
    assert document.skipped == []


def test_miniflux_export_text_only_folders() -> None:
    document = parse_opml((FIXTURES / "miniflux.opml").read_bytes())
    assert [f.category for f in document.feeds] == ["All", "Wires", "Wires"]
    assert document.feeds[1].site_url == "https://news.un.org/en/news/region/middle-east"


def test_freshrss_export_namespaced_attributes_and_link_outline() -> None:
    document = parse_opml((FIXTURES / "freshrss.opml").read_bytes())
    assert [f.title for f in document.feeds] == [
        "EU Council press releases",
        "UK sanctions notices",
        "Discovery Headlines",
    ]
    # The URL is kept as written; only duplicate detection normalises it.
    assert document.feeds[1].url.startswith("HTTPS://www.GOV.uk/search/")
    assert document.skipped == ["line 14: outline 'My podcast list' has no xmlUrl; skipped"]


def test_opml1_lowercase_attributes_latin1_category_attribute_and_bad_schemes() -> None:
    document = parse_opml((FIXTURES / "lowercase_opml1.opml").read_bytes())
    assert document.feeds == [
        OpmlFeed(
            url="http://cafe-tehran.example/rss.xml",
            title="Café Tehran",
            site_url="http://cafe-tehran.example/",
            category="Regional / Persian Gulf",
        ),
        OpmlFeed(
            url="http://scripting.com/rss.xml",
            title="Scripting News",
            site_url="http://scripting.com/",
            category=None,
        ),
    ]
    assert [line.split(":")[0] for line in document.skipped] == ["line 10", "line 11"]
    assert "this is a gopher: URL" in document.skipped[0]
    assert "this is a mailto: URL" in document.skipped[1]


def test_to_new_feed_carries_every_field() -> None:
    feed = OpmlFeed(
        url="https://a.example/feed", title="A", site_url="https://a.example/", category="x / y"
    )
    assert feed.to_new_feed() == NewFeed(
        url="https://a.example/feed", title="A", site_url="https://a.example/", category="x / y"
    )


# ---------------------------------------------------------------------------
# Structure


def test_nested_folders_become_joined_categories() -> None:
    document = parse_opml(
        opml(
            """<outline text="News">
                 <outline text="Middle East">
                   <outline title="Gulf" text="ignored because title wins">
                     <outline text="Feed 1" xmlUrl="https://one.example/rss"/>
                   </outline>
                   <outline text="Feed 2" xmlUrl="https://two.example/rss"/>
                 </outline>
                 <outline text="Feed 3" xmlUrl="https://three.example/rss"/>
               </outline>
               <outline text="Feed 4" xmlUrl="https://four.example/rss"/>"""
        )
    )
    assert [(f.title, f.category) for f in document.feeds] == [
        ("Feed 1", "News / Middle East / Gulf"),
        ("Feed 2", "News / Middle East"),
        ("Feed 3", "News"),
        ("Feed 4", None),
    ]


def test_title_falls_back_to_text_and_blank_values_are_none() -> None:
    document = parse_opml(
        opml(
            """<outline text="  Text title  " xmlUrl=" https://a.example/rss " htmlUrl="  "/>
               <outline text="https://b.example/rss" xmlUrl="https://b.example/rss"/>
               <outline title="" text="" xmlUrl="https://c.example/rss"/>"""
        )
    )
    assert document.feeds == [
        OpmlFeed(url="https://a.example/rss", title="Text title"),
        OpmlFeed(url="https://b.example/rss", title=None),
        OpmlFeed(url="https://c.example/rss", title=None),
    ]


def test_duplicates_are_detected_after_url_normalisation() -> None:
    document = parse_opml(
        opml(
            """<outline text="A" xmlUrl="https://news.example/feed"/>
<outline text="B" xmlUrl="HTTPS://NEWS.example:443/feed#top"/>
<outline text="C" xmlUrl="https://news.example/feed?page=2"/>
<outline text="D" xmlUrl="http://news.example:80/feed"/>
<outline text="E" xmlUrl="http://news.example/feed"/>"""
        )
    )
    assert [f.title for f in document.feeds] == ["A", "C", "D"]
    assert document.skipped == [
        "line 4: duplicate of the feed on line 3 (HTTPS://NEWS.example:443/feed#top); skipped",
        "line 7: duplicate of the feed on line 6 (http://news.example/feed); skipped",
    ]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "this is a javascript: URL"),
        ("file:///etc/passwd", "this is a file: URL"),
        ("feed.example/rss", "a URL without http:// or https://"),
        ("https:///no-host", "the URL has no host name"),
        ("https://bad.example:99999/rss", "malformed URL"),
        ("https://news..example/rss", "empty label"),
        ("https://bad example/rss", "contains whitespace or control characters"),
    ],
)
def test_invalid_urls_are_skipped_with_line_and_reason(url: str, reason: str) -> None:
    document = parse_opml(
        opml(
            f'<outline text="ok" xmlUrl="https://ok.example/rss"/>\n<outline text="bad" xmlUrl="{url}"/>'
        )
    )
    assert [f.url for f in document.feeds] == ["https://ok.example/rss"]
    assert len(document.skipped) == 1
    assert document.skipped[0].startswith(f"line 4: invalid feed URL {url!r} (")
    assert reason in document.skipped[0]


def test_outline_without_xmlurl_and_empty_folder_are_reported() -> None:
    document = parse_opml(
        opml(
            """<outline text="A note, not a feed"/>
<outline text="Empty folder"></outline>
<outline text="Folder"><outline text="F" xmlUrl="https://f.example/rss"/></outline>"""
        )
    )
    assert [f.category for f in document.feeds] == ["Folder"]
    assert document.skipped == [
        "line 3: outline 'A note, not a feed' has no xmlUrl; skipped",
        "line 4: outline 'Empty folder' has no xmlUrl; skipped",
    ]


def test_encodings_utf16_and_utf8_bom() -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?><opml version="2.0"><body><outline text="دیدبان" xmlUrl="https://fa.example/rss"/></body></opml>'
    assert parse_opml(text.encode("utf-16")).feeds[0].title == "دیدبان"
    assert (
        parse_opml(b"\xef\xbb\xbf" + opml('<outline text="x" xmlUrl="https://x.example/"/>'))
        .feeds[0]
        .title
        == "x"
    )


# ---------------------------------------------------------------------------
# Malformed files: all or nothing, with the line


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"", None, "empty"),
        (b"   \n  ", None, "empty"),
        (
            b'<?xml version="1.0"?>\n<opml>\n<body>\n<outline text="a" xmlUrl="https://a.example/">\n</body>\n</opml>',
            5,
            "mismatched tag",
        ),
        (
            b'<opml><body>\n\n<outline text="a & b" xmlUrl="https://a.example/"/></body></opml>',
            3,
            "not well-formed",
        ),
        (
            b'<opml><body>\n<outline text="&nbsp;" xmlUrl="https://a.example/"/></body></opml>',
            2,
            "undefined entity",
        ),
        (
            b"<opml><body>\n<outline text='x' xmlUrl='https://a.example/'/>\n</body>",
            3,
            "no element found",
        ),
        (b'<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>', 2, "root element is <rss>"),
        (b'<opml version="2.0">\n<head><title>no body</title></head>\n</opml>', 1, "no <body>"),
        (b"<opml><body></body></opml><opml/>", 1, "junk after document element"),
        (b"\x00\x01\x02binary", 1, "not well-formed"),
    ],
)
def test_malformed_files_raise_with_line(data: bytes, line: int | None, words: str) -> None:
    with pytest.raises(OPMLError) as caught:
        parse_opml(data)
    assert caught.value.line == line
    assert words in str(caught.value)
    if line is not None:
        assert str(caught.value).startswith(f"line {line}: ")


def test_error_late_in_a_large_file_still_imports_nothing() -> None:
    outlines = "\n".join(
        f'<outline text="f{i}" xmlUrl="https://f{i}.example/rss"/>' for i in range(3000)
    )
    data = opml(outlines + '\n<outline text="broken" xmlUrl="https://x.example/?a=1&b=2"/>')
    with pytest.raises(OPMLError) as caught:
        parse_opml(data)
    assert caught.value.line == 3003  # xml declaration, <opml>, then 3000 outlines


def test_oversized_file_is_refused_before_parsing() -> None:
    data = opml("<!--" + "x" * MAX_OPML_BYTES + "-->")
    with pytest.raises(OPMLError, match="larger than"):
        parse_opml(data)


# ---------------------------------------------------------------------------
# Hostile files


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE opml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<opml version="2.0"><body><outline text="&lol9;" xmlUrl="https://x.example/&lol9;"/></body></opml>"""


def test_billion_laughs_is_refused_at_the_doctype() -> None:
    with pytest.raises(OPMLError) as caught:
        parse_opml(BILLION_LAUGHS)
    assert caught.value.line == 2
    assert "DTD" in str(caught.value)
    assert "lol" not in str(caught.value)


def test_internal_entity_in_attribute_is_not_expanded() -> None:
    # libxml2 expands this even with resolve_entities=False; the reader must not.
    data = b'<!DOCTYPE opml [<!ENTITY t "EXPANDED">]><opml><body><outline text="&t;" xmlUrl="https://x.example/"/></body></opml>'
    with pytest.raises(OPMLError, match="DTD"):
        parse_opml(data)


def test_external_entity_pointing_at_a_local_file_reads_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    for data in (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        '<opml><body><outline text="&x;" xmlUrl="https://x.example/"/>&x;</body></opml>',
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY % p SYSTEM "{secret.as_uri()}"> %p;]>'
        "<opml><body/></opml>",
        f'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "{secret.as_uri()}"><opml><body/></opml>',
    ):
        with pytest.raises(OPMLError) as caught:
            parse_opml(data.encode())
        assert "TOP-SECRET-VALUE" not in str(caught.value)
        assert caught.value.line == 1


async def test_external_dtd_and_entities_on_a_server_are_never_fetched(
    aiohttp_server: object,
) -> None:
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text='<!ENTITY x "FETCHED">', content_type="application/xml-dtd")

    app = web.Application()
    app.router.add_get("/{name}", record)
    server = await aiohttp_server(app)  # type: ignore[operator]
    base = f"http://127.0.0.1:{server.port}"
    for data in (
        f'<!DOCTYPE opml SYSTEM "{base}/ext.dtd"><opml><body/></opml>',
        f'<!DOCTYPE opml [<!ENTITY x SYSTEM "{base}/entity">]><opml><body><outline text="&x;" xmlUrl="https://a.example/"/></body></opml>',
        f'<!DOCTYPE opml [<!ENTITY % p SYSTEM "{base}/param"> %p;]><opml><body/></opml>',
    ):
        with pytest.raises(OPMLError):
            parse_opml(data.encode())
    assert hits == []
    # The server does answer, so zero hits above means nothing asked it.
    async with ClientSession() as session, session.get(f"{base}/probe") as response:
        assert response.status == 200
    assert hits == ["/probe"]


def test_thousands_of_outlines_parse_in_order() -> None:
    folders = "\n".join(
        f'<outline text="Folder {f}">'
        + "".join(
            f'<outline text="Feed {f}-{i}" xmlUrl="https://f{f}.example/rss/{i}"/>'
            for i in range(500)
        )
        + "</outline>"
        for f in range(10)
    )
    document = parse_opml(opml(folders))
    assert len(document.feeds) == 5000
    assert document.feeds[0].title == "Feed 0-0"
    assert document.feeds[-1] == OpmlFeed(
        url="https://f9.example/rss/499", title="Feed 9-499", category="Folder 9"
    )


def nested(depth: int) -> bytes:
    opening = "".join(f'<outline text="L{level}">' for level in range(depth - 1))
    closing = "</outline>" * (depth - 1)
    return opml(opening + '<outline text="deep" xmlUrl="https://deep.example/rss"/>' + closing)


def test_nesting_up_to_the_bound_is_accepted() -> None:
    document = parse_opml(nested(MAX_FOLDER_DEPTH))
    assert document.feeds[0].category == " / ".join(f"L{i}" for i in range(MAX_FOLDER_DEPTH - 1))


@pytest.mark.parametrize("depth", [MAX_FOLDER_DEPTH + 1, 100_000])
def test_nesting_past_the_bound_is_refused_with_a_clear_message(depth: int) -> None:
    with pytest.raises(OPMLError, match=f"nested more than {MAX_FOLDER_DEPTH} levels") as caught:
        parse_opml(nested(depth))
    assert caught.value.line == 3


def test_deep_non_outline_elements_are_bounded() -> None:
    data = b"<opml><body>" + b"<x>" * 100_000 + b"</x>" * 100_000 + b"</body></opml>"
    with pytest.raises(OPMLError, match="elements nested more than"):
        parse_opml(data)


# ---------------------------------------------------------------------------
# Writing and round trips


def test_written_file_is_opml_2_with_nested_folders() -> None:
    feeds = [
        OpmlFeed("https://a.example/rss", "A & <B>", "https://a.example/", "News / Middle East"),
        OpmlFeed("https://b.example/rss", None, None, None),
    ]
    data = write_opml(feeds, title='Exported "subs"', now=NOW)
    text = data.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert "<dateCreated>Sat, 28 Nov 2026 12:00:00 GMT</dateCreated>" in text
    assert (
        '<outline text="News" title="News">\n      <outline text="Middle East" title="Middle East">'
        in text
    )
    assert 'text="A &amp; &lt;B&gt;"' in text
    document = parse_opml(data)
    assert document.title == 'Exported "subs"'
    assert document.version == "2.0"
    assert document.feeds == feeds


def test_round_trip_keeps_order_when_categories_interleave() -> None:
    feeds = [
        OpmlFeed("https://1.example/", "one", None, "A / B"),
        OpmlFeed("https://2.example/", "two", None, "A"),
        OpmlFeed("https://3.example/", "three", None, None),
        OpmlFeed("https://4.example/", "four", None, "A / B"),
        OpmlFeed("https://5.example/", "five", None, "A / C"),
        OpmlFeed("https://6.example/", "six", "https://6.example/home", "Z"),
    ]
    assert parse_opml(write_opml(feeds, "t", NOW)).feeds == feeds


def test_round_trip_of_every_fixture_export() -> None:
    for path in sorted(FIXTURES.glob("*.opml")):
        feeds = parse_opml(path.read_bytes()).feeds
        again = parse_opml(write_opml(feeds, path.stem, NOW))
        assert again.feeds == feeds, path.name
        assert again.skipped == []


def test_line_breaks_and_tabs_inside_values_round_trip() -> None:
    feeds = [OpmlFeed("https://w.example/", "a\r\nb\tc", None, "x\ry / z\nw")]
    document = parse_opml(write_opml(feeds, "title\rwith CR", NOW))
    assert document.feeds == feeds
    assert document.title == "title\rwith CR"


def test_untitled_feed_whose_title_is_its_url_round_trips() -> None:
    feeds = [OpmlFeed("https://u.example/", "https://u.example/"), OpmlFeed("https://v.example/")]
    assert parse_opml(write_opml(feeds, "t", NOW)).feeds == feeds


# Text as readers would store it: trimmed, no characters XML cannot carry.
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn"), whitelist_characters="\t\n\r"),
    max_size=40,
).map(str.strip)
optional_title = st.one_of(st.none(), xml_text.filter(bool))
segment = xml_text.filter(lambda s: bool(s) and " / " not in s and s == s.strip())
category = st.one_of(st.none(), st.lists(segment, min_size=1, max_size=4).map(" / ".join))
label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
host = st.builds(
    lambda name, tld: f"{name}.{tld}", label, st.sampled_from(["com", "org", "example", "co.uk"])
)
path_segment = st.text(alphabet="ABCxyz019._~%!$'()*+,;=:@&-", max_size=8)
path = st.builds(
    lambda segments, query: "".join(f"/{segment}" for segment in segments) + query,
    st.lists(path_segment, max_size=4),
    st.sampled_from(["", "?", "?a=1&b=<2>", '?q="x"']),
)
url = st.builds(
    lambda scheme, h, p: f"{scheme}://{h}{p}", st.sampled_from(["http", "https"]), host, path
)
feed = st.builds(
    OpmlFeed, url=url, title=optional_title, site_url=st.one_of(st.none(), url), category=category
)


def unique_urls(feeds: list[OpmlFeed]) -> list[OpmlFeed]:
    seen: set[str] = set()
    kept = []
    for item in feeds:
        key = normalize_url(item.url)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(feed, max_size=12).map(unique_urls), xml_text)
def test_round_trip_property(feeds: list[OpmlFeed], title: str) -> None:
    document = parse_opml(write_opml(feeds, title, NOW))
    assert document.feeds == feeds
    assert document.skipped == []
    assert document.title == (title or None)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_category_strings_read_back_normalised(raw: str) -> None:
    feeds = [OpmlFeed("https://c.example/rss", "c", None, raw)]
    assert parse_opml(write_opml(feeds, "t", NOW)).feeds[0].category == normalize_category(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes_give_a_document_or_opml_error(data: bytes) -> None:
    try:
        document = parse_opml(data)
    except OPMLError as exc:
        assert str(exc)
    else:
        assert all(isinstance(item, OpmlFeed) for item in document.feeds)


VALID = write_opml(
    [
        OpmlFeed("https://a.example/rss", "A", "https://a.example/", "X / Y"),
        OpmlFeed("https://b.example/rss"),
    ],
    "fuzz",
    NOW,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID)), st.integers(0, 40), st.binary(max_size=20))
def test_fuzz_mutated_valid_files_give_a_document_or_opml_error(
    start: int, length: int, junk: bytes
) -> None:
    data = VALID[:start] + junk + VALID[start + length :]
    try:
        document = parse_opml(data)
    except OPMLError as exc:
        assert str(exc)
    else:
        for item in document.feeds:
            assert item.url.lower().startswith(("http://", "https://"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_every_accepted_url_is_one_storage_accepts(raw: str) -> None:
    # add_feeds is all-or-nothing on invalid URLs, so the reader must never pass one through.
    for item in parse_opml(write_opml([OpmlFeed(raw)], "t", NOW)).feeds:
        normalize_url(item.url)


def test_values_storage_cannot_hold_are_skipped_shortened_or_dropped() -> None:
    long_url = "https://long.example/" + "a" * 2100
    document = parse_opml(
        opml(
            f"""<outline text="too long" xmlUrl="{long_url}"/>
<outline title="{"T" * 5000}" xmlUrl="https://t.example/rss"/>
<outline text="js" xmlUrl="https://j.example/rss" htmlUrl="javascript:alert(document.cookie)"/>
<outline text="relative" xmlUrl="https://r.example/rss" htmlUrl="/home"/>
{"".join(f'<outline text="{"folder" * 20} {i}">' for i in range(10))}<outline text="deep" xmlUrl="https://d.example/rss"/>{"</outline>" * 10}"""
        )
    )
    assert len(document.skipped) == 1
    assert document.skipped[0].startswith(f"line 3: invalid feed URL {long_url!r} (")
    assert "longer than 2048 characters" in document.skipped[0]
    titled, scripted, relative, deep = document.feeds
    assert titled.title == "T" * 1024
    # A site URL becomes a link in the web view: only http(s) is kept.
    assert scripted.site_url is None and relative.site_url is None
    assert deep.category is not None and len(deep.category) <= 512
    assert deep.category.startswith(f"{'folder' * 20} 0 / {'folder' * 20} 1")
    assert document.warnings == [
        "line 4: title shortened to 1024 characters",
        "line 5: htmlUrl 'javascript:alert(document.cookie)' dropped (only http:// and https:// "
        "URLs can be fetched, this is a javascript: URL)",
        "line 6: htmlUrl '/home' dropped (only http:// and https:// URLs can be fetched, "
        "this is a URL without http:// or https://)",
        "line 7: category shortened to 4 of 10 folder names (over 512 characters)",
    ]


def test_millions_of_unused_elements_are_not_kept() -> None:
    # 4 bytes each: within the size limit, but a memory bomb if every one became a node.
    data = opml("<x/>" * 500_000 + '<outline text="a" xmlUrl="https://a.example/"/>')
    tracemalloc.start()
    try:
        document = parse_opml(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [feed.url for feed in document.feeds] == ["https://a.example/"]
    assert peak < 30 * 1024 * 1024  # kept as nodes, they take well over 100 MB


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'<?xml version="1.0" encoding="x-no-such-encoding"?><opml><body/></opml>', "encoding"),
        (b"\x1f\x8b\x08\x00compressed", "not well-formed"),
        ('<?xml version="1.0" encoding="UTF-8"?><opml><body/></opml>'.encode("utf-16"), "encoding"),
    ],
)
def test_unreadable_encodings_and_binary_files_are_refused(data: bytes, words: str) -> None:
    with pytest.raises(OPMLError, match=words):
        parse_opml(data)


XML_TOKENS = [
    '<?xml version="1.0" encoding="',
    "utf-8",
    "UTF-16",
    "latin-1",
    "x-unknown",
    "cp1252",
    '"?>',
    "<opml>",
    '<opml version="2.0">',
    "</opml>",
    "<head>",
    "<title>",
    "</title>",
    "</head>",
    "<body>",
    "</body>",
    "<outline ",
    'text="',
    'xmlUrl="',
    'XMLURL="',
    'htmlUrl="',
    'category="',
    "https://a.example/",
    "javascript:x",
    "/",
    '"',
    ">",
    "/>",
    "</outline>",
    "<!DOCTYPE opml>",
    '<!ENTITY e "x">',
    "&amp;",
    "&e;",
    "&#0;",
    "&#x110000;",
    "&#233;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?pi x?>",
    "\n",
    "\x00",
    "\ufeff",
    "é",
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(XML_TOKENS), max_size=40).map("".join),
    st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
def test_fuzz_xml_like_documents_give_a_document_or_opml_error(text: str, encoding: str) -> None:
    data = text.encode(encoding, errors="replace")
    try:
        document = parse_opml(data)
    except OPMLError as exc:
        assert str(exc)
    else:
        for item in document.feeds:
            normalize_url(item.url)
