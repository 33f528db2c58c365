"""The one page: ``static/index.html`` with its stylesheet and script inlined, and a Content-Security-Policy that allows only them.

Inlining means the page is a single response (so the token in its address
covers all of it) and the server maps no request path to a file: the assets
are read from the package once, by fixed names.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
from dataclasses import dataclass
from functools import cache

ASSETS = "ser_edge.web"


@dataclass(frozen=True)
class Page:
    """The page's bytes and the CSP header that goes with them."""

    html: bytes
    csp: str


def _asset(name: str) -> str:
    return (importlib.resources.files(ASSETS) / "static" / name).read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def page() -> Page:
    """The page with its assets inlined, built once."""
    style, script = _asset("style.css"), _asset("app.js")
    html = _asset("index.html").replace("/*STYLE*/", style).replace("/*SCRIPT*/", script)
    csp = (
        f"default-src 'none'; script-src {_digest(script)}; style-src {_digest(style)}; connect-src 'self'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return Page(html.encode(), csp)
