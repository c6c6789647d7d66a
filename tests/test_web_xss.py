"""Known XSS payloads through the whole path (issue 7): a hostile feed and article page ->
parse -> storage -> extract -> web pages and topic feeds. Checked on the DOM, not by
substring: no script, no active element, no event handler, no script URL survives."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import lxml.html
import pytest
from aiohttp.test_utils import TestClient
from lxml import etree

from aggregator import storage
from aggregator.extract import extract
from aggregator.parse import parse_feed
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.types import (
    Article,
    ArticleStatus,
    EntryPlan,
    FetchLogRecord,
    FetchOutcome,
    MatchOrigin,
    MatchState,
    NewFeed,
    TopicMatch,
)
from tests.storage_helpers import ok_update
from tests.web_support import NOW, WebTestSettings
from web.app import create_app

# One payload per technique, after the categories of the public XSS filter-evasion cheat sheets.
PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    '<img src="javascript:alert(1)">',
    "<img src=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href=" &#14;  javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "<body onload=alert(1)>",
    "<svg/onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    "<style>@import 'javascript:alert(1)';</style>",
    '<div style="background-image:url(javascript:alert(1))">x</div>',
    '<div style="width:expression(alert(1))">x</div>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<video><source onerror="alert(1)"></video>',
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<template><script>alert(1)</script></template>",
    "{{7*7}}${7*7}<%= 7*7 %>",
]

DANGEROUS_ELEMENTS = {
    "script",
    "iframe",
    "object",
    "embed",
    "frame",
    "frameset",
    "applet",
    "svg",
    "math",
    "base",
    "style",
    "template",
    "noscript",
    "button",
    "input",
    "textarea",
    "select",
}
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "poster",
    "background",
    "srcset",
    "xlink:href",
    "{http://www.w3.org/1999/xlink}href",
}
# The page's own chrome: forms post to this site, links and metas are the template's.
OWN_FORMS = re.compile(r"^/")


# Plain-text fields may hold "<" ("a < b"), never something a reader could take for a tag.
MARKUP = re.compile(r"<[A-Za-z!/?]")


def script_url(value: str) -> bool:
    compact = re.sub(r"[\x00-\x20]", "", value).lower()
    return compact.startswith(("javascript:", "vbscript:", "data:text", "data:image/svg"))


def assert_inert(html: str, where: str, *, page: bool = False) -> None:
    """No element, attribute or URL in ``html`` can run script."""
    if not html.strip():
        return
    tree = (
        lxml.html.document_fromstring(html)
        if page
        else lxml.html.fragment_fromstring(html, create_parent="div")
    )
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if page and tag == "form":
            assert OWN_FORMS.match(element.get("action", "")), (where, etree.tostring(element))
        elif page and tag in ("input", "button", "select", "textarea", "option"):
            # Form controls only inside the page's own forms (checked above).
            form = next((a for a in element.iterancestors() if a.tag == "form"), None)
            assert form is not None, (where, etree.tostring(element)[:200])
        elif page and tag == "link":
            assert element.get("rel") in ("stylesheet", "alternate"), where
        elif page and tag == "meta":
            assert set(element.attrib) <= {"charset", "name", "content"}, where
            assert element.get("name") in (None, "viewport"), where
        else:
            assert tag not in DANGEROUS_ELEMENTS | {"form", "meta", "link"}, (
                where,
                tag,
                etree.tostring(element)[:200],
            )
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (where, name, value)
            if name.lower() in URL_ATTRIBUTES or name in URL_ATTRIBUTES:
                assert not script_url(value), (where, name, value)
            if name.lower() == "style":
                assert "expression(" not in value.lower() and "javascript:" not in value.lower(), (
                    where
                )


def hostile_feed(site: str) -> bytes:
    items = []
    for index, payload in enumerate(PAYLOADS):
        items.append(
            "<item>"
            f"<title>{escape('Iran story ' + str(index) + ' ' + payload)}</title>"
            f"<link>{site}/story/{index}</link><guid>{site}/story/{index}</guid>"
            f"<description>{escape('<p>Iran and the U.S. talk.</p>' + payload)}</description>"
            f"<author>{escape(payload)}</author>"
            "<pubDate>Sat, 28 Nov 2026 09:00:00 GMT</pubDate>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape('Hostile <b>Wire</b>')}</title><link>{site}/</link>"
        "<description>d</description>" + "".join(items) + "</channel></rss>"
    ).encode()


def hostile_article(index: int) -> str:
    payload = PAYLOADS[index]
    return (
        f"<html><head><title>Iran story {index}</title></head><body><article>"
        f"<h1>Iran story {index}</h1>"
        + "".join(
            f"<p>Paragraph {n} about Iran and the United States. {payload}</p>" for n in range(6)
        )
        + "</article></body></html>"
    )


@pytest.fixture
async def hostile(
    sqlite_url: str, aiohttp_client: Any
) -> AsyncIterator[tuple[TestClient, list[int]]]:
    db = await Database.open(sqlite_url)
    try:
        await upgrade(db)
        await storage.upsert_topic(db, "us-iran", "U.S.–Iran", "d", "", now=NOW)
        site = "https://hostile.example.test"
        feed = await storage.add_feed(db, NewFeed(url=f"{site}/feed.xml"))
        data = parse_feed(
            hostile_feed(site), f"{site}/feed.xml", content_type="application/rss+xml", now=NOW
        )
        assert len(data.entries) == len(PAYLOADS)
        update = ok_update(NOW, next_poll_at=NOW, etag=None, body_hash="b", title=data.title)
        log = FetchLogRecord(
            feed_id=feed.id,
            started_at=NOW,
            outcome=FetchOutcome.OK,
            status=200,
            duration_s=0,
            bytes_read=0,
            new_entries=0,
            updated_entries=0,
            error=None,
        )
        result = await storage.apply_poll(
            db,
            feed_id=feed.id,
            owner="t",
            update=update,
            plan=EntryPlan(new=data.entries),
            log=log,
            now=NOW,
        )
        ids = list(result.new_entry_ids)
        for index, entry_id in enumerate(ids):
            extracted = extract(hostile_article(index), url=f"{site}/story/{index}")
            await storage.save_article(
                db,
                Article(
                    entry_id=entry_id,
                    status=ArticleStatus.OK,
                    title=extracted.title,
                    text=extracted.text,
                    html=extracted.html,
                    author=extracted.author,
                    extracted_at=NOW,
                ),
            )
            await storage.replace_rule_matches(
                db,
                entry_id,
                [
                    TopicMatch(
                        entry_id=entry_id,
                        topic_slug="us-iran",
                        score=1.0,
                        explanation={"fired": [PAYLOADS[index]], "summary": PAYLOADS[index]},
                        origin=MatchOrigin.RULE,
                        state=MatchState.AUTO,
                        topic_version=1,
                    )
                ],
                now=NOW,
            )
        client = await aiohttp_client(
            create_app(WebTestSettings(feed_page_max=200), db, cache_ttl_s=0)
        )
        yield client, ids
    finally:
        await db.close()


async def test_pages_stay_inert(hostile: tuple[TestClient, list[int]]) -> None:
    client, ids = hostile
    paths = ["/", "/topics/us-iran", "/search?q=Iran", "/sources"] + [f"/articles/{i}" for i in ids]
    for path in paths:
        response = await client.get(path)
        assert response.status == 200, path
        assert_inert(await response.text(), path, page=True)


async def test_feeds_stay_inert(hostile: tuple[TestClient, list[int]]) -> None:
    client, ids = hostile
    for fmt in ("atom", "rss"):
        document = etree.fromstring(
            await (await client.get(f"/topics/us-iran.{fmt}?limit=200")).read()
        )
        html_fields = 0
        for element in document.iter():
            tag = element.tag if isinstance(element.tag, str) else ""
            local = tag.rsplit("}", 1)[-1]
            if local in ("content", "summary", "description", "encoded"):
                assert_inert(element.text or "", f"{fmt} {local}")
                html_fields += 1
            elif local in ("title", "name", "creator"):
                assert not MARKUP.search(element.text or ""), (fmt, local, element.text)
            for name, value in element.attrib.items():
                if name in ("href", "url"):
                    assert not script_url(value), (fmt, name, value)
        assert html_fields >= len(ids)
    document = json.loads(await (await client.get("/topics/us-iran.json?limit=200")).read())
    assert len(document["items"]) == len(ids)
    for item in document["items"]:
        assert_inert(item.get("content_html", ""), "json content_html")
        assert not MARKUP.search(item["title"])
        assert not script_url(item["url"])


async def test_template_syntax_in_content_stays_literal(
    hostile: tuple[TestClient, list[int]],
) -> None:
    client, ids = hostile
    page = await (await client.get(f"/articles/{ids[-1]}")).text()
    assert "{{7*7}}" in page and "${7*7}" in page  # shown as text, never evaluated


def test_the_checker_catches_what_it_should(tmp_path: Path) -> None:
    for bad in (
        '<img src=x onerror="alert(1)">',
        '<a href=" javascript:alert(1)">x</a>',
        "<script>1</script>",
        '<iframe src="https://e.example/"></iframe>',
        '<div style="x:expression(alert(1))">',
    ):
        with pytest.raises(AssertionError):
            assert_inert(bad, "self-test")
    assert_inert(
        '<p><a href="https://ok.example/">fine</a><img src="https://ok.example/i.png"></p>',
        "self-test",
    )


def test_extractor_survives_every_payload() -> None:
    failures = {}
    for index in range(len(PAYLOADS)):
        try:
            extract(hostile_article(index), url=f"https://hostile.example.test/story/{index}")
        except ValueError as exc:
            failures[PAYLOADS[index]] = str(exc)
    assert failures == {}
