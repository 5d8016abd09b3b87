"""What handlers get from the app: its store and its configuration."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mltrail.server.config import ServerConfig
from mltrail.storage.tracking import TrackingStore


def _store(request: Request) -> TrackingStore:
    store: TrackingStore = request.app.state.store
    return store


def _config(request: Request) -> ServerConfig:
    config: ServerConfig = request.app.state.config
    return config


Store = Annotated[TrackingStore, Depends(_store)]
Config = Annotated[ServerConfig, Depends(_config)]
