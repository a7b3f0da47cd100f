"""feeds.validator on broken documents (tests/data/profile/), the reader's safety
against entity bombs, and the `python -m feeds` command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from feeds.__main__ import FeedFetchError
from feeds.__main__ import example
from feeds.__main__ import fetch
from feeds.__main__ import main
from feeds.profile import ECO_NS
from feeds.profile import FeedReadError
from feeds.profile import Problem
from feeds.reader import read
from feeds.validator import Report
from feeds.validator import validate

DATA = Path(__file__).resolve().parent / "data" / "profile"


GOLDEN = sorted(p for p in DATA.iterdir() if p.with_name(p.name + ".json").exists())


def problems_of(name: str) -> list[Problem]:
    return list(validate((DATA / name).read_bytes()).problems)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_each_problem_is_reported_with_its_location_line_and_hint(path: Path) -> None:
    """Each document beside its expected report (regenerate one with
    ``python -m feeds validate --format json FILE > FILE.json`` and review it)."""
    expected = json.loads(path.with_name(path.name + ".json").read_text("utf-8"))
    assert validate(path.read_bytes()).to_dict() == expected


def test_the_golden_documents_cover_every_kind_of_problem() -> None:
    messages = {
        p["message"].split(" '")[0].split(":")[0]
        for path in GOLDEN
        for p in json.loads(path.with_name(path.name + ".json").read_text("utf-8"))[
            "problems"
        ]
    }
    assert {
        "unknown kind",
        "bad date",
        "valid-through is before published",
        "bad country code",
        "duplicate id",
        "alternate link without hreflang",
        "withdrawn entry without ref",
        "missing id",
        "missing title",
        "missing link",
        "missing <id>",
        "not a feed",
        "JSON is not an object but a list",
        "DOCTYPE declares entities",
        "no e-cooperation extension (a plain feed)",
        "no completeness declaration",
        "no organisation",
        "fh",
    } <= messages


def test_a_document_that_is_not_well_formed_is_reported_at_its_line() -> None:
    (problem,) = problems_of("not-well-formed.atom")
    assert (problem.location, problem.line) == ("document", 4)
    assert problem.message.startswith("not well-formed XML: ")


def test_every_error_has_a_fix_hint_where_one_helps() -> None:
    for name in ("unknown-kind.atom", "bad-dates.atom", "bad-organisation.atom"):
        assert all(p.hint for p in problems_of(name) if p.severity == "error"), name


def test_a_bad_kind_is_not_reported_again_as_a_missing_kind() -> None:
    assert [p.message for p in problems_of("unknown-kind.atom")] == [
        "unknown kind 'job'"
    ]


def test_a_misspelt_element_gets_a_suggestion() -> None:
    (problem,) = [
        p for p in problems_of("bad-organisation.atom") if "emial" in p.location
    ]
    assert problem.hint.startswith("did you mean 'eco:email'?")


@pytest.mark.parametrize("name", ["plain.atom", "plain.rss"])
def test_a_plain_feed_is_valid_with_warnings(name: str) -> None:
    report = validate((DATA / name).read_bytes())
    assert report.ok
    assert report.offers == 1
    messages = {p.message for p in report.warnings}
    assert "no e-cooperation extension (a plain feed)" in messages
    assert "no completeness declaration" in messages


def test_a_plain_rss_item_is_read_into_an_offer() -> None:
    parsed = read((DATA / "plain.rss").read_bytes())
    (offer,) = parsed.offers
    assert parsed.format == "rss"
    assert offer.id == offer.link == "https://metalklaster.example.pl/oferty/12"
    assert offer.language == "pl"
    assert offer.content_html == "<p>Wolne moce przerobowe.</p>"
    assert offer.published is not None and offer.published.utcoffset() is not None


@pytest.mark.parametrize("name", ["example.atom", "example.json"])
def test_the_examples_are_the_writers_output_and_valid(name: str) -> None:
    data = (DATA / name).read_bytes()
    assert data == example(name.rsplit(".", 1)[1]), (
        "regenerate: python -m feeds example"
    )
    report = validate(data)
    assert report.ok and report.problems == ()
    assert (report.offers, report.deleted) == (4, 1)


def test_warnings_name_what_the_hub_will_have_to_infer() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Klaster",
        "home_page_url": "https://klaster.example.pl/",
        "items": [
            {
                "id": "1",
                "url": "https://klaster.example.pl/1",
                "title": "Praca: tokarz",
                "content_text": "Ełk",
                "_ecoop": {"kind": "job-offer"},
            }
        ],
    }
    report = validate(json.dumps(doc).encode())
    assert report.ok
    assert {(p.location, p.message) for p in report.warnings} == {
        ("_ecoop.complete", "no completeness declaration"),
        ("language", "no language for 1 offer(s); the hub will guess it"),
        ("items[0]._ecoop.organisation", "no organisation"),
        ("items[0]._ecoop.valid_through", "job offer without valid-through"),
    }


def test_an_entity_bomb_is_refused_quickly_without_expansion() -> None:
    bomb = (DATA / "billion-laughs.atom").read_bytes()
    started = time.perf_counter()
    with pytest.raises(FeedReadError, match="DOCTYPE declares entities") as caught:
        read(bomb)
    assert time.perf_counter() - started < 0.5
    assert caught.value.line == 3


def test_an_entity_declared_after_a_long_prolog_is_refused_by_the_parser() -> None:
    padding = b"<!-- " + b"x" * 70_000 + b" -->\n"
    bomb = (
        (DATA / "billion-laughs.atom")
        .read_bytes()
        .replace(b"<!DOCTYPE", padding + b"<!DOCTYPE", 1)
    )
    started = time.perf_counter()
    with pytest.raises(FeedReadError):
        read(bomb)
    assert time.perf_counter() - started < 0.5


def test_a_report_is_json_ready() -> None:
    report = validate((DATA / "unknown-kind.atom").read_bytes())
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["format"] == "atom" and data["errors"] == 1
    assert data["problems"][0] == {
        "severity": "error",
        "location": "entry[1] <eco:kind>",
        "line": 14,
        "message": "unknown kind 'job'",
        "hint": data["problems"][0]["hint"],
    }


def test_the_text_report_shows_file_line_severity_location_and_fix() -> None:
    text = validate((DATA / "unknown-kind.atom").read_bytes()).to_text("feed.atom")
    assert text.splitlines()[0] == (
        "feed.atom:14: error: entry[1] <eco:kind>: unknown kind 'job'"
    )
    assert text.splitlines()[1].startswith("    fix: expected one of: business-offer")
    assert text.splitlines()[-1].startswith("feed.atom: NOT valid (atom, 1 offer(s)")


def test_an_empty_report_is_ok() -> None:
    assert Report("atom").ok


def test_the_feeds_modules_import_nothing_of_the_hub() -> None:
    modules = (
        "feeds.profile, feeds.writer, feeds.reader, feeds.validator, feeds.__main__"
    )
    code = (
        f"import json, sys, {modules}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert loaded.isdisjoint(
        {"flask", "sqlalchemy", "hub", "connectors", "apscheduler"}
    )


# --- the command line ---


def test_cli_exits_0_for_a_valid_feed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DATA / "plain.atom")]) == 0
    assert "valid (atom, 1 offer(s)" in capsys.readouterr().out


def test_cli_exits_1_for_problems(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DATA / "bad-dates.atom")]) == 1
    assert "entry[1] <updated>: bad date" in capsys.readouterr().out


def test_cli_prints_json_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--format", "json", str(DATA / "bad-fields.json")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "json" and not report["ok"]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["validate"],
        ["check", "x"],
        ["validate", "--format", "xml", "f"],
        ["example"],
    ],
)
def test_cli_exits_2_on_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_cli_exits_2_when_the_file_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path / "nope.xml")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["atom", "json"])
def test_cli_prints_a_valid_example(
    kind: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["example", kind]) == 0
    assert validate(capsysbinary.readouterr().out).problems == ()


def test_cli_validates_a_url(
    httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data(
        example("json"), content_type="application/feed+json"
    )
    assert main(["validate", httpserver.url_for("/feed.json")]) == 0
    assert "valid (json, 4 offer(s), 1 withdrawn" in capsys.readouterr().out


def test_cli_exits_2_when_the_url_fails(
    httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/gone").respond_with_data("gone", status=404)
    assert main(["validate", httpserver.url_for("/gone")]) == 2
    assert "404" in capsys.readouterr().err


def test_fetch_refuses_a_body_over_the_cap(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data(b"<feed>" + b" " * 5000)
    with pytest.raises(FeedFetchError, match="larger than 1000 bytes"):
        fetch(httpserver.url_for("/big"), max_bytes=1000)


def test_cli_reads_stdin_and_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "feeds", "validate", "-"],
        input=(DATA / "unknown-kind.atom").read_bytes(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 1
    assert b"-:14: error: entry[1] <eco:kind>: unknown kind 'job'" in done.stdout


# --- PROFILE.md: its examples are what the code writes and reads ---

PROFILE = (Path(__file__).resolve().parent.parent / "feeds" / "PROFILE.md").read_text(
    encoding="utf-8"
)
WRAP = (
    '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:eco="{eco}" xml:lang="pl">'
    "<id>tag:x.example,2026:f</id><title>t</title>"
    "<updated>2026-11-25T09:50:00Z</updated>{entry}</feed>"
)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PROFILE, re.S)


@pytest.mark.parametrize("kind", ["atom", "json"])
def test_the_profiles_complete_examples_are_the_writers_output(kind: str) -> None:
    marker = f"<!-- example {kind}: python -m feeds example {kind} -->\n```"
    block = PROFILE.split(marker, 1)[1].split("\n", 1)[1].split("```", 1)[0]
    assert block.encode() == example(kind)


def test_the_profiles_xml_snippets_are_valid() -> None:
    for block in blocks("xml"):
        if block.startswith("<entry"):
            block = WRAP.format(eco=ECO_NS, entry=block)
        elif block.startswith("<at:"):
            continue  # a tombstone alone; shown whole in the complete example
        assert validate(block.encode()).errors == [], block


def test_the_profiles_python_example_writes_valid_feeds() -> None:
    (code,) = blocks("python")
    names: dict[str, Any] = {}
    exec(code, names)  # our own documentation
    assert validate(names["atom"]).problems == ()
    assert validate(names["json_feed"]).problems == ()
