"""Where the hub may connect: scheme allow-list, destination address policy, the
operator's allow-list of networks. Decides only; the connection is made by
connectors.http, to the address decided here. No Flask, no database, no hub.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
from collections.abc import Callable
from collections.abc import Sequence
from urllib.parse import urlsplit

from connectors.base import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Special-purpose ranges (IANA registries, RFC 6890) the hub never fetches from unless
# the operator allows them. Written out rather than taken from ipaddress.is_global,
# whose answers changed between Python patch releases (CVE-2024-4032).
_BLOCKED: tuple[tuple[Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),  # "this network", RFC 1122 §3.2.1.3
    (_V4("10.0.0.0/8"), "private"),  # RFC 1918
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),  # RFC 6598
    (_V4("127.0.0.0/8"), "loopback"),  # RFC 1122 §3.2.1.3
    (_V4("169.254.0.0/16"), "link-local"),  # RFC 3927; cloud metadata lives here
    (_V4("172.16.0.0/12"), "private"),  # RFC 1918
    (_V4("192.0.0.0/24"), "reserved"),  # IETF protocol assignments, RFC 6890
    (_V4("192.0.2.0/24"), "documentation"),  # RFC 5737
    (_V4("192.88.99.0/24"), "reserved"),  # 6to4 relay anycast, RFC 7526
    (_V4("192.168.0.0/16"), "private"),  # RFC 1918
    (_V4("198.18.0.0/15"), "reserved"),  # benchmarking, RFC 2544
    (_V4("198.51.100.0/24"), "documentation"),  # RFC 5737
    (_V4("203.0.113.0/24"), "documentation"),  # RFC 5737
    (_V4("224.0.0.0/4"), "multicast"),  # RFC 5771
    (_V4("240.0.0.0/4"), "reserved"),  # RFC 1112 §4, with 255.255.255.255
    (_V6("::/128"), "unspecified"),  # RFC 4291 §2.5.2
    (_V6("::1/128"), "loopback"),  # RFC 4291 §2.5.3
    (_V6("64:ff9b:1::/48"), "private"),  # local-use NAT64, RFC 8215
    (_V6("100::/64"), "reserved"),  # discard-only, RFC 6666
    (_V6("2001::/23"), "reserved"),  # IETF protocol assignments (Teredo), RFC 2928
    (_V6("2001:db8::/32"), "documentation"),  # RFC 3849
    (_V6("3fff::/20"), "documentation"),  # RFC 9637
    (_V6("fc00::/7"), "unique-local"),  # RFC 4193
    (_V6("fe80::/10"), "link-local"),  # RFC 4291 §2.5.6
    (_V6("fec0::/10"), "private"),  # deprecated site-local, RFC 3879
    (_V6("ff00::/8"), "multicast"),  # RFC 4291 §2.7
)
_GLOBAL_UNICAST = _V6("2000::/3")  # RFC 4291 §2.4: everything else is not ours
_NAT64 = _V6("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits

# One IPv4 number as inet_aton(3) and the WHATWG URL standard read it: decimal,
# 0x-hex or 0-octal.
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_LOOKS_NUMERIC = re.compile(r"0[xX][0-9a-zA-Z]*|[0-9]+")


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (getaddrinfo), in the system's order."""
    addresses: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def parse_networks(value: str | Sequence[str]) -> tuple[str, ...]:
    """CIDRs from a comma-separated string (or a sequence), normalised.

    Raises:
        ValueError: one of them is not a network.
    """
    parts = value.split(",") if isinstance(value, str) else list(value)
    networks = []
    for part in (p.strip() for p in parts):
        if part:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
    return tuple(networks)


@dataclasses.dataclass(frozen=True)
class NetworkPolicy:
    """Where fetches may go.

    ``NetworkPolicy()`` allows public addresses only. ``allow`` lists networks the
    operator trusts although they are private or loopback (the tests and
    ``ecoop demo`` allow ``127.0.0.1/32``). ``resolver`` is called once per hop;
    tests stub it.

    Raises:
        ValueError: an entry of ``allow`` is not a network.
    """

    allow: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ("http", "https")
    resolver: Resolver = dataclasses.field(default=system_resolver, compare=False)
    _networks: tuple[Network, ...] = dataclasses.field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        allow = parse_networks(self.allow)
        object.__setattr__(self, "allow", allow)
        networks = tuple(ipaddress.ip_network(n) for n in allow)
        object.__setattr__(self, "_networks", networks)

    def allows(self, address: IPAddress) -> bool:
        """Whether the operator allowed this address explicitly."""
        return any(address in network for network in self._networks)

    def refuses(self, address: IPAddress) -> str | None:
        """Why a connection to ``address`` is refused, or ``None`` if it is not."""
        address = _unmapped(address)
        if self.allows(address):
            return None
        return blocked_reason(address)


@dataclasses.dataclass(frozen=True)
class Destination:
    """One checked hop: connect to ``addresses`` (in order), say ``host`` in Host
    and TLS SNI."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def blocked_reason(address: IPAddress) -> str | None:
    """The special-purpose range ``address`` falls in, or ``None`` for a public one.

    IPv4 inside IPv6 (mapped, NAT64, 6to4) is judged by its IPv4 address.
    """
    address = _unmapped(address)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = blocked_reason(embedded)
            return f"{reason} ({embedded} inside {address})" if reason else None
    for network, reason in _BLOCKED:
        if address.version == network.version and address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return "reserved"
    return None


def numeric_host(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host means, in any form a resolver accepts.

    ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` all mean 127.0.0.1 to
    inet_aton(3) and to the WHATWG URL parser ("ends in a number"), while Python's
    ipaddress refuses them. Returns ``None`` for a name.

    Raises:
        ValueError: the host ends in a number but is no valid address (``1.2.3.4.5``,
            ``256.1.1.1``): resolvers disagree on such hosts.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not _LOOKS_NUMERIC.fullmatch(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMBER.fullmatch(part) for part in parts):
        raise ValueError(f"{host!r} is not a valid IPv4 address")
    numbers = [_ipv4_number(part) for part in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} is not a valid IPv4 address")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return ipaddress.IPv4Address(value)


def check_url(url: str, policy: NetworkPolicy) -> Destination:
    """Check one hop: its scheme, then every address its host stands for.

    A name is resolved once, with ``policy.resolver``; the caller must connect to
    the returned addresses only (so DNS rebinding cannot switch them). A name with
    any refused address is refused as a whole.

    Raises:
        FetchError: ``blocked_destination`` (scheme, address or odd numeric form),
            ``protocol`` (no host, bad port) or ``network`` (name does not resolve).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in policy.schemes:
        raise FetchError(
            url, f"scheme {scheme!r} is not allowed", "blocked_destination"
        )
    try:
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise FetchError(url, f"bad address: {e}", "protocol") from e
    if not host:
        raise FetchError(url, "no host in the URL", "protocol")
    port = port or DEFAULT_PORTS[scheme]
    literal = _literal(url, host, policy)
    if literal is not None:
        _refuse_if_blocked(url, literal, policy, host)
        return Destination(scheme, host, port, (str(_unmapped(literal)),))
    try:
        answers = list(policy.resolver(host, port))
    except (OSError, UnicodeError) as e:
        raise FetchError(url, f"cannot resolve {host}: {e}", "network") from e
    if not answers:
        raise FetchError(url, f"{host} has no address", "network")
    addresses = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError as e:
            raise FetchError(url, f"resolver answered {answer!r}", "network") from e
        _refuse_if_blocked(url, address, policy, host)
        addresses.append(str(_unmapped(address)))
    return Destination(scheme, host, port, tuple(dict.fromkeys(addresses)))


def _literal(url: str, host: str, policy: NetworkPolicy) -> IPAddress | None:
    """The address a host written as an address stands for; odd forms refused."""
    if ":" in host:  # urlsplit took the brackets off an IPv6 literal
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as e:
            raise FetchError(url, f"bad IPv6 address {host!r}", "protocol") from e
    try:
        address = numeric_host(host)
    except ValueError as e:
        raise FetchError(url, str(e), "blocked_destination") from e
    if address is not None and str(address) != host and not policy.allows(address):
        # Parsers disagree on these forms: refuse them all, public or not.
        raise FetchError(
            url,
            f"non-canonical numeric host {host!r} ({address}) refused",
            "blocked_destination",
        )
    return address


def _refuse_if_blocked(
    url: str, address: IPAddress, policy: NetworkPolicy, host: str
) -> None:
    reason = policy.refuses(address)
    if reason is not None:
        shown = host if host == str(address) else f"{host} ({address})"
        raise FetchError(url, f"destination {shown} is {reason}", "blocked_destination")


def _unmapped(address: IPAddress) -> IPAddress:
    # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket (RFC 4291 §2.5.5.2).
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:  # 2002::/16, RFC 3056
        return address.sixtofour
    # IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1) is refused as reserved
    return None


def _ipv4_number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part[0] == "0":
        return int(part[1:], 8)
    return int(part)
