"""Artifacts in an object store or remote filesystem, through fsspec.

One implementation serves ``s3://``, ``gs://``/``gcs://``, ``abfs://``/``abfss://``/
``wasbs://``/``az://``, ``sftp://`` and ``hdfs://``; fsspec picks the driver (s3fs, gcsfs,
adlfs, paramiko, pyarrow), which is an optional extra. The filesystem is created on first use,
so constructing a repository costs nothing and needs no credentials.

Guarantees: a single file (``log_artifact``, ``log_bytes``, ``write_stream``) is one object
write, which object stores make visible whole or not at all (on sftp/hdfs it is a plain remote
write); ``write_stream`` first spools the chunks to a private local temporary file, so an
interrupted stream never reaches the store. ``open_read`` reads in blocks of 1 MiB. A tree is
uploaded file by file: every name is checked before the first upload, but a failure midway
leaves the files already uploaded in place. Object keys met while downloading a tree go
through the same path checks as user input, so a crafted key cannot write outside the
download directory. Errors leave as ``NotFound`` (missing object) or ``MltrailError`` naming
the URI (password removed), the original error chained.
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from mltrail.entities.file_info import FileInfo
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.storage.artifacts.base import ArtifactRepository, LocalTree, spooled
from mltrail.storage.artifacts.paths import safe_relative_path

__all__ = ["FSSPEC_SCHEMES", "FsspecArtifactRepository"]

FSSPEC_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "wasbs", "az", "sftp", "hdfs")

# fsspec knows Azure under "abfs"/"az" only; the other spellings users write map onto it.
_FSSPEC_PROTOCOL = {"abfss": "abfs", "wasbs": "abfs"}

_INSTALL_HINT = {
    "s3": "pip install 'mltrail[s3]'",
    "gs": "pip install 'mltrail[gcs]'",
    "gcs": "pip install 'mltrail[gcs]'",
    "abfs": "pip install 'mltrail[azure]'",
    "abfss": "pip install 'mltrail[azure]'",
    "wasbs": "pip install 'mltrail[azure]'",
    "az": "pip install 'mltrail[azure]'",
    "sftp": "pip install 'mltrail[sftp]'",
    "hdfs": "pip install pyarrow, with a Hadoop client providing libhdfs",
}

# Stores with real directories, where an empty directory of a logged tree is worth creating.
_HAS_DIRECTORIES = ("sftp", "hdfs")

# The block a streamed read fetches at a time (s3fs would otherwise read ahead 50 MiB).
_READ_BLOCK_SIZE = 1024 * 1024


def redact_uri(uri: str) -> str:
    """``uri`` with any password in its user-info replaced by ``***``."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class FsspecArtifactRepository(ArtifactRepository):
    """A run's artifacts under a remote URI, e.g. ``s3://bucket/prefix/1/<run>/artifacts``.

    ``storage_options`` go to the fsspec filesystem unchanged, e.g.
    ``{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}`` for an S3-compatible store.
    """

    def __init__(
        self, artifact_uri: str, storage_options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(artifact_uri)
        scheme = urllib.parse.urlsplit(artifact_uri).scheme.lower()
        if scheme not in FSSPEC_SCHEMES:
            raise InvalidArgument(
                f"Invalid artifact URI {redact_uri(artifact_uri)!r}: scheme {scheme!r} is not "
                f"one of {', '.join(FSSPEC_SCHEMES)}"
            )
        self._scheme = scheme
        self._storage_options: dict[str, Any] = dict(storage_options or {})
        self._fs: Any = None
        self._root = ""

    @property
    def scheme(self) -> str:
        return self._scheme

    @property
    def storage_options(self) -> dict[str, Any]:
        return dict(self._storage_options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_uri(self._artifact_uri)!r})"

    # -- the filesystem, made on first use ---------------------------------------------------

    def _filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and the root path in its terms (``bucket/prefix``)."""
        if self._fs is None:
            protocol = _FSSPEC_PROTOCOL.get(self._scheme, self._scheme)
            url = protocol + self._artifact_uri[len(self._scheme) :]
            try:
                # fsspec and its drivers are optional and slow to import: only on first use.
                import fsspec.core
            except ImportError as exc:
                raise MltrailError(self._missing_driver_message()) from exc
            try:
                fs, root = fsspec.core.url_to_fs(url, **self._storage_options)
            except ImportError as exc:
                raise MltrailError(self._missing_driver_message()) from exc
            except Exception as exc:
                raise MltrailError(
                    f"Could not open artifact store {self._where('')}: {type(exc).__name__}: {exc}"
                ) from exc
            root = str(root).rstrip("/")
            if not root:
                raise InvalidArgument(
                    f"Invalid artifact URI {redact_uri(self._artifact_uri)!r}: it names no "
                    "bucket or path"
                )
            self._fs, self._root = fs, root
        return self._fs, self._root

    def _missing_driver_message(self) -> str:
        return (
            f"Artifacts at {self._scheme}:// need an fsspec driver that is not installed: "
            f"{_INSTALL_HINT[self._scheme]}"
        )

    def _remote(self, rel: str) -> str:
        _, root = self._filesystem()
        return f"{root}/{rel}" if rel else root

    def _where(self, rel: str) -> str:
        uri = redact_uri(self._artifact_uri)
        return f"{rel!r} in {uri}" if rel else uri

    @contextlib.contextmanager
    def _translated(self, action: str, rel: str, *, writing: bool = False) -> Iterator[None]:
        """Turn driver errors into the mltrail tree; our own errors pass through.

        A missing object is ``NotFound`` when reading; when writing it means the bucket (or
        remote parent) does not exist, which is a configuration error, not a missing artifact.
        """
        try:
            yield
        except MltrailError:
            raise
        except FileNotFoundError as exc:
            if writing:
                raise MltrailError(
                    f"Could not {action} {self._where(rel)}: the bucket or location does not "
                    f"exist ({exc})"
                ) from exc
            raise NotFound(f"No artifact at {self._where(rel)}") from exc
        except Exception as exc:
            raise MltrailError(
                f"Could not {action} {self._where(rel)}: {type(exc).__name__}: {exc}"
            ) from exc

    def _forget_listings(self, remote: str) -> None:
        """Drop cached listings of ``remote`` and its parents (other processes write too)."""
        fs, _ = self._filesystem()
        fs.invalidate_cache(remote)

    # -- writes ------------------------------------------------------------------------------

    def _log_file(self, local_file: str, rel: str) -> None:
        with self._translated("upload", rel, writing=True):
            fs, _ = self._filesystem()
            remote = self._remote(rel)
            fs.put_file(local_file, remote)
            self._forget_listings(remote)

    def _write_bytes(self, data: bytes, rel: str) -> None:
        with self._translated("write", rel, writing=True):
            fs, _ = self._filesystem()
            remote = self._remote(rel)
            fs.pipe_file(remote, data)
            self._forget_listings(remote)

    def _write_stream(self, rel: str, chunks: Iterator[bytes]) -> None:
        # Spooled outside ``_translated``: an error from the chunk source is not ours to wrap.
        with spooled(chunks) as local_file:
            self._log_file(local_file, rel)

    def _log_tree(self, tree: LocalTree, rel_dir: str) -> None:
        with self._translated("upload", rel_dir, writing=True):
            fs, _ = self._filesystem()
            if self._scheme in _HAS_DIRECTORIES:
                for rel in [rel_dir, *tree.dirs] if rel_dir else tree.dirs:
                    fs.makedirs(self._remote(rel), exist_ok=True)
            if tree.files:
                local_paths = [source for source, _ in tree.files]
                remote_paths = [self._remote(rel) for _, rel in tree.files]
                fs.put(local_paths, remote_paths)
            self._forget_listings(self._remote(rel_dir))

    # -- reads -------------------------------------------------------------------------------

    def _list(self, rel: str) -> list[FileInfo]:
        with self._translated("list", rel):
            fs, root = self._filesystem()
            remote = self._remote(rel)
            self._forget_listings(remote)
            try:
                entries = fs.ls(remote, detail=True)
            except FileNotFoundError:
                return []
            infos: list[FileInfo] = []
            for entry in entries:
                name = str(entry["name"]).rstrip("/")
                if name == remote or not name.startswith(root + "/"):
                    continue  # the path itself (it is a file), or a marker outside the root
                child = name[len(root) + 1 :]
                if entry.get("type") == "directory":
                    infos.append(FileInfo(child, True, None))
                else:
                    infos.append(FileInfo(child, False, int(entry.get("size") or 0)))
            return infos

    def _download(self, rel: str, local_target: str) -> None:
        with self._translated("download", rel):
            fs, _ = self._filesystem()
            remote = self._remote(rel)
            self._forget_listings(remote)
            info = fs.info(remote)
            if info.get("type") != "directory":
                os.makedirs(os.path.dirname(local_target), exist_ok=True)
                fs.get([remote], [local_target])
                return
            remote_files: list[str] = []
            local_files: list[str] = []
            for name in fs.find(remote):
                name = str(name)
                if name.endswith("/") or not name.startswith(remote + "/"):
                    continue  # a directory marker, or the prefix itself
                sub = safe_relative_path(name[len(remote) + 1 :], field="stored object name")
                remote_files.append(name)
                local_files.append(os.path.join(local_target, *sub.split("/")))
            os.makedirs(local_target, exist_ok=True)
            for local in local_files:
                os.makedirs(os.path.dirname(local), exist_ok=True)
            if remote_files:
                fs.get(remote_files, local_files)

    def _read_bytes(self, rel: str) -> bytes:
        with self._translated("read", rel):
            fs, _ = self._filesystem()
            remote = self._remote(rel)
            self._forget_listings(remote)
            try:
                return bytes(fs.cat_file(remote))
            except (FileNotFoundError, IsADirectoryError) as exc:
                if fs.isdir(remote):
                    raise InvalidArgument(
                        f"Invalid artifact path {rel!r}: it is a directory, not a file"
                    ) from exc
                raise

    def _open_read(self, rel: str) -> BinaryIO:
        with self._translated("read", rel):
            fs, _ = self._filesystem()
            remote = self._remote(rel)
            self._forget_listings(remote)
            try:
                handle: BinaryIO = fs.open(remote, "rb", block_size=_READ_BLOCK_SIZE)
            except IsADirectoryError as exc:
                raise InvalidArgument(
                    f"Invalid artifact path {rel!r}: it is a directory, not a file"
                ) from exc
            # Object stores open a key prefix as an empty "file": tell it from an empty file.
            if getattr(handle, "size", 0) == 0 and fs.isdir(remote):
                handle.close()
                raise InvalidArgument(
                    f"Invalid artifact path {rel!r}: it is a directory, not a file"
                )
            return handle

    # -- delete ------------------------------------------------------------------------------

    def _delete(self, rel: str) -> None:
        with self._translated("delete", rel):
            fs, root = self._filesystem()
            remote = self._remote(rel)
            self._forget_listings(remote)
            try:
                if not rel and "/" not in root:
                    # The root is a whole bucket: remove what is in it, never the bucket.
                    files = fs.find(remote)
                    if files:
                        fs.rm(files)
                else:
                    fs.rm(remote, recursive=True)
            except FileNotFoundError:
                pass
            self._forget_listings(remote)
