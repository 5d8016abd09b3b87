"""Artifact repositories: one interface, resolved from the artifact URI's scheme.

fsspec and its drivers are imported only when a remote repository is first used.
"""

from mltrail.storage.artifacts.base import ArtifactRepository
from mltrail.storage.artifacts.fsspec_repo import FSSPEC_SCHEMES, FsspecArtifactRepository
from mltrail.storage.artifacts.local import LocalArtifactRepository
from mltrail.storage.artifacts.paths import join_artifact_uri, safe_relative_path
from mltrail.storage.artifacts.registry import (
    ENTRY_POINT_GROUP,
    ArtifactRepositoryFactory,
    get_artifact_repository,
    register_artifact_repository,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FSSPEC_SCHEMES",
    "ArtifactRepository",
    "ArtifactRepositoryFactory",
    "FsspecArtifactRepository",
    "LocalArtifactRepository",
    "get_artifact_repository",
    "join_artifact_uri",
    "register_artifact_repository",
    "safe_relative_path",
]
