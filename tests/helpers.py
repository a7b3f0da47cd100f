"""Test helpers shared by several test modules (plain functions, not fixtures)."""

from __future__ import annotations

import ssl
from datetime import UTC
from datetime import datetime
from pathlib import Path

from connectors.netguard import NetworkPolicy

# Tests fetch from their own servers on loopback, which the default policy refuses.
LOOPBACK = NetworkPolicy(allow=("127.0.0.1/32",))
TLS_NAME = "feeds.member.test"  # the name of conftest's certificate


def write_registry(
    path: Path,
    sources: dict[str, str],
    *,
    type_: str = "rss",
    options: str = "",
    interval: str = "1h",
) -> Path:
    """A one-cluster registry ("metal") whose sources are ``{id: url}`` of ``type_``;
    ``options`` is YAML added to every source (indented 8 spaces)."""
    entries = "".join(
        f"      - id: {name}\n        type: {type_}\n        url: {url}\n"
        f"        interval: {interval}\n{options}"
        for name, url in sources.items()
    )
    path.write_text(
        "clusters:\n  - slug: metal\n    name: {pl: Metal, lt: Metalas, en: Metal}\n"
        "    country: PL\n    sector: metalworking\n    homepage: https://metal.example/\n"
        f"    languages: [pl]\n    sources:\n{entries}",
        encoding="utf-8",
    )
    return path


T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Clock:
    """A clock tests move by hand: ``clock.now += timedelta(hours=1)``."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def server_context(cert: Path, key: Path) -> tuple[ssl.SSLContext, list[str | None]]:
    """A TLS server context serving ``cert``, and the list of the names (SNI) its
    handshakes were asked for, in order."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    return context, names
