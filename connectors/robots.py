"""robots.txt (RFC 9309) for connectors that scrape pages rather than read feeds a site
publishes for machines. Parsing by protego; fetching by the caller's one fetch path.

No index, no Flask; the clock and the fetch are passed in.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from protego import Protego

from connectors.base import FetchError
from connectors.base import FetchResult

# RFC 9309 §2.5: parse at least 500 KiB; more is the site's problem, not ours.
MAX_ROBOTS_BYTES = 512 * 1024
FOUND_TTL = 24 * 3600.0  # §2.4: do not use a cached copy for more than 24 h
UNREACHABLE_TTL = 3600.0  # retried within the hour; meanwhile assume disallowed


@dataclasses.dataclass(frozen=True)
class RobotsVerdict:
    allowed: bool
    reason: str = ""


class RobotsCache:
    """The robots.txt rules of each origin, fetched once per TTL, thread-safe.

    ``fetch`` gets the absolute URL of a robots.txt and returns a FetchResult or
    raises FetchError; give it the same limits and destination policy as every fetch.
    """

    def __init__(
        self,
        fetch: Callable[[str], FetchResult],
        user_agent: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.user_agent = user_agent
        self._clock = clock
        self._rules: dict[str, tuple[float, Protego | None, str]] = {}
        self._lock = threading.Lock()
        self._origin_locks: dict[str, threading.Lock] = {}

    def check(self, url: str) -> RobotsVerdict:
        """May ``url`` be fetched by our user agent?"""
        origin = _origin(url)
        with self._lock:
            origin_lock = self._origin_locks.setdefault(origin, threading.Lock())
        with origin_lock:  # threads asking for one origin wait for a single fetch
            cached = self._rules.get(origin)
            if cached is None or cached[0] <= self._clock():
                cached = self._rules[origin] = self._load(origin)
        _, rules, reason = cached
        if rules is None:
            return RobotsVerdict(False, reason)
        if rules.can_fetch(url, self.user_agent):
            return RobotsVerdict(True)
        return RobotsVerdict(False, "robots.txt disallows this URL for our user agent")

    def _load(self, origin: str) -> tuple[float, Protego | None, str]:
        now = self._clock()
        try:
            result = self._fetch(origin + "/robots.txt")
        except FetchError as e:
            status = e.status or 0
            if 400 <= status < 500:  # §2.3.1.3 "unavailable": no rules at all
                return now + FOUND_TTL, Protego.parse(""), ""
            # §2.3.1.4 "unreachable" (5xx, network): assume complete disallow
            return now + UNREACHABLE_TTL, None, f"robots.txt unreachable: {e.message}"
        text = result.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return now + FOUND_TTL, Protego.parse(text), ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), "", "", ""))
