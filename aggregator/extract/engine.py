"""The extraction engine: article page -> ExtractedArticle. Pure: no I/O."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import lxml.html
import trafilatura
from lxml import etree
from lxml.cssselect import CSSSelector
from lxml.html import HtmlElement
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.settings import Document

from aggregator.errors import ExtractionError
from aggregator.extract.decode import decode_html
from aggregator.extract.enrich import enrich, index_source
from aggregator.extract.metadata import PageMetadata, best_title, clean_space, read_metadata
from aggregator.extract.rules import SiteRule, SiteRules, load_site_rules
from aggregator.extract.text import (
    BLOCK_TAGS,
    count_words,
    guess_language,
    html_to_paragraphs,
    join_paragraphs,
    xml_safe,
)
from aggregator.sanitize import sanitize_html
from aggregator.types import ExtractedArticle

EXTRACTOR_TRAFILATURA = "trafilatura+rules"
EXTRACTOR_SITE_RULE = "site-rule"
EXTRACTOR_JSON_LD = "json-ld"
EXTRACTOR_FEED = "feed"


@dataclass(frozen=True, slots=True)
class Options:
    """Switches for the post-processing signals, all on by default; turning one off shows its
    effect on the corpus score (each one was kept because it raised dev-corpus F1)."""

    drop_title: bool = True
    drop_link_blocks: bool = True
    drop_boilerplate_text: bool = True
    drop_trailing_headings: bool = True
    drop_credits: bool = True


DEFAULT_OPTIONS = Options()


def _parse(html: str) -> etree._Element | None:
    # trafilatura's loader copes with XML declarations, broken markup and odd encodings.
    try:
        tree = trafilatura.load_html(html)
    except (ValueError, etree.LxmlError) as exc:
        raise ExtractionError(f"not an HTML document: {exc}") from exc
    return tree if isinstance(tree, HtmlElement) else None


def _remove(element: etree._Element) -> None:
    """Remove an element but keep its tail text in the document."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail and element.tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


@lru_cache(maxsize=256)
def _selector(css: str) -> CSSSelector:
    return CSSSelector(css)


def _apply_drop(tree: etree._Element, selectors: tuple[str, ...]) -> None:
    for selector in selectors:
        for element in _selector(selector)(tree):
            _remove(element)


def _take(tree: etree._Element, rule: SiteRule) -> list[etree._Element]:
    for selector in rule.take:
        found = _selector(selector)(tree)
        if found:
            return list(found)
    return []


# Short blocks that are page furniture, not article text, in the languages of the sources.
_BOILERPLATE_RE = re.compile(
    r"""^(?:
        (?:read|see|learn|find\ out)\ (?:more|here|the\ full)\b
      | more\ about\ (?:this|that)\ here\b
      | (?:continue|keep)\ reading\b
      | (?:related|recommended|more\ stories|more\ from|you\ (?:may|might)\ (?:also\ )?like|don.?t\ miss|see\ also|also\ read|read\ next|up\ next|trending|most\ popular|popular\ (?:now|stories))\b
      | (?:share|tweet|email|print)\ (?:this|on|via)\b
      | (?:sign\ up|subscribe|join|get)\b.{0,80}\b(?:newsletter|inbox|updates|email)
      | (?:thanks?\ (?:you\ )?for\ (?:signing\ up|subscribing))
      | you\ have\ (?:successfully\ )?subscribed\b
      | there\ was\ an?\ (?:error|problem)\b.{0,80}(?:request|subscription|try\ again)
      | (?:sorry|oops)!?$
      | leave\ a\ (?:reply|comment)\b
      | your\ email\ address\ will\ not\ be\ published
      | (?:required\ fields\ are\ marked)
      | (?:post(?:ed)?\ a\ comment|comments?\ \(\d+\)|\d+\ comments?$|tell\ us\ what\ you\ think)
      | (?:we\ use\ cookies|this\ (?:web)?site\ uses\ cookies|by\ (?:using|continuing)\ .{0,40}(?:cookies|site))
      | advertisement$
      | (?:follow\ (?:us|him|her|them)\ on)\b
      | (?:have\ a\ (?:news\ )?tip)\b
      | (?:get\ the\ .{0,40}app)\b
      | (?:image|photo|picture)\ (?:credit|:)
      | (?:copyright|©|\(c\))\s
      | \[/?[a-z_-]+(?:\s[^\]]*)?\]  # an unrendered WordPress shortcode
      | (?:updated|last\ updated|published)(?:\ (?:at|on))?\ [\d:.apm\ ]{3,}$
      | comments?$
      | [\w\ ]{0,40}\bnewsletters?$
      | if\ you\ (?:enjoyed|liked|value|appreciate)d?\b.{0,200}(?:subscri|join|support|donat|member)
      | (?:filed\ under|posted\ in|categories|tags|tagged(?:\ with)?)\s*:
      | (?:additional\ )?reporting\ by\b | (?:editing|edited|writing)\ by\b
      | sources?\s*:\s*\S+(?:\s+\S+){0,5}$
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_BOILERPLATE_ANYWHERE_RE = re.compile(
    r"will\ use\ the\ information\ you\ provide\ on\ this\ form"
    r"|your\ email\ address\ will\ not\ be\ published"
    r"|you\ have\ successfully\ subscribed",
    re.IGNORECASE | re.VERBOSE,
)
# A photo credit or caption line: "photos © Agency, 2018", "Image: Reuters", "Credit: AP".
_CREDIT_RE = re.compile(r"©|\b(?:photo|image)?\s*credits?\s*:", re.IGNORECASE)
_CREDIT_MAX_WORDS = 20
# "Follow us on Twitter ..." closing a block near the end of the article: an author/site plug.
_FOLLOW_RE = re.compile(
    r"^follow\b.{0,120}$|(?:^|[.!?]\s+)follow\s+(?:[\w.'’@-]+\s+){0,3}on\s+(?:twitter|facebook|instagram|youtube|linkedin|tiktok|x)\b[^.!?]*[.!?]?\s*$",
    re.IGNORECASE,
)
_FOLLOW_ZONE = 3  # last blocks of the article where such plugs sit
_FOLLOW_MAX_WORDS = 60
_BOILERPLATE_MAX_WORDS = 40
_LINK_BLOCK_MAX_WORDS = 30
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


def _norm(text: str | None) -> str:
    return re.sub(r"\W+", " ", text or "").strip().lower()


def _link_density(element: etree._Element, text_length: int) -> float:
    if text_length == 0:
        return 0.0
    linked = sum(len(clean_space("".join(a.itertext()))) for a in element.iter("a"))
    return min(1.0, linked / text_length)


def _is_link_list(element: etree._Element) -> bool:
    items = [item for item in element if item.tag == "li"]
    if len(items) < 2:
        return False
    linked = 0
    for item in items:
        text = clean_space("".join(item.itertext()))
        if _link_density(item, len(text)) >= 0.6:
            linked += 1
    return linked / len(items) >= 0.6


def _postprocess(
    body: etree._Element, metadata: PageMetadata, title: str | None, options: Options
) -> None:
    """Drop the blocks of a trafilatura result that are not article text."""
    titles = {_norm(t) for t in (title, metadata.h1, metadata.og_title, metadata.headline) if t}
    titles.discard("")
    blocks = list(body)
    for index, block in enumerate(blocks):
        text = clean_space("".join(block.itertext()))
        words = len(text.split())
        if not text:
            if _is_empty_text_block(block):
                body.remove(block)
            continue
        if options.drop_title and index < 3 and _norm(text) in titles:
            body.remove(block)
            continue
        if options.drop_credits and words <= _CREDIT_MAX_WORDS and _CREDIT_RE.search(text):
            body.remove(block)
            continue
        if options.drop_boilerplate_text and (
            (words <= _BOILERPLATE_MAX_WORDS and _BOILERPLATE_RE.match(text))
            or _BOILERPLATE_ANYWHERE_RE.search(text)
        ):
            body.remove(block)
            continue
        if options.drop_link_blocks:
            if block.tag in ("ul", "ol") and _is_link_list(block):
                body.remove(block)
                continue
            if (
                block.tag in _HEADINGS | {"p"}
                and words <= _LINK_BLOCK_MAX_WORDS
                and len(block.findall(".//a")) >= 2  # one linked line can be a product or a title
                and _link_density(block, len(text)) >= 0.8
            ):
                body.remove(block)
                continue
    if options.drop_boilerplate_text:
        for block in list(body)[-_FOLLOW_ZONE:]:
            text = clean_space("".join(block.itertext()))
            if len(text.split()) <= _FOLLOW_MAX_WORDS and _FOLLOW_RE.search(text):
                body.remove(block)
    if options.drop_trailing_headings:
        _drop_heading_runs(body)


def _is_empty_text_block(block: etree._Element) -> bool:
    """No text and no image: what is left of a block after its boilerplate went."""
    return (
        not clean_space("".join(block.itertext()))
        and block.tag != "img"
        and block.find(".//img") is None
    )


def _drop_heading_runs(body: etree._Element) -> None:
    """Headings with no text under them are teasers for other stories: drop those at the end
    of the article and runs of three or more in a row."""
    blocks = list(body)
    while blocks and (blocks[-1].tag in _HEADINGS or _is_empty_text_block(blocks[-1])):
        body.remove(blocks.pop())
    run: list[etree._Element] = []
    for block in [*blocks, None]:
        if block is not None and block.tag in _HEADINGS:
            run.append(block)
            continue
        if len(run) >= 3:
            for heading in run:
                body.remove(heading)
        run = []


_READ_MORE_LINK_RE = re.compile(
    r"^(?:read|see|click|learn|find\ out)\ (?:more|here|the\ full|all)\b.{0,40}$|^more\ about\ (?:this|that)\ here\W*$|^continue\ reading\b",
    re.IGNORECASE | re.VERBOSE,
)


def _drop_read_more_links(body: etree._Element) -> None:
    """In-text "Read more about that here." links point away from the article: drop them
    where they end their paragraph (followed by text, the link is part of a sentence)."""
    for link in list(body.iter("a")):
        if link.tail and link.tail.strip(" \t\n.!)»"):
            continue
        if link.getnext() is not None and link.getnext().tag != "br":
            continue
        if _READ_MORE_LINK_RE.match(clean_space("".join(link.itertext()))):
            _remove(link)


# Below this many characters (or without any paragraph) a fast extraction is suspect, and
# trafilatura's full cascade (readability and justext comparison) runs instead. The full
# cascade costs ~60% more time and, measured on the dev corpus, only changes short results.
_FULL_CASCADE_BELOW_CHARS = 1000


def _trafilatura_document(
    tree: etree._Element, url: str | None, *, fast: bool
) -> etree._Element | None:
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=fast,
        include_comments=False,
        favor_precision=True,
        include_tables=True,
    )
    if not isinstance(document, Document) or document.body is None or not len(document.body):
        return None
    body: etree._Element = document.body
    return body


def _looks_short(body: etree._Element | None) -> bool:
    if body is None:
        return True
    length = len(clean_space("".join(body.itertext())))
    return length < _FULL_CASCADE_BELOW_CHARS or body.find(".//p") is None


def _trafilatura_body(
    tree: etree._Element, html: str, url: str | None, drop: tuple[str, ...]
) -> etree._Element | None:
    body = _trafilatura_document(tree, url, fast=True)
    if _looks_short(body):
        fresh = _parse(html)  # trafilatura changed ``tree``; parsing again is cheaper than a copy
        if fresh is not None:
            _apply_drop(fresh, drop)
            fuller = _trafilatura_document(fresh, url, fast=False)
            if fuller is not None:
                body = fuller
    if body is None:
        return None
    converted: etree._Element = convert_to_html(body).find("body")
    return converted


# JSON-LD articleBody replaces the page extraction only when the page gave (next to) nothing,
# or when the structured text is much longer: publishers often truncate articleBody to a
# teaser, so a shorter one is never preferred.
_JSON_LD_MIN_WORDS = 100
_JSON_LD_LONGER_BY = 2.0


def _json_ld_body_is_better(article_body: str | None, extracted_words: int) -> bool:
    if not article_body:
        return False
    if extracted_words == 0:
        return True
    ld_words = count_words(article_body)
    return ld_words >= _JSON_LD_MIN_WORDS and ld_words >= _JSON_LD_LONGER_BY * extracted_words


# Wrappers whose children are the blocks (so the block filters see paragraphs, not one div).
_CONTAINERS = frozenset({"div", "section", "article", "main", "body", "center"})


def _loose_text(text: str | None) -> etree._Element | None:
    if not text or not text.strip():
        return None
    paragraph = lxml.html.Element("p")
    paragraph.text = text.strip()
    return paragraph


def _flatten(element: etree._Element) -> list[etree._Element]:
    """The block-level content of ``element``: containers holding only blocks are unwrapped,
    their loose text becoming <p>; a container with inline children stays one block."""
    children = [child for child in element if isinstance(child.tag, str)]
    if element.tag not in _CONTAINERS or any(
        child.tag not in BLOCK_TAGS | {"form", "iframe", "script", "style", "noscript"}
        for child in children
    ):
        return [element]
    blocks: list[etree._Element] = []
    loose = _loose_text(element.text)
    if loose is not None:
        blocks.append(loose)
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        tail = child.tail
        child.tail = None
        blocks.extend(_flatten(child))
        loose = _loose_text(tail)
        if loose is not None:
            blocks.append(loose)
    return blocks


def flat_body(elements: list[etree._Element]) -> etree._Element:
    """A <body> holding the (copied) block content of ``elements``, containers unwrapped."""
    body = lxml.html.Element("body")
    for element in elements:
        for block in _flatten(copy.deepcopy(element)):
            body.append(block)
    return body


def _text_body(text: str) -> etree._Element:
    body = lxml.html.Element("body")
    for part in re.split(r"\n\s*\n|\n", text):
        if part.strip():
            paragraph = lxml.html.Element("p")
            paragraph.text = part.strip()
            body.append(paragraph)
    return body


def _serialize(body: etree._Element) -> str:
    children = "".join(lxml.html.tostring(child, encoding="unicode") for child in body)
    return (body.text or "") + children


def postprocess_body(
    body: etree._Element,
    metadata: PageMetadata,
    title: str | None,
    options: Options = DEFAULT_OPTIONS,
) -> None:
    """Remove in-text "read more" links and blocks that are page furniture (in place)."""
    _drop_read_more_links(body)
    _postprocess(body, metadata, title, options)


def finish_article(
    body_html: str,
    *,
    url: str | None,
    title: str | None,
    metadata: PageMetadata | None,
    extractor: str,
) -> ExtractedArticle:
    # Sanitize LAST: every later step (text, word count) works on what will be stored.
    html = sanitize_html(body_html, url)
    text = join_paragraphs(html_to_paragraphs(html))
    lead_image = metadata.image if metadata else None
    if lead_image is None:
        match = re.search(r"<img[^>]*\ssrc=\"([^\"]+)\"", html)
        lead_image = match.group(1).replace("&amp;", "&") if match else None
    return ExtractedArticle(
        title=title,
        text=text,
        html=html,
        author=metadata.author if metadata else None,
        published=metadata.published if metadata else None,
        lead_image=lead_image,
        language=(metadata.language if metadata else None) or guess_language(text),
        word_count=count_words(text),
        extractor=extractor if text else "",
    )


def extract(
    html: str | bytes,
    url: str | None = None,
    *,
    charset: str | None = None,
    rules: SiteRules | None = None,
    rules_path: str | Path | None = None,
    options: Options = DEFAULT_OPTIONS,
) -> ExtractedArticle:
    """Extract the article of one page.

    ``html`` as bytes is decoded with ``charset`` (from the HTTP header) or the page's own
    declaration. ``url`` resolves relative links and selects the site rule; ``rules`` (or a
    curator's ``rules_path``, merged over the shipped rules) supply per-site selectors.
    Raises ExtractionError when the input is not an HTML document; a page without article
    text gives an ExtractedArticle with empty ``text`` and ``word_count`` 0.
    """
    text = xml_safe(decode_html(html, charset) if isinstance(html, bytes) else html)
    if not text.strip():
        raise ExtractionError("empty document")
    tree = _parse(text)
    if tree is None:
        raise ExtractionError("not an HTML document")
    metadata = read_metadata(tree, url)
    title = best_title(metadata)
    site_rules = rules if rules is not None else load_site_rules(rules_path)
    rule = site_rules.for_url(url)
    if rule is not None:
        _apply_drop(tree, rule.drop)
        taken = _take(tree, rule)
        if taken:
            body = flat_body(taken)
            postprocess_body(body, metadata, title, options)
            return finish_article(
                _serialize(body),
                url=url,
                title=title,
                metadata=metadata,
                extractor=EXTRACTOR_SITE_RULE,
            )
    source_index = index_source(tree)
    body = _trafilatura_body(tree, text, url, rule.drop if rule is not None else ())
    extractor = EXTRACTOR_TRAFILATURA
    if body is not None:
        enrich(body, source_index)
        postprocess_body(body, metadata, title, options)
    extracted_words = count_words("".join(body.itertext())) if body is not None else 0
    if _json_ld_body_is_better(metadata.article_body, extracted_words):
        assert metadata.article_body is not None
        body, extractor = _text_body(metadata.article_body), EXTRACTOR_JSON_LD
    elif body is None or not extracted_words:
        return finish_article("", url=url, title=title, metadata=metadata, extractor="")
    return finish_article(
        _serialize(body), url=url, title=title, metadata=metadata, extractor=extractor
    )
