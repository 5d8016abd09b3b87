"""Artifact repositories as the server sees them: ``mlflow-artifacts:/x`` is served from
``--artifacts-destination``/x; every other URI opens its own repository."""

from __future__ import annotations

from pathlib import Path
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


def check_artifact_location(location: str, config: ServerConfig) -> str:
    """An experiment location a client may ask for: an object store, the proxy, or a folder
    inside the server's own artifact destination; never another local path, never one with
    ``..``, a fragment or a query (how MLflow's CVE-2023-1177 and its bypasses read files)."""
    parsed = urlparse(location)
    if parsed.fragment or parsed.query or "#" in location or "\x00" in location:
        raise InvalidArgument(f"Invalid artifact_location {location!r}: no '#' or '?' parts")
    if any(part == ".." for part in parsed.path.replace("\\", "/").split("/")):
        raise InvalidArgument(f"Invalid artifact_location {location!r}: '..' segments are not allowed")
    scheme = parsed.scheme.lower()
    if scheme == "mlflow-artifacts":
        return location
    if scheme in ("", "file") or len(scheme) == 1:  # a plain path, file://, or C:\\ on Windows
        destination = destination_uri(config)
        if destination.startswith("file://"):
            root = Path(urlparse(destination).path).resolve()
            target = Path(parsed.path if scheme == "file" else location).resolve()
            if target == root or root in target.parents:
                return target.as_uri()
        raise InvalidArgument(
            f"Invalid artifact_location {location!r}: this server keeps local artifacts only "
            "under its --artifacts-destination; use an object store URI or leave it unset"
        )
    if scheme in ("http", "https"):
        raise InvalidArgument(f"Invalid artifact_location {location!r}: use mlflow-artifacts:/")
    return location
