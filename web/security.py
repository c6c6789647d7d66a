"""Sessions, CSRF, the client's address behind reverse proxies, login throttling, safe
redirects and security headers for the web view.

Sessions are a signed cookie (HMAC-SHA256 over a small JSON payload, stdlib only): the
server keeps no session table, and a cookie cannot be forged or altered without the secret.
Every session, anonymous ones included, carries a random CSRF token that every POST form
must echo back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from aggregator.config import IPNetwork

SESSION_COOKIE = "agg_session"
SESSION_MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf_token"
DEFAULT_AFTER_LOGIN = "/curate/feeds"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Article HTML may show the source's images; nothing else is loaded from elsewhere.
        "img-src 'self' https: http:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# ---------------------------------------------------------------------------
# Signed session cookie


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    user: str | None = None
    issued_at: float = 0.0

    @property
    def signed_in(self) -> bool:
        return self.user is not None


def new_session(user: str | None = None, now: float | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(32), user=user, issued_at=now or time.time())


class SessionSigner:
    """Encodes sessions as ``payload.signature`` (both base64url) under one secret key."""

    def __init__(self, secret_key: str, max_age_s: int = SESSION_MAX_AGE_S) -> None:
        self._key = hashlib.sha256(b"aggregator-session\0" + secret_key.encode()).digest()
        self.max_age_s = max_age_s

    def _sign(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def dumps(self, session: Session) -> str:
        data = {"c": session.csrf, "u": session.user, "t": int(session.issued_at)}
        payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        encoded = payload.decode().rstrip("=")
        return f"{encoded}.{self._sign(encoded.encode())}"

    def loads(self, value: str, now: float | None = None) -> Session | None:
        """The session in ``value``, or None when it is malformed, forged or expired."""
        encoded, _, signature = value.partition(".")
        if not encoded or not signature or len(value) > 4096:
            return None
        if not hmac.compare_digest(self._sign(encoded.encode()), signature):
            return None
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            data: Any = json.loads(raw)
        except (ValueError, binascii.Error):
            return None
        if not isinstance(data, dict):
            return None
        csrf, user, issued = data.get("c"), data.get("u"), data.get("t")
        if not isinstance(csrf, str) or not isinstance(issued, int):
            return None
        if user is not None and not isinstance(user, str):
            return None
        if (now or time.time()) - issued > self.max_age_s:
            return None
        return Session(csrf=csrf, user=user, issued_at=float(issued))


def set_session_cookie(
    response: web.StreamResponse, signer: SessionSigner, session: Session, *, secure: bool
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        signer.dumps(session),
        max_age=signer.max_age_s,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure,
    )


def csrf_matches(session: Session, submitted: object) -> bool:
    return isinstance(submitted, str) and hmac.compare_digest(
        session.csrf.encode(), submitted.encode("utf-8", "replace")
    )


# ---------------------------------------------------------------------------
# The client's address behind reverse proxies

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The proxies whose X-Forwarded-For is believed (AGGREGATOR_TRUSTED_PROXIES); set by create_app.
TRUSTED_PROXIES: web.AppKey[tuple[IPNetwork, ...]] = web.AppKey("aggregator_trusted_proxies", tuple)
# An IPv6 client usually holds a whole /64: throttling it per address would not slow it down.
IPV6_THROTTLE_PREFIX = 64


def _ip(text: str) -> IPAddress | None:
    """The address in one X-Forwarded-For hop (or a peer address), or None when it is not one.

    Accepts ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1`` and ``[2001:db8::1]:5678``;
    an IPv4-mapped IPv6 address counts as the IPv4 address it carries."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def forwarded_client(
    remote: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]
) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the
    right-most ``X-Forwarded-For`` address that is not a trusted proxy (walking from the
    right, as each proxy appends the address it saw). Without trusted proxies the header is
    ignored, so a client cannot choose its own address by sending one.

    A hop that is not an address (a misconfigured proxy) ends the walk: the last address
    known stands. Every hop is a trusted proxy: the left-most one is the client."""
    peer = _ip(remote) if remote else None
    if peer is None:
        return remote or "unknown"
    client = peer
    if not trusted:
        return str(client)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    while hops and any(client in network for network in trusted):
        hop = _ip(hops.pop())
        if hop is None:
            break
        client = hop
    return str(client)


def client_address(request: web.Request) -> str:
    """The address of the client that sent ``request`` (see ``forwarded_client``); the
    web view uses it wherever it needs the client's address (sign-in throttling, logs)."""
    trusted: tuple[IPNetwork, ...] = request.app.get(TRUSTED_PROXIES, ())
    return forwarded_client(request.remote, request.headers.getall("X-Forwarded-For", ()), trusted)


def address_throttle_key(address: str) -> str:
    """The throttle key of a client address: the address itself, or its /64 for IPv6."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return f"ip:{ipaddress.ip_network(f'{ip}/{IPV6_THROTTLE_PREFIX}', strict=False)}"
    return f"ip:{ip if ip is not None else address}"


def user_throttle_key(name: str) -> str:
    """The throttle key of a user name, whether or not such a user exists."""
    return f"user:{name.lower()}"


# ---------------------------------------------------------------------------
# Login throttling


@dataclass
class LoginThrottle:
    """Locks a user name and a client address out after repeated wrong passwords.

    Sign-in checks two keys, the client's address and the user name, and every failure
    counts against both: one address cannot guess across many accounts, and many addresses
    together cannot guess one account's password faster than one address could.

    After ``max_failures`` failures within ``window_s`` the key is locked for ``lockout_s``,
    doubling on each further lockout (up to ``max_lockout_s``): never for longer, so the
    owner of an attacked account can sign in again once an attack pauses. In memory, per
    process: the per-user lock stored in the database (when storage offers it) survives
    restarts. At most ``max_keys`` keys keep failure counts (and as many their lockout
    count); past that the keys whose last failure is oldest are forgotten first, not every
    count at once.
    """

    max_failures: int = 5
    window_s: float = 900.0
    lockout_s: float = 60.0
    max_lockout_s: float = 3600.0
    max_keys: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)
    _lockouts: dict[str, int] = field(default_factory=dict)

    def retry_after(self, *keys: str) -> float:
        """Seconds until every key may try again (0: allowed now)."""
        now = self.clock()
        waits = [self._locked_until.get(key, 0.0) - now for key in keys]
        return max([0.0, *waits])

    def failure(self, *keys: str) -> dict[str, float]:
        """Count one failure against each key; returns the keys this failure locked, with
        the seconds each is locked for."""
        now = self.clock()
        locked: dict[str, float] = {}
        for key in keys:
            # Popped and put back: the dict stays ordered by each key's latest failure.
            recent = [t for t in self._failures.pop(key, []) if now - t < self.window_s]
            recent.append(now)
            if len(recent) >= self.max_failures:
                count = self._lockouts.pop(key, 0)
                self._lockouts[key] = count + 1
                seconds = min(self.lockout_s * 2**count, self.max_lockout_s)
                self._locked_until.pop(key, None)
                self._locked_until[key] = now + seconds
                locked[key] = seconds
                recent = []
            self._failures[key] = recent
        self._forget()
        return locked

    def _forget(self) -> None:
        # Bound memory under a flood of distinct keys: the dicts are ordered by each key's
        # latest failure (or lock), so the front holds what was least recently attacked.
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]
        while len(self._lockouts) > self.max_keys:
            key = next(iter(self._lockouts))
            del self._lockouts[key]
            self._locked_until.pop(key, None)

    def success(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
            self._lockouts.pop(key, None)
            self._locked_until.pop(key, None)


# ---------------------------------------------------------------------------
# Redirects and headers


def safe_next(target: str | None, default: str = DEFAULT_AFTER_LOGIN) -> str:
    """A local path to go to after login; anything that could leave the site gives ``default``."""
    if not target or len(target) > 2000:
        return default
    if any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
