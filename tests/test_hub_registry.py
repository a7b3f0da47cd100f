"""clusters.yaml validation: every error names file, line and field."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from hub.registry import RegistryError
from hub.registry import Watcher
from hub.registry import load
from hub.registry import parse_interval

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
clusters:
  - slug: metal
    name: {pl: Klaster Obróbki Metali, lt: Metalo klasteris, en: Metal Cluster}
    country: PL
    sector: metalworking
    homepage: https://metalklaster.pl/
    languages: [pl, en]
    sources:
      - id: offers
        type: rss
        url: https://metalklaster.pl/feed/
        interval: 30m
      - type: atom
        url: https://metalklaster.pl/jobs.atom
"""


def write(tmp_path: Path, text: str, name: str = "clusters.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(RegistryError) as info:
        load(path)
    return info.value.problems


def test_real_registry_lists_the_founding_clusters_with_their_domains() -> None:
    registry = load(ROOT / "config" / "clusters.yaml")
    homepages = {c.slug: c.homepage for c in registry.clusters}
    assert homepages == {
        "metalklaster": "https://metalklaster.pl/",
        "medienospartneriai": "https://medienospartneriai.lt/",
    }
    metal = registry.find_cluster("metalklaster")
    assert metal is not None and metal.name["pl"] == "Klaster Obróbki Metali"
    assert all(s.url.startswith("https://") for s in registry.sources)


def test_good_file_gives_sources_with_keys_and_intervals(tmp_path: Path) -> None:
    registry = load(write(tmp_path, GOOD))
    assert [(s.key, s.type, s.interval) for s in registry.sources] == [
        ("metal/offers", "rss", timedelta(minutes=30)),
        ("metal/atom", "atom", timedelta(hours=1)),
    ]


def test_unknown_source_type_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("type: rss", "type: rsss"))
    [problem] = problems(path)
    assert problem.startswith(
        f"{path}:10: clusters[0].sources[0].type: unknown type 'rsss'"
    )


def test_missing_url_names_the_source(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("        url: https://metalklaster.pl/jobs.atom\n", "")
    )
    assert problems(path) == [
        f"{path}:13: clusters[0].sources[1].url: required field is missing"
    ]


def test_duplicate_slug_points_at_the_second_one(tmp_path: Path) -> None:
    second_cluster = GOOD.split("clusters:\n", 1)[1].split("    sources:")[0]
    path = write(tmp_path, GOOD + second_cluster)
    [problem] = problems(path)
    assert problem == f"{path}:15: clusters[1].slug: duplicate slug 'metal'"


@pytest.mark.parametrize("interval", ["often", "10x", "30s", "0m", "-5m", "true"])
def test_bad_interval_names_line_and_field(tmp_path: Path, interval: str) -> None:
    path = write(tmp_path, GOOD.replace("interval: 30m", f"interval: {interval}"))
    [problem] = problems(path)
    assert problem.startswith(f"{path}:12: clusters[0].sources[0].interval: ")


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("country: PL", "country: PL: x"))
    [problem] = problems(path)
    assert problem.startswith(f"{path}:4:")
    assert "YAML syntax error" in problem


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    country: PL", "    contry: PL"))
    assert f"{path}:4: clusters[0].contry: unknown field" in problems(path)


def test_missing_translation_of_the_cluster_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace(", lt: Metalo klasteris", ""))
    assert problems(path) == [f"{path}:3: clusters[0].name: missing name in lt"]


def test_duplicate_source_ids_in_one_cluster(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace("      - type: atom", "      - id: offers\n        type: atom"),
    )
    [problem] = problems(path)
    assert problem.startswith(
        f"{path}:13: clusters[0].sources[1].id: duplicate source id 'offers'"
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("type: rss", "type: gopher").replace("30m", "soon")
    )
    assert len(problems(path)) == 2


def test_environment_variables_fill_urls(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("https://metalklaster.pl/feed/", "${METAL}/feed/")
    )
    registry = load(path, environ={"METAL": "http://127.0.0.1:9"})
    assert registry.sources[0].url == "http://127.0.0.1:9/feed/"
    with pytest.raises(RegistryError) as info:
        load(path, environ={})
    assert info.value.problems == [
        f"{path}:11: clusters[0].sources[0].url: environment variable METAL is not set"
    ]


def test_overlay_points_sources_of_the_base_file_elsewhere(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    overlay = write(
        tmp_path,
        """\
        extends: clusters.yaml
        source_urls:
          metal/offers: http://127.0.0.1:8401/feed/
        """,
        "demo.yaml",
    )
    registry = load(overlay)
    assert [s.url for s in registry.sources] == [
        "http://127.0.0.1:8401/feed/",
        "https://metalklaster.pl/jobs.atom",
    ]


def test_overlay_naming_a_source_that_does_not_exist(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    overlay = write(
        tmp_path,
        "extends: clusters.yaml\nsource_urls:\n  metal/nope: http://x/\n",
        "demo.yaml",
    )
    assert problems(overlay) == [
        f"{overlay}:3: source_urls.metal/nope: "
        f"no such source in {tmp_path / 'clusters.yaml'}"
    ]


def test_overlay_adds_sources_and_blames_its_own_lines(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    overlay = write(
        tmp_path,
        """\
        extends: clusters.yaml
        add_sources:
          metal:
            - id: jobs
              type: rss
              url: http://127.0.0.1:8401/jobs/
            - id: broken
              type: rss
              url: not a url
        """,
        "demo.yaml",
    )
    assert problems(overlay) == [
        f"{overlay}:9: clusters[0].sources[3].url: 'not a url' is not an http(s) URL"
    ]
    overlay.write_text(overlay.read_text().split("    - id: broken")[0])
    keys = [s.key for s in load(overlay).sources]
    assert keys == ["metal/offers", "metal/atom", "metal/jobs"]


def test_overlay_adding_sources_to_an_unknown_cluster(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    overlay = write(
        tmp_path,
        "extends: clusters.yaml\nadd_sources:\n  wood: []\n",
        "demo.yaml",
    )
    assert problems(overlay) == [
        f"{overlay}:3: add_sources.wood: "
        f"no such cluster in {tmp_path / 'clusters.yaml'}"
    ]


def test_a_key_the_connector_does_not_know_names_line_and_field(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path, GOOD.replace("interval: 30m", "interval: 30m\n        xpath: //a")
    )
    assert problems(path) == [f"{path}:13: clusters[0].sources[0].xpath: unknown field"]


def test_demo_registry_points_every_source_at_loopback() -> None:
    registry = load(ROOT / "config" / "demo.yaml", environ={})
    real = load(ROOT / "config" / "clusters.yaml")
    assert [c.slug for c in registry.clusters] == [c.slug for c in real.clusters]
    assert all(s.url.startswith("http://127.0.0.1:8401/") for s in registry.sources)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("1d", timedelta(days=1)),
        (15, timedelta(minutes=15)),
    ],
)
def test_parse_interval(text: str | int, expected: timedelta) -> None:
    assert parse_interval(text) == expected


def test_watcher_keeps_the_last_good_registry(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    watcher = Watcher(path)
    first = watcher.poll()
    assert first is not None and watcher.poll() is None  # unchanged file: nothing new
    path.write_text(GOOD.replace("type: rss", "type: nope"), encoding="utf-8")
    assert watcher.poll() is None
    assert watcher.registry is first and watcher.error is not None
    path.write_text(GOOD.replace("interval: 30m", "interval: 2h"), encoding="utf-8")
    reloaded = watcher.poll()
    assert reloaded is not None and reloaded.sources[0].interval == timedelta(hours=2)
