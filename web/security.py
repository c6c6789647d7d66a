"""Sessions, CSRF, login throttling, safe redirects and security headers for the web view.

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
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

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
# Login throttling


@dataclass
class LoginThrottle:
    """Locks a user name and a client address out after repeated wrong passwords.

    After ``max_failures`` failures within ``window_s`` the key is locked for ``lockout_s``,
    doubling on each further lockout (up to ``max_lockout_s``). In memory, per process: the
    per-user lock stored in the database (when storage offers it) survives restarts.
    """

    max_failures: int = 5
    window_s: float = 900.0
    lockout_s: float = 60.0
    max_lockout_s: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)
    _lockouts: dict[str, int] = field(default_factory=dict)

    def retry_after(self, *keys: str) -> float:
        """Seconds until every key may try again (0: allowed now)."""
        now = self.clock()
        waits = [self._locked_until.get(key, 0.0) - now for key in keys]
        return max([0.0, *waits])

    def failure(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
            recent.append(now)
            if len(recent) >= self.max_failures:
                count = self._lockouts.get(key, 0)
                self._lockouts[key] = count + 1
                self._locked_until[key] = now + min(self.lockout_s * 2**count, self.max_lockout_s)
                recent = []
            self._failures[key] = recent
            # Bound memory under a flood of distinct keys.
            if len(self._failures) > 100_000:
                self._failures.clear()

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
