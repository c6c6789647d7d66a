"""The address guard: which addresses are refused, the allow-list, URL checks, the resolver."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given
from hypothesis import strategies as st

from aggregator.errors import ConfigError
from aggregator.netguard import (
    BadURLError,
    BlockedAddressError,
    GuardedResolver,
    check_url,
    is_address_allowed,
    parse_allowed_networks,
)

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "172.16.5.4",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.254",
    "192.0.0.8",
    "192.0.2.10",  # documentation
    "198.18.0.1",  # benchmarking
    "198.51.100.1",
    "203.0.113.7",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "100::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "2002:a00:1::",  # 6to4 wrapping 10.0.0.1
    "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
    "::127.0.0.1",  # IPv4-compatible
    "[::1]",
    "not-an-ip",
    "",
]

ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",  # just outside 172.16/12
    "100.128.0.1",  # just outside CGNAT
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",  # mapped public address
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused_by_default(address: str) -> None:
    assert not is_address_allowed(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_address_allowed(address)


@pytest.mark.parametrize(
    ("address", "networks", "expected"),
    [
        ("127.0.0.1", "127.0.0.1/32", True),
        ("127.0.0.2", "127.0.0.1/32", False),
        ("127.0.0.2", "127.0.0.0/8", True),
        ("10.1.2.3", "10.1.0.0/16", True),
        ("10.2.0.1", "10.1.0.0/16", False),
        ("::1", "127.0.0.0/8", False),  # v4 block does not allow the v6 loopback
        ("::1", "::1", True),
        ("::ffff:127.0.0.1", "127.0.0.0/8", True),  # mapped form of an allowed address
        ("169.254.169.254", "127.0.0.0/8,10.0.0.0/8", False),
        ("fd00::5", "fd00::/8", True),
    ],
)
def test_allowed_networks_open_only_what_they_list(
    address: str, networks: str, expected: bool
) -> None:
    assert is_address_allowed(address, parse_allowed_networks(networks)) is expected


def test_parse_allowed_networks() -> None:
    assert parse_allowed_networks("") == ()
    assert parse_allowed_networks(" , ") == ()
    assert parse_allowed_networks("127.0.0.1/32, 10.0.0.0/8 ,::1") == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    # Host bits set are accepted (an operator writes 10.1.2.3/16 meaning that network).
    assert parse_allowed_networks("10.1.2.3/16") == (ipaddress.ip_network("10.1.0.0/16"),)


@pytest.mark.parametrize("text", ["localhost", "10.0.0.0/33", "127.0.0.1/8/8", "1.2.3"])
def test_parse_allowed_networks_names_the_bad_block(text: str) -> None:
    with pytest.raises(ConfigError, match="AGGREGATOR_ALLOWED_NETWORKS") as info:
        parse_allowed_networks(f"127.0.0.1/32,{text}")
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/feed",
        "file:///etc/passwd",
        "gopher://example.org/",
        "javascript:alert(1)",
        "example.org/feed",
        "http:///feed",
        "http://example.org:99999/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.0.0.1/",
        "http://017700000001/",
        "http://10.1/",
    ],
)
def test_check_url_refuses_bad_urls(url: str) -> None:
    with pytest.raises(BadURLError):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1:8443/feed",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://127.0.0.1./",
        "http://[::ffff:7f00:1]/",
    ],
)
def test_check_url_refuses_literal_private_hosts(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="AGGREGATOR_ALLOWED_NETWORKS"):
        check_url(url)


def test_check_url_lets_names_and_public_ips_through() -> None:
    check_url("https://example.org/feed.xml")
    check_url("http://93.184.216.34/")
    check_url("HTTP://Example.ORG/")
    check_url("https://1password.com/")
    check_url("https://123.example/")
    check_url("https://0x.example/")
    check_url("http://127.0.0.1:8080/", parse_allowed_networks("127.0.0.1/32"))


class FixedResolver(AbstractResolver):
    """Answers every lookup with fixed addresses (a stand-in for DNS)."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_resolver_refuses_a_name_that_resolves_only_to_private_addresses() -> None:
    resolver = GuardedResolver((), FixedResolver(["10.0.0.7", "127.0.0.1"]))
    with pytest.raises(BlockedAddressError) as info:
        await resolver.resolve("intranet.example", 80)
    assert isinstance(info.value, OSError)
    assert "intranet.example" in str(info.value)
    assert "10.0.0.7" in str(info.value)


async def test_resolver_drops_private_addresses_and_keeps_public_ones() -> None:
    resolver = GuardedResolver((), FixedResolver(["127.0.0.1", "93.184.216.34", "::1"]))
    results = await resolver.resolve("mixed.example", 443)
    assert [r["host"] for r in results] == ["93.184.216.34"]


async def test_resolver_keeps_allowed_private_addresses() -> None:
    allowed = parse_allowed_networks("127.0.0.0/8")
    resolver = GuardedResolver(allowed, FixedResolver(["127.0.0.1", "::1"]))
    results = await resolver.resolve("localhost", 80)
    assert [r["host"] for r in results] == ["127.0.0.1"]


async def test_resolver_refuses_literal_private_ip_without_lookup() -> None:
    inner = FixedResolver(["93.184.216.34"])
    resolver = GuardedResolver((), inner)
    with pytest.raises(BlockedAddressError):
        await resolver.resolve("10.0.0.1", 80)
    assert inner.lookups == []


async def test_resolver_with_the_real_default_resolver_refuses_localhost() -> None:
    resolver = GuardedResolver()
    try:
        with pytest.raises(BlockedAddressError):
            await resolver.resolve("localhost", 80, socket.AF_UNSPEC)
    finally:
        await resolver.close()


# --- properties over the whole address space

ipv4 = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address)
PRIVATE_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]


@given(ipv4)
def test_ipv4_mapped_form_is_judged_like_the_ipv4_address(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert is_address_allowed(mapped) == is_address_allowed(address)


@given(ipv4)
def test_no_address_in_a_private_block_is_allowed(address: ipaddress.IPv4Address) -> None:
    if any(address in network for network in PRIVATE_V4):
        assert not is_address_allowed(address)
        assert is_address_allowed(address, PRIVATE_V4)


@given(ipv6)
def test_allowing_everything_allows_every_ipv6_address(address: ipaddress.IPv6Address) -> None:
    assert is_address_allowed(address, [ipaddress.ip_network("::/0")])


@given(st.text(max_size=60))
def test_check_url_raises_only_its_own_errors(url: str) -> None:
    with contextlib.suppress(BadURLError, BlockedAddressError):
        check_url(url)
