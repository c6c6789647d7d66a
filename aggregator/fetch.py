"""The HTTP client: conditional GET, redirects, timeouts, size caps, per-host limits, address guard.

One ``Fetcher`` holds one aiohttp ``ClientSession`` for a whole worker. Every fetch returns a
``FetchResult``; expected failures (DNS, refused connection, timeouts, TLS, HTTP errors, too
large, too many redirects, blocked address, bad URL) are outcomes with an ``ErrorKind`` and a
one-line message, never exceptions.

Why the fetcher does some things itself instead of leaving them to aiohttp:
- Redirects are followed by hand so the address guard sees every hop and a 301/308 chain from
  the requested URL can be reported (``permanent_redirect``).
- Bodies are decompressed here, while streaming, so both caps hold: ``max_body_bytes`` on the
  bytes received and ``max_decompressed_bytes`` on what they inflate to (gzip/brotli bombs).
- The total time limit covers all hops of one fetch; waiting for a free connection slot (global
  or per host) does not count against it, so a long queue cannot time out feeds that never ran.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
import brotli
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDictProxy

from aggregator import PROJECT_URL, __version__
from aggregator.netguard import (
    BadURLError,
    BlockedAddressError,
    GuardedResolver,
    IPNetwork,
    check_url,
    parse_allowed_networks,
)
from aggregator.types import ErrorKind, FetchOutcome, FetchRequest, FetchResult

if TYPE_CHECKING:
    from aggregator.config import Settings

logger = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB

DEFAULT_USER_AGENT = f"aggregator/{__version__} (+{PROJECT_URL})"
FEED_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
ACCEPT_ENCODING = "gzip, deflate, br"

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECT_STATUSES = frozenset({301, 308})
RATE_LIMIT_STATUSES = frozenset({429, 503})

# Output produced per decompression call: bounds memory however dense the compressed input is.
_DECOMPRESS_STEP = 256 * KiB


@dataclass(frozen=True)
class FetcherConfig:
    """Limits and identity of the fetcher (the CLI maps ``Settings`` onto it)."""

    user_agent: str = DEFAULT_USER_AGENT
    max_connections: int = 100
    max_per_host: int = 4
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    total_timeout_s: float = 60.0
    max_body_bytes: int = 10 * MiB
    max_decompressed_bytes: int = 50 * MiB
    max_redirects: int = 5
    allowed_networks: tuple[IPNetwork, ...] = ()

    def with_allowed_networks(self, text: str) -> FetcherConfig:
        """A copy allowing the comma-separated CIDR blocks in ``text`` (raises ConfigError)."""
        return replace(self, allowed_networks=parse_allowed_networks(text))

    @classmethod
    def from_settings(cls, settings: Settings) -> FetcherConfig:
        return cls(
            user_agent=settings.user_agent,
            max_connections=settings.max_connections,
            max_per_host=settings.max_per_host,
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            total_timeout_s=settings.total_timeout_s,
            max_body_bytes=settings.max_body_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_redirects=settings.max_redirects,
            allowed_networks=parse_allowed_networks(settings.allowed_networks),
        )


# ---------------------------------------------------------------------------
# Small pure helpers


def format_size(n: int) -> str:
    """``10485760`` -> ``"10 MiB"``; for messages a person reads."""
    for unit, size in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent
    or unreadable. Dates in the past give 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def body_hash(body: bytes) -> str:
    """The hash stored per feed to spot a body identical to the last one (sha256, hex)."""
    return hashlib.sha256(body).hexdigest()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme.lower() == "https" else 80
    return host, port


def _seconds(value: float) -> str:
    return f"{value:g} s"


# ---------------------------------------------------------------------------
# Streaming decompression with an output cap


class _Failure(Exception):
    """An expected failure inside one fetch, turned into an ERROR result at the top."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


class _Decoder(Protocol):
    def feed(self, data: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


class _Capped:
    """Counts decoded bytes and fails as soon as they pass the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0

    def take(self, out: bytes, parts: list[bytes]) -> None:
        if not out:
            return
        self.size += len(out)
        if self.size > self.limit:
            raise _Failure(
                ErrorKind.TOO_LARGE,
                f"response larger than {format_size(self.limit)} after decompression",
            )
        parts.append(out)


class _IdentityDecoder(_Capped):
    def feed(self, data: bytes) -> list[bytes]:
        parts: list[bytes] = []
        self.take(data, parts)
        return parts

    def finish(self) -> list[bytes]:
        return []


class _ZlibDecoder(_Capped):
    """gzip (several members allowed, as RFC 1952 says) and deflate (zlib-wrapped or raw)."""

    def __init__(self, encoding: str, limit: int) -> None:
        super().__init__(limit)
        self.encoding = encoding
        self._obj: zlib._Decompress | None = None
        self._pending = b""  # first bytes of a stream, until its header can be read
        self._done = False  # bytes after the end of the stream are ignored, as browsers do
        self._started = False  # a first gzip member was seen

    def _new(self, head: bytes) -> zlib._Decompress:
        if self.encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" is meant to be zlib-wrapped, yet many servers send raw deflate.
        wrapped = (head[0] & 0x0F) == 8 and ((head[0] << 8) | head[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> list[bytes]:
        parts: list[bytes] = []
        try:
            self._feed(data, parts, final=False)
        except zlib.error as exc:
            raise _Failure(
                ErrorKind.DECODING, f"could not decompress the {self.encoding} body: {exc}"
            ) from exc
        return parts

    def _feed(self, data: bytes, parts: list[bytes], *, final: bool) -> None:
        while data and not self._done:
            if self._obj is None:
                data = self._pending + data
                if len(data) < 2 and not final:
                    self._pending = data
                    return
                self._pending = b""
                if self.encoding == "gzip" and self._started and data[:2] != b"\x1f\x8b":
                    self._done = True  # trailing garbage after the last gzip member
                    return
                self._obj = self._new(data if len(data) >= 2 else data + b"\0")
                self._started = True
            obj = self._obj
            self.take(obj.decompress(data, _DECOMPRESS_STEP), parts)
            while obj.unconsumed_tail and not obj.eof:
                self.take(obj.decompress(obj.unconsumed_tail, _DECOMPRESS_STEP), parts)
            data = b""
            if obj.eof:
                data = obj.unused_data
                self._obj = None  # a gzip member ended: another one may follow
                if self.encoding != "gzip":
                    self._done = True

    def finish(self) -> list[bytes]:
        parts: list[bytes] = []
        try:
            if self._pending:
                pending, self._pending = self._pending, b""
                self._feed(pending, parts, final=True)
            if self._obj is not None and not self._done:
                self.take(self._obj.flush(), parts)
        except zlib.error as exc:
            raise _Failure(
                ErrorKind.DECODING, f"could not decompress the {self.encoding} body: {exc}"
            ) from exc
        return parts


class _BrotliDecoder(_Capped):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes) -> list[bytes]:
        parts: list[bytes] = []
        try:
            if self._obj.is_finished():
                return parts
            self.take(self._obj.process(data, output_buffer_limit=_DECOMPRESS_STEP), parts)
            while not self._obj.can_accept_more_data():
                self.take(self._obj.process(b"", output_buffer_limit=_DECOMPRESS_STEP), parts)
        except brotli.error as exc:
            raise _Failure(ErrorKind.DECODING, f"could not decompress the br body: {exc}") from exc
        return parts

    def finish(self) -> list[bytes]:
        return []


def _decoders(content_encoding: str | None, limit: int) -> list[_Decoder]:
    """Decoders to apply in order (Content-Encoding lists them in the order they were applied)."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
    decoders: list[_Decoder] = []
    for name in reversed(names):
        if name in ("gzip", "x-gzip"):
            decoders.append(_ZlibDecoder("gzip", limit))
        elif name == "deflate":
            decoders.append(_ZlibDecoder("deflate", limit))
        elif name == "br":
            decoders.append(_BrotliDecoder(limit))
        elif name == "identity":
            continue
        else:
            raise _Failure(
                ErrorKind.DECODING,
                f"the server used Content-Encoding {name!r}, which is not supported",
            )
    decoders.append(_IdentityDecoder(limit))
    return decoders


def _run_decoders(decoders: list[_Decoder], data: bytes | None) -> list[bytes]:
    """Feed ``data`` through the chain (None: end of body, flush everything); return output."""
    pieces: list[bytes] = [data] if data is not None else []
    for decoder in decoders:
        out: list[bytes] = []
        for piece in pieces:
            out.extend(decoder.feed(piece))
        if data is None:
            out.extend(decoder.finish())
        pieces = out
    return pieces


# ---------------------------------------------------------------------------
# Per-host politeness


@dataclass
class _HostSlot:
    semaphore: asyncio.Semaphore
    users: int = 0


class _HostLimiter:
    """At most ``limit`` requests in flight per host name, whatever the port or scheme.

    aiohttp's ``limit_per_host`` keys on (host, port, TLS), so http and https to one host, or
    redirect hops back to it, could exceed it; this keys on the name alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[str, _HostSlot] = {}

    def hold(self, host: str) -> _HostHold:
        return _HostHold(self, host)


class _HostHold:
    """``async with limiter.hold(host)``: a plain class, cheaper than asynccontextmanager."""

    __slots__ = ("_host", "_limiter", "_slot")

    def __init__(self, limiter: _HostLimiter, host: str) -> None:
        self._limiter = limiter
        self._host = host
        self._slot: _HostSlot | None = None

    async def __aenter__(self) -> None:
        slots = self._limiter._slots
        slot = slots.get(self._host)
        if slot is None:
            slot = slots[self._host] = _HostSlot(asyncio.Semaphore(self._limiter.limit))
        slot.users += 1
        self._slot = slot
        try:
            await slot.semaphore.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._slot is not None
        self._slot.semaphore.release()
        self._leave()

    def _leave(self) -> None:
        assert self._slot is not None
        self._slot.users -= 1
        if self._slot.users == 0:
            del self._limiter._slots[self._host]


# ---------------------------------------------------------------------------
# The fetcher


@dataclass
class _Response:
    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes | None = None


@dataclass
class _Progress:
    """What one fetch has done so far; survives failures so errors report it."""

    url: str
    started: float  # time.perf_counter() at the start
    bytes_read: int = 0
    status: int | None = None
    permanent_redirect: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class Fetcher:
    """Fetch feeds and pages through one shared session; use as ``async with Fetcher(...)``."""

    def __init__(
        self,
        config: FetcherConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """``clock`` dates Retry-After; ``resolver`` replaces aiohttp's default DNS resolver
        (the address guard always wraps it)."""
        self.config = config or FetcherConfig()
        self._inner_resolver = resolver
        self._clock = clock or (lambda: datetime.now(UTC))
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None
        self._hosts = _HostLimiter(self.config.max_per_host)
        self._global: asyncio.Semaphore | None = None

    async def __aenter__(self) -> Fetcher:
        config = self.config
        self._resolver = GuardedResolver(config.allowed_networks, self._inner_resolver)
        connector = aiohttp.TCPConnector(
            limit=config.max_connections,
            limit_per_host=config.max_per_host,
            resolver=self._resolver,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,  # enforced across all hops by the fetcher itself
                connect=None,  # would include waiting for a pool slot
                sock_connect=config.connect_timeout_s,
                sock_read=config.read_timeout_s,
            ),
            headers={"User-Agent": config.user_agent},
            auto_decompress=False,  # decompressed here, under the size cap
            trust_env=False,  # an environment proxy would bypass the address guard
            cookie_jar=aiohttp.DummyCookieJar(),  # no state shared between feeds
            max_line_size=32 * KiB,
            max_field_size=32 * KiB,
        )
        self._global = asyncio.Semaphore(config.max_connections)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            # The connector does not close a resolver it was given.
            await self._resolver.close()
            self._resolver = None

    async def fetch_feed(self, request: FetchRequest) -> FetchResult:
        """Conditional GET of a feed document. Never raises for an expected failure."""
        headers = {"Accept": FEED_ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        return await self._fetch(request.url, headers, request)

    async def fetch_page(self, url: str) -> FetchResult:
        """GET an article page (HTML) under the same limits and guard."""
        headers = {"Accept": PAGE_ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
        return await self._fetch(url, headers, FetchRequest(url=url))

    # -- internals

    async def _fetch(self, url: str, headers: dict[str, str], request: FetchRequest) -> FetchResult:
        if self._session is None or self._global is None:
            raise RuntimeError("Fetcher used outside 'async with Fetcher(...)'")
        progress = _Progress(url=url, started=time.perf_counter())
        try:
            response = await self._follow(url, headers, progress)
            result = self._result(request, response, progress)
        except _Failure as failure:
            result = self._error(request, progress, failure.kind, failure.message, failure.status)
        except Exception as exc:  # an unexpected bug must not kill a polling cycle
            logger.exception("unexpected error fetching %s", url)
            result = self._error(
                request,
                progress,
                ErrorKind.INTERNAL,
                f"internal error: {type(exc).__name__}: {exc}",
                progress.status,
            )
        return result

    async def _follow(self, url: str, headers: dict[str, str], progress: _Progress) -> _Response:
        """Request ``url`` and follow redirects by hand, guarding every hop."""
        config = self.config
        visited = [url]
        spent = 0.0
        permanent_chain = True
        current = url
        for _hop in range(config.max_redirects + 1):
            progress.url = current
            progress.status, progress.headers = None, {}  # a failed hop reports its own
            host = self._check(current)
            assert self._global is not None
            async with self._hosts.hold(host), self._global:
                budget = config.total_timeout_s - spent
                hop_started = time.perf_counter()
                try:
                    async with asyncio.timeout(budget):
                        response = await self._request(current, headers, progress)
                except TimeoutError as exc:
                    raise _Failure(
                        ErrorKind.TIMEOUT,
                        f"timed out after {_seconds(config.total_timeout_s)} "
                        f"(time limit for the whole request) fetching {current}",
                        progress.status,
                    ) from exc
                finally:
                    spent += time.perf_counter() - hop_started
            if response.status not in REDIRECT_STATUSES or "Location" not in response.headers:
                return response
            target = self._redirect_target(current, response.headers["Location"])
            if permanent_chain and response.status in PERMANENT_REDIRECT_STATUSES:
                progress.permanent_redirect = target
            else:
                permanent_chain = False
            if target in visited:
                loop = " -> ".join([*visited[visited.index(target) :], target])
                raise _Failure(
                    ErrorKind.TOO_MANY_REDIRECTS, f"redirect loop: {loop}", response.status
                )
            visited.append(target)
            current = target
        raise _Failure(
            ErrorKind.TOO_MANY_REDIRECTS,
            f"more than {config.max_redirects} redirects (gave up before {current})",
            progress.status,
        )

    def _check(self, url: str) -> str:
        try:
            return check_url(url, self.config.allowed_networks)
        except BadURLError as exc:
            raise _Failure(ErrorKind.BAD_URL, str(exc)) from exc
        except BlockedAddressError as exc:
            raise _Failure(ErrorKind.BLOCKED_ADDRESS, exc.message) from exc

    @staticmethod
    def _redirect_target(current: str, location: str) -> str:
        try:
            target = urljoin(current, location.strip())
            parts = urlsplit(target)
            return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
        except ValueError as exc:
            raise _Failure(
                ErrorKind.BAD_URL, f"{current} redirects to an invalid URL {location!r}: {exc}"
            ) from exc

    async def _request(self, url: str, headers: dict[str, str], progress: _Progress) -> _Response:
        assert self._session is not None
        try:
            async with self._session.get(url, headers=headers, allow_redirects=False) as resp:
                progress.status = resp.status
                progress.headers = resp.headers
                response = _Response(url=url, status=resp.status, headers=resp.headers)
                if 200 <= resp.status < 300:
                    response.body = await self._read_body(resp, progress)
                return response
        except _Failure:
            raise
        except aiohttp.ClientError as exc:
            kind, message = _describe_client_error(exc, url, self.config)
            raise _Failure(kind, message, progress.status) from exc
        except ssl.SSLError as exc:
            host, port = _host_port(url)
            raise _Failure(ErrorKind.TLS, f"TLS error with {host}:{port}: {exc}") from exc
        except (zlib.error, brotli.error) as exc:
            raise _Failure(ErrorKind.DECODING, f"could not decompress the body: {exc}") from exc

    async def _read_body(self, resp: aiohttp.ClientResponse, progress: _Progress) -> bytes:
        limit = self.config.max_body_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise _Failure(
                ErrorKind.TOO_LARGE,
                f"response larger than {format_size(limit)} "
                f"(the server announced {format_size(declared)})",
                resp.status,
            )
        encoding = resp.headers.get("Content-Encoding")
        decoders = _decoders(encoding, self.config.max_decompressed_bytes)
        parts: list[bytes] = []
        async for chunk in resp.content.iter_any():
            progress.bytes_read += len(chunk)
            if progress.bytes_read > limit:
                raise _Failure(
                    ErrorKind.TOO_LARGE, f"response larger than {format_size(limit)}", resp.status
                )
            parts.extend(_run_decoders(decoders, chunk))
        parts.extend(_run_decoders(decoders, None))
        return b"".join(parts)

    def _result(
        self, request: FetchRequest, response: _Response, progress: _Progress
    ) -> FetchResult:
        # Built in one go (no dataclasses.replace): this runs for every fetch.
        headers = response.headers
        status = response.status
        outcome = FetchOutcome.ERROR
        etag = headers.get("ETag")
        last_modified = headers.get("Last-Modified")
        body: bytes | None = None
        digest: str | None = None
        error_kind: ErrorKind | None = None
        error: str | None = None
        retry_after: float | None = None
        if 200 <= status < 300:
            content = response.body or b""
            digest = body_hash(content)
            if digest == request.previous_body_hash:
                # The server ignored the validators but nothing changed: no need to parse.
                outcome = FetchOutcome.NOT_MODIFIED
            else:
                outcome, body = FetchOutcome.OK, content
        elif status == 304:
            # A 304 may omit the validators; the ones sent are still the current ones.
            outcome = FetchOutcome.NOT_MODIFIED
            etag = etag or request.etag
            last_modified = last_modified or request.last_modified
            digest = request.previous_body_hash
        elif status == 410:
            outcome = FetchOutcome.GONE
            error = f"HTTP 410 Gone: {response.url} was removed for good"
        elif status in RATE_LIMIT_STATUSES:
            retry_after = parse_retry_after(headers.get("Retry-After"), self._clock())
            wait = f", asked to retry after {retry_after:g} s" if retry_after is not None else ""
            error_kind = ErrorKind.RATE_LIMITED
            error = f"HTTP {status}{_reason(status)} from {_host_port(response.url)[0]}{wait}"
        else:
            error_kind = ErrorKind.HTTP
            if status in REDIRECT_STATUSES:
                error = f"HTTP {status} redirect without a Location header from {response.url}"
            else:
                error = f"HTTP {status}{_reason(status)} from {response.url}"
        return FetchResult(
            requested_url=request.url,
            final_url=response.url,
            outcome=outcome,
            status=status,
            body=body,
            body_hash=digest,
            content_type=headers.get("Content-Type"),
            etag=etag,
            last_modified=last_modified,
            cache_control=headers.get("Cache-Control"),
            expires=headers.get("Expires"),
            retry_after_s=retry_after,
            permanent_redirect=progress.permanent_redirect,
            error_kind=error_kind,
            error=error,
            duration_s=time.perf_counter() - progress.started,
            bytes_read=progress.bytes_read,
        )

    @staticmethod
    def _error(
        request: FetchRequest,
        progress: _Progress,
        kind: ErrorKind,
        message: str,
        status: int | None,
    ) -> FetchResult:
        return FetchResult(
            requested_url=request.url,
            final_url=progress.url,
            outcome=FetchOutcome.ERROR,
            status=status,
            error_kind=kind,
            error=_one_line(message),
            permanent_redirect=progress.permanent_redirect,
            bytes_read=progress.bytes_read,
            content_type=progress.headers.get("Content-Type"),
            duration_s=time.perf_counter() - progress.started,
        )


_MAX_MESSAGE_CHARS = 300


def _one_line(message: str) -> str:
    """Messages are stored and shown per feed: one line, bounded (server text can be huge)."""
    line = " ".join(message.split())
    if len(line) > _MAX_MESSAGE_CHARS:
        line = line[: _MAX_MESSAGE_CHARS - 1] + "…"
    return line


def _reason(status: int) -> str:
    try:
        return f" {HTTPStatus(status).phrase}"
    except ValueError:
        return ""


def _describe_client_error(
    exc: aiohttp.ClientError, url: str, config: FetcherConfig
) -> tuple[ErrorKind, str]:
    """One line a person can act on, and the kind, for an aiohttp failure."""
    host, port = _host_port(url)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        cause = exc.os_error
        if isinstance(cause, BlockedAddressError):
            return ErrorKind.BLOCKED_ADDRESS, cause.message
        return (
            ErrorKind.DNS,
            f"could not resolve host {host} (DNS lookup failed: {cause.strerror or cause})",
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        problem = exc.certificate_error
        reason = getattr(problem, "verify_message", None) or str(problem)
        return ErrorKind.TLS, f"TLS certificate of {host}:{port} not accepted: {reason}"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return ErrorKind.TLS, f"TLS handshake with {host}:{port} failed: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return ErrorKind.CONNECT, f"connection refused by {host}:{port}"
        reason = exc.os_error.strerror or str(exc.os_error)
        return ErrorKind.CONNECT, f"could not connect to {host}:{port}: {reason}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return (
            ErrorKind.TIMEOUT,
            f"timed out after {_seconds(config.connect_timeout_s)} connecting to {host}:{port}",
        )
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return (
            ErrorKind.TIMEOUT,
            f"timed out after {_seconds(config.read_timeout_s)} waiting for data from {host}",
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ErrorKind.CONNECT, f"{host}:{port} closed the connection without a complete answer"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ErrorKind.CONNECT, f"the response from {host} was cut off or malformed: {exc}"
    if isinstance(exc, aiohttp.InvalidURL):
        return ErrorKind.BAD_URL, f"invalid URL: {exc}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return ErrorKind.HTTP, f"invalid HTTP response from {host}:{port}: {exc.message}"
    if isinstance(exc, aiohttp.ClientOSError):
        return ErrorKind.CONNECT, f"network error talking to {host}:{port}: {exc}"
    return ErrorKind.CONNECT, f"request to {host}:{port} failed: {type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------
# One-shot helpers for CLI commands (parse, extract)


async def fetch_document_once(url: str, *, allowed_networks: str = "") -> FetchResult:
    """Fetch one feed document with default limits (``allowed_networks``: CIDR blocks)."""
    config = FetcherConfig().with_allowed_networks(allowed_networks)
    async with Fetcher(config) as fetcher:
        return await fetcher.fetch_feed(FetchRequest(url=url))


async def fetch_page_once(url: str, *, allowed_networks: str = "") -> FetchResult:
    """Fetch one article page with default limits (``allowed_networks``: CIDR blocks)."""
    config = FetcherConfig().with_allowed_networks(allowed_networks)
    async with Fetcher(config) as fetcher:
        return await fetcher.fetch_page(url)
