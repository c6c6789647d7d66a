"""The network boundary: which addresses the fetcher may connect to.

Curators give the aggregator arbitrary URLs, so without a guard it could be used to reach
the network it runs in (cloud metadata at 169.254.169.254, databases on 10.x, admin pages on
127.0.0.1). By default only globally routable unicast addresses are allowed; an operator can
allow listed networks with ``AGGREGATOR_ALLOWED_NETWORKS`` (tests and the demo allow 127.0.0.1).

The check must run on the address actually connected to, after DNS resolution, or a host name
that resolves to 127.0.0.1 (or rebinds to it between a check and the connection) gets through.
``GuardedResolver`` does that inside aiohttp's connector; aiohttp skips the resolver for
literal IP hosts, so the fetcher also calls ``check_url`` on every URL (every redirect hop)
before it connects.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from aggregator.config import IPNetwork, env_name, parse_networks

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: frozenset[str] = frozenset({"http", "https"})

# Ranges refused on top of what ``ipaddress`` calls private/reserved/etc.; Python's flags
# differ between versions and miss some (e.g. IPv4 multicast counts as "global" in 3.11).
_EXTRA_BLOCKED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(block)
    for block in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
        "::/128",
        "::1/128",
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)

_NAT64_PREFIXES: tuple[ipaddress.IPv6Network, ...] = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)


# Numeric host spellings that are not canonical dotted-quad IPv4 (octal, hex, short forms).
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}", re.I)


class BlockedAddressError(OSError):
    """A host (or every address it resolves to) is outside the allowed networks.

    An ``OSError`` so that aiohttp's connector treats it like a failed lookup and wraps it in
    ``ClientConnectorDNSError`` (the fetcher unwraps it into ``ErrorKind.BLOCKED_ADDRESS``).
    """

    def __init__(self, host: str, addresses: Sequence[str] = ()) -> None:
        self.host = host
        self.addresses = tuple(addresses)
        if self.addresses and tuple(self.addresses) != (host,):
            shown = ", ".join(self.addresses[:4])
            message = (
                f"refused to connect to {host}: it resolves to {shown}, a private, loopback "
                "or reserved address (allow it with AGGREGATOR_ALLOWED_NETWORKS)"
            )
        else:
            message = (
                f"refused to connect to {host}: a private, loopback or reserved address "
                "(allow it with AGGREGATOR_ALLOWED_NETWORKS)"
            )
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadURLError(ValueError):
    """A URL the fetcher will not request (wrong scheme, no host, malformed)."""


def parse_allowed_networks(text: str) -> tuple[IPNetwork, ...]:
    """``AGGREGATOR_ALLOWED_NETWORKS`` as networks (see ``config.parse_networks``)."""
    return parse_networks(text, env_name("allowed_networks"))


def _parse_ip(ip: str | IPAddress) -> IPAddress | None:
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ip
    text = ip.strip().strip("[]").split("%", 1)[0]  # brackets and IPv6 zone ids are not part
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64, Teredo), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    for prefix in _NAT64_PREFIXES:
        if ip in prefix:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible ::a.b.c.d (deprecated, but some stacks still route it)
    if int(ip) >> 32 == 0 and int(ip) > 0xFFFF:
        return ipaddress.IPv4Address(int(ip))
    return None


def _is_public(ip: IPAddress) -> bool:
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return not any(ip.version == net.version and ip in net for net in _EXTRA_BLOCKED)


def _in_any(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


@functools.lru_cache(maxsize=4096)
def _literal_allowed(host: str, allowed: tuple[IPNetwork, ...]) -> bool | None:
    """None when ``host`` is not an IP literal, else whether it is allowed (cached: every
    fetch of a feed served from an IP address asks again)."""
    address = _parse_ip(host)
    return None if address is None else is_address_allowed(address, allowed)


def _looks_like_ip(host: str) -> bool:
    # Skips the (slow, exception-raising) ipaddress parse for ordinary host names.
    return ":" in host or host[:1].isdigit()


def is_address_allowed(ip: str | IPAddress, allowed: Iterable[IPNetwork] = ()) -> bool:
    """May the fetcher connect to ``ip``? Public unicast: yes; anything else only when listed.

    IPv6 forms that embed an IPv4 address (``::ffff:127.0.0.1``, 6to4, NAT64, Teredo) are
    judged by the embedded address too, so they cannot smuggle a private one through.
    Something that is not an IP address at all is refused.
    """
    address = _parse_ip(ip)
    if address is None:
        return False
    allowed = tuple(allowed)
    if _in_any(address, allowed):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _in_any(embedded, allowed) or _is_public(embedded)
    return _is_public(address)


def check_url(url: str, allowed: Iterable[IPNetwork] = ()) -> str:
    """Refuse a URL before any connection: non-http(s) scheme, no host, or a literal IP host
    outside the allowed networks. Host names pass here; ``GuardedResolver`` checks what they
    resolve to.

    Returns the host name (lower case). Raises ``BadURLError`` or ``BlockedAddressError``.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise BadURLError(f"malformed URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        what = f"a {scheme}: URL" if scheme else "a URL without http:// or https://"
        raise BadURLError(f"only http:// and https:// URLs can be fetched, not {what} ({url})")
    host = parts.hostname
    if not host:
        raise BadURLError(f"the URL has no host name: {url}")
    bare = host.rstrip(".")
    if _looks_like_ip(bare):
        verdict = _literal_allowed(bare, tuple(allowed))
        if verdict is False:
            raise BlockedAddressError(host)
        if verdict is None and _NUMERIC_HOST.fullmatch(bare):
            # 127.1, 2130706433, 0x7f000001: resolvers read these as IP addresses.
            raise BadURLError(f"{host} is not a host name or a canonical IP address ({url})")
    return host


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that drops resolved addresses outside the allowed networks.

    Wraps another resolver (aiohttp's default unless given). When no address is left it
    raises ``BlockedAddressError``, so a name that resolves only to 127.0.0.1 or 10.x is never
    connected to; when some are left, aiohttp connects only to those.
    """

    def __init__(
        self, allowed: Iterable[IPNetwork] = (), inner: AbstractResolver | None = None
    ) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(allowed)
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # aiohttp does not call resolvers for literal IPs, but other callers might.
        if _parse_ip(host) is not None and not is_address_allowed(host, self.allowed):
            raise BlockedAddressError(host)
        if self._inner is None:
            self._inner = DefaultResolver()
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if is_address_allowed(r["host"], self.allowed)]
        if not kept:
            raise BlockedAddressError(host, [r["host"] for r in results])
        return kept

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
