"""Put the source page's links and images back into extracted text blocks.

trafilatura selects article text best with links and images switched off (measured with
benchmarks/extraction.py: both options change what it selects and cost F1). So the page is
indexed first (block text -> its links, and the images that follow it) and the result's
blocks are matched back to source blocks by their normalised text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree
from lxml.html import HtmlElement

from aggregator.extract.text import xml_safe

_KEY_RE = re.compile(r"\W+")
_TEXT_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "dd", "figcaption")
_INDEXED = (*_TEXT_BLOCKS, "img")
# Containers whose images are site furniture rather than article figures.
_FURNITURE_RE = re.compile(
    r"sidebar|related|widget|footer|\bnav|menu|promo|share|social|author|avatar|logo|comment"
    r"|newsletter|subscribe|advert|\bads?\b|sponsor|banner|header|profile|icon|thumb",
    re.IGNORECASE,
)
_LAZY_SRC_ATTRIBUTES = ("src", "data-src", "data-lazy-src", "data-original", "data-url")
_MIN_KEY_LENGTH = 12
_EMBED_RE = re.compile(r"\b(?:twitter-tweet|instagram-media|tiktok-embed|bluesky-embed)\b")


def block_key(text: str) -> str:
    return _KEY_RE.sub(" ", text).strip().lower()


@dataclass(slots=True)
class SourceIndex:
    links: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    images_after: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # Embedded posts (tweets ...) are part of the story but extractors drop them as widgets.
    embeds_after: dict[str, list[etree._Element]] = field(default_factory=dict)


def _image_source(image: HtmlElement) -> str | None:
    for attribute in _LAZY_SRC_ATTRIBUTES:
        value = (image.get(attribute) or "").strip()
        if value and not value.startswith("data:"):
            return value
    return None


def _is_furniture(element: HtmlElement) -> bool:
    for ancestor in element.iterancestors():
        if ancestor.tag in ("aside", "nav", "footer", "header", "form"):
            return True
        marker = f"{ancestor.get('class', '')} {ancestor.get('id', '')}"
        if marker.strip() and _FURNITURE_RE.search(marker):
            return True
    return False


def _is_tiny(image: HtmlElement) -> bool:
    for attribute in ("width", "height"):
        value = image.get(attribute, "")
        if value.isdigit() and int(value) < 50:
            return True  # spacers, tracking pixels and icons
    return False


def _embed_copy(element: HtmlElement) -> etree._Element:
    """A plain blockquote with the embedded post's paragraphs (its text, links kept)."""
    quote = etree.Element("blockquote")
    for line in element.text_content().split("\n"):
        if line.strip():
            paragraph = etree.SubElement(quote, "p")
            paragraph.text = " ".join(line.split())
    return quote


def index_source(tree: HtmlElement) -> SourceIndex:
    """One pass in document order over text blocks and images (before extraction mutates)."""
    index = SourceIndex()
    last_key: str | None = None
    for element in tree.iter(_INDEXED):
        if element.tag == "img":
            source = _image_source(element)
            if last_key is None or source is None or _is_tiny(element) or _is_furniture(element):
                continue
            index.images_after.setdefault(last_key, []).append((source, element.get("alt", "")))
            continue
        if element.tag == "blockquote" and _EMBED_RE.search(element.get("class", "")):
            if last_key is not None:
                index.embeds_after.setdefault(last_key, []).append(_embed_copy(element))
            continue
        key = block_key(element.text_content())
        if len(key) < _MIN_KEY_LENGTH:
            continue
        last_key = key
        anchors = [
            (anchor.text_content().strip(), (anchor.get("href") or "").strip())
            for anchor in element.iter("a")
        ]
        anchors = [
            (text, href) for text, href in anchors if text and href and not href.startswith("#")
        ]
        if anchors and key not in index.links:
            index.links[key] = anchors
    return index


def _wrap_anchors(
    text: str, anchors: list[tuple[str, str]], start: int
) -> tuple[str, list[tuple[etree._Element, str]], int]:
    """Split ``text`` around the anchors' texts (in order, from ``anchors[start]``).

    Returns the text before the first link, the new links each with the text after it,
    and the index of the next anchor to look for.
    """
    head = text
    links: list[tuple[etree._Element, str]] = []
    position = 0
    while start < len(anchors):
        anchor_text, href = anchors[start]
        found = text.find(anchor_text, position)
        if found < 0:
            break
        # lxml refuses control characters in attributes; browsers drop them from URLs too.
        link = etree.Element("a", href=xml_safe(href))
        link.text = anchor_text
        if links:
            previous, _ = links[-1]
            links[-1] = (previous, text[position:found])
        else:
            head = text[:found]
        links.append((link, ""))
        position = found + len(anchor_text)
        start += 1
    if links:
        last, _ = links[-1]
        links[-1] = (last, text[position:])
    return head, links, start


def _link_block(block: etree._Element, anchors: list[tuple[str, str]]) -> None:
    """Wrap the anchors' texts, in order, in the text of a block and of its line breaks."""
    if any(child.tag != "br" for child in block):
        return  # other inline markup: keep the block as it is
    next_anchor = 0
    # The block's own text, then the tail of each <br>, in document order.
    segments: list[etree._Element | None] = [None, *block]
    for owner in segments:
        text = block.text if owner is None else owner.tail
        if not text:
            continue
        head, links, next_anchor = _wrap_anchors(text, anchors, next_anchor)
        if not links:
            continue
        if owner is None:
            block.text = head
            insert_at = 0
        else:
            owner.tail = head
            insert_at = block.index(owner) + 1
        for offset, (link, tail) in enumerate(links):
            link.tail = tail
            block.insert(insert_at + offset, link)


def enrich(body: etree._Element, index: SourceIndex) -> None:
    """Add links and images from ``index`` to the matching blocks of ``body`` in place."""
    if not index.links and not index.images_after and not index.embeds_after:
        return
    used_images: set[str] = set()
    blocks = list(body.iter(_TEXT_BLOCKS))
    present = {block_key("".join(block.itertext())) for block in blocks}
    for block in blocks:
        key = block_key("".join(block.itertext()))
        anchors = index.links.get(key)
        if anchors:
            _link_block(block, anchors)
        images = index.images_after.get(key, [])
        embeds = [
            quote
            for quote in index.embeds_after.get(key, [])
            if block_key("".join(quote.itertext())) not in present
            and not all(block_key(p.text or "") in present for p in quote)
        ]
        if not images and not embeds:
            continue
        # Figures and embeds go after the top-level block that holds this text block.
        holder = block
        while holder.getparent() is not None and holder.getparent() is not body:
            holder = holder.getparent()
        if holder.getparent() is None:
            continue
        for quote in reversed(embeds):
            holder.addnext(quote)
        for source, alt in reversed(images):
            if source in used_images:
                continue
            used_images.add(source)
            figure = etree.Element("figure")
            etree.SubElement(figure, "img", src=source, alt=alt)
            holder.addnext(figure)
