"""Error pages in the visitor's language: 4xx and 5xx answers of the site are pages of
the site (the JSON API answers its own errors in JSON, hub.web.api_v1; an address
under /api/ that no route takes is answered in JSON here)."""

from __future__ import annotations

from flask import Flask
from flask import g
from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from hub.registry import UI_LANGUAGES

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    403: (_l("Forbidden"), _l("This page is not open to you.")),
    404: (_l("Page not found"), _l("There is no page at this address.")),
    405: (_l("Not allowed"), _l("This address does not answer this kind of request.")),
    429: (_l("Too many requests"), _l("Too many requests; try again in a minute.")),
    500: (
        _l("Something went wrong"),
        _l("The hub could not answer this request. Please try again later."),
    ),
}
KEPT_HEADERS = ("Retry-After", "Allow", "WWW-Authenticate")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, page)


def page(error: HTTPException) -> ResponseReturnValue:
    """The error as a page of the site, in the language of its address (else the
    visitor's), keeping the status and the headers that matter (Retry-After...)."""
    from hub.web import best_language  # hub.web registers this module

    code = error.code or 500
    if code < 400:
        return error
    if request.path.startswith("/api/"):  # no API route matched: JSON, as its own
        return jsonify(error=error.description or error.name), code
    if "lang" not in g:
        first = request.path.strip("/").split("/")[0]
        g.lang = first if first in UI_LANGUAGES else best_language()
    title, text = MESSAGES.get(code // 100 * 100 if code >= 500 else code, (None, None))
    if error.description != type(error).description:  # a message written for us
        text = error.description
    response = make_response(
        render_template(
            "error.html",
            code=code,
            title=title or error.name,
            text=text or error.description,
        ),
        code,
    )
    original = error.get_response()
    for name in KEPT_HEADERS:
        if name in original.headers:
            response.headers[name] = original.headers[name]
    return response
