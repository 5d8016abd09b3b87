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
| tracking_username      | MLTRAIL_TRACKING_USERNAME (MLFLOW_ twin)                     | (HTTP Basic auth)     |
| tracking_password      | MLTRAIL_TRACKING_PASSWORD (MLFLOW_ twin)                     |                       |
| tracking_token         | MLTRAIL_TRACKING_TOKEN (MLFLOW_ twin)                        | (Bearer auth)         |
| insecure_tls           | MLTRAIL_TRACKING_INSECURE_TLS (MLFLOW_ twin)                 | false                 |
| server_cert_path       | MLTRAIL_TRACKING_SERVER_CERT_PATH (MLFLOW_ twin)             | the system CAs        |
| client_cert_path       | MLTRAIL_TRACKING_CLIENT_CERT_PATH (MLFLOW_ twin)             |                       |
| http_max_retries       | MLTRAIL_HTTP_REQUEST_MAX_RETRIES (MLFLOW_ twin)              | 5                     |
| http_backoff_factor    | MLTRAIL_HTTP_REQUEST_BACKOFF_FACTOR (MLFLOW_ twin)           | 0.5 (seconds)         |
| http_timeout           | MLTRAIL_HTTP_REQUEST_TIMEOUT (MLFLOW_ twin)                  | 120 (seconds)         |
| webhooks_allow_private | MLTRAIL_WEBHOOKS_ALLOW_PRIVATE (MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS) | false            |

"(MLFLOW_ twin)" is the same name with the ``MLFLOW_`` prefix, read when the ``MLTRAIL_`` one
is unset. The credential, TLS and ``http_*`` fields configure the client of an ``http(s)://``
tracking server and of its proxied ``mlflow-artifacts:`` service. Credentials are left out of
the settings' ``repr``.
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


def _number(
    environ: Mapping[str, str], name: str, default: float, *fallbacks: str, integer: bool = False
) -> float:
    """A number >= 0 from the environment (an integer when ``integer``)."""
    raw = _read(environ, name, *fallbacks)
    if raw is None:
        return default
    try:
        value = int(raw.strip()) if integer else float(raw.strip())
    except ValueError:
        value = -1
    if not value >= 0 or value == float("inf"):
        from mltrail.errors import InvalidArgument

        kind = "a whole number" if integer else "a number of seconds"
        raise InvalidArgument(f"MLTRAIL_{name} must be {kind} >= 0, got {raw!r}")
    return value


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
    tracking_username: str | None = None
    tracking_password: str | None = dataclasses.field(default=None, repr=False)
    tracking_token: str | None = dataclasses.field(default=None, repr=False)
    insecure_tls: bool = False
    server_cert_path: str | None = None
    client_cert_path: str | None = None
    http_max_retries: int = 5
    http_backoff_factor: float = 0.5
    http_timeout: float = 120.0
    webhooks_allow_private: bool = False

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
            tracking_username=_read(env, "TRACKING_USERNAME", "MLFLOW_TRACKING_USERNAME"),
            tracking_password=_read(env, "TRACKING_PASSWORD", "MLFLOW_TRACKING_PASSWORD"),
            tracking_token=_read(env, "TRACKING_TOKEN", "MLFLOW_TRACKING_TOKEN"),
            insecure_tls=_flag(
                env, "TRACKING_INSECURE_TLS", False, "MLFLOW_TRACKING_INSECURE_TLS"
            ),
            server_cert_path=_read(
                env, "TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_SERVER_CERT_PATH"
            ),
            client_cert_path=_read(
                env, "TRACKING_CLIENT_CERT_PATH", "MLFLOW_TRACKING_CLIENT_CERT_PATH"
            ),
            http_max_retries=int(
                _number(
                    env,
                    "HTTP_REQUEST_MAX_RETRIES",
                    5,
                    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                    integer=True,
                )
            ),
            http_backoff_factor=_number(
                env, "HTTP_REQUEST_BACKOFF_FACTOR", 0.5, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"
            ),
            http_timeout=_number(
                env, "HTTP_REQUEST_TIMEOUT", 120.0, "MLFLOW_HTTP_REQUEST_TIMEOUT"
            ),
            webhooks_allow_private=_flag(
                env, "WEBHOOKS_ALLOW_PRIVATE", False, "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"
            ),
        )

    @property
    def effective_tracking_uri(self) -> str:
        return self.tracking_uri or DEFAULT_TRACKING_URI
