"""Artifact repositories as the server sees them: ``mlflow-artifacts:/x`` is served from
``--artifacts-destination``/x; every other URI opens its own repository."""

from __future__ import annotations

from urllib.parse import urlparse

from mltrail.errors import InvalidArgument
from mltrail.server.config import ServerConfig
from mltrail.storage.artifacts import ArtifactRepository, get_artifact_repository, safe_relative_path
from mltrail.storage.uri import local_uri


def destination_uri(config: ServerConfig) -> str:
    destination = config.artifacts_destination
    return destination if "://" in destination else local_uri(destination)


def repository_for(artifact_uri: str, config: ServerConfig) -> ArtifactRepository:
    if artifact_uri.startswith("mlflow-artifacts:"):
        parsed = urlparse(artifact_uri)
        relative = safe_relative_path(parsed.path.lstrip("/"), "artifact URI")
        base = destination_uri(config).rstrip("/")
        return get_artifact_repository(
            f"{base}/{relative}" if relative else base, s3_endpoint_url=config.s3_endpoint_url
        )
    if artifact_uri.startswith(("http:", "https:")):
        raise InvalidArgument(f"The server cannot open the artifact URI {artifact_uri!r}")
    return get_artifact_repository(artifact_uri, s3_endpoint_url=config.s3_endpoint_url)
