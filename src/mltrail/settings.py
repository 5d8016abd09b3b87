"""The one reader of the environment.

Every knob is an ``MLTRAIL_*`` variable that falls back to the ``MLFLOW_*`` one users already
set. ``Settings.from_env()`` reads them once into a frozen object; everything else takes the
settings as an argument. The library never writes to ``os.environ``.

| field                  | variable (fallback)                                         | default               |
|------------------------|-------------------------------------------------------------|-----------------------|
| tracking_uri           | MLTRAIL_TRACKING_URI (MLFLOW_TRACKING_URI)                   | sqlite:///mltrail.db  |
| registry_uri           | MLTRAIL_REGISTRY_URI (MLFLOW_REGISTRY_URI)                   | the tracking URI      |
| artifact_root          | MLTRAIL_ARTIFACT_ROOT (MLFLOW_DEFAULT_ARTIFACT_ROOT)         | ./mlartifacts         |
| run_id                 | MLTRAIL_RUN_ID (MLFLOW_RUN_ID)                               |                       |
| experiment_name        | MLTRAIL_EXPERIMENT_NAME (MLFLOW_EXPERIMENT_NAME)             |                       |
| experiment_id          | MLTRAIL_EXPERIMENT_ID (MLFLOW_EXPERIMENT_ID)                 |                       |
| async_logging          | MLTRAIL_ASYNC_LOGGING                                        | true                  |
| truncate_long_values   | MLTRAIL_TRUNCATE_LONG_VALUES (MLFLOW_TRUNCATE_LONG_VALUES)   | false                 |
| user                   | MLTRAIL_USER (MLFLOW_USER, then LOGNAME / USER)              | the login name        |
| s3_endpoint_url        | MLTRAIL_S3_ENDPOINT_URL (MLFLOW_S3_ENDPOINT_URL)             |                       |
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

DEFAULT_TRACKING_URI = "sqlite:///mltrail.db"
DEFAULT_ARTIFACT_ROOT = "./mlartifacts"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _read(environ: Mapping[str, str], name: str, *fallbacks: str) -> str | None:
    for key in (f"MLTRAIL_{name}", *fallbacks):
        value = environ.get(key)
        if value is not None and value != "":
            return value
    return None


def _flag(environ: Mapping[str, str], name: str, default: bool, *fallbacks: str) -> bool:
    raw = _read(environ, name, *fallbacks)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    # Imported here so that settings stays the bottom layer with errors beside it.
    from mltrail.errors import InvalidArgument

    raise InvalidArgument(f"MLTRAIL_{name} must be true or false, got {raw!r}")


@dataclasses.dataclass(frozen=True)
class Settings:
    tracking_uri: str | None = None
    registry_uri: str | None = None
    artifact_root: str | None = None
    run_id: str | None = None
    experiment_name: str | None = None
    experiment_id: str | None = None
    async_logging: bool = True
    truncate_long_values: bool = False
    user: str | None = None
    s3_endpoint_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            tracking_uri=_read(env, "TRACKING_URI", "MLFLOW_TRACKING_URI"),
            registry_uri=_read(env, "REGISTRY_URI", "MLFLOW_REGISTRY_URI"),
            artifact_root=_read(env, "ARTIFACT_ROOT", "MLFLOW_DEFAULT_ARTIFACT_ROOT"),
            run_id=_read(env, "RUN_ID", "MLFLOW_RUN_ID"),
            experiment_name=_read(env, "EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"),
            experiment_id=_read(env, "EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID"),
            async_logging=_flag(env, "ASYNC_LOGGING", True),
            truncate_long_values=_flag(
                env, "TRUNCATE_LONG_VALUES", False, "MLFLOW_TRUNCATE_LONG_VALUES"
            ),
            user=_read(env, "USER", "MLFLOW_USER", "LOGNAME", "USER", "USERNAME"),
            s3_endpoint_url=_read(env, "S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"),
        )

    @property
    def effective_tracking_uri(self) -> str:
        return self.tracking_uri or DEFAULT_TRACKING_URI
