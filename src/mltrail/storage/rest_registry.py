"""``RestRegistryStore``: the model registry of a server that speaks MLflow's REST API.

A ``RestStore`` hands it out (``registry_store()``) sharing its ``HttpSession``, so the
registry talks to the tracking server with the same credentials, retries and error
translation. Each method is one request to ``/api/2.0/mlflow/registered-models/...`` or
``/model-versions/...`` with the method MLflow's service declares: GET with a query string
for reads and searches, POST for creation, PATCH for updates, and DELETE with a JSON body for
deletions. Unset fields are left out, so the server applies its defaults; versions travel as
strings, as MLflow's client sends them.

Values are checked with the registry validators before a write is sent, so a bad name or
alias fails the same way against an mltrail server, an MLflow one, or the SQL store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mltrail.entities import PagedList
from mltrail.entities.registry import (
    SEARCH_MODEL_VERSIONS_DEFAULT,
    SEARCH_REGISTERED_MODELS_DEFAULT,
    ModelVersion,
    RegisteredModel,
    Stage,
    validate_alias,
    validate_description,
    validate_registered_model_name,
    validate_registry_tag,
    validate_version,
)
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.storage.http_session import HttpSession, ParamValue
from mltrail.storage.registry import RegistryStore, Version

__all__ = ["RestRegistryStore"]

API_PREFIX = "/api/2.0/mlflow"


def _clean(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _list(payload: Mapping[str, Any], field: str) -> list[Any]:
    value = payload.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MltrailError(f"Invalid server response: {field!r} is not a JSON array")
    return value


def _object(payload: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = payload.get(field)
    if not isinstance(value, dict):
        raise MltrailError(f"Invalid server response: no {field!r} object")
    return value


def _token(payload: Mapping[str, Any]) -> str | None:
    token = payload.get("next_page_token")
    return token if isinstance(token, str) and token else None


def _tags(tags: Mapping[str, str] | None) -> list[dict[str, str]] | None:
    if not tags:
        return None
    checked = (validate_registry_tag(k, v) for k, v in tags.items())
    return [{"key": k, "value": v} for k, v in checked]


def _name(name: str) -> str:
    """A name to look up: only non-empty, so models registered under older, looser rules
    stay reachable; the strict rules apply to names being written."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("Registered model name must not be empty")
    return name


class RestRegistryStore(RegistryStore):
    """The registry behind ``http`` (the ``HttpSession`` of the tracking store)."""

    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def __repr__(self) -> str:
        return f"RestRegistryStore({self._http.display_base!r})"

    def _get(self, endpoint: str, params: Mapping[str, ParamValue]) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        return self._http.call("GET", f"{API_PREFIX}/{endpoint}", params=query)

    def _send(self, method: str, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._http.call(method, f"{API_PREFIX}/{endpoint}", body=_clean(body))

    # Registered models

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> RegisteredModel:
        # user_id is not on the wire: the server records who asked.
        payload = self._send(
            "POST",
            "registered-models/create",
            {
                "name": validate_registered_model_name(name),
                "tags": _tags(tags),
                "description": validate_description(description),
            },
        )
        return RegisteredModel.from_dict(_object(payload, "registered_model"))

    def get_registered_model(self, name: str) -> RegisteredModel:
        payload = self._get("registered-models/get", {"name": _name(name)})
        return RegisteredModel.from_dict(_object(payload, "registered_model"))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        payload = self._send(
            "POST",
            "registered-models/rename",
            {"name": _name(name), "new_name": validate_registered_model_name(new_name, "new_name")},
        )
        return RegisteredModel.from_dict(_object(payload, "registered_model"))

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        payload = self._send(
            "PATCH",
            "registered-models/update",
            {"name": _name(name), "description": validate_description(description)},
        )
        return RegisteredModel.from_dict(_object(payload, "registered_model"))

    def delete_registered_model(self, name: str) -> None:
        self._send("DELETE", "registered-models/delete", {"name": _name(name)})

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        payload = self._get(
            "registered-models/search",
            {
                "filter": filter_string or None,
                "max_results": max_results,
                "order_by": list(order_by) if order_by else None,
                "page_token": page_token or None,
            },
        )
        found = [RegisteredModel.from_dict(m) for m in _list(payload, "registered_models")]
        return PagedList(found, _token(payload))

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        payload = self._send(
            "POST",
            "registered-models/get-latest-versions",
            {
                "name": _name(name),
                "stages": [Stage.coerce(s).value for s in stages] if stages else None,
            },
        )
        return [ModelVersion.from_dict(v) for v in _list(payload, "model_versions")]

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        key, value = validate_registry_tag(key, value)
        self._send(
            "POST",
            "registered-models/set-tag",
            {"name": _name(name), "key": key, "value": value},
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._send("DELETE", "registered-models/delete-tag", {"name": _name(name), "key": key})

    # Aliases

    def set_registered_model_alias(self, name: str, alias: str, version: Version) -> None:
        self._send(
            "POST",
            "registered-models/alias",
            {
                "name": _name(name),
                "alias": validate_alias(alias),
                "version": str(validate_version(version)),
            },
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._send(
            "DELETE",
            "registered-models/alias",
            {"name": _name(name), "alias": validate_alias(alias)},
        )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        try:
            payload = self._get(
                "registered-models/alias", {"name": _name(name), "alias": validate_alias(alias)}
            )
        except InvalidArgument as exc:
            # MLflow's server answers an unknown alias with INVALID_PARAMETER_VALUE
            # ("Registered model alias champion not found."); the contract says NotFound.
            if "not found" in exc.message.lower():
                raise NotFound(exc.message) from exc
            raise
        return ModelVersion.from_dict(_object(payload, "model_version"))

    # Model versions

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        # The source is checked by the server, which knows its runs' artifact roots.
        payload = self._send(
            "POST",
            "model-versions/create",
            {
                "name": _name(name),
                "source": source,
                "run_id": run_id or None,
                "tags": _tags(tags),
                "run_link": run_link or None,
                "description": validate_description(description),
                "model_id": model_id or None,
            },
        )
        return ModelVersion.from_dict(_object(payload, "model_version"))

    def get_model_version(self, name: str, version: Version) -> ModelVersion:
        payload = self._get(
            "model-versions/get",
            {"name": _name(name), "version": str(validate_version(version))},
        )
        return ModelVersion.from_dict(_object(payload, "model_version"))

    def update_model_version(
        self, name: str, version: Version, description: str | None
    ) -> ModelVersion:
        payload = self._send(
            "PATCH",
            "model-versions/update",
            {
                "name": _name(name),
                "version": str(validate_version(version)),
                "description": validate_description(description),
            },
        )
        return ModelVersion.from_dict(_object(payload, "model_version"))

    def transition_model_version_stage(
        self,
        name: str,
        version: Version,
        stage: Stage | str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        payload = self._send(
            "POST",
            "model-versions/transition-stage",
            {
                "name": _name(name),
                "version": str(validate_version(version)),
                "stage": Stage.coerce(stage).value,
                "archive_existing_versions": bool(archive_existing_versions),
            },
        )
        return ModelVersion.from_dict(_object(payload, "model_version"))

    def delete_model_version(self, name: str, version: Version) -> None:
        self._send(
            "DELETE",
            "model-versions/delete",
            {"name": _name(name), "version": str(validate_version(version))},
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        payload = self._get(
            "model-versions/search",
            {
                "filter": filter_string or None,
                "max_results": max_results,
                "order_by": list(order_by) if order_by else None,
                "page_token": page_token or None,
            },
        )
        found = [ModelVersion.from_dict(v) for v in _list(payload, "model_versions")]
        return PagedList(found, _token(payload))

    def get_model_version_download_uri(self, name: str, version: Version) -> str:
        payload = self._get(
            "model-versions/get-download-uri",
            {"name": _name(name), "version": str(validate_version(version))},
        )
        uri = payload.get("artifact_uri")
        if not isinstance(uri, str) or not uri:
            raise MltrailError("Invalid server response: no 'artifact_uri'")
        return uri

    def set_model_version_tag(self, name: str, version: Version, key: str, value: str) -> None:
        key, value = validate_registry_tag(key, value)
        self._send(
            "POST",
            "model-versions/set-tag",
            {
                "name": _name(name),
                "version": str(validate_version(version)),
                "key": key,
                "value": value,
            },
        )

    def delete_model_version_tag(self, name: str, version: Version, key: str) -> None:
        self._send(
            "DELETE",
            "model-versions/delete-tag",
            {"name": _name(name), "version": str(validate_version(version)), "key": key},
        )
