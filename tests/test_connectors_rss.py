"""RSS/Atom connector.

Golden files (input beside expected raw items) and a loopback fetch.
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import LOOPBACK
from lxml import etree
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import sessionmaker
from werkzeug import Request
from werkzeug import Response

from connectors import feeditems
from connectors import get_connector
from connectors import source_types
from connectors import syndication
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import Source
from connectors.charset import decode
from connectors.charset import to_utf8_xml
from connectors.charset import utf8_as_is
from connectors.charset import xml_as_utf8
from connectors.http import HttpLimits
from connectors.http import Validators
from connectors.http import fetch
from connectors.http import make_http
from hub.harvest import Harvester

DATA = Path(__file__).resolve().parent / "data"
RSS_BODY = (DATA / "rss" / "basic.xml").read_bytes()
GOLDEN = sorted([*DATA.glob("rss/*.xml"), *DATA.glob("atom/*.atom")])


def source(url: str = "https://example.org/feed", type_: str = "rss") -> Source:
    return Source(
        key="c/s", cluster="c", type=type_, url=url, interval=timedelta(hours=1)
    )


def as_json(document: ParsedDocument) -> dict[str, object]:
    items = []
    for item in document.items:
        out = dataclasses.asdict(item)
        for key in ("published", "updated", "valid_through"):
            out[key] = out[key].isoformat() if out[key] else None
        for key in ("categories", "sectors", "occupations"):
            out[key] = list(out[key])
        items.append(out)
    return {
        "items": items,
        "deleted": list(document.deleted),
        "complete": document.complete,
        "ttl_minutes": document.ttl.total_seconds() / 60 if document.ttl else None,
        "skipped": document.skipped,
    }


def test_rss_and_atom_are_both_registered() -> None:
    assert {"rss", "atom"} <= set(source_types())
    assert get_connector("rss") is get_connector("atom")


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parse_matches_golden_file(path: Path) -> None:
    result = FetchResult(
        url="https://example.org/feed", status=200, headers={}, body=path.read_bytes()
    )
    document = get_connector("rss").parse(source(), result)
    expected = json.loads(
        path.with_name(path.name + ".json").read_text(encoding="utf-8")
    )
    assert as_json(document) == expected


@pytest.mark.parametrize(
    ("body", "error_class"),
    [
        (b"", "empty_body"),
        (b"  \n", "empty_body"),
        (b"<!DOCTYPE html><html><body><form>Log in</form></body></html>", "not_a_feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "not_a_feed"),
        (b"<?xml version='1.0'?><catalog><book/></catalog>", "not_a_feed"),
        (b"\xff\xfe<rss version='2.0'>", "encoding"),
    ],
)
def test_parse_refuses_a_document_that_is_not_a_feed(
    body: bytes, error_class: str
) -> None:
    result = FetchResult(
        url="https://example.org/feed", status=200, headers={}, body=body
    )
    with pytest.raises(ParseError) as info:
        get_connector("rss").parse(source(), result)
    assert info.value.error_class == error_class


def test_a_configured_encoding_beats_a_wrong_declaration() -> None:
    body = (
        '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
        "<title>t</title><item><title>Kėdainių baldžiai</title><guid>x</guid></item>"
        "</channel></rss>"
    ).encode("windows-1257")
    result = FetchResult(
        url="https://example.org/feed", status=200, headers={}, body=body
    )
    lt = Source(
        key="c/s",
        cluster="c",
        type="rss",
        url="https://example.org/feed",
        interval=timedelta(hours=1),
        options={"encoding": "windows-1257"},
    )
    [item] = get_connector("rss").parse(lt, result).items
    assert item.title == "Kėdainių baldžiai"


def test_fetch_sends_validators_back_and_sees_304(httpserver: HTTPServer) -> None:
    body = (DATA / "rss" / "basic.xml").read_bytes()
    httpserver.expect_request(
        "/feed", headers={"If-None-Match": '"v1"'}
    ).respond_with_data("", status=304, headers={"ETag": '"v1"'})
    httpserver.expect_request("/feed").respond_with_data(
        body,
        content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Tue, 03 Nov 2026 09:30:00 GMT"},
    )
    http = make_http()
    first = fetch(http, httpserver.url_for("/feed"), policy=LOOPBACK)
    assert (first.status, first.etag, first.body) == (200, '"v1"', body)
    assert first.last_modified == "Tue, 03 Nov 2026 09:30:00 GMT"
    second = fetch(
        http,
        httpserver.url_for("/feed"),
        validators=Validators(first.etag, first.last_modified),
        policy=LOOPBACK,
    )
    assert second.not_modified and second.body == b""


def test_fetch_reports_http_errors_with_status(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gone").respond_with_data("gone", status=410)
    with pytest.raises(FetchError) as info:
        fetch(make_http(), httpserver.url_for("/gone"), policy=LOOPBACK)
    assert info.value.status == 410 and "HTTP 410" in str(info.value)
    assert info.value.error_class == "http_status"


def test_fetch_caps_the_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        fetch(
            make_http(),
            httpserver.url_for("/big"),
            limits=HttpLimits(max_bytes=1000),
            policy=LOOPBACK,
        )


def test_fetch_spills_a_body_past_its_threshold_into_a_file(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    body = bytes(range(256)) * 20  # 5,120 bytes, arriving in pieces
    httpserver.expect_request("/big").respond_with_data(body)
    httpserver.expect_request("/small").respond_with_data(body[:1000])
    url = httpserver.url_for
    big = fetch(make_http(), url("/big"), policy=LOOPBACK, spill=1024)
    small = fetch(make_http(), url("/small"), policy=LOOPBACK, spill=1024)
    assert big.body == b"" and big.body_path is not None
    assert Path(big.body_path).read_bytes() == body == big.loaded().body
    assert (small.body, small.body_path) == (body[:1000], None)
    assert list(tmp_path.iterdir()) == [Path(big.body_path)]  # the caller deletes it


def test_a_spilled_body_cut_at_the_cap_leaves_no_file(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def endless(_request: Request) -> Response:
        return Response(b"x" * 1000 for _ in range(100))  # chunked, no length

    httpserver.expect_request("/endless").respond_with_handler(endless)
    with pytest.raises(FetchError, match="larger than 5000 bytes"):
        fetch(
            make_http(),
            httpserver.url_for("/endless"),
            limits=HttpLimits(max_bytes=5000),
            policy=LOOPBACK,
            spill=1024,
        )
    assert list(tmp_path.iterdir()) == []


def test_a_new_harvester_removes_the_bodies_a_killed_one_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    day_old = time.time() - 24 * 3600
    for name in ("ecoop-body-1-left", "ecoop-body-2-parsing", "someone-elses"):
        (tmp_path / name).write_bytes(b"<rss/>")
    for name in ("ecoop-body-1-left", "someone-elses"):
        os.utime(tmp_path / name, (day_old, day_old))
    Harvester(sessionmaker(), make_http())  # as `ecoop worker` starts
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ecoop-body-2-parsing",  # a fetch and parse of now, maybe another worker's
        "someone-elses",
    ]


def test_fetch_times_out_on_a_silent_server(httpserver: HTTPServer) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(1.0)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(FetchError, match="timed out") as info:
        fetch(
            make_http(),
            httpserver.url_for("/slow"),
            limits=HttpLimits(connect_timeout=1, read_timeout=0.2),
            policy=LOOPBACK,
        )
    assert info.value.error_class == "timeout"


def test_fetch_deadline_stops_a_trickling_server(httpserver: HTTPServer) -> None:
    def trickle(_request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            for _ in range(40):
                time.sleep(0.05)
                yield b"<" * 70_000  # each chunk in time for the read timeout

        return Response(chunks(), content_type="application/rss+xml")

    httpserver.expect_request("/trickle").respond_with_handler(trickle)
    with pytest.raises(FetchError, match="longer than 0.3 s") as info:
        fetch(
            make_http(),
            httpserver.url_for("/trickle"),
            limits=HttpLimits(read_timeout=1, deadline=0.3),
            policy=LOOPBACK,
        )
    assert info.value.error_class == "timeout"


def test_fetch_follows_at_most_five_redirects(httpserver: HTTPServer) -> None:
    for hop in range(6):
        httpserver.expect_request(f"/r{hop}").respond_with_data(
            "", status=302, headers={"Location": f"/r{hop + 1}"}
        )
    httpserver.expect_request("/r6").respond_with_data(RSS_BODY)
    with pytest.raises(FetchError) as info:
        fetch(make_http(), httpserver.url_for("/r0"), policy=LOOPBACK)
    assert info.value.error_class == "redirects"
    result = fetch(  # four hops: fine
        make_http(), httpserver.url_for("/r2"), policy=LOOPBACK
    )
    assert result.url.endswith("/r6") and result.body == RSS_BODY


def test_a_cookie_set_by_a_redirect_goes_with_its_next_hops_only(
    httpserver: HTTPServer,
) -> None:
    """A member site that sets a session cookie on its redirect (a consent or
    load-balancer cookie) gets it back on the next hop; the next fetch starts with
    none."""
    cookies: list[str | None] = []

    def feed(request: Request) -> Response:
        cookies.append(request.headers.get("Cookie"))
        return Response(RSS_BODY)

    httpserver.expect_request("/start").respond_with_data(
        "", status=302, headers={"Location": "/feed", "Set-Cookie": "lb=node2; Path=/"}
    )
    httpserver.expect_request("/feed").respond_with_handler(feed)
    http = make_http()
    first = fetch(http, httpserver.url_for("/start"), policy=LOOPBACK)
    fetch(http, httpserver.url_for("/feed"), policy=LOOPBACK)
    assert first.body == RSS_BODY
    assert cookies == ["lb=node2", None]
    assert not http.cookies  # the session keeps none


def test_fetch_caps_the_decompressed_body(httpserver: HTTPServer) -> None:
    bomb = gzip.compress(b" " * 3_000_000)  # 3 kB on the wire, 3 MB decoded
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(FetchError, match="larger than 1000000 bytes") as info:
        fetch(
            make_http(),
            httpserver.url_for("/bomb"),
            limits=HttpLimits(max_bytes=1_000_000),
            policy=LOOPBACK,
        )
    assert info.value.error_class == "too_large"


def test_a_wp_job_manager_feed_gives_job_offers_with_company_and_town() -> None:
    body = (DATA / "wordpress" / "job-manager-feed.xml").read_bytes()
    result = FetchResult("https://metalklaster.pl/?feed=job_feed", 200, {}, body)
    items = get_connector("rss").parse(source(result.url), result).items
    assert [(i.title, i.kind) for i in items] == [
        ("Spawacz MIG/MAG – Ełk", "job-offer"),
        ("Operator maszyn CNC", "job-offer"),
    ]
    assert [i.organisation.name for i in items if i.organisation] == [
        "Spaw-Mont Ełk s.c.",
        "Metal-Tech Białystok Sp. z o.o.",
    ]
    assert [i.location.town for i in items if i.location] == ["Ełk", "Białystok"]
    assert items[0].language == "pl"
    assert (
        items[0].content is not None and "<strong>MIG/MAG</strong>" in items[0].content
    )


@pytest.mark.parametrize("fast", [True, False], ids=["lxml reader", "feedparser"])
def test_rss_completeness_in_the_channel_is_read(fast: bool) -> None:
    """RFC 5005 §2 puts ``fh:complete`` in RSS 2.0's channel, as feeds.writer does."""
    body = (
        b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
        b"xmlns:fh='http://purl.org/syndication/history/1.0'><channel><title>M</title>"
        b"<link>https://metal.example/</link><fh:complete/>"
        + (b"" if fast else b"<!-- a comment: not the fast reader's -->")
        + b"<item><title>Spawacz</title><link>https://metal.example/o/1</link>"
        b"<description>" + (b"x" if fast else b"x<!-- y -->") + b"</description>"
        b"</item></channel></rss>"
    )
    result = FetchResult("https://metal.example/feed", 200, {}, body)
    assert (syndication.read(body, result.url) is not None) is fast  # the path meant
    assert get_connector("rss").parse(source(result.url), result).complete is True


_AT = "http://purl.org/atompub/tombstones/1.0"
_FH = "http://purl.org/syndication/history/1.0"
_ENTRIES = "".join(
    f"<entry><id>urn:e{i}</id><title>t{i}</title></entry>" for i in range(3000)
)
_ITEMS = "".join(f"<item><title>t{i}</title></item>" for i in range(3000))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (  # Atom: at the top, after thousands of entries (each dropped once read)
            f"<feed xmlns='http://www.w3.org/2005/Atom' xmlns:at='{_AT}' "
            f"xmlns:fh='{_FH}'>{_ENTRIES}<at:deleted-entry ref=' urn:e1 '/>"
            f"<fh:complete/></feed>",
            (("urn:e1",), True),
        ),
        (  # RSS 2.0: in the channel, after the items
            f"<rss xmlns:at='{_AT}' xmlns:fh='{_FH}'><channel>{_ITEMS}"
            f"<at:deleted-entry ref='r'/><fh:complete/></channel></rss>",
            (("r",), True),
        ),
        (  # inside an entry: a tombstone counts, a completeness mark does not
            f"<feed xmlns:at='{_AT}' xmlns:fh='{_FH}'><entry><at:deleted-entry "
            "ref='deep'/><fh:complete/></entry></feed>",
            (("deep",), None),
        ),
        (  # cut short: what came before the cut is read
            f"<rss xmlns:fh='{_FH}'><channel>{_ITEMS}<fh:complete/>",
            ((), True),
        ),
        (f"<rss><channel>{_ITEMS}</channel></rss>", ((), None)),  # neither
    ],
    ids=["atom", "rss", "nested", "truncated", "none"],
)
def test_tombstones_and_completeness_are_read_where_the_rfcs_put_them(
    document: str, expected: tuple[tuple[str, ...], bool | None]
) -> None:
    """connectors.feeditems.extensions: in one pass, each entry dropped once read."""
    assert feeditems.extensions(document.encode()) == expected
    read = syndication.read(document.encode(), "https://metal.example/feed")
    if read is not None:  # the fast reader takes them in its own pass, alike
        assert (read.deleted, read.complete) == expected


def test_the_fast_reader_reads_tombstones_and_completeness() -> None:
    body = (
        f"<feed xmlns='http://www.w3.org/2005/Atom' xmlns:at='{_AT}' "
        f"xmlns:fh='{_FH}'><fh:complete/>{_ENTRIES}<at:deleted-entry ref='urn:e7'/>"
        "</feed>"
    ).encode()
    read = syndication.read(body, "https://metal.example/feed")
    assert read is not None and len(read.items) == 3000
    assert (read.deleted, read.complete) == (("urn:e7",), True)


def _bodies() -> Iterator[bytes]:
    for path in sorted(DATA.rglob("*")):
        if path.suffix in (".xml", ".atom", ".rss"):
            yield path.read_bytes()
    text = (
        "<?xml version='1.0' encoding='{}'?>"
        "<rss version='2.0'><channel>Łódź ž</channel></rss>"
    )
    for declared in ("utf-8", "UTF8", "iso-8859-2", "windows-1257"):
        yield text.format(declared).encode("utf-8")  # valid UTF-8 wins
    yield text.format("iso-8859-2").encode("iso-8859-2")
    yield codecs.BOM_UTF8 + text.format("utf-8").encode()
    yield text.format("utf-8").replace("ž", "ž\x0b\x01").encode()  # controls dropped
    yield b"<rss version='2.0'><channel>no declaration \xc5\x82</channel></rss>"


@pytest.mark.parametrize("body", list(_bodies()))
def test_a_clean_utf8_body_is_read_as_it_is_and_equals_the_decoded_path(
    body: bytes,
) -> None:
    url = "https://metal.example/feed"
    expected = to_utf8_xml(decode(body, url))
    got = xml_as_utf8(body, url)
    # as it is (less a BOM) when its declaration says UTF-8 already, in any quotes
    assert got in (expected, body.removeprefix(codecs.BOM_UTF8))
    assert _as_read(got) == _as_read(expected)


@pytest.mark.parametrize("body", list(_bodies()))
def test_a_file_is_read_as_it_is_exactly_when_its_bytes_would_be(body: bytes) -> None:
    """``utf8_as_is`` (a big body parsed from its file) agrees with xml_as_utf8."""
    as_is = xml_as_utf8(body, "https://metal.example/feed") == body.removeprefix(
        codecs.BOM_UTF8
    )
    assert utf8_as_is(io.BytesIO(body)) is as_is


def test_a_file_is_checked_to_its_end_a_megabyte_at_a_time() -> None:
    start = b"<?xml version='1.0' encoding='utf-8'?><rss>"
    pad = b"x" * ((1 << 20) - len(start) - 1)
    split = start + pad + "ł".encode() + b"</rss>"  # across the first read's end
    assert utf8_as_is(io.BytesIO(split))
    assert not utf8_as_is(io.BytesIO(split + b"\x01"))  # a control byte, far on
    assert not utf8_as_is(io.BytesIO(split[:-7] + b"\xc5</rss>"))  # cut sequence


def _as_read(body: bytes) -> bytes | str:
    """What an XML parser reads of ``body``: the document, or its error."""
    try:
        return etree.tostring(etree.fromstring(body))
    except etree.XMLSyntaxError as e:
        return type(e).__name__


@pytest.mark.parametrize("declared", ["'utf-8'", '"UTF-8"', "'UTF8'", '"utf8"'])
def test_a_clean_body_declaring_utf8_is_not_copied(declared: str) -> None:
    """A 100 MB feed declaring encoding='utf-8' (single quotes) was copied twice,
    to rewrite its declaration as "utf-8", and kept beside the original."""
    body = (
        f"<?xml version='1.0' encoding={declared}?><rss version='2.0'><channel>"
        "Łódź ž</channel></rss>"
    ).encode()
    assert xml_as_utf8(body, "https://metal.example/feed") is body
