"""URL normalisation: one spelling per feed, so the same subscription cannot exist twice."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from aggregator.errors import FeedError

_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_CHARS = 2048
# Characters left alone when re-quoting: reserved ones keep their meaning, "%" keeps
# existing escapes, so only raw spaces and non-ASCII characters get escaped.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class InvalidURL(FeedError, ValueError):
    """A URL that cannot be subscribed to or fetched."""


def normalize_url(url: str) -> str:
    """Return the canonical spelling of an http(s) URL.

    Scheme and host lower case, default port removed, fragment removed, empty path -> "/",
    internationalised host names in punycode; the query is kept as given.
    """
    raw = url.strip()
    if not raw:
        raise InvalidURL(url, "empty URL: give a full address such as https://example.org/feed")
    if any(ch in raw for ch in "\x00\r\n\t"):
        raise InvalidURL(raw, "the URL contains control characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(raw, f"malformed URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        what = f"a {scheme}: URL" if scheme else "a URL without http:// or https://"
        raise InvalidURL(raw, f"only http:// and https:// URLs can be fetched, this is {what}")
    host = parts.hostname
    if not host:
        raise InvalidURL(raw, "the URL has no host name")
    host = _ascii_host(raw, host)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username
        if parts.password is not None:
            userinfo += f":{parts.password}"
        netloc = f"{userinfo}@{netloc}"
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    query = quote(parts.query, safe=_QUERY_SAFE)
    normalised = urlunsplit((scheme, netloc, path, query, ""))
    if len(normalised) > MAX_URL_CHARS:
        raise InvalidURL(raw[:100] + "...", f"the URL is longer than {MAX_URL_CHARS} characters")
    return normalised


def _ascii_host(raw: str, host: str) -> str:
    if host.isascii():
        if not all(label for label in host.rstrip(".").split(".")):
            raise InvalidURL(raw, f"the host name {host!r} has an empty label")
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidURL(raw, f"the host name {host!r} is not a valid domain name") from exc
