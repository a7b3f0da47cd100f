"""e-cooperation hub: the federation side. ``create_app`` builds the Flask site."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from hub import db
from hub import health
from hub import metrics
from hub.settings import load_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the site. Settings come from the environment; ``config`` overrides them."""
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(load_settings(os.environ, config))
    db.init_app(app)
    health.init_app(app)
    metrics.init_app(app)

    from hub import web

    web.init_app(app)
    return app
