"""The model registry store contract: every backend (SQL, REST) implements it.

A tracking store hands out its registry store (``TrackingStore.registry_store()``), so the
registry shares the tracking store's database engine or HTTP session: registry URIs are
tracking URIs.

Versions are numbers (``int``); every method also takes them as the strings the wire uses.
Names, aliases, tags and descriptions are checked with ``mltrail.entities.registry``'s
validators before anything is written; an unknown model, version or alias is ``NotFound``
naming it; a taken name is ``AlreadyExists``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from mltrail.entities import PagedList
from mltrail.entities.registry import (
    SEARCH_MODEL_VERSIONS_DEFAULT,
    SEARCH_REGISTERED_MODELS_DEFAULT,
    ModelVersion,
    RegisteredModel,
    Stage,
)

Version = int | str


class RegistryStore(abc.ABC):
    # Registered models

    @abc.abstractmethod
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> RegisteredModel: ...

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags and aliases follow it."""

    @abc.abstractmethod
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...

    @abc.abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Delete a model with its versions, tags and aliases (the files stay)."""

    @abc.abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]: ...

    @abc.abstractmethod
    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when none are given)."""

    @abc.abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    # Aliases

    @abc.abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: Version) -> None:
        """Point ``alias`` at ``version``, moving it if it pointed elsewhere."""

    @abc.abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    @abc.abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    # Model versions

    @abc.abstractmethod
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
        """The model's next version (1 for the first). ``source`` is checked: it must not
        escape its run's artifact root or name local files outside the store."""

    @abc.abstractmethod
    def get_model_version(self, name: str, version: Version) -> ModelVersion: ...

    @abc.abstractmethod
    def update_model_version(
        self, name: str, version: Version, description: str | None
    ) -> ModelVersion: ...

    @abc.abstractmethod
    def transition_model_version_stage(
        self,
        name: str,
        version: Version,
        stage: Stage | str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to ``stage``; with ``archive_existing_versions`` (allowed only
        for Staging and Production), the model's other versions in that stage move to
        Archived."""

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: Version) -> None:
        """Delete a version and the aliases that point at it."""

    @abc.abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]: ...

    @abc.abstractmethod
    def get_model_version_download_uri(self, name: str, version: Version) -> str:
        """Where the version's files are: an artifact URI (never a ``runs:/`` or
        ``models:/`` one)."""

    @abc.abstractmethod
    def set_model_version_tag(self, name: str, version: Version, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_model_version_tag(self, name: str, version: Version, key: str) -> None: ...
