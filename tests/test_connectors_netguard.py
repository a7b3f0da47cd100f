"""Destination policy (connectors.netguard) and the pinned fetch that obeys it.

Every address class, odd numeric forms, IPv4 inside IPv6, the operator's allow-list,
redirects re-checked at each hop, DNS rebinding, TLS to a pinned address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3.util.connection
from helpers import TLS_NAME
from helpers import server_context
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response

from connectors.base import FetchError
from connectors.http import fetch
from connectors.http import make_http
from connectors.netguard import NetworkPolicy
from connectors.netguard import blocked_reason
from connectors.netguard import check_url
from connectors.netguard import numeric_host
from connectors.netguard import parse_networks

PUBLIC = NetworkPolicy()
LOOPBACK = NetworkPolicy(allow=("127.0.0.1/32",))
NAME = TLS_NAME  # the name the certificate fixture is made for


class StubResolver:
    """Answers from a script, one answer per call, and counts the calls."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def allowing_loopback(resolver: StubResolver) -> NetworkPolicy:
    return NetworkPolicy(allow=("127.0.0.1/32",), resolver=resolver)


def blocked(url: str, policy: NetworkPolicy = PUBLIC) -> FetchError:
    with pytest.raises(FetchError) as info:
        check_url(url, policy)
    return info.value


# --- address classes ------------------------------------------------------------


# address, then the reason netguard gives (IANA special-purpose registries)
REFUSED = """\
0.0.0.0 unspecified|0.1.2.3 unspecified|10.1.2.3 private|172.16.0.1 private
172.31.255.255 private|192.168.1.1 private|127.0.0.1 loopback|127.255.0.9 loopback
100.64.0.1 shared address space (CGNAT)|100.127.255.254 shared address space (CGNAT)
169.254.169.254 link-local|192.0.0.8 reserved|192.0.2.1 documentation
198.18.0.1 reserved|203.0.113.5 documentation|224.0.0.251 multicast
239.255.255.250 multicast|240.0.0.1 reserved|255.255.255.255 reserved
:: unspecified|::1 loopback|fe80::1 link-local|fc00::1 unique-local
fd12:3456:789a::1 unique-local|fec0::1 private|ff02::1 multicast
2001:db8::1 documentation|2001:0:4136:e378:8000:63bf:3fff:fdd2 reserved
100::1 reserved|64:ff9b:1::a private|::127.0.0.1 reserved|4000::1 reserved"""


@pytest.mark.parametrize(
    ("address", "reason"),
    [tuple(c.split(" ", 1)) for line in REFUSED.splitlines() for c in line.split("|")],
)
def test_special_purpose_addresses_are_refused(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


# just outside CGNAT and 172.16/12; NAT64 and 6to4 forms of 8.8.8.8
PUBLIC_ADDRESSES = """8.8.8.8 1.1.1.1 93.184.215.14 100.63.255.255 100.128.0.0
172.32.0.1 2a00:1450:4001:82b::200e 64:ff9b::808:808 2002:808:808::1"""


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES.split())
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::7f00:1", "loopback (127.0.0.1 inside 64:ff9b::7f00:1)"),
        (
            "64:ff9b::a9fe:a9fe",
            "link-local (169.254.169.254 inside 64:ff9b::a9fe:a9fe)",
        ),
        ("2002:7f00:1::1", "loopback (127.0.0.1 inside 2002:7f00:1::1)"),
        ("2002:c0a8:101::", "private (192.168.1.1 inside 2002:c0a8:101::)"),
    ],
)
def test_ipv4_inside_ipv6_is_judged_by_its_ipv4_address(
    address: str, reason: str
) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


PYTHON_PRIVATE = (
    "0.0.0.0/8 10.0.0.0/8 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.0.0.0/29 "
    "192.0.2.0/24 192.168.0.0/16 198.18.0.0/15 198.51.100.0/24 203.0.113.0/24 "
    "240.0.0.0/4 255.255.255.255/32 ::1/128 ::/128 ::ffff:0:0/96 100::/64 "
    "2001::/23 2001:db8::/32 2001:10::/28 fc00::/7 fe80::/10"
).split()


@pytest.mark.parametrize("network", PYTHON_PRIVATE)
def test_every_network_python_calls_private_is_refused(network: str) -> None:
    net = ipaddress.ip_network(network)
    for address in (net.network_address, net.broadcast_address):
        assert address.is_private and blocked_reason(address), address


# --- odd numeric forms --------------------------------------------------------------


LOOPBACK_FORMS = "2130706433 0177.0.0.1 0x7f.1 0x7F000001 127.1 127.0.1 017700000001"


@pytest.mark.parametrize("host", LOOPBACK_FORMS.split())
def test_numeric_forms_of_loopback_are_read_as_resolvers_read_them(host: str) -> None:
    assert numeric_host(host) == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "08.1.1.1", "0x1g", "1.09"])
def test_hosts_ending_in_a_bad_number_are_not_names(host: str) -> None:
    with pytest.raises(ValueError):
        numeric_host(host)


@pytest.mark.parametrize("host", ["example.org", "feeds.0x7f.example", "a1", "x.y."])
def test_names_are_not_numbers(host: str) -> None:
    assert numeric_host(host) is None


# 134744072 is 8.8.8.8: public, but parsers disagree on such forms
@pytest.mark.parametrize(
    "host", [*LOOPBACK_FORMS.split(), "127.0.0.1.", "134744072", "1.2.3.4.5"]
)
def test_odd_numeric_hosts_are_refused(host: str) -> None:
    assert blocked(f"http://{host}/").error_class == "blocked_destination"


def test_an_odd_form_of_an_allowed_address_is_allowed() -> None:
    destination = check_url("http://2130706433:8080/feed", LOOPBACK)
    assert destination.addresses == ("127.0.0.1",)
    assert (destination.host, destination.port) == ("2130706433", 8080)


# --- URLs, allow-list, resolver -----------------------------------------------------


# 100.100.100.200: a cloud metadata service in CGNAT space
REFUSED_URLS = """file:///etc/passwd ftp://example.org/feed javascript:alert(1)
gopher://127.0.0.1:6379/_INFO http://127.0.0.1/ http://[::1]/ http://0.0.0.0:8000/
http://[::ffff:127.0.0.1]/ http://[fe80::1%25eth0]/ http://100.100.100.200/
http://169.254.169.254/latest/meta-data/"""


@pytest.mark.parametrize("url", REFUSED_URLS.split())
def test_default_policy_allows_public_addresses_only(url: str) -> None:
    assert blocked(url).error_class == "blocked_destination"


def test_the_allow_list_lets_exactly_its_networks_through() -> None:
    assert check_url("http://127.0.0.1:5000/", LOOPBACK).addresses == ("127.0.0.1",)
    assert check_url("http://[::ffff:127.0.0.1]/", LOOPBACK).addresses == ("127.0.0.1",)
    assert blocked("http://127.0.0.2/", LOOPBACK).error_class == "blocked_destination"
    assert blocked("http://[::1]/", LOOPBACK).error_class == "blocked_destination"
    assert blocked("http://10.0.0.1/", LOOPBACK).error_class == "blocked_destination"


def test_a_name_is_resolved_once_and_refused_if_any_address_is_refused() -> None:
    resolver = StubResolver(["8.8.8.8", "10.0.0.7"])
    error = blocked(f"https://{NAME}/feed", NetworkPolicy(resolver=resolver))
    assert error.error_class == "blocked_destination" and "10.0.0.7" in error.message
    assert resolver.calls == [NAME]


def test_a_public_name_gives_its_checked_addresses_in_order() -> None:
    resolver = StubResolver(["2a00:1450:4001:82b::200e", "8.8.8.8"])
    destination = check_url(f"https://{NAME}/feed", NetworkPolicy(resolver=resolver))
    assert destination.addresses == ("2a00:1450:4001:82b::200e", "8.8.8.8")
    assert (destination.host, destination.port) == (NAME, 443)


def test_a_name_that_does_not_resolve_is_a_network_error() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    error = blocked("http://nowhere.test/", NetworkPolicy(resolver=fail))
    assert error.error_class == "network"


@pytest.mark.parametrize("url", ["http:///feed", "http://example.org:99999/"])
def test_a_url_without_a_usable_host_is_a_protocol_error(url: str) -> None:
    assert blocked(url).error_class == "protocol"


def test_networks_are_parsed_and_checked() -> None:
    assert parse_networks(" 127.0.0.1/32, 10.1.2.3/8 ,,::1") == (
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    )
    assert NetworkPolicy(allow=("127.0.0.1",)).allow == ("127.0.0.1/32",)
    with pytest.raises(ValueError):
        NetworkPolicy(allow=("localhost",))


# --- the fetch obeys it -------------------------------------------------------------


def test_fetch_refuses_loopback_by_default_without_connecting(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/feed").respond_with_data("<rss/>")
    with pytest.raises(FetchError) as info:
        fetch(make_http(), httpserver.url_for("/feed"))
    assert info.value.error_class == "blocked_destination"
    assert httpserver.log == []


def test_a_redirect_to_a_private_address_is_refused_at_the_hop(
    httpserver: HTTPServer,
) -> None:
    for target in (
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0xa9fea9fe/",  # 169.254.169.254
        "file:///etc/passwd",
    ):
        httpserver.clear()
        httpserver.expect_request("/feed").respond_with_data(
            "", status=302, headers={"Location": target}
        )
        with pytest.raises(FetchError) as info:
            fetch(make_http(), httpserver.url_for("/feed"), policy=LOOPBACK)
        assert info.value.error_class == "blocked_destination", target
        assert len(httpserver.log) == 1


def test_every_hop_resolves_again(httpserver: HTTPServer) -> None:
    port = httpserver.port
    httpserver.expect_request("/feed").respond_with_data(
        "", status=302, headers={"Location": f"http://{NAME}:{port}/next"}
    )
    httpserver.expect_request("/next").respond_with_data("<rss/>")
    resolver = StubResolver(["127.0.0.1"], ["10.9.8.7"])
    with pytest.raises(FetchError) as info:
        fetch(
            make_http(),
            f"http://{NAME}:{port}/feed",
            policy=allowing_loopback(resolver),
        )
    assert info.value.error_class == "blocked_destination"
    assert "10.9.8.7" in info.value.message and resolver.calls == [NAME, NAME]
    assert [entry[0].path for entry in httpserver.log] == ["/feed"]


def test_the_connection_goes_to_the_checked_address_and_keeps_the_name(
    httpserver: HTTPServer,
) -> None:
    """DNS rebinding: the name answers the allowed address, then a private one."""
    httpserver.expect_request("/feed").respond_with_data("<rss/>")
    resolver = StubResolver(["127.0.0.1"], ["10.0.0.1"])
    url = f"http://{NAME}:{httpserver.port}/feed"
    result = fetch(make_http(), url, policy=allowing_loopback(resolver))
    assert result.body == b"<rss/>" and result.url == url
    [(request, _)] = httpserver.log
    assert request.headers["Host"] == f"{NAME}:{httpserver.port}"
    assert resolver.calls == [NAME]  # resolved once; the second answer never used


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Record where urllib3 connects; refuse anything but 127.0.0.1."""
    seen: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def create_connection(address: tuple[str, int], *args: object, **kw: object):  # type: ignore[no-untyped-def]
        seen.append(address)
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(111, "refused by the test")
        return real(address, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    yield seen


def test_a_rebinding_name_cannot_switch_the_pinned_connection(
    connections: list[tuple[str, int]],
) -> None:
    """The name answers a public address, then 127.0.0.1: only the public address,
    the one checked, is ever connected to."""
    resolver = StubResolver(["8.8.8.8"], ["127.0.0.1"])
    with pytest.raises(FetchError) as info:
        fetch(
            make_http(),
            f"http://{NAME}:8080/feed",
            policy=NetworkPolicy(resolver=resolver),
        )
    assert info.value.error_class == "network"
    assert connections == [("8.8.8.8", 8080)]
    assert resolver.calls == [NAME]


def test_the_next_checked_address_is_tried_when_one_refuses(
    httpserver: HTTPServer, connections: list[tuple[str, int]]
) -> None:
    httpserver.expect_request("/feed").respond_with_data("<rss/>")
    policy = NetworkPolicy(
        allow=("127.0.0.0/8",), resolver=StubResolver(["127.0.0.2", "127.0.0.1"])
    )
    result = fetch(make_http(), f"http://{NAME}:{httpserver.port}/feed", policy=policy)
    assert result.body == b"<rss/>"
    assert connections == [
        ("127.0.0.2", httpserver.port),
        ("127.0.0.1", httpserver.port),
    ]


# --- TLS to a pinned address ----------------------------------------------------------


def test_tls_names_and_verifies_the_host_while_connecting_to_the_pinned_address(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    context, names = server_context(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/feed").respond_with_handler(
        lambda request: Response(request.headers["Host"])
    )
    server.start()
    try:
        http = make_http()
        http.verify = str(cert)
        policy = allowing_loopback(StubResolver(["127.0.0.1"]))
        result = fetch(http, f"https://{NAME}:{server.port}/feed", policy=policy)
        assert result.body == f"{NAME}:{server.port}".encode() and names == [NAME]
        # the certificate is checked against the name, not the address
        other = "other.member.test"
        with pytest.raises(FetchError) as info:
            fetch(http, f"https://{other}:{server.port}/feed", policy=policy)
        assert info.value.error_class == "network"
        assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
    finally:
        server.clear()
        server.stop()


def test_the_request_keeps_user_agent_and_accepts_gzip(httpserver: HTTPServer) -> None:
    seen: list[Request] = []

    def record(request: Request) -> Response:
        seen.append(request)
        return Response("<rss/>")

    httpserver.expect_request("/feed").respond_with_handler(record)
    fetch(
        make_http(),
        httpserver.url_for("/feed"),
        accept="application/rss+xml",
        policy=LOOPBACK,
    )
    [request] = seen
    assert request.headers["User-Agent"].startswith("ecoop-hub/")
    assert request.headers["Accept-Encoding"] == "gzip"
    assert request.headers["Accept"] == "application/rss+xml"
    assert request.headers["Host"] == f"127.0.0.1:{httpserver.port}"
