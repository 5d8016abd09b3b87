"""The proxied artifact service (``/api/2.0/mlflow-artifacts``) and the UI's file helpers
(``/get-artifact``, ``upload-artifact``), over real HTTP against a real uvicorn server."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import subprocess
import tempfile
import textwrap
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures_server import RunningServer, start_server
from mltrail.entities.file_info import FileInfo
from mltrail.errors import InvalidArgument, NotFound
from mltrail.server.config import ServerConfig
from mltrail.server.streaming import RangeNotSatisfiable, content_type_for, parse_range
from mltrail.storage.artifacts import ArtifactRepository, LocalArtifactRepository
from mltrail.storage.artifacts.base import LocalTree

MiB = 1024 * 1024
PROXY = "/api/2.0/mlflow-artifacts"
TEMP_PREFIX = ".mltrail-tmp-"


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


def destination(server: RunningServer) -> Path:
    return Path(server.config.artifacts_destination)


def raw_request(
    server: RunningServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request sent byte for byte (no client-side normalisation of the target)."""
    url = httpx.URL(server.url)
    assert url.port is not None
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {url.host}:{url.port}",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), parsed, payload


def error_of(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data


def snapshot(top: Path) -> dict[str, bytes | None]:
    """Every entry below ``top`` (symlinks not followed), except the server's database."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(top))
            if rel.startswith("server.db"):
                continue
            if path.is_symlink():
                found[rel] = b"-> " + os.readlink(path).encode()
            elif path.is_file():
                found[rel] = path.read_bytes()
            else:
                found[rel] = None
    return found


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def temp_files(top: Path) -> list[Path]:
    # os.walk, not rglob: the server may remove the directories it made, the root included,
    # while the walk is under way, and os.walk skips a directory that has gone.
    return [
        Path(folder, name)
        for folder, dirs, files in os.walk(top)
        for name in dirs + files
        if name.startswith(TEMP_PREFIX)
    ]


def create_run(client: httpx.Client, server: RunningServer) -> dict[str, Any]:
    response = client.post(
        f"{server.url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}
    )
    assert response.status_code == 200, response.text
    info: dict[str, Any] = response.json()["run"]["info"]
    return info


# -- round trips ---------------------------------------------------------------------------


def test_put_get_list_delete_round_trip(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    api = tracking_server.url + PROXY
    data = bytes(range(256)) * 40
    for path in ("model/weights.bin", "model/conf/params.yaml", "top.txt"):
        response = client.put(f"{api}/artifacts/{path}", content=data)
        assert response.status_code == 200
        assert response.json() == {}

    got = client.get(f"{api}/artifacts/model/weights.bin")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-length"] == str(len(data))
    assert (destination(tracking_server) / "model" / "weights.bin").read_bytes() == data

    listed = client.get(f"{api}/artifacts", params={"path": "model"}).json()
    assert listed == {
        "files": [
            {"path": "conf", "is_dir": True},
            {"path": "weights.bin", "is_dir": False, "file_size": len(data)},
        ]
    }
    assert client.get(f"{api}/artifacts").json() == {
        "files": [
            {"path": "model", "is_dir": True},
            {"path": "top.txt", "is_dir": False, "file_size": len(data)},
        ]
    }
    assert client.get(f"{api}/artifacts", params={"path": "missing"}).json() == {}
    assert client.get(f"{api}/artifacts", params={"path": "top.txt"}).json() == {}

    assert client.delete(f"{api}/artifacts/model").json() == {}
    assert client.get(f"{api}/artifacts").json()["files"] == [
        {"path": "top.txt", "is_dir": False, "file_size": len(data)}
    ]
    missing = client.get(f"{api}/artifacts/model/weights.bin")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert client.delete(f"{api}/artifacts/never/was").json() == {}


def test_upload_takes_any_content_type_and_overwrites(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    api = tracking_server.url + PROXY
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        body = f"not json at all, sent as {content_type}".encode()
        response = client.put(
            f"{api}/artifacts/f.dat", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 200, response.text
        assert client.get(f"{api}/artifacts/f.dat").content == body
    empty = client.put(f"{api}/artifacts/empty.txt", content=b"")
    assert empty.status_code == 200
    assert client.get(f"{api}/artifacts/empty.txt").content == b""
    assert temp_files(destination(tracking_server)) == []


def test_ajax_twin_and_names_needing_quoting(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    name = "runs/my file ü 100%.txt"
    response = client.put(
        f"{tracking_server.url}/ajax-api/2.0/mlflow-artifacts/artifacts/{name}", content=b"hi"
    )
    assert response.status_code == 200, response.text
    got = client.get(f"{tracking_server.url}{PROXY}/artifacts/{name}")
    assert got.content == b"hi"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="my file _ 100%.txt"')
    assert "filename*=UTF-8''my%20file%20%C3%BC%20100%25.txt" in disposition
    listed = client.get(f"{tracking_server.url}{PROXY}/artifacts", params={"path": "runs"})
    assert listed.json()["files"] == [{"path": "my file ü 100%.txt", "is_dir": False, "file_size": 2}]


def test_download_headers(tracking_server: RunningServer, client: httpx.Client) -> None:
    api = tracking_server.url + PROXY
    expected = {
        "notes.txt": "text/plain; charset=utf-8",
        "page.html": "text/plain; charset=utf-8",
        "logo.svg": "text/plain; charset=utf-8",
        "MLmodel": "text/plain; charset=utf-8",
        "chart.png": "image/png",
        "blob.bin": "application/octet-stream",
        "noextension": "application/octet-stream",
    }
    for name, content_type in expected.items():
        client.put(f"{api}/artifacts/d/{name}", content=b"<script>alert(1)</script>")
        response = client.get(f"{api}/artifacts/d/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type, name
        assert response.headers["content-disposition"].startswith(
            f'attachment; filename="{name}"'
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["accept-ranges"] == "bytes"
        assert "sandbox" in response.headers["content-security-policy"]


def test_errors_for_directories_roots_and_clashes(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    api = tracking_server.url + PROXY
    client.put(f"{api}/artifacts/dir/f.txt", content=b"x")
    directory = client.get(f"{api}/artifacts/dir")
    assert directory.status_code == 400
    assert directory.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "directory" in directory.json()["message"]
    onto_dir = client.put(f"{api}/artifacts/dir", content=b"x")
    assert onto_dir.status_code == 400
    under_file = client.put(f"{api}/artifacts/dir/f.txt/g.txt", content=b"x")
    assert under_file.status_code == 400
    for root in ("", ".", "./", "dir/.."):
        status, _, body = raw_request(tracking_server, "DELETE", f"{PROXY}/artifacts/{root}")
        assert status == 400, root
        assert error_of(body)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert (destination(tracking_server) / "dir" / "f.txt").read_bytes() == b"x"
    long_name = client.put(f"{api}/artifacts/{'n' * 300}", content=b"x")
    assert long_name.status_code == 400
    assert long_name.json()["message"].startswith("Invalid path")
    missing = client.get(f"{api}/artifacts/nope.txt")
    assert missing.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "No artifact at 'nope.txt'"}


def test_special_files_are_refused_without_blocking(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    (destination(tracking_server) / "pipes").mkdir(parents=True)
    os.mkfifo(destination(tracking_server) / "pipes" / "fifo")
    response = client.get(f"{tracking_server.url}{PROXY}/artifacts/pipes/fifo", timeout=10)
    assert response.status_code == 400
    assert response.json()["message"].endswith("it is not a regular file")


# -- ranges --------------------------------------------------------------------------------


def test_range_requests(tracking_server: RunningServer, client: httpx.Client) -> None:
    api = tracking_server.url + PROXY
    data = os.urandom(1000)
    client.put(f"{api}/artifacts/r.bin", content=data)
    url = f"{api}/artifacts/r.bin"
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=100-199": (100, 199),
        "bytes=-10": (990, 999),
        "bytes=990-": (990, 999),
        "bytes=995-5000": (995, 999),
        "bytes=-5000": (0, 999),
        "BYTES = 5-5": (5, 5),
    }
    for header, (first, last) in cases.items():
        response = client.get(url, headers={"range": header})
        assert response.status_code == 206, header
        assert response.headers["content-range"] == f"bytes {first}-{last}/1000"
        assert response.headers["content-length"] == str(last - first + 1)
        assert response.content == data[first : last + 1]
    for header in ("bytes=1000-", "bytes=5000-6000", "bytes=-0"):
        response = client.get(url, headers={"range": header})
        assert response.status_code == 416, header
        assert response.headers["content-range"] == "bytes */1000"
        assert response.json()["message"].startswith("Range not satisfiable")
    for ignored in ("bytes=0-1,5-6", "bytes=9-2", "items=0-1", "bytes=x-"):
        response = client.get(url, headers={"range": ignored})
        assert response.status_code == 200, ignored
        assert response.content == data
    client.put(f"{api}/artifacts/empty", content=b"")
    assert client.get(f"{api}/artifacts/empty", headers={"range": "bytes=0-"}).status_code == 416


def test_parse_range_unit() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-4", 10) == (2, 4)
    assert parse_range("bytes=" + "9" * 30 + "-", 10) is None  # too long a number: ignored
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=10-", 10)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-3", 0)
    assert content_type_for("a/b/report.HTML") == "text/plain"
    assert content_type_for("archive.tar.gz") == "application/octet-stream"


# -- big files, bounded memory -------------------------------------------------------------


@pytest.mark.slow
def test_50_mib_round_trip_keeps_memory_flat(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    url = f"{tracking_server.url}{PROXY}/artifacts/big/model.bin"
    size = 50 * MiB
    block = os.urandom(MiB)

    def body() -> Iterator[bytes]:
        for index in range(size // MiB):
            yield bytes([index]) + block[1:]

    expected = hashlib.sha256()
    for chunk in body():
        expected.update(chunk)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        response = client.put(url, content=body())
        upload_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        got = hashlib.sha256()
        received = 0
        with client.stream("GET", url) as download:
            assert download.status_code == 200
            assert download.headers["content-length"] == str(size)
            for chunk in download.iter_bytes():
                got.update(chunk)
                received += len(chunk)
        download_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    print(
        f"\n50 MiB transfer: tracemalloc peak upload {upload_peak / MiB:.2f} MiB, "
        f"download {download_peak / MiB:.2f} MiB; max RSS growth {rss_growth / 1024:.1f} MiB"
    )
    assert response.status_code == 200, response.text
    assert received == size
    assert got.hexdigest() == expected.hexdigest()
    assert upload_peak < 10 * MiB
    assert download_peak < 10 * MiB
    assert rss_growth < 40 * 1024  # KiB on Linux; vacuous if the process peaked earlier
    assert (destination(tracking_server) / "big" / "model.bin").stat().st_size == size


# -- aborted uploads -----------------------------------------------------------------------


def test_upload_aborted_by_the_client_leaves_nothing(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    dest = destination(tracking_server)
    url = f"{tracking_server.url}{PROXY}/artifacts/part/file.bin"

    def half_then_fail() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * MiB
        wait_until(lambda: temp_files(dest) != [], "the server is writing a temporary file")
        raise RuntimeError("the client gave up")

    with pytest.raises(RuntimeError, match="the client gave up"):
        client.put(url, content=half_then_fail())
    # The temporary file goes, and so does the directory the upload made for it.
    wait_until(lambda: temp_files(dest) == [] and not (dest / "part").exists(), "cleaned up")
    time.sleep(0.2)  # and it stays so
    assert temp_files(dest) == [] and not (dest / "part").exists()
    assert client.get(url).status_code == 404


def test_connection_closed_mid_body_leaves_nothing(tracking_server: RunningServer) -> None:
    dest = destination(tracking_server)
    url = httpx.URL(tracking_server.url)
    assert url.port is not None
    head = (
        f"PUT {PROXY}/artifacts/cut/file.bin HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Content-Length: {8 * MiB}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(head + b"y" * (3 * MiB))
        wait_until(lambda: temp_files(dest) != [], "the server is writing a temporary file")
        # The upload waits on the network, not on the event loop: the server still answers.
        assert httpx.get(f"{tracking_server.url}/health", timeout=5).text == "OK"
    wait_until(lambda: temp_files(dest) == [] and not (dest / "cut").exists(), "cleaned up")
    time.sleep(0.2)  # and it stays so
    assert temp_files(dest) == [] and not (dest / "cut").exists()


# -- traversal and smuggling ---------------------------------------------------------------


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    """One server for the attack matrix, with canaries outside its destination and a
    symlink inside it that leads outside."""
    top = tmp_path_factory.mktemp("exposed")
    server = start_server(
        ServerConfig(
            backend_store_uri=f"sqlite:///{top / 'server.db'}",
            artifacts_destination=str(top / "artifacts"),
        )
    )
    try:
        (top / "x").write_bytes(b"canary x")
        (top / "y").write_bytes(b"canary y")
        (top / "outside").mkdir()
        (top / "outside" / "secret.txt").write_bytes(b"canary secret")
        (top / "artifacts" / "keep").mkdir(parents=True)
        (top / "artifacts" / "keep" / "f.txt").write_bytes(b"inside")
        (top / "artifacts" / "link").symlink_to(top / "outside")
        yield server, top
    finally:
        server.stop()


# Each names, relative to the destination, something outside it (or smuggles a delimiter).
PATH_ATTACKS = [
    "../x",
    "a/../../x",
    "keep/../../x",
    "..\\x",
    "..%5Cx",
    "%2e%2e/x",
    "%2E%2E/%2e%2e/x",
    ".%2e/x",
    "%252e%252e%252fx",
    "..%2fx",
    "keep%2f..%2f..%2fx",
    "..;/x",
    "x;/../../y",
    "{top}/outside/secret.txt",
    "C:\\x",
    "C:%5Cx",
    "\\\\server\\share",
    "file://{top}/outside/secret.txt",
    "file:{top}/outside/secret.txt",
    "x%23/../..",
    "x%3F/../../y",
    "%00x",
    "x%0a",
    "link/secret.txt",
    "link/new.txt",
]


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
@pytest.mark.parametrize("attack", PATH_ATTACKS)
def test_path_attacks_are_refused(
    exposed: tuple[RunningServer, Path], attack: str, method: str
) -> None:
    server, top = exposed
    target = f"{PROXY}/artifacts/" + attack.format(top=top)
    for base in (PROXY, "/ajax-api/2.0/mlflow-artifacts"):
        before = snapshot(top)
        status, _, body = raw_request(
            server, method, target.replace(PROXY, base, 1), body=b"pwned"
        )
        assert status == 400, body
        error = error_of(body)
        assert error["error_code"] == "INVALID_PARAMETER_VALUE"
        assert error["message"].startswith("Invalid")
        assert b"canary" not in body
        assert snapshot(top) == before


QUERY_ATTACKS = [
    "../x",
    "a/../../x",
    "..\\x",
    "%2e%2e/x",
    "%252e%252e%252f",
    "..%2fx",
    "..;/x",
    "x;/../../y",
    "/etc",
    "//etc",
    "C:\\Windows",
    "\\\\server\\share",
    "file:///etc/passwd",
    "file:/etc",
    "x#/../..",
    "\x00x",
]


@pytest.mark.parametrize("attack", [*QUERY_ATTACKS, "link", "link/"])
def test_list_path_attacks_are_refused(
    exposed: tuple[RunningServer, Path], attack: str
) -> None:
    server, top = exposed
    response = httpx.get(f"{server.url}{PROXY}/artifacts", params={"path": attack})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "secret" not in response.text and "passwd" not in response.json().get("files", "")


def test_unicode_lookalike_dots_stay_inside(exposed: tuple[RunningServer, Path]) -> None:
    server, top = exposed
    before_outside = {k: v for k, v in snapshot(top).items() if not k.startswith("artifacts")}
    response = httpx.put(f"{server.url}{PROXY}/artifacts/．．/x", content=b"lookalike")
    assert response.status_code == 200
    assert (top / "artifacts" / "．．" / "x").read_bytes() == b"lookalike"
    after_outside = {k: v for k, v in snapshot(top).items() if not k.startswith("artifacts")}
    assert after_outside == before_outside


def test_multipart_and_presigned_are_not_implemented(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    api = tracking_server.url + PROXY
    for action in ("create", "complete", "abort"):
        response = client.post(f"{api}/mpu/{action}/models/m1", json={"path": "model.bin"})
        assert response.status_code == 501
        assert response.json() == {
            "error_code": "NOT_IMPLEMENTED",
            "message": "Multipart upload is not supported for the current artifact repository",
        }
        bad_dir = raw_request(tracking_server, "POST", f"{PROXY}/mpu/{action}/..%2f..%2fx")
        assert bad_dir[0] == 400
        # The official client sends its own local file path; it is never used, so never refused.
        local_name = client.post(f"{api}/mpu/{action}/models", json={"path": "/home/me/m.bin"})
        assert local_name.status_code == 501
    presigned = client.get(f"{api}/presigned/models/m1/model.bin")
    assert presigned.status_code == 501
    assert presigned.json()["error_code"] == "NOT_IMPLEMENTED"
    info = client.get(f"{tracking_server.url}/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is False


# -- server modes --------------------------------------------------------------------------


def test_no_serve_artifacts_answers_503(
    tmp_path: Path, server_factory: Callable[[ServerConfig], RunningServer], client: httpx.Client
) -> None:
    server = server_factory(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
            artifacts_destination=str(tmp_path / "artifacts"),
            serve_artifacts=False,
        )
    )
    for base in ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts"):
        for method, path in (
            ("PUT", "/artifacts/a.txt"),
            ("GET", "/artifacts/a.txt"),
            ("GET", "/artifacts"),
            ("DELETE", "/artifacts/a.txt"),
            ("POST", "/mpu/create/a"),
        ):
            response = client.request(method, f"{server.url}{base}{path}", content=b"x")
            assert response.status_code == 503, (method, base, path)
            assert response.headers["content-type"].startswith("text/plain")
            assert "--no-serve-artifacts" in response.text
    assert not (tmp_path / "artifacts" / "a.txt").exists()
    searched = client.post(f"{server.url}/api/2.0/mlflow/experiments/search", json={})
    assert searched.status_code == 200
    # The UI helper still reads a run's files from its own (local) artifact root.
    run = create_run(client, server)
    assert not run["artifact_uri"].startswith("mlflow-artifacts:")
    uploaded = client.post(
        f"{server.url}/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_uuid": run["run_id"], "path": "f.txt"},
        content=b"local",
        headers={"content-type": "application/octet-stream"},
    )
    assert uploaded.status_code == 200, uploaded.text
    got = client.get(f"{server.url}/get-artifact", params={"run_id": run["run_id"], "path": "f.txt"})
    assert got.content == b"local"


def test_artifacts_only_serves_the_proxy_alone(
    tmp_path: Path, server_factory: Callable[[ServerConfig], RunningServer], client: httpx.Client
) -> None:
    server = server_factory(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
            artifacts_destination=str(tmp_path / "artifacts"),
            artifacts_only=True,
        )
    )
    for method, path in (
        ("POST", "/api/2.0/mlflow/experiments/search"),
        ("GET", "/api/2.0/mlflow/runs/get?run_id=x"),
        ("GET", "/get-artifact?run_id=x&path=f.txt"),
        ("POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=x&path=f.txt"),
    ):
        response = client.request(method, server.url + path, json={})
        assert response.status_code == 503, path
        assert response.headers["content-type"].startswith("text/plain")
    api = server.url + PROXY
    assert client.put(f"{api}/artifacts/only/a.txt", content=b"proxy").status_code == 200
    assert client.get(f"{api}/artifacts/only/a.txt").content == b"proxy"
    assert client.get(f"{server.url}/health").text == "OK"
    assert client.get(f"{server.url}/api/3.0/mlflow/server-info").json()["artifacts_only"] is True


def test_static_prefix(
    tmp_path: Path, server_factory: Callable[[ServerConfig], RunningServer], client: httpx.Client
) -> None:
    server = server_factory(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
            artifacts_destination=str(tmp_path / "artifacts"),
            static_prefix="/mlflow",
        )
    )
    api = f"{server.url}/mlflow{PROXY}"
    assert client.put(f"{api}/artifacts/p.txt", content=b"prefixed").status_code == 200
    assert client.get(f"{api}/artifacts/p.txt").content == b"prefixed"
    assert client.get(f"{server.url}{PROXY}/artifacts/p.txt").status_code == 404
    response = client.post(
        f"{server.url}/mlflow/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}
    )
    run_id = response.json()["run"]["info"]["run_id"]
    got = client.get(f"{server.url}/mlflow/get-artifact", params={"run_id": run_id, "path": "n"})
    assert got.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


# -- the UI helpers ------------------------------------------------------------------------


def test_get_artifact_for_a_run_on_the_proxy(
    tracking_server: RunningServer, client: httpx.Client
) -> None:
    run = create_run(client, tracking_server)
    assert run["artifact_uri"].startswith("mlflow-artifacts:/")
    root = run["artifact_uri"][len("mlflow-artifacts:") :].strip("/")
    put = client.put(f"{tracking_server.url}{PROXY}/artifacts/{root}/plots/loss.txt", content=b"0.1")
    assert put.status_code == 200
    for key in ("run_id", "run_uuid"):
        got = client.get(
            f"{tracking_server.url}/get-artifact", params={key: run["run_id"], "path": "plots/loss.txt"}
        )
        assert got.status_code == 200
        assert got.content == b"0.1"
        assert got.headers["content-disposition"].startswith('attachment; filename="loss.txt"')
        assert got.headers["x-content-type-options"] == "nosniff"
    ranged = client.get(
        f"{tracking_server.url}/get-artifact",
        params={"run_id": run["run_id"], "path": "plots/loss.txt"},
        headers={"range": "bytes=-1"},
    )
    assert (ranged.status_code, ranged.content) == (206, b"1")

    missing_run = client.get(f"{tracking_server.url}/get-artifact", params={"run_id": "nope", "path": "a"})
    assert missing_run.status_code == 404
    assert missing_run.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    traversal_run = client.get(
        f"{tracking_server.url}/get-artifact", params={"run_id": "../../x", "path": "a"}
    )
    assert traversal_run.status_code == 404
    no_path = client.get(f"{tracking_server.url}/get-artifact", params={"run_id": run["run_id"]})
    assert no_path.status_code == 400
    assert no_path.json()["message"].startswith("Missing value for required parameter 'path'")
    missing_file = client.get(
        f"{tracking_server.url}/get-artifact", params={"run_id": run["run_id"], "path": "nope"}
    )
    assert missing_file.status_code == 404


@pytest.mark.parametrize("attack", QUERY_ATTACKS + ["../../../../x", "plots/../../../../../x"])
def test_get_artifact_path_attacks_are_refused(
    tracking_server: RunningServer, client: httpx.Client, tmp_path: Path, attack: str
) -> None:
    (tmp_path / "x").write_bytes(b"canary x")
    run = create_run(client, tracking_server)
    for run_id in (run["run_id"], "no-such-run"):  # the path is checked before the lookup
        response = client.get(
            f"{tracking_server.url}/get-artifact", params={"run_id": run_id, "path": attack}
        )
        assert response.status_code == 400
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "canary" not in response.text


def test_get_artifact_refuses_a_symlink_out_of_the_run(
    tracking_server: RunningServer, client: httpx.Client, tmp_path: Path
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(b"canary secret")
    run = create_run(client, tracking_server)
    root = run["artifact_uri"][len("mlflow-artifacts:") :].strip("/")
    run_dir = destination(tracking_server) / root
    run_dir.mkdir(parents=True)
    (run_dir / "link").symlink_to(tmp_path / "outside")
    response = client.get(
        f"{tracking_server.url}/get-artifact",
        params={"run_id": run["run_id"], "path": "link/secret.txt"},
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "canary" not in response.text


def test_upload_artifact_into_a_run(tracking_server: RunningServer, client: httpx.Client) -> None:
    run = create_run(client, tracking_server)
    url = f"{tracking_server.url}/ajax-api/2.0/mlflow/upload-artifact"
    params = {"run_uuid": run["run_id"], "path": "uploads/table.json"}
    stored = client.post(
        url, params=params, content=b'{"a": 1}', headers={"content-type": "application/json"}
    )
    assert stored.status_code == 200, stored.text
    assert stored.json() == {}
    got = client.get(
        f"{tracking_server.url}/get-artifact", params={"run_id": run["run_id"], "path": "uploads/table.json"}
    )
    assert got.content == b'{"a": 1}'
    root = run["artifact_uri"][len("mlflow-artifacts:") :].strip("/")
    assert (destination(tracking_server) / root / "uploads" / "table.json").exists()

    for simple in ({}, {"content-type": "text/plain"}, {"content-type": "multipart/form-data; boundary=x"}):
        refused = client.post(url, params=params, content=b"csrf", headers=simple)
        assert refused.status_code == 400, simple
        assert refused.json()["message"].startswith("Bad Request. Content-Type")
    octet = {"content-type": "application/octet-stream"}
    for bad_path in ("../../x", "/etc/passwd", "a/%2e%2e/b"):
        refused = client.post(
            url, params={"run_uuid": run["run_id"], "path": bad_path}, content=b"x", headers=octet
        )
        assert refused.status_code == 400, bad_path
    no_run = client.post(url, params={"run_uuid": "nope", "path": "f"}, content=b"x", headers=octet)
    assert no_run.status_code == 404


# -- the official MLflow client ------------------------------------------------------------

MLFLOW_PYTHON = Path(__file__).resolve().parents[1] / ".venv-mlflow" / "bin" / "python"

OFFICIAL_CLIENT_SCRIPT = textwrap.dedent(
    """
    import filecmp, os, sys
    import mlflow
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    work = sys.argv[1]
    src = os.path.join(work, "src")
    os.makedirs(os.path.join(src, "sub dir"))
    with open(os.path.join(src, "model.bin"), "wb") as out:
        out.write(os.urandom(3 * 1024 * 1024 + 5))
    with open(os.path.join(src, "sub dir", "notes \u00fc.txt"), "w") as out:
        out.write("hello")
    open(os.path.join(src, "empty.txt"), "w").close()

    with mlflow.start_run() as run:
        mlflow.log_artifact(os.path.join(src, "model.bin"))
        mlflow.log_artifacts(src, artifact_path="tree")
        mlflow.log_text("some text", "texts/a.txt")
    uri = run.info.artifact_uri
    assert uri.startswith("mlflow-artifacts:/"), uri

    repo = get_artifact_repository(uri)
    top = sorted((f.path, f.is_dir) for f in repo.list_artifacts())
    assert top == [("model.bin", False), ("texts", True), ("tree", True)], top
    tree = sorted((f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("tree"))
    assert tree == [
        ("tree/empty.txt", False, 0),
        ("tree/model.bin", False, 3 * 1024 * 1024 + 5),
        ("tree/sub dir", True, None),
    ], tree
    dst = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=os.path.join(work, "dl"))
    for dirpath, _, names in os.walk(src):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), src)
            assert filecmp.cmp(
                os.path.join(src, rel), os.path.join(dst, "tree", rel), shallow=False
            ), rel
    assert filecmp.cmp(os.path.join(src, "model.bin"), os.path.join(dst, "model.bin"), shallow=False)
    assert mlflow.artifacts.load_text(uri + "/texts/a.txt") == "some text"

    # Opting in to multipart uploads: the client meets our 501 and falls back to a plain PUT.
    os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "true"
    os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(1024 * 1024)
    tried = []
    create_upload = repo.create_multipart_upload

    def counting(*args, **kwargs):
        tried.append(args)
        return create_upload(*args, **kwargs)

    repo.create_multipart_upload = counting
    repo.log_artifact(os.path.join(src, "model.bin"), "mpu")
    assert tried, "the client did not try a multipart upload"
    assert [f.path for f in repo.list_artifacts("mpu")] == ["mpu/model.bin"]
    repo.delete_artifacts("mpu")
    assert repo.list_artifacts("mpu") == []
    print("OFFICIAL CLIENT OK")
    """
)


@pytest.mark.slow
def test_the_official_mlflow_client(tracking_server: RunningServer, tmp_path: Path) -> None:
    if not MLFLOW_PYTHON.exists():
        pytest.skip(
            "MLflow is not installed beside the project: uv venv .venv-mlflow && "
            "uv pip install --python .venv-mlflow/bin/python 'mlflow==3.17.2'"
        )
    script = tmp_path / "client.py"
    script.write_text(OFFICIAL_CLIENT_SCRIPT)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "MLTRAIL_", "PYTHON"))
    }
    env["MLFLOW_TRACKING_URI"] = tracking_server.url
    (tmp_path / "work").mkdir()
    done = subprocess.run(
        [str(MLFLOW_PYTHON), str(script), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "OFFICIAL CLIENT OK" in done.stdout


# -- an S3 destination ---------------------------------------------------------------------


@pytest.mark.s3
def test_s3_destination_round_trip(
    tmp_path: Path,
    server_factory: Callable[[ServerConfig], RunningServer],
    s3_bucket: tuple[str, str],
    client: httpx.Client,
) -> None:
    import boto3  # type: ignore[import-untyped]  # no stubs installed

    endpoint, bucket = s3_bucket
    server = server_factory(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
            artifacts_destination=f"s3://{bucket}/prefix",
            s3_endpoint_url=endpoint,
        )
    )
    api = server.url + PROXY
    data = os.urandom(3 * MiB + 17)  # several read blocks
    spooled_before = set(Path(tempfile.gettempdir()).glob("mltrail-upload-*"))

    assert client.put(f"{api}/artifacts/m/model.bin", content=data).status_code == 200
    assert client.put(f"{api}/artifacts/m/conf/a.yaml", content=b"a: 1").status_code == 200
    got = client.get(f"{api}/artifacts/m/model.bin")
    assert got.status_code == 200
    assert got.content == data
    ranged = client.get(f"{api}/artifacts/m/model.bin", headers={"range": "bytes=2097150-2097160"})
    assert ranged.status_code == 206
    assert ranged.content == data[2097150:2097161]
    assert client.get(f"{api}/artifacts", params={"path": "m"}).json() == {
        "files": [
            {"path": "conf", "is_dir": True},
            {"path": "model.bin", "is_dir": False, "file_size": len(data)},
        ]
    }
    directory = client.get(f"{api}/artifacts/m/conf")
    assert directory.status_code == 400
    missing = client.get(f"{api}/artifacts/m/none")
    assert missing.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "No artifact at 'm/none'"}
    assert client.put(f"{api}/artifacts/m/empty.txt", content=b"").status_code == 200
    empty = client.get(f"{api}/artifacts/m/empty.txt")
    assert (empty.status_code, empty.content) == (200, b"")
    assert client.delete(f"{api}/artifacts/m/empty.txt").json() == {}

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    try:
        keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"])
        assert keys == ["prefix/m/conf/a.yaml", "prefix/m/model.bin"]
        assert client.delete(f"{api}/artifacts/m").json() == {}
        assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    finally:
        s3.close()
    assert set(Path(tempfile.gettempdir()).glob("mltrail-upload-*")) == spooled_before


@pytest.mark.s3
def test_s3_destination_aborted_upload_reaches_nothing(
    tmp_path: Path,
    server_factory: Callable[[ServerConfig], RunningServer],
    s3_bucket: tuple[str, str],
    client: httpx.Client,
) -> None:
    endpoint, bucket = s3_bucket
    server = server_factory(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
            artifacts_destination=f"s3://{bucket}/prefix",
            s3_endpoint_url=endpoint,
        )
    )
    spool_dir = Path(tempfile.gettempdir())
    spooled_before = set(spool_dir.glob("mltrail-upload-*"))

    def spooling() -> bool:
        return bool(set(spool_dir.glob("mltrail-upload-*")) - spooled_before)

    def half_then_fail() -> Iterator[bytes]:
        yield b"z" * MiB
        wait_until(spooling, "the server spools the upload")
        raise RuntimeError("the client gave up")

    with pytest.raises(RuntimeError, match="the client gave up"):
        client.put(f"{server.url}{PROXY}/artifacts/cut.bin", content=half_then_fail())
    wait_until(lambda: not spooling(), "the spool file is removed")
    assert client.get(f"{server.url}{PROXY}/artifacts").json() == {}


# -- streaming on a repository that predates it -------------------------------------------


class PluginRepository(ArtifactRepository):
    """A plugin that implements only the abstract primitives (here by delegation), so the
    base class's default ``_open_read`` / ``_write_stream`` are the ones used."""

    def __init__(self, root: Path) -> None:
        super().__init__(f"plugin://{root}")
        self.inner = LocalArtifactRepository(str(root))

    def _log_file(self, local_file: str, rel: str) -> None:
        self.inner.log_artifact(local_file, rel.rpartition("/")[0] or None)
        produced = self.inner.root + "/" + (rel.rpartition("/")[0] + "/" if "/" in rel else "")
        os.replace(produced + os.path.basename(local_file), self.inner.root + "/" + rel)

    def _log_tree(self, tree: LocalTree, rel_dir: str) -> None:
        raise NotImplementedError

    def _write_bytes(self, data: bytes, rel: str) -> None:
        self.inner.log_bytes(data, rel)

    def _list(self, rel: str) -> list[FileInfo]:
        return self.inner.list_artifacts(rel or None)

    def _download(self, rel: str, local_target: str) -> None:
        source = Path(self.inner.root, rel)
        if source.is_dir():
            os.makedirs(local_target)
        else:
            Path(local_target).write_bytes(self.inner.read_bytes(rel))

    def _read_bytes(self, rel: str) -> bytes:
        return self.inner.read_bytes(rel)

    def _delete(self, rel: str) -> None:
        self.inner.delete_artifacts(rel)


def test_default_streaming_primitives(tmp_path: Path) -> None:
    repo = PluginRepository(tmp_path / "store")
    spool_dir = Path(tempfile.gettempdir())
    leftovers_before = set(spool_dir.glob("mltrail-*"))

    repo.write_stream("d/f.bin", iter([b"abc", b"", b"def", b"g"]))
    with repo.open_read("d/f.bin") as handle:
        handle.seek(2)
        assert handle.read() == b"cdefg"
    with pytest.raises(InvalidArgument, match="it is a directory, not a file"):
        repo.open_read("d")
    with pytest.raises(NotFound, match="No artifact"):
        repo.open_read("missing")
    with pytest.raises(InvalidArgument, match="names the artifact root"):
        repo.write_stream("", iter([b"x"]))

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise ConnectionError("the source died")

    with pytest.raises(ConnectionError, match="the source died"):
        repo.write_stream("d/broken.bin", broken())
    with pytest.raises(InvalidArgument, match="expected chunks of bytes, got str"):
        repo.write_stream("d/typed.bin", iter(["text"]))  # type: ignore[arg-type]
    assert sorted(p.name for p in (tmp_path / "store" / "d").iterdir()) == ["f.bin"]
    assert set(spool_dir.glob("mltrail-*")) == leftovers_before


def test_local_streaming_leaves_nothing_on_failure(tmp_path: Path) -> None:
    repo = LocalArtifactRepository(str(tmp_path / "store"))

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise ConnectionError("the source died")

    with pytest.raises(ConnectionError, match="the source died"):
        repo.write_stream("new/dir/f.bin", broken())
    assert not (tmp_path / "store").exists() or list((tmp_path / "store").rglob("*")) == []
    repo.write_stream("new/f.bin", iter([b"ok"]))
    with repo.open_read("new/f.bin") as handle:
        assert handle.read() == b"ok"
