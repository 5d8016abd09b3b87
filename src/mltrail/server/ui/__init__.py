"""The web UI: pages rendered on the server with Jinja2, htmx for the parts that update in
place, and uPlot for charts.

Every asset is served by the package itself, under ``<prefix>/ui-static/`` (htmx and uPlot are
vendored in ``static/vendor`` with their licences): the UI works with no internet. Pages read
through the same stores as the REST API. Pages never post forms: state changes go through the
JSON API with ``Content-Type: application/json`` (MLflow's CSRF rule), from ``static/mltrail.js``.
Templates autoescape everything: a run named ``<img src=x onerror=...>`` shows as text.

One module per area, each with its own ``router``:

    experiments.py   /                       the experiments list
                     /experiments/<id>       an experiment's runs table
    run_page.py      /runs/<run_id>          a run: overview, params, metrics, charts, artifacts
    compare.py       /compare?runs=...       runs side by side
    models.py        /models, /models/<name> the registry
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from mltrail.server.ui import compare, experiments, models, run_page

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"

ROUTERS = (experiments.router, run_page.router, compare.router, models.router)


def mount_ui(app: FastAPI, prefix: str) -> None:
    """Serve the UI's pages under ``prefix`` and its assets under ``prefix/ui-static``."""
    app.mount(f"{prefix}/ui-static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    for router in ROUTERS:
        app.include_router(router, prefix=prefix, include_in_schema=False)
