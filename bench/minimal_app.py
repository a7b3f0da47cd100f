"""The ceiling of bench/site.py: the smallest Flask page, served like the hub."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "<!doctype html><title>ceiling</title><p>e-cooperation hub</p>"
