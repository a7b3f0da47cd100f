"""robots.txt rules per RFC 9309, with a fake fetch and clock (no network)."""

from __future__ import annotations

import pytest

from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.robots import RobotsCache

UA = "ecoop-hub/0.1"


class FakeSite:
    def __init__(self, answer: bytes | int) -> None:
        self.answer = answer
        self.fetched: list[str] = []

    def __call__(self, url: str) -> FetchResult:
        self.fetched.append(url)
        if isinstance(self.answer, int):
            raise FetchError(
                url, f"HTTP {self.answer}", "http_status", status=self.answer
            )
        return FetchResult(url=url, status=200, headers={}, body=self.answer)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_disallowed_paths_are_refused_and_others_allowed() -> None:
    site = FakeSite(b"User-agent: *\nDisallow: /ogloszenia/prywatne/\n")
    robots = RobotsCache(site, UA)
    assert robots.check("https://Firma.example/ogloszenia/1.html").allowed
    verdict = robots.check("https://firma.example/ogloszenia/prywatne/2.html")
    assert not verdict.allowed and "disallows" in verdict.reason
    assert site.fetched == ["https://firma.example/robots.txt"]  # once per origin


def test_rules_for_our_agent_win_over_the_wildcard() -> None:
    site = FakeSite(b"User-agent: *\nDisallow: /\n\nUser-agent: ecoop-hub\nAllow: /\n")
    assert RobotsCache(site, UA).check("https://firma.example/a").allowed


@pytest.mark.parametrize(
    ("answer", "allowed"), [(404, True), (403, True), (503, False)]
)
def test_unavailable_allows_everything_unreachable_nothing(
    answer: int, allowed: bool
) -> None:
    assert (
        RobotsCache(FakeSite(answer), UA).check("https://f.example/x").allowed
        is allowed
    )


def test_network_failure_is_unreachable() -> None:
    def down(url: str) -> FetchResult:
        raise FetchError(url, "connection refused", "network")

    verdict = RobotsCache(down, UA).check("https://f.example/x")
    assert not verdict.allowed and "unreachable" in verdict.reason


def test_rules_are_fetched_again_after_a_day() -> None:
    site, clock = FakeSite(b"User-agent: *\nDisallow: /a\n"), Clock()
    robots = RobotsCache(site, UA, clock=clock)
    robots.check("https://f.example/b")
    clock.now += 23 * 3600
    robots.check("https://f.example/b")
    assert len(site.fetched) == 1
    site.answer = b""
    clock.now += 2 * 3600
    assert robots.check("https://f.example/a").allowed
    assert len(site.fetched) == 2
