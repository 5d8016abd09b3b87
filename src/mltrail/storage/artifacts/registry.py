"""Artifact URI scheme -> repository: the one resolver.

Built in: ``file:`` and plain paths (local), the fsspec schemes (``s3``, ``gs``, ...), and a
tracking server's artifact proxy (``mlflow-artifacts``, ``http``, ``https``).
Other schemes come from plugins, registered in process with ``register_artifact_repository``
or found through the ``mltrail.artifact_repository`` entry-point group, whose entry names are
schemes and whose objects are factories ``(artifact_uri) -> ArtifactRepository`` (a
repository class qualifies). Entry points are read only when a scheme is not otherwise known.

A registered factory wins over a built-in one. Configuration (the S3 endpoint; the tracking
URI and settings a proxy needs) arrives as arguments: this module never reads the environment.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from mltrail.errors import InvalidArgument, MltrailError
from mltrail.settings import Settings
from mltrail.storage.artifacts.base import ArtifactRepository
from mltrail.storage.artifacts.fsspec_repo import FSSPEC_SCHEMES, FsspecArtifactRepository
from mltrail.storage.artifacts.local import LocalArtifactRepository

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArtifactRepositoryFactory",
    "get_artifact_repository",
    "register_artifact_repository",
]

ArtifactRepositoryFactory = Callable[[str], ArtifactRepository]

ENTRY_POINT_GROUP = "mltrail.artifact_repository"

# Served by artifacts/http.py, imported on first use (it brings httpx).
_HTTP_SCHEMES = ("mlflow-artifacts", "http", "https")

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")

# The registry: factories registered in process or loaded from entry points, by scheme.
_FACTORIES: dict[str, ArtifactRepositoryFactory] = {}


def register_artifact_repository(scheme: str, factory: ArtifactRepositoryFactory) -> None:
    """Serve ``scheme://`` URIs with ``factory`` (replacing any earlier one, built-ins too)."""
    key = scheme.lower() if isinstance(scheme, str) else scheme
    if not isinstance(key, str) or not _SCHEME.match(key):
        raise InvalidArgument(
            f"Invalid URI scheme {scheme!r}: use letters, digits, '+', '-' or '.', "
            "starting with a letter"
        )
    if not callable(factory):
        raise InvalidArgument(f"Invalid factory for scheme {key!r}: it is not callable")
    _FACTORIES[key] = factory


def _scheme_of(artifact_uri: str) -> str:
    scheme = urllib.parse.urlsplit(artifact_uri).scheme.lower()
    # A one-letter "scheme" is a Windows drive (C:\...), i.e. a local path.
    return "" if len(scheme) == 1 else scheme


def _from_entry_points(scheme: str) -> ArtifactRepositoryFactory | None:
    # importlib.metadata scans installed distributions: only worth it on a miss.
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name.lower() != scheme:
            continue
        try:
            factory = entry.load()
        except Exception as exc:
            raise MltrailError(
                f"Could not load the artifact repository plugin {entry.value!r} for scheme "
                f"{scheme!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(factory):
            raise MltrailError(
                f"The artifact repository plugin {entry.value!r} for scheme {scheme!r} is "
                "not callable"
            )
        loaded: ArtifactRepositoryFactory = factory
        _FACTORIES[scheme] = loaded
        return loaded
    return None


def _supported() -> str:
    names = {"file", *FSSPEC_SCHEMES, *_HTTP_SCHEMES, *_FACTORIES}
    return ", ".join(sorted(names))


def get_artifact_repository(
    artifact_uri: str,
    *,
    s3_endpoint_url: str | None = None,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
) -> ArtifactRepository:
    """The repository for ``artifact_uri``.

    ``s3_endpoint_url`` points ``s3://`` URIs at an S3-compatible server (MinIO, moto, ...);
    it is ignored for other schemes. ``tracking_uri`` is the server that serves
    ``mlflow-artifacts:/...`` URIs, and ``settings`` bring the credentials, TLS and retry
    settings for ``mlflow-artifacts``, ``http`` and ``https`` URIs (both are ignored for
    other schemes).
    """
    if not isinstance(artifact_uri, str) or not artifact_uri:
        raise InvalidArgument(
            f"Invalid artifact URI {artifact_uri!r}: expected a non-empty string"
        )
    scheme = _scheme_of(artifact_uri)
    factory = _FACTORIES.get(scheme)
    if factory is None:
        if scheme in ("", "file"):
            return LocalArtifactRepository(artifact_uri)
        if scheme in FSSPEC_SCHEMES:
            options: dict[str, object] = {}
            if scheme == "s3" and s3_endpoint_url:
                if not s3_endpoint_url.startswith(("http://", "https://")):
                    raise InvalidArgument(
                        f"Invalid S3 endpoint URL {s3_endpoint_url!r}: it must start with "
                        "http:// or https://"
                    )
                options["client_kwargs"] = {"endpoint_url": s3_endpoint_url}
            return FsspecArtifactRepository(artifact_uri, storage_options=options)
        if scheme in _HTTP_SCHEMES:
            from mltrail.storage.artifacts.http import HttpArtifactRepository

            return HttpArtifactRepository(
                artifact_uri, tracking_uri=tracking_uri, settings=settings
            )
        factory = _from_entry_points(scheme)
    if factory is None:
        raise InvalidArgument(
            f"Invalid artifact URI: scheme {scheme!r} is not supported; supported schemes: "
            f"{_supported()} (plugins add more through the {ENTRY_POINT_GROUP!r} entry points)"
        )
    repository = factory(artifact_uri)
    if not isinstance(repository, ArtifactRepository):
        raise MltrailError(
            f"The artifact repository factory for scheme {scheme!r} returned "
            f"{type(repository).__name__}, not an ArtifactRepository"
        )
    return repository
