"""What every page shares: the template environment and the values the layout needs.

``render(request, "experiments.html", title=..., **values)`` renders a template that extends
``base.html``. The layout shows which store the server serves (journey 1: a user who starts
the UI in the wrong folder must see it at once), the server's version and the navigation.
``url(request, "/runs/x")`` prefixes a path with ``--static-prefix``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from mltrail._version import __version__
from mltrail.server.config import ServerConfig

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def redact(uri: str) -> str:
    """A URI without its password, for display."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def prefix(request: Request) -> str:
    config: ServerConfig = request.app.state.config
    return config.static_prefix.rstrip("/")


def url(request: Request, path: str) -> str:
    return f"{prefix(request)}{path}"


def render(request: Request, template: str, *, title: str, status_code: int = 200,
           **values: Any) -> HTMLResponse:
    config: ServerConfig = request.app.state.config
    context = {
        "title": title,
        "store": redact(config.backend_store_uri),
        "version": __version__,
        "prefix": prefix(request),
        **values,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
