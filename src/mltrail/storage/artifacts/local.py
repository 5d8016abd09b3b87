"""Artifacts in a local directory: ``file://`` URIs and plain paths.

Guarantees:

* **Confinement.** Every path is joined to the root and its real path (symlinks resolved)
  must stay inside the real path of the root; a symlink in the store that leads outside is
  refused with ``InvalidArgument`` by every operation that would follow it. The check runs at
  the time of the call: a store whose directories an attacker can rewrite concurrently is out
  of scope.
* **No partial files.** A file is written to a private-named temporary file in its
  destination directory and moved into place with ``os.replace``; on any failure the
  temporary file is removed, and so are the parent directories the call itself created.
* **Trees.** ``log_artifacts`` checks every destination first (confinement, no file where a
  directory must go and the reverse), then copies the whole tree into a private staging
  directory beside the destination. Nothing is visible until that copy has succeeded. If the
  destination did not exist, the tree then appears with one ``rename`` (all or nothing). If it
  existed, the staged entries are moved into it with ``rename``/``os.replace``, each file
  whole; only a failure of those renames (same filesystem, no data copied) could leave part of
  the tree published.
* **Streams.** ``write_stream`` writes its chunks straight into the temporary file above, so
  an interrupted stream leaves nothing; ``open_read`` opens the resolved (checked) path and
  accepts a regular file only: a FIFO or a device is refused, never blocked on.
* Staging names start with ``.mltrail-tmp-``; listings and downloads never show them.
* Files are created with mode ``0o666`` less the umask, directories ``0o777`` less the umask.
  Nothing is fsync'ed: the guarantees hold against errors and killed processes, not against
  an operating-system crash.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from typing import BinaryIO

from mltrail.entities.file_info import FileInfo
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.storage.artifacts.base import (
    ArtifactRepository,
    LocalTree,
    is_inside,
    remove_quietly,
    walk_local_tree,
)

__all__ = ["LocalArtifactRepository", "local_path_from_uri"]

TEMP_PREFIX = ".mltrail-tmp-"


def local_path_from_uri(artifact_uri: str) -> str:
    """The absolute local path named by a ``file://`` URI or a plain path."""
    parsed = urllib.parse.urlsplit(artifact_uri)
    if parsed.scheme.lower() == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgument(
                f"Invalid artifact URI {artifact_uri!r}: file URIs must name a local path "
                "(no host)"
            )
        if parsed.query or parsed.fragment:
            raise InvalidArgument(
                f"Invalid artifact URI {artifact_uri!r}: a file URI takes no query or fragment"
            )
        path = urllib.parse.unquote(parsed.path)
        if os.name == "nt" and len(path) > 2 and path[0] == "/" and path[2] == ":":
            path = path[1:]  # file:///C:/x names C:/x
    else:
        path = artifact_uri
    if not path:
        raise InvalidArgument(f"Invalid artifact URI {artifact_uri!r}: it names no path")
    return os.path.abspath(path)


class _SourceFailed(Exception):
    """Carries an ``OSError`` raised by a chunk iterator past the write-error translation."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _remove_empty_dirs(created: list[str]) -> None:
    """Undo ``_make_dirs``: remove the directories it created, deepest first, if empty."""
    for path in reversed(created):
        try:
            os.rmdir(path)
        except OSError:
            return


def _make_dirs(path: str) -> list[str]:
    """``os.makedirs(path, exist_ok=True)`` that returns the directories it created."""
    missing: list[str] = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    created: list[str] = []
    try:
        for directory in reversed(missing):
            try:
                os.mkdir(directory)
            except FileExistsError:
                if not os.path.isdir(directory):
                    raise
                continue
            created.append(directory)
    except BaseException:
        _remove_empty_dirs(created)
        raise
    return created


def _new_temp_file(directory: str) -> tuple[int, str]:
    """A new, exclusively created temporary file in ``directory`` (mode 0o666 less umask)."""
    while True:
        path = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(8)}")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue


class LocalArtifactRepository(ArtifactRepository):
    """A run's artifacts below a local directory, created on the first write."""

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        self._root = local_path_from_uri(artifact_uri)

    @property
    def root(self) -> str:
        """The absolute local directory holding the artifacts."""
        return self._root

    # -- paths -------------------------------------------------------------------------------

    def _path(self, rel: str) -> str:
        return os.path.join(self._root, *rel.split("/")) if rel else self._root

    def _confined(self, rel: str) -> str:
        """The local path of ``rel``, refused if its real path leaves the real root."""
        path = self._path(rel)
        if not is_inside(os.path.realpath(path), os.path.realpath(self._root)):
            raise InvalidArgument(
                f"Invalid artifact path {rel!r}: it leads outside the artifact root "
                "through a symlink"
            )
        return path

    def _check_file_destination(self, rel: str) -> str:
        """The confined path where the file ``rel`` will go, refused on a type clash."""
        path = self._confined(rel)
        if os.path.isdir(path):
            raise InvalidArgument(
                f"Invalid artifact path {rel!r}: a directory already exists there"
            )
        self._check_parents(rel)
        return path

    def _check_parents(self, rel: str) -> None:
        parts = rel.split("/")[:-1]
        for index in range(1, len(parts) + 1):
            parent = self._path("/".join(parts[:index]))
            if os.path.lexists(parent) and not os.path.isdir(parent):
                raise InvalidArgument(
                    f"Invalid artifact path {rel!r}: {'/'.join(parts[:index])!r} is a file, "
                    "not a directory"
                )

    def _fail(self, action: str, rel: str, exc: OSError) -> MltrailError:
        where = f"{rel!r} in {self._artifact_uri}" if rel else self._artifact_uri
        return MltrailError(f"Could not {action} {where}: {exc.strerror or exc}")

    # -- writes ------------------------------------------------------------------------------

    def _write_file(self, rel: str, fill: Callable[[int, str], None]) -> None:
        """Create ``rel`` atomically; ``fill(fd, temp_path)`` writes the content."""
        path = self._check_file_destination(rel)
        created: list[str] = []
        temp_path: str | None = None
        try:
            created = _make_dirs(os.path.dirname(path))
            fd, temp_path = _new_temp_file(os.path.dirname(path))
            fill(fd, temp_path)
            os.replace(temp_path, path)
            temp_path = None
        except BaseException as exc:
            if temp_path is not None:
                remove_quietly(temp_path)
            _remove_empty_dirs(created)
            if isinstance(exc, OSError):
                raise self._fail("write", rel, exc) from exc
            raise

    def _log_file(self, local_file: str, rel: str) -> None:
        def fill(fd: int, temp_path: str) -> None:
            os.close(fd)
            shutil.copyfile(local_file, temp_path)

        self._write_file(rel, fill)

    def _write_bytes(self, data: bytes, rel: str) -> None:
        def fill(fd: int, temp_path: str) -> None:
            with os.fdopen(fd, "wb") as out:
                out.write(data)

        self._write_file(rel, fill)

    def _write_stream(self, rel: str, chunks: Iterator[bytes]) -> None:
        def fill(fd: int, temp_path: str) -> None:
            with os.fdopen(fd, "wb") as out:
                while True:
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        return
                    except OSError as exc:
                        # The source's failure, not ours: kept apart from write errors.
                        raise _SourceFailed(exc) from exc
                    out.write(chunk)

        try:
            self._write_file(rel, fill)
        except _SourceFailed as failed:
            raise failed.error from None

    def _log_tree(self, tree: LocalTree, rel_dir: str) -> None:
        dest = self._confined(rel_dir)
        if os.path.lexists(dest) and not os.path.isdir(dest):
            raise InvalidArgument(
                f"Invalid artifact path {rel_dir!r}: it is a file, not a directory"
            )
        self._check_parents(rel_dir)
        for rel in tree.dirs:
            path = self._confined(rel)
            if os.path.lexists(path) and not os.path.isdir(path):
                raise InvalidArgument(
                    f"Invalid artifact path {rel!r}: a file already exists there"
                )
        for _, rel in tree.files:
            self._check_file_destination(rel)
        skip = len(rel_dir) + 1 if rel_dir else 0
        created: list[str] = []
        staging: str | None = None
        try:
            # Stage beside the destination (same filesystem, so renames never copy); the
            # root itself is staged into from inside, so nothing is made outside the store.
            staging_parent = os.path.dirname(dest) if rel_dir else dest
            created = _make_dirs(staging_parent)
            staging = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=staging_parent)
            payload = os.path.join(staging, "tree")
            os.mkdir(payload)
            for rel in tree.dirs:
                os.mkdir(os.path.join(payload, *rel[skip:].split("/")))
            for source, rel in tree.files:
                shutil.copyfile(source, os.path.join(payload, *rel[skip:].split("/")))
            if os.path.isdir(dest):
                _merge_into(payload, dest)
            else:
                try:
                    os.rename(payload, dest)
                except OSError as exc:
                    # Another writer made the directory since we looked: merge instead.
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not os.path.isdir(dest):
                        raise
                    _merge_into(payload, dest)
        except BaseException as exc:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
                staging = None
            _remove_empty_dirs(created)
            if isinstance(exc, OSError):
                raise self._fail("write", rel_dir, exc) from exc
            raise
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    # -- reads -------------------------------------------------------------------------------

    def _list(self, rel: str) -> list[FileInfo]:
        path = self._confined(rel)
        real_root = os.path.realpath(self._root)
        infos: list[FileInfo] = []
        try:
            if not os.path.isdir(path):
                return []
            with os.scandir(path) as scan:
                entries = [entry for entry in scan if not entry.name.startswith(TEMP_PREFIX)]
            for entry in entries:
                child = f"{rel}/{entry.name}" if rel else entry.name
                if not is_inside(os.path.realpath(entry.path), real_root):
                    raise InvalidArgument(
                        f"Invalid artifact path {child!r}: it is a symlink that leads outside "
                        "the artifact root"
                    )
                try:
                    if entry.is_dir():
                        infos.append(FileInfo(child, True, None))
                    elif entry.is_file():
                        infos.append(FileInfo(child, False, entry.stat().st_size))
                except FileNotFoundError:
                    continue  # deleted by someone else while we listed
        except OSError as exc:
            raise self._fail("list", rel, exc) from exc
        return infos

    def _download(self, rel: str, local_target: str) -> None:
        path = self._confined(rel)
        try:
            if os.path.isfile(path):
                os.makedirs(os.path.dirname(local_target), exist_ok=True)
                shutil.copyfile(path, local_target)
                return
            if not os.path.isdir(path):
                raise NotFound(f"No artifact at {rel!r} in {self._artifact_uri}")
            tree = walk_local_tree(
                path,
                confine_to=os.path.realpath(self._root),
                hidden_prefix=TEMP_PREFIX,
                label=rel,
            )
            os.makedirs(local_target, exist_ok=True)
            for sub in tree.dirs:
                os.makedirs(os.path.join(local_target, *sub.split("/")), exist_ok=True)
            for source, sub in tree.files:
                shutil.copyfile(source, os.path.join(local_target, *sub.split("/")))
        except OSError as exc:
            raise self._fail("download", rel, exc) from exc

    def _read_bytes(self, rel: str) -> bytes:
        path = self._confined(rel)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError as exc:
            raise NotFound(f"No artifact at {rel!r} in {self._artifact_uri}") from exc
        except IsADirectoryError as exc:
            raise InvalidArgument(
                f"Invalid artifact path {rel!r}: it is a directory, not a file"
            ) from exc
        except OSError as exc:
            raise self._fail("read", rel, exc) from exc

    def _open_read(self, rel: str) -> BinaryIO:
        # Open the resolved path (checked to be inside the root), without blocking on a FIFO,
        # and accept only a regular file.
        real = os.path.realpath(self._confined(rel))
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(real, flags)
        except FileNotFoundError as exc:
            raise NotFound(f"No artifact at {rel!r} in {self._artifact_uri}") from exc
        except IsADirectoryError as exc:  # Windows cannot open a directory
            raise InvalidArgument(
                f"Invalid artifact path {rel!r}: it is a directory, not a file"
            ) from exc
        except OSError as exc:
            raise self._fail("read", rel, exc) from exc
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise InvalidArgument(
                    f"Invalid artifact path {rel!r}: it is a directory, not a file"
                )
            if not stat.S_ISREG(mode):
                raise InvalidArgument(
                    f"Invalid artifact path {rel!r}: it is not a regular file"
                )
            return os.fdopen(fd, "rb")
        except BaseException as exc:
            os.close(fd)
            if isinstance(exc, OSError):
                raise self._fail("read", rel, exc) from exc
            raise

    # -- delete ------------------------------------------------------------------------------

    def _delete(self, rel: str) -> None:
        path = self._confined(rel)
        try:
            if not rel:
                if os.path.isdir(path):
                    with os.scandir(path) as scan:
                        names = [entry.name for entry in scan]
                    for name in names:
                        _delete_entry(os.path.join(path, name), path)
                return
            if os.path.lexists(path):
                _delete_entry(path, os.path.dirname(path))
        except FileNotFoundError:
            return  # deleted by someone else meanwhile: the outcome asked for
        except OSError as exc:
            raise self._fail("delete", rel, exc) from exc


def _delete_entry(path: str, parent: str) -> None:
    """Remove one entry; a directory first vanishes with a rename, then is removed."""
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    doomed = os.path.join(parent, f"{TEMP_PREFIX}{secrets.token_hex(8)}")
    os.rename(path, doomed)
    shutil.rmtree(doomed)


def _merge_into(staged: str, dest: str) -> None:
    """Move the staged entries into the existing directory ``dest``, file by file."""
    with os.scandir(staged) as scan:
        names = sorted(entry.name for entry in scan)
    for name in names:
        source = os.path.join(staged, name)
        target = os.path.join(dest, name)
        if os.path.isdir(source) and os.path.isdir(target):
            _merge_into(source, target)
        else:
            os.replace(source, target)
