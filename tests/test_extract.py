"""aggregator.extract on fixture pages: structure, boilerplate, metadata, charsets, feeds, rules."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.cli import main
from aggregator.errors import ConfigError, ExtractionError
from aggregator.extract import (
    extract,
    extract_from_feed_content,
    feed_content_is_full_article,
    load_site_rules,
    parse_site_rules,
)
from aggregator.extract.decode import charset_from_content_type, decode_html
from aggregator.extract.engine import postprocess_body
from aggregator.extract.enrich import enrich, index_source
from aggregator.extract.metadata import PageMetadata, parse_datetime
from aggregator.extract.text import count_words, guess_language, html_to_paragraphs, join_paragraphs

FIXTURES = Path(__file__).parent / "fixtures" / "extract"
NEWS_URL = "https://news.example.com/local/harbour-reopens"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --- A news page with JSON-LD ---------------------------------------------------------------


def test_json_ld_page_metadata() -> None:
    article = extract(fixture("jsonld.html"), NEWS_URL)
    assert article.title == "Port authority reopens the northern harbour after storm repairs"
    assert article.author == "Maria Okafor, Tom Lindqvist"
    assert article.published == datetime(2024, 3, 5, 23, 30, tzinfo=UTC)
    assert article.lead_image == "https://news.example.com/images/harbour-1200.jpg"
    assert article.language == "en"


def test_json_ld_page_body_keeps_structure_and_drops_furniture() -> None:
    article = extract(fixture("jsonld.html"), NEWS_URL)
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0].startswith("The northern harbour will reopen to ferries on Monday, four")
    assert "Timetables return to normal" in paragraphs  # the subheading is its own paragraph
    assert (
        "- Monday: first sailing at 06:40\n- Tuesday to Friday: six sailings a day" in article.text
    )
    assert paragraphs[-1].startswith("The authority expects the total cost")
    for furniture in ("cookies", "Share on Twitter", "newsletter", "Related stories",
                      "Lifeboat crew", "All rights reserved", "By Maria Okafor"):  # fmt: skip
        assert furniture not in article.text
    # The HTML keeps headings, lists, quotes, in-text links and figures, with absolute URLs.
    html = article.html
    assert "<h2>Timetables return to normal</h2>" in html
    assert "<li>Monday: first sailing at 06:40</li>" in html
    assert "<blockquote>" in html
    assert 'href="https://news.example.com/business/harbour-traders-losses"' in html
    assert '<img src="https://news.example.com/images/breakwater.jpg"' in html
    assert 190 <= article.word_count <= 210  # the body is ~200 words; the page has ~400


def test_json_ld_article_body_is_the_fallback_when_the_page_has_no_text() -> None:
    page = """<html><head><script type="application/ld+json">
    {"@type": "NewsArticle", "headline": "Rates held", "articleBody": "The central bank held rates.\\n\\nIt meets again in June."}
    </script></head><body><div id="app"></div></body></html>"""
    article = extract(page, "https://bank.example.com/rates")
    assert article.text == "The central bank held rates.\n\nIt meets again in June."
    assert article.extractor == "json-ld"
    assert article.title == "Rates held"


# --- Paywalled teaser, non-English page, a page that is no article --------------------------


def test_paywalled_teaser_gives_the_teaser_without_the_subscription_pitch() -> None:
    article = extract(fixture("paywall.html"), "https://ledger.example.com/world/oil")
    assert article.text.startswith("The tanker left the anchorage")
    assert "whose oil they carry." in article.text
    assert "Subscribe" not in article.text and "$1 a week" not in article.text
    assert article.word_count < 100  # short: the pipeline will not mistake it for a full article
    assert article.author == "Priya Raman"
    assert article.published == datetime(2024, 11, 2, 6, 0, tzinfo=UTC)


def test_german_windows_1252_page_is_decoded_from_its_meta_declaration() -> None:
    article = extract(fixture("german-cp1252.html"), "https://rheinbote.example.de/lokales/radwege")
    assert article.title == "Stadtrat beschließt neue Radwege für die Innenstadt"
    assert "Königsallee" in article.text and "Händler an der Straße" in article.text
    assert "Bürger sollen mitreden" in article.text.split("\n\n")
    assert "Weiterlesen" not in article.text and "Facebook" not in article.text
    assert article.language == "de"
    assert article.author == "Jürgen Weiß"
    assert article.published == datetime(2024, 6, 12, 12, 5, tzinfo=UTC)


def test_japanese_page_counts_characters_as_words() -> None:
    first = "東京都は新しい防災計画を発表した。" * 8
    second = "計画では避難所の数を増やすという。" * 8
    page = f"<html lang='ja'><body><article><h1>防災計画</h1><p>{first}</p><p>{second}</p></article></body></html>"
    article = extract(page.encode("utf-8"), "https://example.jp/news/1")
    assert article.language == "ja"
    assert "東京都は新しい防災計画" in article.text
    assert article.word_count == 2 * 8 * 16  # 16 characters a sentence, punctuation excluded


def test_page_that_is_not_an_article_has_no_article_text() -> None:
    article = extract(fixture("not-article.html"), "https://ledger.example.com/")
    assert article.word_count < 20
    assert "Central bank holds rates steady" not in article.text


def test_empty_or_non_html_input_raises() -> None:
    with pytest.raises(ExtractionError):
        extract(b"   ")
    with pytest.raises(ExtractionError):
        extract("")


# --- Security: sanitized last -----------------------------------------------------------------


def test_article_html_is_sanitized() -> None:
    paragraph = "Officials said the bridge would stay closed for at least another week. " * 4
    page = f"""<html><body><article><h1>Bridge closed</h1>
    <p onclick="steal()">{paragraph}<a href="javascript:alert(1)">details</a></p>
    <script>alert('x')</script><p>{paragraph}<img src="/i.jpg" onerror="steal()"></p>
    <p>{paragraph}<a href="/more">related report</a> for context.</p></article></body></html>"""
    article = extract(page, "https://example.com/a")
    assert "onclick" not in article.html and "onerror" not in article.html
    assert "javascript:" not in article.html and "<script" not in article.html
    assert "alert" not in article.text


# --- Charsets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("<p>café</p>".encode("utf-8-sig"), None, "<p>café</p>"),  # BOM wins
        ("<p>café</p>".encode("utf-16"), "iso-8859-1", "<p>café</p>"),  # BOM wins over header
        ("<p>café</p>".encode("cp1252"), "windows-1252", "<p>café</p>"),  # transport charset
        (
            b'<meta charset="koi8-r"><p>\xcd\xcf\xd3\xcb\xd7\xc1</p>',
            None,
            '<meta charset="koi8-r"><p>москва</p>',
        ),
        ("<p>café</p>".encode(), None, "<p>café</p>"),  # undeclared UTF-8
        ("<p>café</p>".encode("cp1252"), None, "<p>café</p>"),  # undeclared, not UTF-8
        (
            "<p>café</p>".encode(),
            "latin-1",
            "<p>cafÃ©</p>",
        ),  # declared wrongly: trusted like browsers
    ],
)
def test_decode_html(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_html(data, charset) == expected


def test_charset_from_content_type() -> None:
    assert charset_from_content_type('text/html; charset="UTF-8"') == "UTF-8"
    assert charset_from_content_type("text/html") is None
    assert charset_from_content_type(None) is None


# --- Feed content as the article ------------------------------------------------------------

FULL_FEED_PARAGRAPHS = [
    f"Paragraph {n}: the council reviewed the harbour budget line by line and agreed on "
    f"repairs, staffing and the ferry timetable for the coming season number {n}."
    for n in range(12)
]
FULL_FEED_HTML = "".join(f"<p>{p}</p>" for p in FULL_FEED_PARAGRAPHS)
PAGE_TEXT = "\n\n".join(FULL_FEED_PARAGRAPHS)


def test_long_feed_content_that_agrees_with_the_page_is_the_article() -> None:
    assert feed_content_is_full_article(FULL_FEED_HTML, PAGE_TEXT)
    assert feed_content_is_full_article(FULL_FEED_HTML, None)  # long enough on its own


def test_feed_content_that_is_a_teaser_is_not_the_article() -> None:
    teaser = "<p>" + " ".join(FULL_FEED_PARAGRAPHS[:2]) + " [&hellip;]</p>"
    assert not feed_content_is_full_article(teaser, PAGE_TEXT)
    excerpt = FULL_FEED_HTML + "<p>The post Harbour budget appeared first on Coastal Courier.</p>"
    assert not feed_content_is_full_article(excerpt, PAGE_TEXT)
    assert not feed_content_is_full_article(None, PAGE_TEXT)
    assert not feed_content_is_full_article("<p>Short summary of the story.</p>", None)


def test_feed_content_that_disagrees_with_the_page_is_not_the_article() -> None:
    other_story = "\n\n".join(
        f"A different story about rail strikes, part {n}, told at length." * 3 for n in range(10)
    )
    assert not feed_content_is_full_article(FULL_FEED_HTML, other_story)
    half = "".join(f"<p>{p}</p>" for p in FULL_FEED_PARAGRAPHS[:6])
    assert not feed_content_is_full_article(half, PAGE_TEXT)  # covers only half of the page


def test_medium_feed_content_needs_the_page_to_agree() -> None:
    medium = "".join(f"<p>{p}</p>" for p in FULL_FEED_PARAGRAPHS[:6])  # ~170 words
    assert not feed_content_is_full_article(medium, None)
    assert feed_content_is_full_article(medium, "\n\n".join(FULL_FEED_PARAGRAPHS[:6]))


def test_extract_from_feed_content() -> None:
    content = (
        FULL_FEED_HTML
        + '<p><a href="/2024/03/ferries/">Read more about that here.</a></p>'
        + "<script>alert(1)</script><h2>Next steps</h2><p>Work starts in May.</p>"
    )
    article = extract_from_feed_content(content, "https://news.example.com/feed-item")
    assert article.extractor == "feed"
    assert article.text.split("\n\n")[:12] == FULL_FEED_PARAGRAPHS
    assert article.text.endswith("Next steps\n\nWork starts in May.")
    assert "Read more" not in article.text and "alert" not in article.html
    assert extract_from_feed_content("", None).text == ""


# --- Site rules ---------------------------------------------------------------------------------

RULE_PAGE = """<html><body><div class="story"><h1>Town hall vote</h1>
<div class="story-text"><p>The council voted on Tuesday to keep the library open on Sundays.</p>
<div class="promo">Buy our annual guide now!</div>
<p>Opening hours will be reviewed again next spring.</p>
<h3>Leave a Reply</h3><p>Your email address will not be published.</p></div></div>
<div class="sidebar"><p>Weather: sunny with light winds all week long in the valley.</p></div></body></html>"""


def test_curator_rule_takes_and_drops(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text('[sites."townnews.example"]\ntake = [".story-text"]\ndrop = [".promo"]\n')
    article = extract(RULE_PAGE, "https://www.townnews.example/vote", rules_path=rules_file)
    assert article.extractor == "site-rule"
    assert article.text == (
        "The council voted on Tuesday to keep the library open on Sundays.\n\n"
        "Opening hours will be reviewed again next spring."
    )
    # Other hosts are unaffected by the rule.
    other = extract(RULE_PAGE, "https://elsewhere.example/vote", rules_path=rules_file)
    assert other.extractor != "site-rule"


def test_curator_rules_extend_and_override_the_shipped_rules() -> None:
    shipped = load_site_rules()
    assert shipped.for_url("https://discoveryheadlines.com/x/") is not None
    assert shipped.for_url("https://sub.discoveryheadlines.com/x/") is not None  # parent domain
    assert shipped.for_url("https://example.com/") is None
    curator = parse_site_rules('[sites."discoveryheadlines.com"]\ntake = ["main"]\n')
    merged = shipped.merged(curator)
    rule = merged.for_url("https://www.discoveryheadlines.com/post/")
    assert rule is not None and rule.take == ("main",) and rule.drop == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sites."a.example"]\ntake = "main"\n', "must be a list"),
        ('[sites."a.example"]\ntake = ["main["]\n', "bad CSS selector"),
        ('[sites."a.example"]\nkeep = ["main"]\n', "unknown keys"),
        ("[sites\n", "not valid TOML"),
    ],
)
def test_bad_rules_are_reported(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_site_rules(text, "my-rules.toml")


def test_missing_rules_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read site rules file"):
        load_site_rules(tmp_path / "absent.toml")


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_prints_json() -> None:
    result = CliRunner().invoke(
        main, ["extract", str(FIXTURES / "jsonld.html"), "--url", NEWS_URL, "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["title"] == "Port authority reopens the northern harbour after storm repairs"
    assert data["author"] == "Maria Okafor, Tom Lindqvist"
    assert data["published"] == "2024-03-05T23:30:00+00:00"
    assert data["text"].startswith("The northern harbour will reopen")
    assert data["html"].startswith("<p>")
    assert data["word_count"] > 150 and data["extractor"]


def test_cli_text_output() -> None:
    result = CliRunner().invoke(main, ["extract", str(FIXTURES / "german-cp1252.html")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Stadtrat beschließt neue Radwege für die Innenstadt\n")
    assert "Königsallee" in result.output


@pytest.mark.parametrize(
    ("path", "message"),
    [("no-such-file.html", "cannot read"), (str(FIXTURES / "not-article.html"), "not an article")],
)
def test_cli_fails_with_one_line(path: str, message: str) -> None:
    result = CliRunner().invoke(main, ["extract", path, "--json"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


# --- General signals over trafilatura ---------------------------------------------------------

LONG = "The committee heard evidence from residents, engineers and the regional transport office. "


def test_embedded_tweet_is_kept_as_a_quote() -> None:
    page = f"""<html><body><article><h1>Campaign mocked online</h1>
    <p>{LONG * 3}</p>
    <blockquote class="twitter-tweet"><p lang="en">This campaign is something else entirely.</p>
    &mdash; Jo Bloggs (@jobloggs) <a href="https://twitter.com/jobloggs/status/1">November 18, 2019</a></blockquote>
    <script async src="https://platform.twitter.com/widgets.js"></script>
    <p>{LONG * 3}</p></article></body></html>"""
    article = extract(page, "https://example.com/story")
    paragraphs = article.text.split("\n\n")
    assert paragraphs[1] == "This campaign is something else entirely."  # in place, once
    assert article.text.count("something else entirely") == 1


def test_enrich_restores_links_images_and_embeds_the_extractor_dropped() -> None:
    source = lxml.html.fromstring("""<html><body>
    <p>First paragraph with <a href="/one">a link</a> in it, long enough.</p>
    <figure><img src="/photo.jpg" alt="A photo"></figure>
    <p>Second paragraph, also long enough<br>with <a href="/two">another link</a> after a break.</p>
    <blockquote class="twitter-tweet"><p>An embedded post the extractor dropped.</p></blockquote>
    <p>Third paragraph that closes the story.</p>
    <aside class="sidebar"><img src="/ad.jpg"></aside></body></html>""")
    index = index_source(source)
    body = lxml.html.fragment_fromstring(
        "<p>First paragraph with a link in it, long enough.</p>"
        "<p>Second paragraph, also long enough<br>with another link after a break.</p>"
        "<p>Third paragraph that closes the story.</p>",
        create_parent="body",
    )
    enrich(body, index)
    html = "".join(lxml.html.tostring(child, encoding="unicode") for child in body)
    assert html == (
        '<p>First paragraph with <a href="/one">a link</a> in it, long enough.</p>'
        '<figure><img src="/photo.jpg" alt="A photo"></figure>'
        '<p>Second paragraph, also long enough<br>with <a href="/two">another link</a> after a break.</p>'
        "<blockquote><p>An embedded post the extractor dropped.</p></blockquote>"
        "<p>Third paragraph that closes the story.</p>"
    )


def test_postprocess_drops_teaser_headings_link_lines_and_furniture() -> None:
    body = lxml.html.fragment_fromstring(
        "<h2>Light installation opens</h2>"
        f"<p>{LONG}</p>"
        '<p><a href="/a">China furious at envoy over protest remarks</a> [INSIGHT]<br>'
        '<a href="/b">Markets slide as talks stall again</a> [VIDEO]</p>'
        "<p>Jewels after Jewels, installation views, photos © Inexhibit, 2018</p>"
        f"<h3>A subheading with text under it</h3><p>{LONG}</p>"
        "<p>Pick Six Newsletter</p><p>Sign up to get the day's big stories in your inbox.</p>"
        "<h3>Design week: another story</h3><h3>Design week: a third story</h3>",
        create_parent="body",
    )
    postprocess_body(body, PageMetadata(), "Light installation opens")
    text = "\n".join(" ".join(block.itertext()) for block in body)
    assert text == f"{LONG}\nA subheading with text under it\n{LONG}"


def test_curator_rules_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text('[sites."townnews.example"]\ntake = [".story-text"]\n')
    first = load_site_rules(rules_file).for_url("https://townnews.example/")
    assert first is not None and first.take == (".story-text",)
    rules_file.write_text('[sites."townnews.example"]\ntake = [".story"]\n')
    os.utime(rules_file, ns=(1_000_000_000, 1_000_000_000))  # a distinct modification time
    second = load_site_rules(rules_file).for_url("https://townnews.example/")
    assert second is not None and second.take == (".story",)


def test_plain_text_of_article_html() -> None:
    html = (
        "<p>A paragraph written\nover two source lines.</p>"
        "<h2>A heading</h2><p>Line one<br>line two</p>"
        "<ul><li>first item</li><li>second <b>item</b></li></ul>"
        "<pre>code line 1\ncode line 2</pre>"
        "<table><tr><td>cell a</td><td>cell b</td></tr></table>"
    )
    assert join_paragraphs(html_to_paragraphs(html)) == (
        "A paragraph written over two source lines.\n\nA heading\n\nLine one\nline two\n\n"
        "- first item\n- second item\n\ncode line 1\ncode line 2\n\ncell a cell b"
    )
    assert count_words("Hello, world: 06:40 東京都") == 7  # 2 words, 2 digit runs, 3 characters


MARKUP = st.sampled_from(
    ["<p>", "</p>", "<div class='entry-content'>", "</div>", "<a href='/x'>", "</a>", "<br>",
     "<h2>", "</h2>", "<ul><li>", "</li></ul>", "<img src='x.jpg'>", "<pre>", "<html>", "<body>",
     "<blockquote class='twitter-tweet'>", "</blockquote>", "<script>", "</script>", "<title>",
     '<script type="application/ld+json">', '{"@type": "NewsArticle", "author": [1, {"name": null}], '
     '"datePublished": "2020-13-45", "articleBody": "x y"}', "<meta charset='bogus'>",
     "<time datetime='garbage'>", "&amp;", "\x00", "\x1f", "\ud800", "\n"]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(MARKUP, st.text(max_size=20)), max_size=40).map("".join), st.booleans())
def test_hostile_markup_gives_an_article_or_extraction_error(html: str, as_bytes: bool) -> None:
    data: str | bytes = html.encode("utf-8", "surrogatepass") if as_bytes else html
    try:
        article = extract(data, "https://example.com/a")
        assert "<script" not in article.html
    except ExtractionError:
        pass
    assert "<script" not in extract_from_feed_content(html, "https://example.com/").html
    feed_content_is_full_article(html, html)


def test_postprocess_drops_closing_plugs_and_credits() -> None:
    closing = [
        "Mike's book about alien life is out now. Follow him on Twitter @mike.",
        "Follow our full coverage of the election at https://example.com/election",
        "Additional reporting by Jo Bloggs; Editing by Ann Other",
        "SOURCE: News agencies",
        "Filed under: Politics |",
    ]
    body = lxml.html.fragment_fromstring(
        f"<p>{LONG}</p><p>Users who follow him on Twitter saw the post first, officials said.</p>"
        + "".join(f"<p>{line}</p>" for line in closing),
        create_parent="body",
    )
    postprocess_body(body, PageMetadata(), None)
    kept = [" ".join(block.itertext()) for block in body]
    # A sentence about following someone, inside the story, stays.
    assert kept == [LONG, "Users who follow him on Twitter saw the post first, officials said."]


def test_json_ld_article_body_wins_when_the_page_shows_only_a_teaser() -> None:
    paragraphs = [
        f"Part {n}: the envoy described the proposal in detail to the committee." for n in range(20)
    ]
    body_json = json.dumps({"@type": "NewsArticle", "articleBody": "\n\n".join(paragraphs)})
    teaser = paragraphs[0] + " " + paragraphs[1]
    page = f"""<html><head><script type="application/ld+json">{body_json}</script></head>
    <body><article><h1>Proposal</h1><p>{teaser}</p>
    <div class="paywall"><p>Subscribe to read the full story.</p></div></article></body></html>"""
    article = extract(page, "https://example.com/p")
    assert article.extractor == "json-ld"
    assert article.text.split("\n\n") == paragraphs
    # A JSON-LD body no longer than what the page shows is not preferred.
    short_json = json.dumps({"@type": "NewsArticle", "articleBody": paragraphs[0]})
    page = page.replace(body_json, short_json)
    assert extract(page, "https://example.com/p").extractor == "trafilatura+rules"


@pytest.mark.parametrize("paragraphs", [1, 6])  # a short page also runs the full cascade
def test_drop_only_rule_applies_to_the_generic_extractor(paragraphs: int) -> None:
    promo = "Our partners at the marina offer discounted winter berths for every reader this month."
    page = f"""<html><body><article><h1>Harbour news</h1>
    {"".join(f"<p>{n}. {LONG}</p>" for n in range(paragraphs))}
    <p class="promo-box">{promo}</p><p>{LONG}</p></article></body></html>"""
    rules = parse_site_rules('[sites."harbour.example"]\ndrop = [".promo-box"]\n')
    assert promo in extract(page, "https://harbour.example/a").text
    article = extract(page, "https://harbour.example/a", rules=rules)
    assert promo not in article.text and LONG.strip() in article.text
    assert article.extractor == "trafilatura+rules"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("東京都は新しい防災計画を発表した。", "ja"),
        ("서울시는 새로운 계획을 발표했다.", "ko"),
        ("北京市政府今天发布了新的计划。", "zh"),
        ("وزارت امور خارجه ایران گفت که پاسخ نامه را بررسی می‌کند.", "fa"),
        ("قالت وزارة الخارجية إن الرد على الرسالة قيد الدراسة.", "ar"),
        ("The ministry said it was studying the letter.", None),  # Latin: too many languages
        ("Министерство заявило, что изучает письмо.", None),  # Cyrillic: likewise
        ("", None),
    ],
)
def test_guess_language_from_script(text: str, language: str | None) -> None:
    assert guess_language(text) == language


def test_undeclared_page_language_is_guessed_from_its_text() -> None:
    sentences = "".join(
        f"<p>وزارت امور خارجه ایران گفت که پاسخ نامه {n} را بررسی می‌کند.</p>" for n in range(6)
    )
    article = extract(
        f"<html><body><article>{sentences}</article></body></html>", "https://example.ir/"
    )
    assert article.language == "fa"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing FILE_OR_URL"),
        ([str(FIXTURES / "jsonld.html"), "--refresh"], "not both"),
        (
            [str(FIXTURES / "jsonld.html"), "--feed", "https://example.com/feed"],
            "--feed goes with --refresh",
        ),
    ],
)
def test_cli_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["extract", *args])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05T18:30:00-05:00", datetime(2024, 3, 5, 23, 30, tzinfo=UTC)),
        ("2024-03-05T18:30:00Z", datetime(2024, 3, 5, 18, 30, tzinfo=UTC)),
        ("2024-03-05T18:30:00+0100", datetime(2024, 3, 5, 17, 30, tzinfo=UTC)),
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("2024-03-05T18:30:00.123", datetime(2024, 3, 5, 18, 30, 0, 123000, tzinfo=UTC)),
        ("0001-01-01T00:00:00+05:00", None),  # an unset CMS field
        ("9999-12-31T23:00:00-05:00", None),  # past the end of time in UTC
        ("last Tuesday", None),
        ("", None),
    ],
)
def test_parse_datetime(value: str, expected: datetime | None) -> None:
    assert parse_datetime(value) == expected


def test_metadata_entities_escaped_twice_are_decoded() -> None:
    page = """<html><head><meta property="og:title" content="&amp;#8216;Jewels&amp;#8217; at the fair">
    <meta name="author" content="Ana &amp;amp; Bo"></head><body><article><p>{}</p></article></body></html>"""
    article = extract(page.format(LONG * 3), "https://example.com/")
    assert article.title == "‘Jewels’ at the fair"
    assert article.author == "Ana & Bo"
