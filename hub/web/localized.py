"""Blueprints whose URLs carry the interface language: ``/pl/...``, ``/lt/...``,
``/en/...``. An unknown language is a 404."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import abort
from flask import g

from hub.registry import UI_LANGUAGES


def localized_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under ``/<lang>`` that sets ``g.lang`` and fills it in URLs."""
    bp = Blueprint(name, import_name, url_prefix="/<lang>")

    @bp.url_value_preprocessor
    def _pull_language(endpoint: str | None, values: dict[str, Any] | None) -> None:
        lang = (values or {}).pop("lang", None)
        if lang not in UI_LANGUAGES:
            abort(404)
        g.lang = lang

    @bp.url_defaults
    def _add_language(endpoint: str, values: dict[str, Any]) -> None:
        if "lang" not in values and "lang" in g:
            values["lang"] = g.lang

    return bp
