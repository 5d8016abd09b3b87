"""The model registry's pages: what a user reads and changes in the registry.

    /models                          registered models, searched by name (``name ILIKE``), with
                                     their aliases, latest version, tag count and description;
                                     the search box swaps in the table alone and "Load more"
                                     appends the next page of 100 (htmx)
    /models/<name>                   a model: description and tags (edited in place), aliases
                                     (set, moved, deleted), its versions with their tags and
                                     descriptions; rename and delete
    /models/<name>/versions/<v>      a version: source, run, model id, description and tags
                                     (edited in place), stage transition, aliases, the command
                                     that serves it, its MLmodel (flavors, signature); delete

Pages only read; every change goes from the page's script to MLflow's JSON API
(``/ajax-api/2.0/mlflow/registered-models/...`` and ``model-versions/...``), as MLflow's own UI
does, so the server's checks and messages are the API's. The version's MLmodel is read from
where its files are (``get_model_version_download_uri``) through the server's artifact
repositories, the same way the artifact routes reach them.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml
from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from mltrail.entities.registry import ModelVersion, RegisteredModel, Stage
from mltrail.errors import InvalidArgument, MltrailError, NotImplementedByServer
from mltrail.server.artifact_repos import repository_for
from mltrail.server.config import ServerConfig
from mltrail.server.ui.pages import render
from mltrail.server.ui.run_page import error_page, mlmodel_summary, quoted, when
from mltrail.storage.registry import RegistryStore

router = APIRouter()

PAGE_SIZE = 100
MAX_VERSIONS = 1000
# Tags as badges in tables: longer texts are cut, the whole one is the badge's title.
BADGE_CHARS = 40
STAGES = [stage.value for stage in Stage]


def _registry(request: Request) -> RegistryStore:
    registry: RegistryStore | None = getattr(request.app.state, "registry", None)
    if registry is None:
        raise NotImplementedByServer("This server's backend store has no model registry")
    return registry


def name_filter(text: str) -> str | None:
    """A search for models whose name contains ``text`` (any case)."""
    text = text.strip()
    return f"name ILIKE {quoted('%' + text + '%')}" if text else None


def clip(text: str, size: int = BADGE_CHARS) -> str:
    """``text`` cut to ``size`` characters, an ellipsis saying it was."""
    return text if len(text) <= size else text[: size - 1] + "…"


def tag_badges(tags: dict[str, str]) -> list[tuple[str, str]]:
    """A table's tag badges: (shown, whole) ``key=value`` texts, sorted by key."""
    return [(clip(f"{key}={value}"), f"{key}={value}") for key, value in sorted(tags.items())]


def _model_row(model: RegisteredModel) -> dict[str, Any]:
    latest = max((v.version for v in model.latest_versions), default=None)
    return {
        "name": model.name,
        "latest": latest,
        "aliases": sorted(model.aliases.items()),
        "tag_count": len(model.tags),
        "updated": when(model.last_updated_timestamp),
        "description": model.description or "",
    }


@router.get("/models", response_class=HTMLResponse)
def models_page(
    request: Request, q: str = Query(""), page_token: str = Query(""), loaded: int = Query(0)
) -> HTMLResponse:
    """The page; or its table alone when the search box asks (htmx, ``HX-Target``), or only the
    next page's rows when "Load more" asks (``page_token``)."""
    target = request.headers.get("HX-Target")
    append = bool(page_token) and target == "models-body"
    template = "_models_table.html" if target in ("models-table", "models-body") else "models.html"
    values: dict[str, Any] = {"section": "models", "q": q, "append": append}
    try:
        found = _registry(request).search_registered_models(
            name_filter(q), PAGE_SIZE, ["last_updated_timestamp DESC"], page_token or None
        )
    except MltrailError as exc:
        return render(request, template, title="Models", rows=[], token=None, loaded=0,
                      error=exc.message,
                      status_code=exc.http_status if exc.http_status < 500 else 500, **values)
    rows = [_model_row(model) for model in found]
    return render(request, template, title="Models", rows=rows, token=found.token,
                  loaded=(max(loaded, 0) if append else 0) + len(rows), error="", **values)


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
        tags=sorted(model.tags.items()), when=when, tag_badges=tag_badges,
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


def serve_command(name: str, version: int) -> str:
    """The shell command serving this version (the URI quoted only where a shell needs it)."""
    return f"mltrail models serve -m {shlex.quote(f'models:/{name}/{version}')}"


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
        model_version=found, tags=sorted(found.tags.items()), stages=STAGES,
        aliases=[(alias, found.version) for alias in sorted(found.aliases)],
        summary=_mlmodel(request, registry, found),
        created=when(found.creation_timestamp), updated=when(found.last_updated_timestamp),
        serve=serve_command(found.name, found.version),
    )
