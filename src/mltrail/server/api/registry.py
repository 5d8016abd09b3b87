"""``/registered-models/*`` and ``/model-versions/*``: MLflow's model registry service.

Paths, methods and shapes are the proto's: reads and searches are GET with a query string
(repeated keys for ``order_by`` and ``stages``), creation and stage changes POST, updates
PATCH, and deletions DELETE with a JSON body. One model is ``{"registered_model": {...}}``,
one version ``{"model_version": {...}}``, a search adds ``next_page_token``; tag, alias and
delete calls answer ``{}``. Both searches also take POST with a JSON body, as the tracking
searches do. Versions are accepted as strings (the wire's type) or numbers.

Every check (names, aliases, versions, stages, tags, a version's ``source``, page sizes and
tokens) is the store's; a handler parses, calls the store, and answers. After a write has
been stored, the handler publishes its event (``mltrail.server.events``) for webhooks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BeforeValidator

from mltrail.entities import PagedList
from mltrail.entities.registry import (
    SEARCH_MODEL_VERSIONS_DEFAULT,
    SEARCH_REGISTERED_MODELS_DEFAULT,
    ModelVersion,
    RegisteredModel,
    validate_version,
)
from mltrail.errors import InvalidArgument
from mltrail.server.deps import Registry
from mltrail.server.events import publish
from mltrail.server.responses import FastJSONResponse, empty
from mltrail.server.routing import MlflowRoute
from mltrail.server.schemas import KeyValue, Message

router = APIRouter(route_class=MlflowRoute, tags=["model-registry"])


def _version_text(value: Any) -> Any:
    # MLflow's wire type is a string; a plain number is taken too (never a boolean).
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


VersionText = Annotated[str, BeforeValidator(_version_text)]


# Request messages


class CreateRegisteredModel(Message):
    name: str
    tags: list[KeyValue] = []
    description: str | None = None
    deployment_job_id: str | None = None


class RenameRegisteredModel(Message):
    name: str
    new_name: str | None = None


class UpdateRegisteredModel(Message):
    name: str
    description: str | None = None
    deployment_job_id: str | None = None


class RegisteredModelName(Message):
    name: str


class SearchRegistry(Message):
    filter: str | None = None
    max_results: int | None = None
    order_by: list[str] = []
    page_token: str | None = None


class GetLatestVersions(Message):
    name: str
    stages: list[str] = []


class SetRegisteredModelTag(Message):
    name: str
    key: str
    value: str | None = None


class DeleteRegisteredModelTag(Message):
    name: str
    key: str


class SetAlias(Message):
    name: str
    alias: str
    version: VersionText


class DeleteAlias(Message):
    name: str
    alias: str


class CreateModelVersion(Message):
    name: str
    source: str
    run_id: str | None = None
    tags: list[KeyValue] = []
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None


class UpdateModelVersion(Message):
    name: str
    version: VersionText
    description: str | None = None


class TransitionStage(Message):
    name: str
    version: VersionText
    stage: str
    archive_existing_versions: bool = False


class ModelVersionKey(Message):
    name: str
    version: VersionText


class SetModelVersionTag(Message):
    name: str
    version: VersionText
    key: str
    value: str | None = None


class DeleteModelVersionTag(Message):
    name: str
    version: VersionText
    key: str


# Answers


def _model(model: RegisteredModel) -> FastJSONResponse:
    return FastJSONResponse({"registered_model": model.to_dict()})


def _version(version: ModelVersion) -> FastJSONResponse:
    return FastJSONResponse({"model_version": version.to_dict()})


def _page(field: str, page: PagedList[Any]) -> FastJSONResponse:
    out: dict[str, Any] = {field: [item.to_dict() for item in page]}
    if page.token:
        out["next_page_token"] = page.token
    return FastJSONResponse(out)


def _tags(items: list[KeyValue]) -> dict[str, str]:
    return {t.key: t.value or "" for t in items}


def _number(version: str) -> str:
    """A version the store accepted, as events carry it: ``"3"``, never ``" 3"``."""
    return str(validate_version(version))


def _required(value: str | None, field: str) -> str:
    if not value:
        raise InvalidArgument(
            f"Missing value for required parameter '{field}'. "
            "See the API docs for more information about request parameters."
        )
    return value


# Registered models


@router.post("/registered-models/create")
def create_registered_model(
    body: CreateRegisteredModel, registry: Registry, request: Request
) -> FastJSONResponse:
    model = registry.create_registered_model(
        body.name, tags=_tags(body.tags), description=body.description
    )
    publish(
        request,
        "REGISTERED_MODEL",
        "CREATED",
        {"name": model.name, "tags": dict(model.tags), "description": model.description},
    )
    return _model(model)


@router.post("/registered-models/rename")
def rename_registered_model(body: RenameRegisteredModel, registry: Registry) -> FastJSONResponse:
    new_name = _required(body.new_name, "new_name")
    return _model(registry.rename_registered_model(body.name, new_name))


@router.patch("/registered-models/update")
def update_registered_model(body: UpdateRegisteredModel, registry: Registry) -> FastJSONResponse:
    return _model(registry.update_registered_model(body.name, body.description))


@router.delete("/registered-models/delete")
def delete_registered_model(body: RegisteredModelName, registry: Registry) -> FastJSONResponse:
    registry.delete_registered_model(body.name)
    return empty()


@router.get("/registered-models/get")
def get_registered_model(registry: Registry, name: str = Query()) -> FastJSONResponse:
    return _model(registry.get_registered_model(name))


def _search_query(
    filter: str | None = Query(None),
    max_results: int | None = Query(None),
    order_by: list[str] = Query([]),
    page_token: str | None = Query(None),
) -> SearchRegistry:
    """A search's query string, as the message a POST of the same search carries."""
    return SearchRegistry(
        filter=filter, max_results=max_results, order_by=order_by, page_token=page_token
    )


SearchQuery = Annotated[SearchRegistry, Depends(_search_query)]


def _search_models(registry: Registry, body: SearchRegistry) -> FastJSONResponse:
    page = registry.search_registered_models(
        filter_string=body.filter or None,
        max_results=(
            SEARCH_REGISTERED_MODELS_DEFAULT if body.max_results is None else body.max_results
        ),
        order_by=body.order_by or None,
        page_token=body.page_token or None,
    )
    return _page("registered_models", page)


@router.get("/registered-models/search")
def search_registered_models(registry: Registry, body: SearchQuery) -> FastJSONResponse:
    return _search_models(registry, body)


@router.post("/registered-models/search")
def search_registered_models_post(body: SearchRegistry, registry: Registry) -> FastJSONResponse:
    return _search_models(registry, body)


def _latest(registry: Registry, body: GetLatestVersions) -> FastJSONResponse:
    versions = registry.get_latest_versions(body.name, body.stages or None)
    return FastJSONResponse({"model_versions": [v.to_dict() for v in versions]})


@router.post("/registered-models/get-latest-versions")
def get_latest_versions(body: GetLatestVersions, registry: Registry) -> FastJSONResponse:
    return _latest(registry, body)


@router.get("/registered-models/get-latest-versions")
def get_latest_versions_get(
    registry: Registry, name: str = Query(), stages: list[str] = Query([])
) -> FastJSONResponse:
    return _latest(registry, GetLatestVersions(name=name, stages=stages))


@router.post("/registered-models/set-tag")
def set_registered_model_tag(body: SetRegisteredModelTag, registry: Registry) -> FastJSONResponse:
    registry.set_registered_model_tag(body.name, body.key, body.value or "")
    return empty()


@router.delete("/registered-models/delete-tag")
def delete_registered_model_tag(
    body: DeleteRegisteredModelTag, registry: Registry
) -> FastJSONResponse:
    registry.delete_registered_model_tag(body.name, body.key)
    return empty()


# Aliases


@router.post("/registered-models/alias")
def set_registered_model_alias(
    body: SetAlias, registry: Registry, request: Request
) -> FastJSONResponse:
    registry.set_registered_model_alias(body.name, body.alias, body.version)
    publish(
        request,
        "MODEL_VERSION_ALIAS",
        "CREATED",
        {"name": body.name, "alias": body.alias, "version": _number(body.version)},
    )
    return empty()


@router.delete("/registered-models/alias")
def delete_registered_model_alias(
    body: DeleteAlias, registry: Registry, request: Request
) -> FastJSONResponse:
    registry.delete_registered_model_alias(body.name, body.alias)
    publish(request, "MODEL_VERSION_ALIAS", "DELETED", {"name": body.name, "alias": body.alias})
    return empty()


@router.get("/registered-models/alias")
def get_model_version_by_alias(
    registry: Registry, name: str = Query(), alias: str = Query()
) -> FastJSONResponse:
    return _version(registry.get_model_version_by_alias(name, alias))


# Model versions


@router.post("/model-versions/create")
def create_model_version(
    body: CreateModelVersion, registry: Registry, request: Request
) -> FastJSONResponse:
    version = registry.create_model_version(
        body.name,
        body.source,
        run_id=body.run_id or None,
        tags=_tags(body.tags),
        run_link=body.run_link or None,
        description=body.description,
        model_id=body.model_id or None,
    )
    publish(
        request,
        "MODEL_VERSION",
        "CREATED",
        {
            "name": version.name,
            "version": str(version.version),
            "source": version.source,
            "run_id": version.run_id,
            "tags": dict(version.tags),
            "description": version.description,
        },
    )
    return _version(version)


@router.patch("/model-versions/update")
def update_model_version(body: UpdateModelVersion, registry: Registry) -> FastJSONResponse:
    return _version(registry.update_model_version(body.name, body.version, body.description))


@router.post("/model-versions/transition-stage")
def transition_model_version_stage(
    body: TransitionStage, registry: Registry, request: Request
) -> FastJSONResponse:
    version = registry.transition_model_version_stage(
        body.name, body.version, body.stage, body.archive_existing_versions
    )
    publish(
        request,
        "MODEL_VERSION",
        "STAGE_TRANSITIONED",
        {
            "name": version.name,
            "version": str(version.version),
            "stage": version.current_stage.value,
            "archive_existing_versions": body.archive_existing_versions,
        },
    )
    return _version(version)


@router.delete("/model-versions/delete")
def delete_model_version(body: ModelVersionKey, registry: Registry) -> FastJSONResponse:
    registry.delete_model_version(body.name, body.version)
    return empty()


@router.get("/model-versions/get")
def get_model_version(
    registry: Registry, name: str = Query(), version: str = Query()
) -> FastJSONResponse:
    return _version(registry.get_model_version(name, version))


def _search_versions(registry: Registry, body: SearchRegistry) -> FastJSONResponse:
    page = registry.search_model_versions(
        filter_string=body.filter or None,
        max_results=SEARCH_MODEL_VERSIONS_DEFAULT if body.max_results is None else body.max_results,
        order_by=body.order_by or None,
        page_token=body.page_token or None,
    )
    return _page("model_versions", page)


@router.get("/model-versions/search")
def search_model_versions(registry: Registry, body: SearchQuery) -> FastJSONResponse:
    return _search_versions(registry, body)


@router.post("/model-versions/search")
def search_model_versions_post(body: SearchRegistry, registry: Registry) -> FastJSONResponse:
    return _search_versions(registry, body)


@router.get("/model-versions/get-download-uri")
def get_model_version_download_uri(
    registry: Registry, name: str = Query(), version: str = Query()
) -> FastJSONResponse:
    return FastJSONResponse(
        {"artifact_uri": registry.get_model_version_download_uri(name, version)}
    )


@router.post("/model-versions/set-tag")
def set_model_version_tag(
    body: SetModelVersionTag, registry: Registry, request: Request
) -> FastJSONResponse:
    value = body.value or ""
    registry.set_model_version_tag(body.name, body.version, body.key, value)
    publish(
        request,
        "MODEL_VERSION_TAG",
        "SET",
        {
            "name": body.name,
            "version": _number(body.version),
            "key": body.key,
            "value": value,
        },
    )
    return empty()


@router.delete("/model-versions/delete-tag")
def delete_model_version_tag(
    body: DeleteModelVersionTag, registry: Registry, request: Request
) -> FastJSONResponse:
    registry.delete_model_version_tag(body.name, body.version, body.key)
    publish(
        request,
        "MODEL_VERSION_TAG",
        "DELETED",
        {"name": body.name, "version": _number(body.version), "key": body.key},
    )
    return empty()
