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


def block_key(text: str) -> str:
    return _KEY_RE.sub(" ", text).strip().lower()


@dataclass(slots=True)
class SourceIndex:
    links: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    images_after: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


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


def _link_block(block: etree._Element, anchors: list[tuple[str, str]]) -> None:
    """Wrap the anchors' texts, in order, inside a block that holds plain text only."""
    if len(block) or not block.text:
        return  # keep blocks with inline markup as they are
    text = block.text
    block.text = None
    position = 0
    previous: etree._Element | None = None
    for anchor_text, href in anchors:
        found = text.find(anchor_text, position)
        if found < 0:
            continue
        before = text[position:found]
        if previous is None:
            block.text = (block.text or "") + before
        else:
            previous.tail = (previous.tail or "") + before
        link = etree.SubElement(block, "a", href=href)
        link.text = anchor_text
        previous = link
        position = found + len(anchor_text)
    rest = text[position:]
    if previous is None:
        block.text = (block.text or "") + rest
    else:
        previous.tail = (previous.tail or "") + rest


def enrich(body: etree._Element, index: SourceIndex) -> None:
    """Add links and images from ``index`` to the matching blocks of ``body`` in place."""
    if not index.links and not index.images_after:
        return
    used_images: set[str] = set()
    for block in list(body.iter(_TEXT_BLOCKS)):
        key = block_key("".join(block.itertext()))
        anchors = index.links.get(key)
        if anchors:
            _link_block(block, anchors)
        images = index.images_after.get(key)
        if not images:
            continue
        # Images go after the top-level block that holds this text block.
        holder = block
        while holder.getparent() is not None and holder.getparent() is not body:
            holder = holder.getparent()
        if holder.getparent() is None:
            continue
        for source, alt in reversed(images):
            if source in used_images:
                continue
            used_images.add(source)
            figure = etree.Element("figure")
            etree.SubElement(figure, "img", src=source, alt=alt)
            holder.addnext(figure)
