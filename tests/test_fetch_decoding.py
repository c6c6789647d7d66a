"""Streaming decompression: any chunking of any body decodes to the body, under the cap."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.fetch import _decoders, _Failure, _run_decoders
from aggregator.types import ErrorKind


def encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "raw-deflate":
        obj = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return obj.compress(body) + obj.flush()
    if encoding == "br":
        return bytes(brotli.compress(body))
    return body


def decode(content_encoding: str | None, data: bytes, cuts: list[int], limit: int) -> bytes:
    decoders = _decoders(content_encoding, limit)
    out: list[bytes] = []
    previous = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        out.extend(_run_decoders(decoders, data[previous:cut]))
        previous = cut
    out.extend(_run_decoders(decoders, None))
    return b"".join(out)


HEADER_FOR = {"gzip": "gzip", "deflate": "deflate", "raw-deflate": "deflate", "br": "br", "": None}


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=4000) | st.text(max_size=3000).map(str.encode),
    encoding=st.sampled_from(sorted(HEADER_FOR)),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_any_chunking_decodes_to_the_body(body: bytes, encoding: str, cuts: list[int]) -> None:
    data = encode(body, encoding)
    assert decode(HEADER_FOR[encoding], data, cuts, 1 << 20) == body


@settings(max_examples=50, deadline=None)
@given(
    parts=st.lists(st.binary(max_size=500), min_size=2, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=6),
)
def test_multi_member_gzip(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(gzip.compress(part) for part in parts)
    assert decode("gzip", data, cuts, 1 << 20) == b"".join(parts)


def test_trailing_garbage_after_gzip_is_ignored() -> None:
    assert decode("gzip", gzip.compress(b"feed") + b"\x00\x00junk", [3, 20], 1024) == b"feed"


def test_layered_encodings_are_undone_in_reverse_order() -> None:
    body = b"<rss>" + b"x" * 5000 + b"</rss>"
    data = bytes(brotli.compress(gzip.compress(body)))  # gzip first, then br
    assert decode("gzip, br", data, [100], 1 << 20) == body


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", ""])
def test_output_over_the_cap_fails_as_too_large(encoding: str) -> None:
    data = encode(bytes(100_000), encoding)
    with pytest.raises(_Failure) as info:
        decode(HEADER_FOR[encoding], data, [10, 500], 50_000)
    assert info.value.kind is ErrorKind.TOO_LARGE
    assert info.value.message == "response larger than 48.8 KiB after decompression"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_output_exactly_at_the_cap_is_fine(encoding: str) -> None:
    assert decode(HEADER_FOR[encoding], encode(bytes(50_000), encoding), [7], 50_000) == bytes(
        50_000
    )


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("gzip", b"\x1f\x8b\x08garbage-garbage"),
        ("br", b"\xff\xff\xff\xffnot brotli"),
        ("deflate", b"\x78\x9c\xff\xff\xff\xff"),
    ],
)
def test_corrupt_streams_fail_as_decoding_errors(encoding: str, data: bytes) -> None:
    with pytest.raises(_Failure) as info:
        decode(encoding, data, [], 1 << 20)
    assert info.value.kind is ErrorKind.DECODING
