"""What a server is started with: the CLI's flags, passed whole to every worker."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
PROXY_ROOT = "mlflow-artifacts:/"


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    backend_store_uri: str = "sqlite:///mltrail.db"
    default_artifact_root: str | None = None
    artifacts_destination: str = "./mlartifacts"
    serve_artifacts: bool = True
    artifacts_only: bool = False
    static_prefix: str = ""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    s3_endpoint_url: str | None = None
    # Let webhooks call hosts on private networks (off by default: CVE-2026-2393).
    webhooks_allow_private: bool = False

    @property
    def artifact_root(self) -> str:
        """Where new experiments keep files: the proxy when serving artifacts, else the
        given root, else the destination folder itself."""
        if self.default_artifact_root:
            return self.default_artifact_root
        if self.serve_artifacts:
            return PROXY_ROOT
        return self.artifacts_destination

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)
