"""The model registry's pages.

    /models                          registered models, searched by name (``name ILIKE``);
                                     the search box swaps in the table alone (htmx)
    /models/<name>                   a model: description, tags, aliases, its versions; an
                                     alias is set, moved or deleted through the JSON API
    /models/<name>/versions/<v>      a version: source, run, model id, tags, aliases, stage,
                                     and its MLmodel (flavors, signature)

The version's MLmodel is read from where its files are (``get_model_version_download_uri``)
through the server's artifact repositories, the same way the artifact routes reach them.
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from mltrail.entities.registry import ModelVersion, RegisteredModel
from mltrail.errors import InvalidArgument, MltrailError, NotImplementedByServer
from mltrail.server.artifact_repos import repository_for
from mltrail.server.config import ServerConfig
from mltrail.server.ui.pages import render
from mltrail.server.ui.run_page import error_page, mlmodel_summary, quoted, when
from mltrail.storage.registry import RegistryStore

router = APIRouter()

PAGE_SIZE = 100
MAX_VERSIONS = 1000


def _registry(request: Request) -> RegistryStore:
    registry: RegistryStore | None = getattr(request.app.state, "registry", None)
    if registry is None:
        raise NotImplementedByServer("This server's backend store has no model registry")
    return registry


def name_filter(text: str) -> str | None:
    """A search for models whose name contains ``text`` (any case)."""
    text = text.strip()
    return f"name ILIKE {quoted('%' + text + '%')}" if text else None


def _models(request: Request, q: str) -> list[dict[str, Any]]:
    found = _registry(request).search_registered_models(
        name_filter(q), PAGE_SIZE, ["last_updated_timestamp DESC"]
    )
    return [_model_row(model) for model in found]


def _model_row(model: RegisteredModel) -> dict[str, Any]:
    latest = max((v.version for v in model.latest_versions), default=None)
    return {
        "name": model.name,
        "latest": latest,
        "aliases": sorted(model.aliases.items()),
        "updated": when(model.last_updated_timestamp),
        "description": model.description or "",
    }


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, q: str = Query("")) -> HTMLResponse:
    """The page, or only its table when the search box asks (htmx, ``HX-Target``)."""
    template = (
        "_models_table.html" if request.headers.get("HX-Target") == "models-table"
        else "models.html"
    )
    try:
        rows = _models(request, q)
    except MltrailError as exc:
        return render(request, template, title="Models", section="models", q=q, rows=[],
                      error=exc.message,
                      status_code=exc.http_status if exc.http_status < 500 else 500)
    return render(request, template, title="Models", section="models", q=q, rows=rows,
                  error="")


def _versions(registry: RegistryStore, name: str) -> list[ModelVersion]:
    found = registry.search_model_versions(
        f"name = {quoted(name)}", MAX_VERSIONS, ["version_number DESC"]
    )
    return list(found)


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, name: str) -> HTMLResponse:
    try:
        registry = _registry(request)
        model = registry.get_registered_model(name)
        versions = _versions(registry, name)
    except MltrailError as exc:
        return error_page(request, exc, "Model not found")
    return render(
        request, "model.html", title=model.name, section="models", model=model,
        versions=versions, aliases=sorted(model.aliases.items()),
        tags=sorted(model.tags.items()), when=when,
    )


def _mlmodel(request: Request, registry: RegistryStore, version: ModelVersion) -> dict[str, Any]:
    """The version's MLmodel summary, or ``{"error": ...}`` saying why there is none."""
    config: ServerConfig = request.app.state.config
    try:
        uri = registry.get_model_version_download_uri(version.name, version.version)
        data = repository_for(uri, config).read_bytes("MLmodel")
        return mlmodel_summary(data)
    except MltrailError as exc:
        return {"error": f"No MLmodel file could be read: {exc.message}"}
    except yaml.YAMLError:
        return {"error": "The MLmodel file is not valid YAML."}


@router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
def version_page(request: Request, name: str, version: str) -> HTMLResponse:
    try:
        if not version.isdigit():
            raise InvalidArgument(f"Invalid version {version!r}: a version is a number")
        registry = _registry(request)
        found = registry.get_model_version(name, int(version))
    except MltrailError as exc:
        return error_page(request, exc, "Model version not found")
    return render(
        request, "model_version.html", title=f"{name} v{found.version}", section="models",
        model_version=found, tags=sorted(found.tags.items()),
        summary=_mlmodel(request, registry, found),
        created=when(found.creation_timestamp), updated=when(found.last_updated_timestamp),
    )
