"""Static file URLs that change when the file does: ``?v=<content hash>``, so
browsers and nginx (deploy/nginx.conf) may keep them for a year."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from flask import request

VERSIONED = "public, max-age=31536000, immutable"
UNVERSIONED = "public, max-age=3600"


def init_app(app: Flask) -> None:
    app.url_defaults(_add_version)
    app.after_request(_cache_headers)


def _add_version(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint == "static" and "filename" in values and "v" not in values:
        folder = current_app.static_folder or ""
        if current_app.debug:  # files change under the developer's hands
            values["v"] = version_of(folder, values["filename"], _uncached=True)
        else:
            values["v"] = version_of(folder, values["filename"])


@functools.lru_cache(maxsize=256)
def _cached_version(folder: str, filename: str) -> str:
    return _version(folder, filename)


def version_of(folder: str, filename: str, *, _uncached: bool = False) -> str:
    """The first 12 hex digits of the SHA-256 of the file; "0" if it is missing."""
    if _uncached:
        return _version(folder, filename)
    return _cached_version(folder, filename)


def _version(folder: str, filename: str) -> str:
    try:
        data = (Path(folder) / filename).read_bytes()
    except OSError:
        return "0"
    return hashlib.sha256(data).hexdigest()[:12]


def _cache_headers(response: Response) -> Response:
    if request.endpoint == "static" and response.status_code == 200:
        response.headers["Cache-Control"] = (
            VERSIONED if request.args.get("v") else UNVERSIONED
        )
    return response
