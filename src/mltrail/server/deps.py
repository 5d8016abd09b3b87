"""What handlers get from the app: its store, its model registry and its configuration."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mltrail.errors import NotImplementedByServer
from mltrail.server.config import ServerConfig
from mltrail.storage.registry import RegistryStore
from mltrail.storage.tracking import TrackingStore


def _store(request: Request) -> TrackingStore:
    store: TrackingStore = request.app.state.store
    return store


def _registry(request: Request) -> RegistryStore:
    registry: RegistryStore | None = getattr(request.app.state, "registry", None)
    if registry is None:
        raise NotImplementedByServer("This server's backend store has no model registry")
    return registry


def _config(request: Request) -> ServerConfig:
    config: ServerConfig = request.app.state.config
    return config


Store = Annotated[TrackingStore, Depends(_store)]
Registry = Annotated[RegistryStore, Depends(_registry)]
Config = Annotated[ServerConfig, Depends(_config)]
