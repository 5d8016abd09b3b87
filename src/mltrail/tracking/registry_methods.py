"""The model registry half of ``MltrailClient``: MLflow's ``MlflowClient`` registry methods.

The registry lives beside the runs of the registry URI (the tracking URI unless one is
given): a database's registry store, or a server's ``registered-models`` and
``model-versions`` endpoints. Versions come back as ``int``; every method also takes them
as strings, as MLflow's client does.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from mltrail.entities import PagedList
from mltrail.entities.registry import (
    SEARCH_MODEL_VERSIONS_DEFAULT,
    SEARCH_REGISTERED_MODELS_DEFAULT,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Stage,
    validate_registered_model_name,
)
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.settings import Settings
from mltrail.storage.registry import RegistryStore, Version
from mltrail.storage.uri import open_tracking_store

_DEPRECATED_STAGES = (
    "Model registry stages are deprecated (MLflow 2.9); aliases such as 'champion' replace "
    "them. Stages keep working."
)


def _text_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (tags or {}).items()}


class RegistryMethods:
    """Mixed into ``MltrailClient``; it needs the client's registry URI and settings."""

    _registry_uri: str
    _settings: Settings
    _registry: RegistryStore | None = None

    @property
    def registry_uri(self) -> str:
        return self._registry_uri

    @property
    def registry_store(self) -> RegistryStore:
        if self._registry is None:
            self._registry = open_tracking_store(self._registry_uri, self._settings).registry_store()
        return self._registry

    # Registered models

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        return self.registry_store.create_registered_model(
            name, _text_tags(tags), description
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry_store.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.registry_store.rename_registered_model(name, new_name)

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        return self.registry_store.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        self.registry_store.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        return self.registry_store.search_registered_models(
            filter_string, max_results, order_by, page_token
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        return self.registry_store.get_latest_versions(name, stages)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.registry_store.set_registered_model_tag(name, key, str(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.registry_store.delete_registered_model_tag(name, key)

    # Aliases

    def set_registered_model_alias(self, name: str, alias: str, version: Version) -> None:
        self.registry_store.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.registry_store.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry_store.get_model_version_by_alias(name, alias)

    # Model versions

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """A new version of ``name`` whose files are at ``source``. Waits up to
        ``await_creation_for`` seconds for a version a server registers in the background
        (``PENDING_REGISTRATION``) to become ``READY``."""
        version = self.registry_store.create_model_version(
            name,
            source,
            run_id=run_id,
            tags=_text_tags(tags),
            run_link=run_link,
            description=description,
            model_id=model_id,
        )
        return self._await_ready(version, await_creation_for)

    def _await_ready(self, version: ModelVersion, timeout: float) -> ModelVersion:
        deadline = time.monotonic() + max(0.0, timeout)
        while version.status is ModelVersionStatus.PENDING_REGISTRATION:
            if time.monotonic() >= deadline:
                return version
            time.sleep(0.5)
            version = self.get_model_version(version.name, version.version)
        if version.status is ModelVersionStatus.FAILED_REGISTRATION:
            raise MltrailError(
                f"Registering version {version.version} of {version.name!r} failed: "
                f"{version.status_message or 'no reason given'}"
            )
        return version

    def get_model_version(self, name: str, version: Version) -> ModelVersion:
        return self.registry_store.get_model_version(name, version)

    def update_model_version(
        self, name: str, version: Version, description: str | None = None
    ) -> ModelVersion:
        return self.registry_store.update_model_version(name, version, description)

    def transition_model_version_stage(
        self,
        name: str,
        version: Version,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        warnings.warn(_DEPRECATED_STAGES, FutureWarning, stacklevel=2)
        return self.registry_store.transition_model_version_stage(
            name, version, stage, archive_existing_versions
        )

    def get_model_version_stages(self, name: str, version: Version) -> list[str]:
        """The stages a version can be moved to."""
        return [stage.value for stage in Stage]

    def delete_model_version(self, name: str, version: Version) -> None:
        self.registry_store.delete_model_version(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        return self.registry_store.search_model_versions(
            filter_string, max_results, order_by, page_token
        )

    def get_model_version_download_uri(self, name: str, version: Version) -> str:
        return self.registry_store.get_model_version_download_uri(name, version)

    def set_model_version_tag(
        self,
        name: str,
        version: Version | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        number = self._version_or_stage(name, version, stage)
        if key is None:
            raise InvalidArgument("set_model_version_tag needs a key")
        self.registry_store.set_model_version_tag(name, number, key, str(value))

    def delete_model_version_tag(
        self,
        name: str,
        version: Version | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        number = self._version_or_stage(name, version, stage)
        if key is None:
            raise InvalidArgument("delete_model_version_tag needs a key")
        self.registry_store.delete_model_version_tag(name, number, key)

    def _version_or_stage(self, name: str, version: Version | None, stage: str | None) -> Version:
        """MLflow's tag methods take a version or (deprecated) a stage, whose newest version
        is meant; exactly one of them."""
        if (version is None) == (stage is None):
            raise InvalidArgument("Give either a version or a stage, not both and not neither")
        if version is not None:
            return version
        validate_registered_model_name(name)
        latest = self.get_latest_versions(name, [str(stage)])
        if not latest:
            raise InvalidArgument(f"Registered model {name!r} has no version in stage {stage!r}")
        return latest[0].version
