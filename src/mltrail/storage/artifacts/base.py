"""The artifact repository contract: one run's artifact root, read and written by path.

The public methods are written once here: each checks its arguments (every artifact path goes
through ``safe_relative_path``) and then calls a small protected primitive that a backend
implements. A backend therefore never sees an unchecked path, and a plugin cannot forget to
check one.

Primitives receive paths relative to the repository root, already normalised ("" is the
root), and raise ``MltrailError`` subclasses only: backend errors are translated inside them.

Streaming (``open_read``, ``write_stream``) has default primitives built from the others,
through a private temporary file, so a plugin written before them keeps working; the built-in
backends stream directly.
"""

from __future__ import annotations

import abc
import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from mltrail.entities.file_info import FileInfo
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.storage.artifacts.paths import safe_relative_path

__all__ = ["ArtifactRepository", "LocalTree", "spooled", "walk_local_tree"]


class LocalTree:
    """What a local directory walk found: files as ``(absolute source, relative path)``
    pairs and the relative paths of every directory, both in walk order (parents first)."""

    __slots__ = ("dirs", "files")

    def __init__(self) -> None:
        self.files: list[tuple[str, str]] = []
        self.dirs: list[str] = []


def _join_rel(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name


def walk_local_tree(
    top: str,
    *,
    confine_to: str | None = None,
    hidden_prefix: str | None = None,
    label: str = "",
) -> LocalTree:
    """Every regular file and directory below ``top``, following symlinks, loops refused.

    With ``confine_to`` (a real path), an entry whose real path leaves it is refused with
    ``InvalidArgument``, the message naming it as a path below ``label``. Names starting with
    ``hidden_prefix`` are skipped. Sockets, FIFOs, devices and dangling symlinks are skipped
    (reading them could block or fail). Raises ``OSError``; callers translate it.
    """
    tree = LocalTree()
    stack: list[tuple[str, str, frozenset[str]]] = [(top, "", frozenset())]
    while stack:
        abs_dir, rel_dir, ancestors = stack.pop()
        real_dir = os.path.realpath(abs_dir)
        if real_dir in ancestors:
            raise InvalidArgument(f"Invalid directory {top!r}: symlink loop at {abs_dir!r}")
        with os.scandir(abs_dir) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        below: list[tuple[str, str, frozenset[str]]] = []
        for entry in entries:
            if hidden_prefix is not None and entry.name.startswith(hidden_prefix):
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if confine_to is not None and not is_inside(os.path.realpath(entry.path), confine_to):
                raise InvalidArgument(
                    f"Invalid artifact path {_join_rel(label, rel)!r}: it is a symlink that "
                    "leads outside the artifact root"
                )
            if entry.is_dir():
                tree.dirs.append(rel)
                below.append((entry.path, rel, ancestors | {real_dir}))
            elif entry.is_file():
                tree.files.append((entry.path, rel))
        stack.extend(reversed(below))
    return tree


def is_inside(real_path: str, real_root: str) -> bool:
    """Whether ``real_path`` is ``real_root`` or below it (both already through realpath)."""
    if real_path == real_root:
        return True
    prefix = real_root if real_root.endswith(os.sep) else real_root + os.sep
    return real_path.startswith(prefix)


class ArtifactRepository(abc.ABC):
    """The artifacts under one root URI, e.g. ``s3://bucket/prefix/1/<run_id>/artifacts``.

    Construction is cheap and pure: no directory is created and no connection is opened
    until the first call that needs one.
    """

    def __init__(self, artifact_uri: str) -> None:
        self._artifact_uri = artifact_uri

    @property
    def artifact_uri(self) -> str:
        return self._artifact_uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._artifact_uri!r})"

    # -- public API: check, then delegate -------------------------------------------------

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload one local file to ``<artifact_path>/<its base name>``."""
        rel_dir = safe_relative_path(artifact_path)
        source = os.fspath(local_file)
        if not os.path.isfile(source):
            raise InvalidArgument(
                f"Invalid local file {source!r}: it is not an existing regular file"
            )
        rel = safe_relative_path(_join_rel(rel_dir, os.path.basename(source)))
        self._log_file(source, rel)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload the tree below ``local_dir`` into ``artifact_path``, keeping its structure.

        Every name in the tree is checked before anything is written, so a tree holding one
        unacceptable name is refused whole.
        """
        rel_dir = safe_relative_path(artifact_path)
        source = os.fspath(local_dir)
        if not os.path.isdir(source):
            raise InvalidArgument(
                f"Invalid local directory {source!r}: it is not an existing directory"
            )
        try:
            tree = walk_local_tree(source)
        except OSError as exc:
            raise MltrailError(
                f"Could not read local directory {source!r}: {exc.strerror or exc}"
            ) from exc
        checked = LocalTree()
        checked.dirs = [safe_relative_path(_join_rel(rel_dir, rel)) for rel in tree.dirs]
        checked.files = [
            (path, safe_relative_path(_join_rel(rel_dir, rel))) for path, rel in tree.files
        ]
        self._log_tree(checked, rel_dir)

    def log_bytes(self, data: bytes, artifact_path: str) -> None:
        """Write ``data`` as the file ``artifact_path`` (used by ``log_text`` and ``log_dict``)."""
        rel = self._file_path(artifact_path)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgument(
                f"Invalid data for {rel!r}: expected bytes, got {type(data).__name__}"
            )
        self._write_bytes(bytes(data), rel)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The direct children of ``path``, sorted by path; [] when it is missing or a file.

        ``FileInfo.path`` is relative to the root (``dir/f.txt``); directories carry no size.
        """
        rel = safe_relative_path(path)
        return sorted(self._list(rel), key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        """Copy a file or a directory tree to ``dst_path`` and return its local path.

        The result keeps the artifact's relative path below ``dst_path`` (``dst/dir/f.txt``).
        ``dst_path`` is created when missing; by default it is a fresh private temporary
        directory, removed again if the download fails. A missing artifact is ``NotFound``.
        """
        rel = safe_relative_path(artifact_path)
        made_temp = dst_path is None
        if dst_path is None:
            dst = tempfile.mkdtemp(prefix="mltrail-download-")
        else:
            dst = os.path.abspath(os.fspath(dst_path))
            try:
                os.makedirs(dst, exist_ok=True)
            except OSError as exc:
                raise InvalidArgument(
                    f"Invalid download destination {dst!r}: {exc.strerror or exc}"
                ) from exc
        target = os.path.join(dst, *rel.split("/")) if rel else dst
        try:
            self._download(rel, target)
        except BaseException:
            if made_temp:
                shutil.rmtree(dst, ignore_errors=True)
            raise
        return target

    def read_bytes(self, artifact_path: str) -> bytes:
        """The content of the file ``artifact_path``; ``NotFound`` when it is missing."""
        return self._read_bytes(self._file_path(artifact_path))

    def open_read(self, artifact_path: str) -> BinaryIO:
        """The file ``artifact_path`` opened for binary reading (seekable); the caller closes it.

        Reading it holds no more than a block in memory, whatever the file's size. A missing
        file is ``NotFound``; a directory is ``InvalidArgument``.
        """
        return self._open_read(self._file_path(artifact_path))

    def write_stream(self, artifact_path: str, chunks: Iterable[bytes]) -> None:
        """Write the file ``artifact_path`` from ``chunks``, consumed once, in order.

        Memory stays bounded by one chunk (plus the backend's block). The file appears only
        once every chunk has been written: if the iterator raises, the error propagates
        unchanged and nothing is left behind, neither the file nor a temporary copy.
        """
        rel = self._file_path(artifact_path)
        self._write_stream(rel, _checked_chunks(chunks, rel))

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete ``artifact_path`` (the whole root by default), recursively; missing is fine."""
        self._delete(safe_relative_path(artifact_path))

    @staticmethod
    def _file_path(artifact_path: str) -> str:
        rel = safe_relative_path(artifact_path)
        if not rel:
            raise InvalidArgument(
                f"Invalid artifact path {artifact_path!r}: it names the artifact root, not a file"
            )
        return rel

    # -- primitives a backend implements ---------------------------------------------------

    @abc.abstractmethod
    def _log_file(self, local_file: str, rel: str) -> None:
        """Store the existing regular file ``local_file`` as ``rel`` (a file path)."""

    @abc.abstractmethod
    def _log_tree(self, tree: LocalTree, rel_dir: str) -> None:
        """Store a checked tree whose relative paths already start with ``rel_dir``."""

    @abc.abstractmethod
    def _write_bytes(self, data: bytes, rel: str) -> None:
        """Store ``data`` as the file ``rel``."""

    @abc.abstractmethod
    def _list(self, rel: str) -> list[FileInfo]:
        """The direct children of ``rel`` in any order; [] when missing or a file."""

    @abc.abstractmethod
    def _download(self, rel: str, local_target: str) -> None:
        """Copy the file or tree ``rel`` to ``local_target``; ``NotFound`` when missing."""

    @abc.abstractmethod
    def _read_bytes(self, rel: str) -> bytes:
        """The content of the file ``rel``; ``NotFound`` when missing."""

    @abc.abstractmethod
    def _delete(self, rel: str) -> None:
        """Remove ``rel`` recursively; nothing to do when missing."""

    # -- streaming primitives, with defaults a backend may override ----------------------------

    def _open_read(self, rel: str) -> BinaryIO:
        """The file ``rel`` open for reading; ``NotFound`` when missing, ``InvalidArgument``
        for a directory. By default a private temporary copy, removed when it is closed."""
        staging = tempfile.mkdtemp(prefix="mltrail-read-")
        try:
            target = os.path.join(staging, "artifact")
            self._download(rel, target)
            if not os.path.isfile(target):
                raise InvalidArgument(
                    f"Invalid artifact path {rel!r}: it is a directory, not a file"
                )
            return _TemporaryCopy(target, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _write_stream(self, rel: str, chunks: Iterator[bytes]) -> None:
        """Store what ``chunks`` yields as the file ``rel``, visible only when complete. By
        default the chunks are spooled to a private temporary file, then ``_log_file``."""
        with spooled(chunks) as local_file:
            self._log_file(local_file, rel)


def _checked_chunks(chunks: Iterable[bytes], rel: str) -> Iterator[bytes]:
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidArgument(
                f"Invalid data for {rel!r}: expected chunks of bytes, got {type(chunk).__name__}"
            )
        if chunk:
            yield bytes(chunk) if not isinstance(chunk, bytes) else chunk


@contextlib.contextmanager
def spooled(chunks: Iterable[bytes]) -> Iterator[str]:
    """``with spooled(chunks) as path``: the chunks written to a private temporary file (mode
    0o600), removed on leaving the block whatever happens. An error raised by the iterator
    propagates unchanged; a failure to write the local file becomes ``MltrailError``."""
    fd, path = tempfile.mkstemp(prefix="mltrail-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                _local_write(out, chunk)
            _local_write(out, None)
        yield path
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def _local_write(out: BinaryIO, chunk: bytes | None) -> None:
    """``out.write(chunk)``, or ``out.flush()`` for None, with OSError translated."""
    try:
        if chunk is None:
            out.flush()
        else:
            out.write(chunk)
    except OSError as exc:
        raise MltrailError(
            f"Could not spool an upload to a temporary file: {exc.strerror or exc}"
        ) from exc


class _TemporaryCopy(io.BufferedReader):
    """A read-only file whose private staging directory is removed when it is closed."""

    def __init__(self, path: str, staging: str) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._staging = staging

    def close(self) -> None:
        try:
            super().close()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)


def remove_quietly(path: str) -> None:
    """Delete a temporary file if it is still there; cleanup must never raise."""
    with contextlib.suppress(OSError):
        os.unlink(path)
