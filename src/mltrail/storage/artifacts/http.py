"""Artifacts behind a tracking server's proxy: ``mlflow-artifacts:`` and ``http(s)://`` URIs.

The server's artifact service (MLflow's, served by mltrail's server too) lives at
``{server}/api/2.0/mlflow-artifacts/artifacts``: ``PUT <path>`` stores the raw request body,
``GET <path>`` returns a file, ``DELETE <path>`` removes a file or a tree, and
``GET ?path=<dir>`` lists a directory as ``{"files": [{path, is_dir, file_size}]}`` with
base names.

Artifact URIs resolve as MLflow's client resolves them:

* ``mlflow-artifacts:/1/<run>/artifacts``: the tracking server's base URL (the tracking URI,
  with its path prefix and credentials), root ``1/<run>/artifacts``;
* ``mlflow-artifacts://host:port/1/<run>/artifacts``: that host, with the tracking URI's
  scheme (``http`` when there is none) and, when it names the same host, its prefix;
* ``http(s)://host[/prefix]/api/2.0/mlflow-artifacts/artifacts/<root>``: that service and
  root; any other ``http(s)://`` URL is taken as the service endpoint itself, root empty.

Uploads stream the local file; downloads stream to a temporary file beside the destination,
renamed into place when complete, so a failed download leaves no partial file. Names a server
lists are checked like any artifact path before anything is written locally. The proxy has no
call to create a directory: empty directories of an uploaded tree are not recreated.
"""

from __future__ import annotations

import concurrent.futures
import os
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from typing import IO, TypeVar

import httpx

from mltrail.entities.file_info import FileInfo
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.settings import Settings
from mltrail.storage.artifacts.base import ArtifactRepository, LocalTree, remove_quietly
from mltrail.storage.artifacts.paths import safe_relative_path
from mltrail.storage.http_session import HttpSession, display_url, shared_session

__all__ = ["ARTIFACTS_ENDPOINT", "HttpArtifactRepository"]

ARTIFACTS_ENDPOINT = "/api/2.0/mlflow-artifacts/artifacts"

J = TypeVar("J")

_SERVICE_MARKER = "/mlflow-artifacts/artifacts"
_CHUNK = 1024 * 1024
_MAX_WORKERS = 8
_TEMP_PREFIX = ".mltrail-tmp-"
_UPLOAD_HEADERS = {"Content-Type": "application/octet-stream"}
# Artifacts are often compressed already: ask for the bytes as stored.
_DOWNLOAD_HEADERS = {"Accept-Encoding": "identity"}


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def _resolve(artifact_uri: str, tracking_uri: str | None) -> tuple[str, str, str]:
    """``(server base URL, service endpoint path, root)`` for an artifact URI."""
    parts = urllib.parse.urlsplit(artifact_uri)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidArgument(f"Invalid artifact URI {display_url(artifact_uri)!r}: no host")
        base = f"{scheme}://{parts.netloc}"
        path = parts.path.rstrip("/")
        at = path.find(_SERVICE_MARKER)
        while at >= 0:
            end = at + len(_SERVICE_MARKER)
            if end == len(path) or path[end] == "/":
                return base, path[:end], urllib.parse.unquote(path[end:]).strip("/")
            at = path.find(_SERVICE_MARKER, end)
        return base, path, ""
    root = urllib.parse.unquote(parts.path).strip("/")
    tracking = urllib.parse.urlsplit(tracking_uri or "")
    server = tracking.scheme.lower() in ("http", "https") and bool(tracking.hostname)
    if server:
        tracking_base = f"{tracking.scheme.lower()}://{tracking.netloc}"
        endpoint = tracking.path.rstrip("/") + ARTIFACTS_ENDPOINT
    if parts.netloc:
        if server and tracking.netloc.rpartition("@")[2] == parts.netloc:
            return tracking_base, endpoint, root
        http = tracking.scheme.lower() if server else "http"
        return f"{http}://{parts.netloc}", ARTIFACTS_ENDPOINT, root
    if not server:
        if tracking_uri:
            why = f"the tracking URI {display_url(tracking_uri)!r} is not an http(s):// server"
        else:
            why = "no tracking URI was given"
        raise InvalidArgument(
            f"Invalid artifact URI {artifact_uri!r}: mlflow-artifacts: URIs are served by the "
            f"tracking server, but {why}; set the tracking URI to the server's http(s):// "
            "address"
        )
    return tracking_base, endpoint, root


class HttpArtifactRepository(ArtifactRepository):
    """The artifacts under one root of a tracking server's artifact service.

    ``tracking_uri`` resolves ``mlflow-artifacts:/...`` URIs (it is not needed for URIs that
    carry their host); ``settings`` brings the credentials, TLS and retry settings, as for
    the REST store. By default repositories share one connection pool per server and
    settings; ``session`` injects another.
    """

    def __init__(
        self,
        artifact_uri: str,
        *,
        tracking_uri: str | None = None,
        settings: Settings | None = None,
        session: HttpSession | None = None,
    ) -> None:
        super().__init__(artifact_uri)
        self._base, self._endpoint, self._root = _resolve(artifact_uri, tracking_uri)
        self._settings = settings if settings is not None else Settings()
        self._session = session

    def __repr__(self) -> str:
        return f"HttpArtifactRepository({display_url(self._artifact_uri)!r})"

    @property
    def _http(self) -> HttpSession:
        if self._session is None:
            self._session = shared_session(self._base, self._settings)
        return self._session

    def _url_path(self, rel: str) -> str:
        full = _join(self._root, rel)
        if not full:
            return self._endpoint
        return f"{self._endpoint}/{urllib.parse.quote(full, safe='/')}"

    def _where(self, rel: str) -> str:
        return f"{rel!r} in {display_url(self._artifact_uri)}"

    # -- writes ------------------------------------------------------------------------------

    def _put(self, rel: str, content: bytes | Callable[[], IO[bytes]]) -> None:
        self._http.request(
            "PUT",
            self._url_path(rel),
            content=content,
            headers=_UPLOAD_HEADERS,
            read=lambda response: response.read(),
        )

    def _log_file(self, local_file: str, rel: str) -> None:
        def opener() -> IO[bytes]:
            try:
                return open(local_file, "rb")
            except OSError as exc:
                raise MltrailError(
                    f"Could not read local file {local_file!r}: {exc.strerror or exc}"
                ) from exc

        self._put(rel, opener)

    def _log_tree(self, tree: LocalTree, rel_dir: str) -> None:
        _each(lambda job: self._log_file(*job), tree.files)

    def _write_bytes(self, data: bytes, rel: str) -> None:
        self._put(rel, data)

    # -- reads -------------------------------------------------------------------------------

    def _list(self, rel: str) -> list[FileInfo]:
        full = _join(self._root, rel)
        payload = self._http.call("GET", self._endpoint, params={"path": full or None})
        files = payload.get("files") or []
        if not isinstance(files, list):
            raise MltrailError(
                f"Invalid listing of {self._where(rel)} from {self._http.display_base}: "
                "'files' is not a JSON array"
            )
        infos = []
        for entry in files:
            info = FileInfo.from_dict(entry)
            try:
                child = safe_relative_path(_join(rel, info.path))
            except InvalidArgument as exc:
                raise MltrailError(
                    f"The server at {self._http.display_base} listed an unsafe artifact name "
                    f"{info.path!r} under {rel!r}"
                ) from exc
            if not child.startswith(f"{rel}/" if rel else "") or child == rel:
                raise MltrailError(
                    f"The server at {self._http.display_base} listed {info.path!r}, which is "
                    f"not inside {rel!r}"
                )
            infos.append(FileInfo(child, info.is_dir, info.file_size))
        return infos

    def _read_bytes(self, rel: str) -> bytes:
        try:
            return self._http.request(
                "GET", self._url_path(rel), headers=_DOWNLOAD_HEADERS, read=lambda r: r.read()
            )
        except NotFound as exc:
            raise NotFound(f"No artifact at {self._where(rel)}") from exc

    def _download(self, rel: str, local_target: str) -> None:
        if rel:
            try:
                self._fetch(rel, local_target)
                return
            except (NotFound, InvalidArgument) as exc:
                # A directory, or nothing: the listing tells which.
                first_error: MltrailError = exc
            entries = self._list(rel)
            if not entries:
                if isinstance(first_error, NotFound):
                    raise NotFound(f"No artifact at {self._where(rel)}") from first_error
                raise first_error
        else:
            entries = self._list(rel)
        self._download_tree(rel, local_target, entries)

    def _download_tree(self, rel: str, local_target: str, entries: list[FileInfo]) -> None:
        files: list[tuple[str, str]] = []
        pending = [entries]
        self._makedirs(local_target)
        while pending:
            for info in pending.pop():
                below = info.path[len(rel) :].lstrip("/")
                local = os.path.join(local_target, *below.split("/"))
                if info.is_dir:
                    self._makedirs(local)
                    pending.append(self._list(info.path))
                else:
                    files.append((info.path, local))
        _each(lambda job: self._fetch(*job), files)

    def _fetch(self, rel: str, local_path: str) -> None:
        """Stream the file ``rel`` into ``local_path`` through a temporary file beside it.

        On failure the temporary file goes, and so do the directories this call created.
        """
        directory = os.path.dirname(local_path) or "."
        created = self._makedirs(directory)
        try:
            handle, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=directory)
            os.close(handle)
        except OSError as exc:
            _remove_empty_dirs(created)
            raise self._local_failure(directory, exc) from exc

        def write(response: httpx.Response) -> None:
            try:
                with open(temp, "wb") as out:
                    for chunk in response.iter_bytes(_CHUNK):
                        out.write(chunk)
            except OSError as exc:
                raise self._local_failure(temp, exc) from exc

        try:
            self._http.request("GET", self._url_path(rel), headers=_DOWNLOAD_HEADERS, read=write)
            os.replace(temp, local_path)
        except BaseException as exc:
            remove_quietly(temp)
            _remove_empty_dirs(created)
            if isinstance(exc, OSError):
                raise self._local_failure(local_path, exc) from exc
            raise

    # -- delete ------------------------------------------------------------------------------

    def _delete(self, rel: str) -> None:
        if not _join(self._root, rel):
            # The service root itself has no URL of its own to DELETE: remove its entries.
            _each(lambda info: self._delete(info.path), self._list(rel))
            return
        try:
            self._http.request("DELETE", self._url_path(rel), read=lambda r: r.read())
        except NotFound:
            return  # already gone: the outcome asked for

    # -- helpers -----------------------------------------------------------------------------

    def _makedirs(self, path: str) -> list[str]:
        """Create ``path`` and its missing parents; the ones created, deepest first."""
        missing = []
        current = os.path.abspath(path)
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise self._local_failure(path, exc) from exc
        return missing

    @staticmethod
    def _local_failure(path: str, exc: OSError) -> MltrailError:
        return MltrailError(f"Could not write the download to {path!r}: {exc.strerror or exc}")


def _each(work: Callable[[J], None], jobs: Sequence[J]) -> None:
    """Run ``work`` on every job, a few at a time (one connection each); the first error
    wins and the jobs not started yet are cancelled."""
    if len(jobs) <= 1:
        for job in jobs:
            work(job)
        return
    with concurrent.futures.ThreadPoolExecutor(min(_MAX_WORKERS, len(jobs))) as pool:
        futures = [pool.submit(work, job) for job in jobs]
        try:
            for future in concurrent.futures.as_completed(futures):
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _remove_empty_dirs(created: list[str]) -> None:
    for path in created:  # deepest first
        try:
            os.rmdir(path)
        except OSError:
            return
