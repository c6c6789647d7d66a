"""aggregator.publish: valid Atom / RSS / JSON Feed with stable ids, paging and the extension."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from aggregator.publish import (
    AGGREGATOR_NS,
    ATOM_NS,
    FeedFormat,
    FeedPage,
    PublishItem,
    entry_id_uri,
    render_atom,
    render_feed,
    render_json_feed,
    render_rss,
    render_topics_opml,
)
from aggregator.types import (
    Article,
    ArticleStatus,
    Entry,
    MatchOrigin,
    MatchState,
    Topic,
    TopicMatch,
)

BASE = "http://news.example.test:8080"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SCHEMA_PATH = Path(__file__).parent / "fixtures" / "atom.rng"

XSS_PAYLOADS = [
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>',
]
DANGEROUS_MARKERS = [
    "<script",
    "onerror",
    "javascript:",
    "<iframe",
    "<form",
    "<svg",
    "onload",
    "data:text/html",
    "http-equiv",
]


@pytest.fixture(scope="module")
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMA_PATH)))


def make_topic(**overrides: object) -> Topic:
    values: dict[str, object] = {
        "id": 1,
        "slug": "us-iran",
        "name": "U.S.–Iran relations",
        "description": "Diplomacy, sanctions & talks",
        "definition": "",
        "version": 3,
        "updated_at": NOW - timedelta(days=3),
    }
    values.update(overrides)
    return Topic(**values)  # type: ignore[arg-type]


def make_item(
    entry_id: int,
    *,
    html: str = "<p>Body <b>text</b></p>",
    title: str | None = None,
    article: bool = True,
    decided: datetime | None = None,
) -> PublishItem:
    published = NOW - timedelta(hours=entry_id)
    entry = Entry(
        id=entry_id,
        feed_id=7,
        identity=f"guid-{entry_id}",
        url=f"https://source.example.test/story/{entry_id}",
        title=title if title is not None else f"Story {entry_id} & more",
        author="Jane Reporter",
        published_at=published,
        updated_at=published + timedelta(minutes=5),
        summary_html=f"<p>Summary {entry_id} {html}</p>",
        content_html=html,
        content_hash="h",
        first_seen_at=published,
        feed_title="Source <News>",
        feed_url="https://source.example.test/feed.xml",
        feed_site_url="https://source.example.test/",
    )
    art = (
        Article(
            entry_id=entry_id,
            status=ArticleStatus.OK,
            title=entry.title,
            text="Full text of the article.",
            html=f"<p>Full article</p>{html}",
        )
        if article
        else None
    )
    match = TopicMatch(
        entry_id=entry_id,
        topic_slug="us-iran",
        score=2.5,
        explanation={"matched": ["iran", "sanctions"], "rule": "any"},
        origin=MatchOrigin.RULE,
        state=MatchState.AUTO,
        topic_version=3,
        decided_at=decided,
    )
    return PublishItem(entry=entry, article=art, match=match, topics=("us-iran", "sanctions"))


def test_atom_validates_against_rfc4287_schema_and_reparses(atom_schema: etree.RelaxNG) -> None:
    items = [make_item(i) for i in range(1, 4)]
    published = render_atom(
        make_topic(), items, base_url=BASE, page=FeedPage(limit=3, next_before="cursor-3"), now=NOW
    )
    document = etree.fromstring(published.body)
    assert atom_schema.validate(document), atom_schema.error_log
    parsed = feedparser.parse(published.body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.id for e in parsed.entries] == [entry_id_uri(BASE, i) for i in (1, 2, 3)]
    first = parsed.entries[0]
    assert first.link == "https://source.example.test/story/1"
    assert first.title == "Story 1 & more"
    assert first.author == "Jane Reporter"
    assert {t.term for t in first.tags} == {"us-iran", "sanctions"}
    assert "Full article" in first.content[0].value
    assert first.source.title == "Source"  # markup in a source name is dropped, not rendered
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["next"] == f"{BASE}/topics/us-iran.atom?before=cursor-3"
    assert links["self"] == f"{BASE}/topics/us-iran.atom"
    assert published.content_type.startswith("application/atom+xml")


def test_atom_extension_carries_the_explanation() -> None:
    published = render_atom(
        make_topic(), [make_item(1)], base_url=BASE, page=FeedPage(limit=50), now=NOW
    )
    document = etree.fromstring(published.body)
    explanation = document.find(f".//{{{AGGREGATOR_NS}}}match/{{{AGGREGATOR_NS}}}explanation")
    assert explanation is not None and explanation.text
    assert json.loads(explanation.text) == {"matched": ["iran", "sanctions"], "rule": "any"}
    match = explanation.getparent()
    assert match is not None and match.get("state") == "auto" and match.get("score") == "2.5"


def test_empty_topic_is_still_valid(atom_schema: etree.RelaxNG) -> None:
    published = render_atom(
        make_topic(updated_at=None), [], base_url=BASE, page=FeedPage(limit=50), now=NOW
    )
    assert atom_schema.validate(etree.fromstring(published.body)), atom_schema.error_log
    assert feedparser.parse(published.body).bozo == 0
    rss = render_rss(make_topic(), [], base_url=BASE, page=FeedPage(limit=50), now=NOW)
    assert feedparser.parse(rss.body).bozo == 0


def test_rss_reparses_cleanly_with_self_link() -> None:
    items = [make_item(i) for i in range(1, 3)]
    published = render_rss(
        make_topic(), items, base_url=BASE, page=FeedPage(limit=2, next_before="c2"), now=NOW
    )
    parsed = feedparser.parse(published.body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    links = {link.rel: link.href for link in parsed.feed.links if "rel" in link}
    assert links["self"] == f"{BASE}/topics/us-iran.rss"
    assert links["next"] == f"{BASE}/topics/us-iran.rss?before=c2"
    assert [e.id for e in parsed.entries] == [entry_id_uri(BASE, 1), entry_id_uri(BASE, 2)]
    assert parsed.entries[0].source.href == "https://source.example.test/feed.xml"
    assert parsed.entries[0].author == "Jane Reporter"
    assert "Full article" in parsed.entries[0].content[0].value


def test_json_feed_has_required_fields_and_extension() -> None:
    items = [make_item(1), make_item(2, article=False, html="")]
    published = render_json_feed(
        make_topic(), items, base_url=BASE, page=FeedPage(limit=2, next_before="c"), now=NOW
    )
    document = json.loads(published.body)
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == "U.S.–Iran relations"
    assert document["next_url"].endswith("/topics/us-iran.json?before=c")
    for item in document["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item.get("content_html") or item.get("content_text")
        datetime.fromisoformat(item["date_published"].replace("Z", "+00:00"))
    first = document["items"][0]
    assert first["_aggregator"]["match"]["explanation"]["matched"] == ["iran", "sanctions"]
    assert first["_aggregator"]["source"]["feed_url"] == "https://source.example.test/feed.xml"
    assert first["tags"] == ["us-iran", "sanctions"]
    # feedparser 6 has no JSON Feed support, so check the spec's shape directly.
    assert [item["id"] for item in document["items"]] == [
        entry_id_uri(BASE, 1),
        entry_id_uri(BASE, 2),
    ]
    assert document["items"][1]["content_text"]  # no HTML anywhere: text is still present


def test_ids_are_stable_across_renders_and_etag_follows_bytes() -> None:
    page = FeedPage(limit=50)
    one = render_atom(make_topic(), [make_item(1), make_item(2)], base_url=BASE, page=page, now=NOW)
    two = render_atom(
        make_topic(),
        [make_item(1), make_item(2)],
        base_url=BASE,
        page=page,
        now=NOW + timedelta(hours=1),
    )
    assert one.body == two.body and one.etag == two.etag
    fewer = render_atom(make_topic(), [make_item(1)], base_url=BASE, page=page, now=NOW)
    assert fewer.etag != one.etag
    assert entry_id_uri(BASE, 1) in fewer.body.decode()
    assert one.etag.startswith('"') and not one.etag.startswith("W/")


def test_last_modified_follows_curator_decisions() -> None:
    page = FeedPage(limit=50)
    decided = NOW + timedelta(minutes=30)
    plain = render_atom(make_topic(), [make_item(1)], base_url=BASE, page=page, now=NOW)
    reviewed = render_atom(
        make_topic(), [make_item(1, decided=decided)], base_url=BASE, page=page, now=NOW
    )
    assert reviewed.last_modified == decided
    assert plain.last_modified < reviewed.last_modified


HTML_FIELDS = {
    "atom": [f"{{{ATOM_NS}}}content", f"{{{ATOM_NS}}}summary"],
    "rss": ["description", "{http://purl.org/rss/1.0/modules/content/}encoded"],
}
TITLE_FIELDS = {"atom": [f"{{{ATOM_NS}}}title"], "rss": ["title"]}


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payloads_are_sanitized_in_every_format(fmt: FeedFormat, payload: str) -> None:
    item = make_item(1, html=payload, title=payload + "Headline")
    published = render_feed(
        fmt, make_topic(), [item], base_url=BASE, page=FeedPage(limit=50), now=NOW
    )
    if fmt == "json":
        first = json.loads(published.body)["items"][0]
        html_fields = [first.get("content_html", ""), first.get("summary", "")]
        titles = [first["title"]]
    else:
        # What a client renders is the element text after XML unescaping.
        document = etree.fromstring(published.body)
        html_fields = [el.text or "" for tag in HTML_FIELDS[fmt] for el in document.iter(tag)]
        titles = [el.text or "" for tag in TITLE_FIELDS[fmt] for el in document.iter(tag)]
    assert any("Headline" in t for t in titles)
    assert all("<" not in t for t in titles)
    assert html_fields and any(html_fields)
    for marker in DANGEROUS_MARKERS:
        for html in html_fields:
            assert marker not in html.lower(), (marker, html)


def test_xss_title_is_plain_text() -> None:
    item = make_item(1, title="<script>alert(1)</script>Headline")
    published = render_atom(make_topic(), [item], base_url=BASE, page=FeedPage(limit=50), now=NOW)
    parsed = feedparser.parse(published.body)
    assert parsed.entries[0].title == "Headline"


def test_control_characters_and_extreme_dates_still_give_valid_atom(
    atom_schema: etree.RelaxNG,
) -> None:
    item = make_item(1, html="<p>nul\x00 and \x0b vertical tab</p>", title="bad\x01title")
    old = PublishItem(
        entry=Entry(
            id=9,
            feed_id=1,
            identity="x",
            url=None,
            title=None,
            author=None,
            published_at=datetime(1900, 1, 1, tzinfo=UTC),
            updated_at=None,
            summary_html=None,
            content_html=None,
            content_hash="h",
            first_seen_at=NOW,
        ),
    )
    published = render_atom(
        make_topic(), [item, old], base_url=BASE, page=FeedPage(limit=50), now=NOW
    )
    assert atom_schema.validate(etree.fromstring(published.body)), atom_schema.error_log
    assert feedparser.parse(published.body).bozo == 0
    rss = render_rss(make_topic(), [item, old], base_url=BASE, page=FeedPage(limit=50), now=NOW)
    assert feedparser.parse(rss.body).bozo == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.text(max_size=80),
    body=st.text(max_size=200),
    author=st.text(max_size=30),
    cursor=st.text(max_size=20),
)
def test_arbitrary_text_always_gives_valid_documents(
    atom_schema: etree.RelaxNG, title: str, body: str, author: str, cursor: str
) -> None:
    base = make_item(1, html=body, title=title)
    item = PublishItem(
        entry=dataclasses.replace(base.entry, author=author),
        article=base.article,
        match=base.match,
        topics=base.topics,
    )
    page = FeedPage(limit=1, next_before=cursor)
    atom = render_atom(make_topic(name=title or "t"), [item], base_url=BASE, page=page, now=NOW)
    assert atom_schema.validate(etree.fromstring(atom.body)), atom_schema.error_log
    rss = render_rss(make_topic(), [item], base_url=BASE, page=page, now=NOW)
    etree.fromstring(rss.body)
    json.loads(render_json_feed(make_topic(), [item], base_url=BASE, page=page, now=NOW).body)


def test_topics_opml_lists_every_topic_feed() -> None:
    topics = [make_topic(), make_topic(id=2, slug="sanctions", name="Sanctions")]
    body = render_topics_opml(topics, base_url=BASE, now=NOW)
    document = etree.fromstring(body)
    outlines = document.findall("./body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [
        f"{BASE}/topics/us-iran.atom",
        f"{BASE}/topics/sanctions.atom",
    ]
    assert all(o.get("type") == "rss" and o.get("text") for o in outlines)


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_only_http_links_are_published(fmt: FeedFormat) -> None:
    base = make_item(1)
    hostile = dataclasses.replace(
        base.entry,
        url="javascript:alert(1)",
        feed_url="data:text/html,<script>alert(2)</script>",
        feed_site_url="vbscript:msgbox(3)",
    )
    item = PublishItem(entry=hostile, article=base.article, match=base.match, topics=base.topics)
    body = render_feed(
        fmt, make_topic(), [item], base_url=BASE, page=FeedPage(limit=50), now=NOW
    ).body.decode()
    for scheme in ("javascript:", "data:text/html", "vbscript:"):
        assert scheme not in body
    # The entry still links somewhere useful: its page on this site.
    assert f"{BASE}/articles/1" in body
