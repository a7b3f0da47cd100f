"""The federation site: languages in the URL, Babel, blueprints and template helpers."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import g
from flask import redirect
from flask import request
from flask import url_for
from flask_babel import Babel
from flask_babel import format_date
from flask_babel import format_datetime
from flask_babel import format_decimal
from werkzeug.wrappers import Response

from connectors.bounded import FORK_GUARD
from hub.registry import UI_LANGUAGES
from hub.web import api_v1
from hub.web import assets
from hub.web import csrf
from hub.web import errors
from hub.web import labels
from hub.web import outfeeds
from hub.web import pagecache
from hub.web import security
from hub.web import seo
from hub.web.api import bp as api_bp
from hub.web.checker import bp as checker_bp
from hub.web.clusters import bp as clusters_bp
from hub.web.companies import bp as companies_bp
from hub.web.jobs import bp as jobs_bp
from hub.web.numbers import RowId
from hub.web.operator import bp as operator_bp
from hub.web.pages import bp as pages_bp

LANGUAGE_NAMES = {"pl": "Polski", "lt": "Lietuvių", "en": "English"}


def init_app(app: Flask) -> None:
    app.url_map.converters["id"] = RowId  # before the routes that use it
    Babel(
        app,
        locale_selector=current_language,
        default_translation_directories="translations",
    )
    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(checker_bp)
    api_v1.init_app(app)  # the JSON API's read side; api_bp has the ping
    outfeeds.init_app(app)
    seo.init_app(app)
    for blueprint in (jobs_bp, companies_bp, clusters_bp, operator_bp):
        app.register_blueprint(blueprint)
    csrf.init_app(app)  # every POST but the JSON API's needs the session's token
    assets.init_app(app)
    errors.init_app(app)
    # Requests may use lxml (feed checker, output feeds, sitemaps); `ecoop serve`
    # also harvests, forking parsers: never while a request is inside lxml.
    app.before_request(_enter_fork_guard)
    app.teardown_request(_leave_fork_guard)
    pagecache.init_app(app)  # before security: kept pages carry its headers
    security.init_app(app)
    app.add_url_rule("/", "root", _root)
    app.jinja_env.globals.update(
        ui_languages=UI_LANGUAGES,
        language_names=LANGUAGE_NAMES,
        url_in_language=url_in_language,
        labels=labels,
    )
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["decimal"] = format_decimal


def _enter_fork_guard() -> None:
    FORK_GUARD.enter()
    g.fork_guard = True


def _leave_fork_guard(_error: BaseException | None) -> None:
    if g.pop("fork_guard", False):  # entered: an earlier hook may have answered
        FORK_GUARD.leave()


def best_language() -> str:
    return request.accept_languages.best_match(UI_LANGUAGES) or "en"


def current_language() -> str:
    return str(g.get("lang") or best_language())


def url_in_language(lang: str, **changes: Any) -> str:
    """This page in another language, with the same query (the language switch).

    Empty parameters (a blank search box) are dropped to keep URLs clean.
    """
    query = {k: v for k, v in request.args.items() if v}
    args: dict[str, Any] = {**(request.view_args or {}), **query, **changes}
    args["lang"] = lang
    return url_for(request.endpoint or "pages.home", **args)


def _root() -> Response:
    return redirect(url_for("pages.home", lang=best_language()))
