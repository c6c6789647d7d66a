"""Sign-in throttling behind a reverse proxy and per account: the client's address comes from
X-Forwarded-For only when the peer is a trusted proxy (AGGREGATOR_TRUSTED_PROXIES), and
failures count against the address and the user name. Driven through a real aiohttp server
on 127.0.0.1 (so the peer of every request is 127.0.0.1, like a proxy on the same host)."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from aggregator import storage
from aggregator.config import load_settings
from aggregator.errors import ConfigError
from aggregator.storage import Database
from tests.web_support import (
    CURATOR,
    NOW,
    PASSWORD,
    PASSWORD_HASH,
    Clock,
    WebTestSettings,
    open_seeded_copy,
    post_login,
)
from web.app import create_app
from web.security import LoginThrottle, address_throttle_key, forwarded_client

REPO = Path(__file__).resolve().parents[1]
OTHER_CURATOR = "bob"
LOCKED = 429
WRONG = 401
SIGNED_IN = 303


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database, _ = await open_seeded_copy(tmp_path, entries=1)
    await storage.add_user(database, OTHER_CURATOR, PASSWORD_HASH, now=NOW)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_app(db: Database, clock: Clock, trusted_proxies: str) -> web.Application:
    # The real settings registry, as `aggregator serve` loads it.
    settings = load_settings(
        env={
            "AGGREGATOR_TRUSTED_PROXIES": trusted_proxies,
            "AGGREGATOR_SECRET_KEY": "test-secret-key-not-for-production",
        }
    )
    settings = dataclasses.replace(settings, base_url="http://127.0.0.1:8080")
    throttle = LoginThrottle(max_failures=5, lockout_s=60, clock=clock.seconds)
    return create_app(settings, db, clock=clock, login_throttle=throttle, cache_ttl_s=0)


async def attempt(
    client: TestClient, name: str, password: str, forwarded_for: str | None = None
) -> int:
    """One sign-in; the response status (303 signed in, 401 wrong, 429 locked)."""
    response = await post_login(client, name, password, forwarded_for=forwarded_for)
    if response.status == LOCKED:
        assert "Too many failed attempts" in await response.text()
        assert int(response.headers["Retry-After"]) > 0
    return response.status


GUESSED_NAMES = [f"guess{n}" for n in range(5)]


async def fail_five_times(
    client: TestClient, forwarded_for: list[str], names: list[str] = GUESSED_NAMES
) -> None:
    for address, name in zip(forwarded_for, names, strict=True):
        assert await attempt(client, name, "wrong password", address) == WRONG


# ---------------------------------------------------------------------------
# Through the server


async def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(
    db: Database, clock: Clock, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(make_app(db, clock, ""))
    # Five wrong guesses, each claiming another address and using another name.
    with caplog.at_level(logging.WARNING, logger="web.curator"):
        await fail_five_times(client, [f"203.0.113.{n}" for n in range(5)])
    # The one real client (127.0.0.1) is locked, whatever address it claims next.
    assert await attempt(client, CURATOR, PASSWORD, "198.51.100.1") == LOCKED
    assert await attempt(client, CURATOR, PASSWORD) == LOCKED
    # The log names the real client, not a claimed one.
    assert any("for client 127.0.0.1 after" in r.getMessage() for r in caplog.records)
    assert not any("203.0.113." in r.getMessage() for r in caplog.records)


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    db: Database, clock: Clock, aiohttp_client: Any
) -> None:
    # Trusted proxies are configured, but the peer (127.0.0.1) is not one of them.
    client = await aiohttp_client(make_app(db, clock, "10.0.0.0/8, 192.0.2.1"))
    await fail_five_times(client, [f"10.0.0.{n}, 192.0.2.1" for n in range(5)])
    assert await attempt(client, CURATOR, PASSWORD, "198.51.100.1") == LOCKED


async def test_forwarded_clients_behind_a_trusted_proxy_are_throttled_separately(
    db: Database, clock: Clock, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(make_app(db, clock, "127.0.0.1/32"))
    attacker = "203.0.113.7"
    with caplog.at_level(logging.WARNING, logger="web.curator"):
        await fail_five_times(client, [attacker] * 5)
    assert any("for client 203.0.113.7 after" in r.getMessage() for r in caplog.records)
    # The attacker is locked out, even of an account it never tried, and whatever it
    # puts in front of the address its proxy saw.
    assert await attempt(client, CURATOR, PASSWORD, attacker) == LOCKED
    assert await attempt(client, CURATOR, PASSWORD, f"198.51.100.50, {attacker}") == LOCKED
    assert await attempt(client, CURATOR, PASSWORD, f"1.1.1.1,{attacker}") == LOCKED
    # Another client behind the same proxy signs in.
    assert await attempt(client, CURATOR, PASSWORD, "198.51.100.9") == SIGNED_IN
    # Past the lock, the attacker may try again.
    clock.now += timedelta(seconds=61)
    assert await attempt(client, OTHER_CURATOR, PASSWORD, attacker) == SIGNED_IN


async def test_a_chain_of_trusted_proxies_is_walked_from_the_right(
    db: Database, clock: Clock, aiohttp_client: Any
) -> None:
    # A load balancer (10.0.0.0/8) in front of the proxy on this host (127.0.0.1).
    client = await aiohttp_client(make_app(db, clock, "127.0.0.1/32,10.0.0.0/8"))
    attacker = "203.0.113.7"
    await fail_five_times(
        client,
        [f"192.0.2.{n}, {attacker}, 10.1.2.{n}" for n in range(5)],
    )
    assert await attempt(client, CURATOR, PASSWORD, f"{attacker}, 10.9.9.9") == LOCKED
    assert await attempt(client, CURATOR, PASSWORD, "198.51.100.9, 10.1.2.3") == SIGNED_IN


async def test_an_account_is_throttled_across_addresses(
    db: Database, clock: Clock, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(make_app(db, clock, "127.0.0.1/32"))
    # Five addresses guess one account's password, one guess each.
    with caplog.at_level(logging.WARNING, logger="web.curator"):
        await fail_five_times(client, [f"203.0.113.{n}" for n in range(5)], [CURATOR] * 5)
    assert [r.getMessage() for r in caplog.records if r.name == "web.curator"] == [
        "sign-in locked for 60 s for user name 'alice' after repeated failures "
        "(the last from client 203.0.113.4)"
    ]
    # The account is locked for every address, the right password included ...
    assert await attempt(client, CURATOR, PASSWORD, "203.0.113.99") == LOCKED
    # ... but none of those addresses is locked out of another account.
    assert await attempt(client, OTHER_CURATOR, PASSWORD, "203.0.113.99") == SIGNED_IN
    assert await attempt(client, OTHER_CURATOR, PASSWORD, "203.0.113.0") == SIGNED_IN
    # Not for ever: the owner signs in once the lock has passed.
    clock.now += timedelta(hours=1)
    assert await attempt(client, CURATOR, PASSWORD, "198.51.100.9") == SIGNED_IN


async def test_an_unknown_name_is_throttled_across_addresses_like_a_known_one(
    db: Database, clock: Clock, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(make_app(db, clock, "127.0.0.1/32"))
    await fail_five_times(client, [f"203.0.113.{n}" for n in range(5)], ["nobody"] * 5)
    assert await attempt(client, "nobody", "any password", "203.0.113.99") == LOCKED
    assert await attempt(client, "NoBody", "any password", "198.51.100.1") == LOCKED
    assert await attempt(client, OTHER_CURATOR, PASSWORD, "203.0.113.99") == SIGNED_IN


async def test_ipv6_clients_are_throttled_per_64(
    db: Database, clock: Clock, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(make_app(db, clock, "127.0.0.1/32"))
    # One host rotating through the addresses of its /64.
    await fail_five_times(client, [f"2001:db8:1:2::{n + 1:x}" for n in range(5)])
    assert await attempt(client, CURATOR, PASSWORD, "[2001:db8:1:2:ffff::9]:4711") == LOCKED
    assert await attempt(client, CURATOR, PASSWORD, "2001:db8:1:3::1") == SIGNED_IN


# ---------------------------------------------------------------------------
# The setting


@pytest.mark.parametrize("value", ["10.0.0.0/33", "nginx", "127.0.0.1/32,300.1.1.1", "::1/129"])
def test_a_bad_trusted_proxies_setting_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="AGGREGATOR_TRUSTED_PROXIES"):
        load_settings(env={"AGGREGATOR_TRUSTED_PROXIES": value})


async def test_create_app_refuses_a_bad_trusted_proxies_setting(db: Database) -> None:
    @dataclasses.dataclass
    class Settings(WebTestSettings):
        trusted_proxies: str = "127.0.0.1/32, localhost"

    with pytest.raises(ConfigError, match="AGGREGATOR_TRUSTED_PROXIES: 'localhost'"):
        create_app(Settings(), db)


def test_start_up_with_a_bad_trusted_proxies_setting_says_so_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "serve", "--port", "1"],
        env={"AGGREGATOR_TRUSTED_PROXIES": "10.0.0.0/33", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: AGGREGATOR_TRUSTED_PROXIES='10.0.0.0/33'")
    assert "Traceback" not in result.stderr


def test_good_trusted_proxies_settings_load() -> None:
    settings = load_settings(env={"AGGREGATOR_TRUSTED_PROXIES": " 127.0.0.1/32, ::1, 10.0.0.0/8 "})
    assert settings.trusted_proxies.strip().startswith("127.0.0.1/32")
    assert load_settings(env={}).trusted_proxies == ""


# ---------------------------------------------------------------------------
# The address and the throttle, as pure functions

TRUSTED = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("remote", "headers", "trusted", "client"),
    [
        ("127.0.0.1", ["203.0.113.7"], (), "127.0.0.1"),  # no trusted proxies: ignored
        ("192.0.2.1", ["203.0.113.7"], TRUSTED, "192.0.2.1"),  # untrusted peer: ignored
        ("127.0.0.1", [], TRUSTED, "127.0.0.1"),  # a trusted peer without the header
        ("127.0.0.1", ["203.0.113.7"], TRUSTED, "203.0.113.7"),
        ("127.0.0.1", ["6.6.6.6, 203.0.113.7"], TRUSTED, "203.0.113.7"),  # spoofed left part
        ("127.0.0.1", ["203.0.113.7, 10.0.0.2"], TRUSTED, "203.0.113.7"),  # trusted hops
        ("127.0.0.1", ["6.6.6.6", "203.0.113.7, 10.0.0.2"], TRUSTED, "203.0.113.7"),
        ("127.0.0.1", ["10.0.0.3, 10.0.0.2"], TRUSTED, "10.0.0.3"),  # all trusted: left-most
        ("127.0.0.1", ["6.6.6.6, not-an-address"], TRUSTED, "127.0.0.1"),  # garbage stops
        ("127.0.0.1", ["6.6.6.6, garbage, 10.0.0.2"], TRUSTED, "10.0.0.2"),
        ("127.0.0.1", ["203.0.113.7:4711"], TRUSTED, "203.0.113.7"),
        ("127.0.0.1", ["[2001:db8::7]:4711"], TRUSTED, "2001:db8::7"),
        ("127.0.0.1", ["2001:DB8::7"], TRUSTED, "2001:db8::7"),
        ("127.0.0.1", ["::ffff:203.0.113.7"], TRUSTED, "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7, , "], TRUSTED, "203.0.113.7"),
        ("::ffff:127.0.0.1", ["203.0.113.7"], TRUSTED, "203.0.113.7"),  # mapped peer
        (None, ["203.0.113.7"], TRUSTED, "unknown"),
    ],
)
def test_forwarded_client(
    remote: str | None, headers: list[str], trusted: tuple[Any, ...], client: str
) -> None:
    assert forwarded_client(remote, headers, trusted) == client


def test_address_throttle_keys() -> None:
    assert address_throttle_key("203.0.113.7") == "ip:203.0.113.7"
    assert address_throttle_key("2001:db8:1:2::7") == "ip:2001:db8:1:2::/64"
    assert address_throttle_key("2001:db8:1:2:ffff::1") == "ip:2001:db8:1:2::/64"
    assert address_throttle_key("unknown") == "ip:unknown"


def test_lockouts_double_up_to_the_longest() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=2, lockout_s=60, max_lockout_s=200, clock=lambda: now[0])
    locks = []
    for _ in range(4):
        assert throttle.failure("k") == {}
        locks.append(throttle.failure("k")["k"])
        assert throttle.retry_after("k") == locks[-1]
        now[0] += locks[-1]
        assert throttle.retry_after("k") == 0
    assert locks == [60, 120, 200, 200]
    throttle.success("k")
    throttle.failure("k")
    assert throttle.failure("k") == {"k": 60}


def test_a_flood_of_new_keys_forgets_the_oldest_first() -> None:
    throttle = LoginThrottle(max_failures=5, max_keys=50, clock=lambda: 0.0)
    guesses = iter(range(1000))
    for _ in range(4):
        throttle.failure("user:alice")
        for n in [next(guesses) for _ in range(30)]:  # many other names in between
            throttle.failure(f"user:guess{n}")
    assert len(throttle._failures) <= 50
    assert throttle.failure("user:alice") == {"user:alice": 60.0}
    # A key not seen for longer than the last 50 others is forgotten.
    assert "user:guess0" not in throttle._failures
