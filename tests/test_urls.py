"""URL normalisation: one spelling per subscription."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.urls import InvalidURL, normalize_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/Feed", "http://example.com/Feed"),
        ("https://example.com:443/rss", "https://example.com/rss"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://example.com/feed#section", "https://example.com/feed"),
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/feed  ", "https://example.com/feed"),
        ("https://example.com/feed?b=2&a=1", "https://example.com/feed?b=2&a=1"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/%7Euser", "https://example.com/%7Euser"),
        ("https://bücher.example/feed", "https://xn--bcher-kva.example/feed"),
        ("http://[2001:DB8::1]:80/feed", "http://[2001:db8::1]/feed"),
        ("https://user:pw@Example.com/f", "https://user:pw@example.com/f"),
    ],
)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty URL"),
        ("example.com/feed", "without http"),
        ("ftp://example.com/feed", "ftp"),
        ("javascript:alert(1)", "javascript"),
        ("file:///etc/passwd", "file"),
        ("http://", "no host"),
        ("http://example.com:99999/", "malformed"),
        ("http://exa mple.com\n/", "control characters"),
        ("http://a..b/", "empty label"),
    ],
)
def test_invalid_urls_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(InvalidURL, match=message):
        normalize_url(raw)


@settings(deadline=None)  # no timing: a loaded machine must not fail the test
@given(st.text(max_size=60))
def test_arbitrary_text_is_normalised_or_refused(text: str) -> None:
    try:
        once = normalize_url(text)
    except InvalidURL:
        return
    assert once.startswith(("http://", "https://"))
    assert normalize_url(once) == once  # idempotent


@settings(deadline=None)
@given(
    scheme=st.sampled_from(["http", "HTTP", "https", "HTTPS"]),
    host=st.from_regex(r"[A-Za-z0-9]{1,10}(\.[A-Za-z]{2,5}){1,2}", fullmatch=True),
    path=st.from_regex(r"(/[A-Za-z0-9_.~-]{0,8}){0,3}", fullmatch=True),
    fragment=st.from_regex(r"[a-z0-9]{0,6}", fullmatch=True),
)
def test_spellings_of_one_url_agree(scheme: str, host: str, path: str, fragment: str) -> None:
    plain = normalize_url(f"{scheme.lower()}://{host.lower()}{path}")
    port = ":443" if scheme.lower() == "https" else ":80"
    variant = f"{scheme}://{host.upper()}{port}{path}#{fragment}"
    assert normalize_url(variant) == plain
