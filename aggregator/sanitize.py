"""The one place untrusted HTML is made safe (nh3, the Ammonia sanitizer).

Every HTML string from a feed or an article page passes through ``sanitize_html`` before it
is stored, and output paths that embed HTML call it again. Relative URLs are resolved
against ``base_url`` so stored HTML never depends on where it came from.
"""

from __future__ import annotations

import functools
import re
import threading
from urllib.parse import urljoin, urlparse, urlsplit

import nh3
from bs4 import BeautifulSoup

# Tags kept: text structure, tables, figures, media without scripting.
ALLOWED_TAGS: frozenset[str] = frozenset(
    (nh3.ALLOWED_TAGS - {"area", "map", "center", "acronym", "strike", "tt"})
    | {"picture", "source", "video", "audio", "section", "main", "tfoot"}
)

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height", "srcset", "sizes"},
    "source": {"src", "srcset", "type", "media", "sizes"},
    "video": {"src", "poster", "controls", "width", "height"},
    "audio": {"src", "controls"},
    "abbr": {"title"},
    "time": {"datetime"},
    "*": {"lang", "dir"},
}

# Tags removed together with everything inside them.
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "script",
        "style",
        "template",
        "noscript",
        "iframe",
        "object",
        "embed",
        "svg",
        "math",
        "form",
        "button",
        "select",
        "textarea",
        "head",
        "title",
        "frame",
        "frameset",
        "applet",
    }
)

URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})


# The base URL of the fragment being cleaned. The cleaner is built once (building one per
# call costs more than cleaning a typical fragment), so the base travels beside it;
# thread-local because parsing runs in worker threads.
_current = threading.local()


# Relative references that ``urljoin`` resolves by plain concatenation: no scheme (":"),
# query, fragment or ";params", nothing urlsplit strips, no "." or ".." segment, no empty
# segment (urljoin drops those of a path-relative reference). The first form starts at the
# root ("/about"), the second in the base's directory ("img/1.png").
_ROOT_RELATIVE = re.compile(r"/(?!/)[A-Za-z0-9\-._~!$&'()*+,=:@%/]*")
_PATH_RELATIVE = re.compile(r"[A-Za-z0-9\-_~!$&'()*+,=@%][A-Za-z0-9\-._~!$&'()*+,=@%/]*")

# An http(s) URL that urlparse splits at the obvious places: ASCII host, no ";params", nothing
# it strips (spaces, tabs, controls) before the query.
_PLAIN_BASE = re.compile(
    r"(https?)://([A-Za-z0-9.-]+(?::[0-9]+)?)(/[A-Za-z0-9\-._~!$&'()*+,=:@%/]*)?(?:[?#].*)?",
    re.DOTALL,
)


@functools.lru_cache(maxsize=256)
def _base_parts(base_url: str) -> tuple[str, str] | None:
    """("scheme://host", directory path) of an http(s) base that needs no path resolution.

    ``None`` when ``urljoin`` would do more than concatenate (no host, a "." or ".." or empty
    segment in the base path, another scheme) or cannot parse the base at all.
    """
    plain = _PLAIN_BASE.fullmatch(base_url)
    if plain is not None:  # the usual base, an entry's own link: what urlparse would find
        scheme, netloc, path = plain.group(1, 2, 3)
        path = path or ""
    else:
        try:
            scheme, netloc, path, _params, _query, _fragment = urlparse(base_url)
        except ValueError:
            return None
    if scheme not in ("http", "https") or not netloc or not path.startswith("/"):
        return None
    if "/." in path or "//" in path:
        return None
    return f"{scheme}://{netloc}", path[: path.rfind("/") + 1]


def _resolve_relative(url: str) -> str | None:
    base_url: str | None = getattr(_current, "base_url", None)
    if base_url is None:
        return None  # a relative URL with no base cannot be trusted to point anywhere
    parts = _base_parts(base_url)
    if parts is not None and "/." not in url:
        if _ROOT_RELATIVE.fullmatch(url):
            return parts[0] + url  # what urljoin gives, and the scheme is http(s)
        if _PATH_RELATIVE.fullmatch(url) and "//" not in url:
            return parts[0] + parts[1] + url
    absolute = urljoin(base_url, url)
    return absolute if urlsplit(absolute).scheme in URL_SCHEMES else None


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    # srcset holds several URLs; only keep it when every candidate is http(s).
    if attribute == "srcset":
        for candidate in value.split(","):
            url = candidate.strip().split(" ")[0]
            if url and urlsplit(url).scheme not in ("http", "https"):
                return None
    return value


def _cleaner(*, filter_srcset: bool) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_filter_attribute if filter_srcset else None,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        url_relative=_resolve_relative,
        strip_comments=True,
    )


_CLEANER = _cleaner(filter_srcset=True)
# The same without the attribute filter, which nh3 calls (a Python call) for every attribute
# kept and which only ever changes srcset: for fragments with no "srcset" in any case.
_CLEANER_WITHOUT_SRCSET = _cleaner(filter_srcset=False)
# What nh3 changes in text without markup: "<", ">", "&" (escaped or parsed), NUL, CR (CRLF
# becomes LF), no-break space (written as &nbsp;) and a leading byte-order mark; surrogates
# it refuses (UnicodeEncodeError). Text without any of them comes back unchanged, so it skips
# the parse (a third of the fragments in real feeds are plain text).
_CHANGED_BY_CLEANING = re.compile("[\x00\r&<>\xa0\ud800-\udfff]")


def sanitize_html(html: str | None, base_url: str | None = None) -> str:
    """Return ``html`` with everything executable removed and relative URLs made absolute.

    Links get ``rel="noopener noreferrer nofollow"``. ``None`` and empty input give ``""``.
    """
    if not html:
        return ""
    if _CHANGED_BY_CLEANING.search(html) is None and not html.startswith("\ufeff"):
        return html
    # Attribute names are ASCII-lower-cased by the HTML parser and never hold references, so
    # an attribute named srcset means "srcset" in the lower-cased source.
    cleaner = _CLEANER if "srcset" in html.lower() else _CLEANER_WITHOUT_SRCSET
    _current.base_url = base_url
    try:
        return cleaner.clean(html.replace("\x00", ""))
    finally:
        _current.base_url = None


def html_to_text(html: str | None) -> str:
    """Plain text of an HTML fragment (for summaries, search and tagging)."""
    if not html:
        return ""
    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())
