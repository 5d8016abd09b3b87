"""The REST store and the proxied artifact repository, on real servers.

Two kinds of server, both real:

* MLflow's own (``mlflow_server``, from ``fixtures_mlflow``): mltrail's ``MltrailClient``
  pointed at ``http://127.0.0.1:<port>`` must work there unchanged, errors included.
* a tiny scripted HTTP server started here in a thread, answering from a queue of replies
  (429 with ``Retry-After``, 503, 500, dropped connections, slow answers, HTML errors...) and
  recording each request, to prove the retry policy, the auth headers and the wire format.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import http.server
import json
import math
import os
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mltrail.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.errors import (
    AlreadyExists,
    BadRequest,
    InvalidArgument,
    MltrailError,
    NotFound,
    NotImplementedByServer,
    RequestLimitExceeded,
    TemporarilyUnavailable,
    Unauthenticated,
)
from mltrail.settings import Settings
from mltrail.storage.artifacts import get_artifact_repository
from mltrail.storage.artifacts.http import HttpArtifactRepository
from mltrail.storage.rest import RestStore
from mltrail.storage.uri import open_tracking_store
from mltrail.tracking.client import MltrailClient

# Fast retries for the scripted-server tests; waits are recorded, not slept, where it matters.
QUICK = Settings(http_max_retries=3, http_backoff_factor=0.01)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------------------------------
# A scripted HTTP server


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: Any = dataclasses.field(default_factory=dict)  # dict/list -> JSON, str/bytes as is
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # seconds before answering


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a slow reply: expected here


class Scripted:
    def __init__(self) -> None:
        self.replies: collections.deque[Reply] = collections.deque()
        self.requests: list[Seen] = []
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)


def _handler(script: Scripted) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self._read_chunked()
            parts = urllib.parse.urlsplit(self.path)
            script.requests.append(
                Seen(
                    self.command,
                    parts.path,
                    urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
            reply = script.replies.popleft() if script.replies else Reply()
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                return
            if isinstance(reply.body, (dict, list)):
                data = json.dumps(reply.body).encode()
                content_type = "application/json"
            else:
                data = reply.body.encode() if isinstance(reply.body, str) else reply.body
                content_type = "text/html; charset=utf-8"
            self.send_response(reply.status)
            headers = {"Content-Type": content_type, **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _read_chunked(self) -> bytes:
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base name
            pass

    return Handler


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    script = Scripted()
    script.thread.start()
    yield script
    script.server.shutdown()
    script.server.server_close()
    script.thread.join(timeout=10)


@pytest.fixture
def make_store() -> Iterator[Callable[..., RestStore]]:
    """RestStore(url, settings, sleep=...) that is closed after the test."""
    made: list[RestStore] = []

    def make(url: str, settings: Settings = QUICK, **kwargs: Any) -> RestStore:
        store = RestStore(url, settings, **kwargs)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def experiment_json(experiment_id: str = "1") -> dict[str, Any]:
    return {
        "experiment": {
            "experiment_id": experiment_id,
            "name": "e",
            "artifact_location": "mlflow-artifacts:/1",
            "lifecycle_stage": "active",
        }
    }


# ---------------------------------------------------------------------------------------------
# Retry policy


def test_429_waits_for_retry_after_then_succeeds(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    waits: list[float] = []
    scripted.reply(
        Reply(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"},
              headers={"Retry-After": "7"}),
        Reply(200, experiment_json("5")),
    )
    store = make_store(scripted.url, sleep=waits.append)
    assert store.get_experiment("5").experiment_id == "5"
    assert len(scripted.requests) == 2
    assert waits == [7.0]


def test_429_on_post_is_retried_and_retry_after_is_capped(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    waits: list[float] = []
    scripted.reply(Reply(429, "busy", headers={"Retry-After": "3600"}), Reply(200, {}))
    store = make_store(scripted.url, sleep=waits.append)
    store.delete_run("r1")
    assert [r.method for r in scripted.requests] == ["POST", "POST"]
    assert waits == [60.0]


def test_429_until_retries_run_out_is_request_limit_exceeded(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    waits: list[float] = []
    envelope = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "quota used up"}
    scripted.reply(*[Reply(429, envelope) for _ in range(10)])
    store = make_store(scripted.url, sleep=waits.append)
    with pytest.raises(RequestLimitExceeded, match="quota used up"):
        store.get_run("r1")
    assert len(scripted.requests) == QUICK.http_max_retries + 1
    assert len(waits) == QUICK.http_max_retries
    # Exponential backoff with jitter: each wait within +-50% of factor * 2**attempt.
    for attempt, wait in enumerate(waits):
        base = QUICK.http_backoff_factor * 2**attempt
        assert 0.5 * base <= wait <= 1.5 * base


def test_503_then_200_is_retried_for_every_method(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    scripted.reply(
        Reply(503, "maintenance"), Reply(200, {"experiment_id": "9"}),
        Reply(503, "maintenance"), Reply(200, experiment_json("9")),
    )
    store = make_store(scripted.url, sleep=lambda _: None)
    assert store.create_experiment("x") == "9"
    assert store.get_experiment("9").name == "e"
    assert [r.method for r in scripted.requests] == ["POST", "POST", "GET", "GET"]


def test_500_is_not_retried(scripted: Scripted, make_store: Callable[..., RestStore]) -> None:
    waits: list[float] = []
    scripted.reply(Reply(500, {"error_code": "INTERNAL_ERROR", "message": "boom"}), Reply(200))
    store = make_store(scripted.url, sleep=waits.append)
    with pytest.raises(MltrailError, match="^boom$") as raised:
        store.get_run("r1")
    assert raised.value.error_code == "INTERNAL_ERROR"
    assert len(scripted.requests) == 1
    assert waits == []


def test_500_without_json_names_status_and_body(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    scripted.reply(Reply(502, "<html><body><h1>Bad gateway</h1></body></html>"))
    store = make_store(scripted.url, sleep=lambda _: None)
    with pytest.raises(MltrailError, match=r"GET .*/runs/get failed with HTTP 502: Bad gateway"):
        store.get_run("r1")
    assert len(scripted.requests) == 1


def test_4xx_is_not_retried(scripted: Scripted, make_store: Callable[..., RestStore]) -> None:
    scripted.reply(Reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad key"}))
    store = make_store(scripted.url, sleep=lambda _: None)
    with pytest.raises(InvalidArgument, match="bad key"):
        store.log_batch("r1", params=[Param("k", "v")])
    assert len(scripted.requests) == 1


def test_connection_refused_is_retried_then_temporarily_unavailable(
    make_store: Callable[..., RestStore],
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    waits: list[float] = []
    store = make_store(
        f"http://alice:s3cret@127.0.0.1:{port}",
        Settings(http_max_retries=2, http_backoff_factor=0.01, tracking_token="t0ken"),
        sleep=waits.append,
    )
    with pytest.raises(
        TemporarilyUnavailable, match=rf"Could not reach .* at http://127\.0\.0\.1:{port} \(3 "
    ) as raised:
        store.create_experiment("never")
    assert len(waits) == 2
    assert "s3cret" not in str(raised.value) and "alice" not in str(raised.value)
    assert "t0ken" not in str(raised.value)
    assert "s3cret" not in repr(store)


def test_dropped_connection_is_retried_for_get_only(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    store = make_store(scripted.url, sleep=lambda _: None)
    scripted.reply(Reply(drop=True), Reply(200, experiment_json("3")))
    assert store.get_experiment("3").experiment_id == "3"
    assert len(scripted.requests) == 2

    scripted.requests.clear()
    scripted.reply(Reply(drop=True), Reply(200, {}))
    with pytest.raises(TemporarilyUnavailable, match="may or may not have been applied"):
        store.log_batch("r1", tags=[RunTag("k", "v")])
    assert len(scripted.requests) == 1  # a POST is never sent twice after it may have landed


def test_read_timeout_is_retried_for_get(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    settings = dataclasses.replace(QUICK, http_timeout=0.3)
    store = make_store(scripted.url, settings, sleep=lambda _: None)
    scripted.reply(Reply(200, experiment_json("4"), delay=1.0), Reply(200, experiment_json("4")))
    assert store.get_experiment("4").experiment_id == "4"
    assert len(scripted.requests) == 2

    scripted.requests.clear()
    scripted.reply(Reply(200, {}, delay=1.0))
    with pytest.raises(TemporarilyUnavailable, match="ReadTimeout"):
        store.delete_experiment("4")
    assert len(scripted.requests) == 1


# ---------------------------------------------------------------------------------------------
# Auth, wire format, error mapping


def test_basic_auth_from_settings(scripted: Scripted, make_store: Callable[..., RestStore]) -> None:
    settings = dataclasses.replace(QUICK, tracking_username="alice", tracking_password="pw:1")
    make_store(scripted.url, settings).get_run("r")
    expected = base64.b64encode(b"alice:pw:1").decode()
    assert scripted.requests[0].headers["authorization"] == f"Basic {expected}"


def test_basic_auth_from_url_userinfo(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    url = scripted.url.replace("http://", "http://bob:secret@")
    make_store(url).get_run("r")
    expected = base64.b64encode(b"bob:secret").decode()
    assert scripted.requests[0].headers["authorization"] == f"Basic {expected}"


def test_bearer_token_from_settings(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    make_store(scripted.url, dataclasses.replace(QUICK, tracking_token="tok-123")).get_run("r")
    assert scripted.requests[0].headers["authorization"] == "Bearer tok-123"
    assert scripted.requests[0].headers["user-agent"].startswith("mltrail/")


def test_401_plain_text_is_unauthenticated_with_a_hint(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    scripted.reply(Reply(401, "You are not authenticated.",
                         headers={"WWW-Authenticate": 'Basic realm="mlflow"'}))
    with pytest.raises(Unauthenticated, match="MLTRAIL_TRACKING_USERNAME"):
        make_store(scripted.url).get_run("r")


def test_html_404_is_endpoint_not_found_not_a_missing_experiment(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    store = make_store(scripted.url)
    scripted.reply(Reply(404, "<h1>Not Found</h1>"))
    with pytest.raises(NotFound, match="HTTP 404: Not Found") as raised:
        store.get_experiment_by_name("x")
    assert raised.value.error_code == "ENDPOINT_NOT_FOUND"
    scripted.reply(Reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}))
    assert store.get_experiment_by_name("x") is None


def test_fastapi_detail_and_redirects_are_explained(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    store = make_store(scripted.url)
    scripted.reply(Reply(400, {"detail": "Artifact path refers to a directory"}))
    with pytest.raises(BadRequest, match="HTTP 400: Artifact path refers to a directory"):
        store.get_run("r")
    scripted.reply(Reply(302, "", headers={"Location": "https://user:pw@other.example/x"}))
    with pytest.raises(MltrailError, match=r"redirected \(HTTP 302\) to 'https://other\.example/x'"):
        store.get_run("r")


def test_non_json_success_body_is_an_error(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    scripted.reply(Reply(200, "<html>a login page</html>"))
    with pytest.raises(MltrailError, match="not JSON: a login page"):
        make_store(scripted.url).get_run("r")


def test_requests_follow_mlflows_wire_format(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    store = make_store(scripted.url + "/some/prefix/")
    store.log_batch(
        "r1",
        metrics=[Metric("m", math.nan, 5, 1, run_id="r1"), Metric("m", -math.inf, 6, 2)],
        params=[Param("p", "1")],
    )
    store.search_runs(["1", "2"], "metrics.m > 0", ViewType.ALL, 10, ["metrics.m DESC"], "tok")
    store.get_metric_history("r1", "m", max_results=5, page_token="abc")
    store.get_experiment_by_name("a b&c")

    batch, search, history, by_name = scripted.requests
    assert (batch.method, batch.path) == ("POST", "/some/prefix/api/2.0/mlflow/runs/log-batch")
    assert batch.headers["content-type"] == "application/json"
    assert batch.json() == {
        "run_id": "r1",
        "metrics": [
            {"key": "m", "value": "NaN", "timestamp": 5, "step": 1},
            {"key": "m", "value": "-Infinity", "timestamp": 6, "step": 2},
        ],
        "params": [{"key": "p", "value": "1"}],
        "tags": [],
    }
    assert search.json() == {
        "experiment_ids": ["1", "2"],
        "filter": "metrics.m > 0",
        "run_view_type": "ALL",
        "max_results": 10,
        "order_by": ["metrics.m DESC"],
        "page_token": "tok",
    }
    assert (history.method, history.path) == (
        "GET", "/some/prefix/api/2.0/mlflow/metrics/get-history"
    )
    assert history.query == {
        "run_id": ["r1"], "metric_key": ["m"], "max_results": ["5"], "page_token": ["abc"]
    }
    assert by_name.query == {"experiment_name": ["a b&c"]}


def test_full_metric_history_follows_the_servers_pages(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    scripted.reply(
        Reply(200, {"metrics": [{"key": "m", "value": "Infinity", "timestamp": "7", "step": "1"}],
                    "next_page_token": "page-2"}),
        Reply(200, {"metrics": [{"key": "m", "value": 2, "timestamp": 8}]}),
    )
    history = make_store(scripted.url).get_metric_history("r1", "m")
    assert [(m.value, m.timestamp, m.step) for m in history] == [(math.inf, 7, 1), (2.0, 8, 0)]
    assert history.token is None
    first, second = scripted.requests
    assert "max_results" not in first.query
    assert second.query["page_token"] == ["page-2"]
    assert second.query["max_results"] == ["25000"]


def test_responses_parse_with_defaults_and_string_int64(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    scripted.reply(Reply(200, {"run": {
        "info": {"run_uuid": "abc", "experiment_id": 3, "start_time": "1700000000000",
                 "status": 3},
        "data": {"metrics": [{"key": "loss", "value": "NaN", "timestamp": "1"}],
                 "params": [{"key": "p"}], "tags": [{"key": "t", "value": "v"}]},
    }}))
    run = make_store(scripted.url).get_run("abc")
    assert run.info.run_id == "abc" and run.info.experiment_id == "3"
    assert run.info.start_time == 1_700_000_000_000 and run.info.end_time is None
    assert run.info.status == "FINISHED"
    assert run.info.lifecycle_stage == LifecycleStage.ACTIVE
    assert math.isnan(run.data.metrics["loss"])
    assert run.data.params == {"p": ""} and run.data.tags == {"t": "v"}
    assert run.inputs.dataset_inputs == ()


def test_malformed_responses_are_invalid_argument(
    scripted: Scripted, make_store: Callable[..., RestStore]
) -> None:
    scripted.reply(Reply(200, {"run": {"info": {"run_id": "a", "start_time": "soon"}}}))
    with pytest.raises(InvalidArgument, match="Invalid start_time 'soon' in a server response"):
        make_store(scripted.url).get_run("a")


def test_purge_is_not_in_the_rest_api(make_store: Callable[..., RestStore]) -> None:
    store = make_store("http://127.0.0.1:9")
    with pytest.raises(NotImplementedByServer, match="mltrail gc --tracking-uri"):
        store.purge_run("r1")
    with pytest.raises(NotImplementedByServer, match="purging experiment 4"):
        store.purge_experiment("4")
    with pytest.raises(NotImplementedByServer, match="listing deleted runs"):
        store.deleted_run_ids()


def test_invalid_server_urls_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="expected http"):
        RestStore("ftp://host/x", QUICK)
    with pytest.raises(InvalidArgument, match="must not have a query"):
        RestStore("http://host/x?token=1", QUICK)


def test_tls_settings_build_the_client(tmp_path: Path, make_store: Callable[..., RestStore]) -> None:
    missing = tmp_path / "missing-ca.pem"
    store = make_store("https://127.0.0.1:9", Settings(server_cert_path=str(missing)))
    with pytest.raises(InvalidArgument, match="Invalid MLTRAIL_TRACKING_SERVER_CERT_PATH"):
        store.get_run("r")
    store = make_store("https://127.0.0.1:9", Settings(client_cert_path=str(missing)))
    with pytest.raises(InvalidArgument, match="Invalid MLTRAIL_TRACKING_CLIENT_CERT_PATH"):
        store.get_run("r")


# ---------------------------------------------------------------------------------------------
# Settings and the scheme registry


def test_settings_read_mltrail_then_mlflow_variables() -> None:
    settings = Settings.from_env({
        "MLFLOW_TRACKING_USERNAME": "mlflow-user",
        "MLTRAIL_TRACKING_USERNAME": "mltrail-user",
        "MLFLOW_TRACKING_PASSWORD": "pw",
        "MLFLOW_TRACKING_TOKEN": "tok",
        "MLFLOW_TRACKING_INSECURE_TLS": "true",
        "MLFLOW_TRACKING_SERVER_CERT_PATH": "/ca.pem",
        "MLTRAIL_TRACKING_CLIENT_CERT_PATH": "/client.pem",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLTRAIL_HTTP_REQUEST_BACKOFF_FACTOR": "0.25",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    })
    assert settings.tracking_username == "mltrail-user"
    assert settings.tracking_password == "pw" and settings.tracking_token == "tok"
    assert settings.insecure_tls is True
    assert (settings.server_cert_path, settings.client_cert_path) == ("/ca.pem", "/client.pem")
    assert (settings.http_max_retries, settings.http_backoff_factor, settings.http_timeout) == (
        2, 0.25, 30.0
    )
    assert "pw" not in repr(settings) and "tok" not in repr(settings)
    defaults = Settings.from_env({})
    assert (defaults.http_max_retries, defaults.http_backoff_factor, defaults.http_timeout) == (
        5, 0.5, 120.0
    )
    assert defaults.insecure_tls is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "many", "MAX_RETRIES must be a whole number"),
        ("MLTRAIL_HTTP_REQUEST_MAX_RETRIES", "-1", "MAX_RETRIES must be a whole number"),
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "nan", "TIMEOUT must be a number of seconds"),
        ("MLFLOW_TRACKING_INSECURE_TLS", "maybe", "INSECURE_TLS must be true or false"),
    ],
)
def test_settings_refuse_bad_values(name: str, value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Settings.from_env({name: value})


def test_http_uris_open_a_rest_store_per_credentials() -> None:
    url = f"http://127.0.0.1:9/{unique('prefix')}"
    first = open_tracking_store(url, Settings(tracking_token="a"))
    assert isinstance(first, RestStore)
    assert open_tracking_store(url, Settings(tracking_token="a")) is first
    assert open_tracking_store(url, Settings(tracking_token="b")) is not first


def test_artifact_registry_builds_proxy_repositories() -> None:
    repo = get_artifact_repository("mlflow-artifacts:/1/r/artifacts", tracking_uri="http://h:5")
    assert isinstance(repo, HttpArtifactRepository)
    assert isinstance(get_artifact_repository("https://h/api/2.0/mlflow-artifacts/artifacts/x"),
                      HttpArtifactRepository)
    with pytest.raises(InvalidArgument, match="no tracking URI was given"):
        get_artifact_repository("mlflow-artifacts:/1/r/artifacts")
    with pytest.raises(InvalidArgument, match="is not an http"):
        get_artifact_repository("mlflow-artifacts:/1", tracking_uri="sqlite:///x.db")


# ---------------------------------------------------------------------------------------------
# The artifact repository on the scripted server: URL resolution and hostile listings


def test_artifact_uris_resolve_like_mlflows_client(scripted: Scripted) -> None:
    host = scripted.url.removeprefix("http://")
    cases = [
        ("mlflow-artifacts:/1/r/artifacts", scripted.url + "/pre",
         "/pre/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/f.txt"),
        (f"mlflow-artifacts://{host}/2/r/artifacts", None,
         "/api/2.0/mlflow-artifacts/artifacts/2/r/artifacts/f.txt"),
        (f"{scripted.url}/x/api/2.0/mlflow-artifacts/artifacts/3/r", None,
         "/x/api/2.0/mlflow-artifacts/artifacts/3/r/f.txt"),
        ("mlflow-artifacts:/my exp/ü", scripted.url,
         "/api/2.0/mlflow-artifacts/artifacts/my%20exp/%C3%BC/f.txt"),
    ]
    for uri, tracking, _ in cases:
        repo = HttpArtifactRepository(uri, tracking_uri=tracking, settings=QUICK)
        repo.log_bytes(b"x", "f.txt")
    assert [r.method for r in scripted.requests] == ["PUT"] * len(cases)
    # As sent on the wire: segments percent-encoded as UTF-8.
    assert [r.path for r in scripted.requests] == [expected for _, _, expected in cases]


def test_listing_and_upload_on_the_wire(scripted: Scripted, tmp_path: Path) -> None:
    repo = HttpArtifactRepository("mlflow-artifacts:/1/r/artifacts", tracking_uri=scripted.url,
                                  settings=QUICK)
    scripted.reply(Reply(200, {"files": [{"path": "a.txt", "is_dir": False, "file_size": 3},
                                         {"path": "sub", "is_dir": True},
                                         {"path": "empty", "is_dir": False}]}))
    assert [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("d")] == [
        ("d/a.txt", False, 3), ("d/empty", False, 0), ("d/sub", True, None)
    ]
    assert scripted.requests[0].query == {"path": ["1/r/artifacts/d"]}
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(300_000))
    repo.log_artifact(local, "models")
    put = scripted.requests[1]
    assert put.path == "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/models/big.bin"
    assert put.body == local.read_bytes()
    assert put.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "a/../../evil", "%2e%2e/x"])
def test_unsafe_names_in_a_listing_are_refused(
    scripted: Scripted, tmp_path: Path, name: str
) -> None:
    repo = HttpArtifactRepository("mlflow-artifacts:/1/r/artifacts", tracking_uri=scripted.url,
                                  settings=QUICK)
    scripted.reply(Reply(200, {"files": [{"path": name, "is_dir": False, "file_size": 1}]}))
    with pytest.raises(MltrailError, match="unsafe artifact name|not inside"):
        repo.download_artifacts("", str(tmp_path / "dst"))
    assert not (tmp_path / "evil.txt").exists()
    assert len(scripted.requests) == 1  # nothing was fetched


def test_failed_download_leaves_no_partial_file(scripted: Scripted, tmp_path: Path) -> None:
    repo = HttpArtifactRepository("mlflow-artifacts:/1/r/artifacts", tracking_uri=scripted.url,
                                  settings=dataclasses.replace(QUICK, http_max_retries=0))
    scripted.reply(Reply(drop=True))
    with pytest.raises(TemporarilyUnavailable, match="Could not reach"):
        repo.download_artifacts("model.bin", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Against a real MLflow server


@pytest.fixture
def client(mlflow_server: str) -> Iterator[MltrailClient]:
    made = MltrailClient(mlflow_server, settings=Settings())
    yield made
    made.close()
    made.store.close()


@pytest.fixture
def experiment_id(client: MltrailClient) -> str:
    return client.create_experiment(unique("exp"))


def test_client_uses_the_rest_store(client: MltrailClient, mlflow_server: str) -> None:
    assert isinstance(client.store, RestStore)
    assert client.store.base_url == mlflow_server


def test_experiments_create_get_and_by_name(client: MltrailClient) -> None:
    name = unique("exp")
    experiment_id = client.create_experiment(name, tags={"team": "vision", "n": 3})
    experiment = client.get_experiment(experiment_id)
    assert (experiment.experiment_id, experiment.name) == (experiment_id, name)
    assert experiment.tags == {"team": "vision", "n": "3"}
    assert experiment.lifecycle_stage == LifecycleStage.ACTIVE
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert experiment.creation_time is not None and experiment.creation_time > 0
    by_name = client.get_experiment_by_name(name)
    assert by_name is not None and by_name.experiment_id == experiment_id
    assert client.get_experiment_by_name(unique("missing")) is None
    assert client.get_experiment("0").name == "Default"


def test_experiment_rename_tags_delete_restore(client: MltrailClient, experiment_id: str) -> None:
    new_name = unique("renamed")
    client.rename_experiment(experiment_id, new_name)
    assert client.get_experiment(experiment_id).name == new_name
    client.set_experiment_tag(experiment_id, "stage", "dev")
    client.set_experiment_tag(experiment_id, "gone", "soon")
    client.delete_experiment_tag(experiment_id, "gone")
    assert client.get_experiment(experiment_id).tags == {"stage": "dev"}

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    name_filter = f"name = '{new_name}'"
    assert client.search_experiments(filter_string=name_filter) == []
    deleted = client.search_experiments(ViewType.DELETED_ONLY, filter_string=name_filter)
    assert [e.experiment_id for e in deleted] == [experiment_id]
    # MLflow still finds a deleted experiment by name.
    found = client.get_experiment_by_name(new_name)
    assert found is not None and found.lifecycle_stage == LifecycleStage.DELETED
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE


def test_search_experiments_filters_orders_and_pages(client: MltrailClient) -> None:
    prefix = unique("paged")
    ids = [
        client.create_experiment(f"{prefix}-{i}", tags={"parity": "odd" if i % 2 else "even"})
        for i in range(5)
    ]
    pages, token = [], None
    while True:
        page = client.search_experiments(
            filter_string=f"name LIKE '{prefix}-%'", max_results=2, order_by=["name DESC"],
            page_token=token,
        )
        pages.append([e.experiment_id for e in page])
        token = page.token
        if token is None:
            break
    assert pages == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    odd = client.search_experiments(
        filter_string=f"name LIKE '{prefix}%' AND tags.parity = 'odd'", order_by=["name ASC"]
    )
    assert [e.experiment_id for e in odd] == [ids[1], ids[3]]
    assert odd.token is None


def test_run_create_get_update_and_terminate(client: MltrailClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id, start_time=1_000, tags={"k": "v"}, run_name="first")
    info = run.info
    assert info.experiment_id == experiment_id and info.run_name == "first"
    assert info.status == "RUNNING" and info.start_time == 1_000 and info.end_time is None
    assert info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{info.run_id}/artifacts"
    assert run.data.tags == {"k": "v", "mlflow.runName": "first"}

    client.update_run(info.run_id, name="second")
    fetched = client.get_run(info.run_id)
    assert fetched.info.run_name == "second"
    assert fetched.data.tags["mlflow.runName"] == "second"

    ended = client.set_terminated(info.run_id, "FAILED", end_time=5_000)
    assert (ended.status, ended.end_time) == ("FAILED", 5_000)
    assert client.get_run(info.run_id).info.status == RunStatus.to_string(RunStatus.FAILED)


def test_runs_get_a_generated_name_when_none_is_given(
    client: MltrailClient, experiment_id: str
) -> None:
    run = client.create_run(experiment_id)
    assert run.info.run_name and run.data.tags["mlflow.runName"] == run.info.run_name


def test_run_delete_and_restore(client: MltrailClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert client.search_runs(experiment_id) == []
    assert [r.info.run_id for r in client.search_runs(experiment_id, run_view_type="ALL")] == [
        run_id
    ]
    with pytest.raises(InvalidArgument, match="must be in the 'active' state"):
        client.log_param(run_id, "p", 1, synchronous=True)
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_nested_runs_through_the_parent_tag(client: MltrailClient, experiment_id: str) -> None:
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    children = [
        client.create_run(experiment_id, tags={"mlflow.parentRunId": parent}).info.run_id
        for _ in range(2)
    ]
    found = client.get_parent_run(children[0])
    assert found is not None and found.info.run_id == parent
    assert client.get_parent_run(parent) is None
    nested = client.search_runs(experiment_id, f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(r.info.run_id for r in nested) == sorted(children)


def test_logging_through_the_batcher_and_log_batch(
    client: MltrailClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    for step in range(5):
        client.log_metric(run_id, "acc", step / 10, step=step, timestamp=100 + step)
    client.log_param(run_id, "lr", 0.01)
    client.set_tag(run_id, "phase", "train")
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 0.25, 200, 3)],
        params=[Param("layers", "4"), Param("opt", "adam")],
        tags=[RunTag("note", "batched")],
    )
    data = client.get_run(run_id).data  # reads flush the queue first
    assert data.metrics == {"acc": 0.4, "loss": 0.25}
    assert {m.key: (m.step, m.timestamp) for m in data.metric_objs} == {
        "acc": (4, 104), "loss": (3, 200)
    }
    assert data.params == {"lr": "0.01", "layers": "4", "opt": "adam"}
    assert data.tags["phase"] == "train" and data.tags["note"] == "batched"

    client.delete_tag(run_id, "note")
    assert "note" not in client.get_run(run_id).data.tags


def test_metric_history_keeps_nan_and_infinities(
    client: MltrailClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    values = [math.nan, math.inf, -math.inf, 1.5]
    for step, value in enumerate(values):
        client.log_metric(run_id, "odd", value, step=step, timestamp=10 + step)
    history = client.get_metric_history(run_id, "odd")
    assert [(m.step, m.timestamp) for m in history] == [(0, 10), (1, 11), (2, 12), (3, 13)]
    assert math.isnan(history[0].value)
    # MLflow's SQL store keeps +-inf as +-sys.float_info.max; NaN survives as "NaN".
    assert history[1].value in (math.inf, sys.float_info.max)
    assert history[2].value in (-math.inf, -sys.float_info.max)
    assert history[3].value == 1.5


def test_metric_history_returns_every_point_or_pages(
    client: MltrailClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    points = [Metric("curve", float(i), 1_000 + i, i) for i in range(1_500)]
    client.log_batch(run_id, metrics=points)  # two requests: MLflow's limit is 1,000 a batch
    store = client.store
    everything = store.get_metric_history(run_id, "curve")
    assert [m.step for m in everything] == list(range(1_500)) and everything.token is None
    first = store.get_metric_history(run_id, "curve", max_results=1_000)
    assert len(first) == 1_000 and first.token is not None
    rest = store.get_metric_history(run_id, "curve", max_results=1_000, page_token=first.token)
    assert [m.step for m in rest] == list(range(1_000, 1_500)) and rest.token is None


def test_search_runs_filters_order_by_and_page_tokens(
    client: MltrailClient, experiment_id: str
) -> None:
    ids = []
    for i in range(5):
        run = client.create_run(
            experiment_id, start_time=1_000 * (i + 1), run_name=f"r{i}",
            tags={"group": "a" if i < 3 else "b", "odd key": f"v{i}"},
        )
        ids.append(run.info.run_id)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("score", float(i), 1, 0)],
            params=[Param("parity", str(i % 2))],
        )

    def search(filter_string: str = "", order_by: list[str] | None = None) -> list[str]:
        return [r.info.run_id for r in client.search_runs(experiment_id, filter_string,
                                                         order_by=order_by)]

    assert search() == ids[::-1]  # start_time DESC by default
    assert search("metrics.score > 2", ["metrics.score ASC"]) == ids[3:]
    assert search("params.parity = '1'", ["attributes.start_time ASC"]) == [ids[1], ids[3]]
    assert search("tags.group = 'b'", ["metrics.score DESC"]) == [ids[4], ids[3]]
    assert search("tags.`odd key` = 'v2'") == [ids[2]]
    assert search("attributes.run_name = 'r3'") == [ids[3]]
    assert search("run_name LIKE 'r%' AND attributes.start_time >= 4000",
                  ["start_time ASC"]) == ids[3:]
    assert search(f"attributes.run_id IN ('{ids[0]}', '{ids[4]}')",
                  ["metrics.score ASC"]) == [ids[0], ids[4]]
    assert search("metrics.score >= 1 AND params.parity = '0'",
                  ["params.parity ASC", "metrics.score DESC"]) == [ids[4], ids[2]]

    pages, token = [], None
    while True:
        page = client.search_runs(experiment_id, order_by=["metrics.score ASC"], max_results=2,
                                  page_token=token)
        pages.append([r.info.run_id for r in page])
        if page.token is None:
            break
        token = page.token
    assert pages == [ids[0:2], ids[2:4], ids[4:]]
    assert client.search_runs([]) == []


def test_log_inputs_round_trip(client: MltrailClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    dataset = Dataset("train", "abc123", "local", '{"uri": "/data"}', schema='{"cols": []}')
    client.log_inputs(run_id, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
    inputs = client.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "train" and inputs[0].dataset.digest == "abc123"
    assert inputs[0].dataset.schema == '{"cols": []}'
    assert inputs[0].tags == (InputTag("mlflow.data.context", "train"),)


def test_mlflow_errors_map_to_our_classes(client: MltrailClient, experiment_id: str) -> None:
    with pytest.raises(NotFound, match="Run with id=0+ not found") as missing_run:
        client.get_run("0" * 32)
    assert missing_run.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(NotFound, match="No Experiment with id=987654 exists"):
        client.get_experiment("987654")

    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "p", "1", synchronous=True)
    client.log_param(run_id, "p", "1", synchronous=True)  # the same value again is fine
    with pytest.raises(InvalidArgument, match="Changing param values is not allowed") as changed:
        client.log_param(run_id, "p", "2", synchronous=True)
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"

    name = client.get_experiment(experiment_id).name
    with pytest.raises(AlreadyExists, match=rf"Experiment\(name={name}\) already exists") as dup:
        client.create_experiment(name)
    assert dup.value.error_code == "RESOURCE_ALREADY_EXISTS"

    with pytest.raises(InvalidArgument, match="Invalid clause"):
        client.search_runs(experiment_id, "no such grammar !!")
    with pytest.raises(InvalidArgument, match="Invalid page token"):
        client.search_experiments(page_token="garbage")


def test_async_logging_error_surfaces_at_flush(client: MltrailClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "fixed", "a", synchronous=True)
    client.log_param(run_id, "fixed", "b")  # queued: the error arrives later
    client.log_metric(run_id, "fine", 1.0)
    with pytest.raises(InvalidArgument, match="Changing param values is not allowed"):
        client.flush()
    assert client.get_run(run_id).data.metrics == {"fine": 1.0}


# Artifacts through MLflow's proxy


def test_proxied_artifacts_through_the_client(
    client: MltrailClient, experiment_id: str, tmp_path: Path
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(2_500_000))
    client.log_artifact(run_id, str(model), "models")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("A")
    (tree / "sub" / "b file ü.txt").write_text("BB")
    (tree / "empty.txt").write_text("")
    client.log_artifacts(run_id, str(tree), "data")
    client.log_artifact(run_id, str(tree))  # a directory goes under its own name
    client.log_text(run_id, "hello\n", "notes/readme.md")

    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("data", True), ("models", True), ("notes", True), ("tree", True)
    ]
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "data")] == [
        ("data/a.txt", 1), ("data/empty.txt", 0), ("data/sub", None)
    ]
    assert [f.path for f in client.list_artifacts(run_id, "tree/sub")] == ["tree/sub/b file ü.txt"]
    assert client.list_artifacts(run_id, "missing") == []

    one = client.download_artifacts(run_id, "models/model.bin", str(tmp_path / "dl1"))
    assert Path(one).read_bytes() == model.read_bytes()
    whole = Path(client.download_artifacts(run_id, "data", str(tmp_path / "dl2")))
    assert whole == tmp_path / "dl2" / "data"
    assert (whole / "a.txt").read_text() == "A"
    assert (whole / "sub" / "b file ü.txt").read_text() == "BB"
    assert (whole / "empty.txt").read_bytes() == b""
    root = Path(client.download_artifacts(run_id, "", str(tmp_path / "dl3")))
    assert (root / "notes" / "readme.md").read_text() == "hello\n"
    assert (root / "tree" / "a.txt").read_text() == "A"
    with pytest.raises(NotFound, match="No artifact at 'nothing/here'"):
        client.download_artifacts(run_id, "nothing/here", str(tmp_path / "dl4"))
    assert not (tmp_path / "dl4" / "nothing").exists()


def test_proxied_artifacts_read_and_delete(client: MltrailClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    repo = HttpArtifactRepository(
        run.info.artifact_uri, tracking_uri=client.tracking_uri, settings=Settings()
    )
    repo.log_bytes(b"\x00\x01binary", "blobs/one.bin")
    repo.log_bytes(b"two", "blobs/two.bin")
    repo.log_bytes(b"keep", "keep.txt")
    assert repo.read_bytes("blobs/one.bin") == b"\x00\x01binary"
    with pytest.raises(NotFound, match="No artifact at 'blobs/three.bin'"):
        repo.read_bytes("blobs/three.bin")
    repo.delete_artifacts("blobs/one.bin")
    assert [f.path for f in repo.list_artifacts("blobs")] == ["blobs/two.bin"]
    repo.delete_artifacts("blobs")
    repo.delete_artifacts("never-there")
    assert [f.path for f in repo.list_artifacts()] == ["keep.txt"]
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    with pytest.raises(InvalidArgument, match="'..' segments are not allowed"):
        repo.log_bytes(b"x", "../escape.txt")


# ---------------------------------------------------------------------------------------------
# Logged models (MLflow 3), against MLflow's server and mltrail's


@pytest.fixture(params=["mlflow", "mltrail"])
def model_store(request: pytest.FixtureRequest) -> Iterator[RestStore]:
    if request.param == "mlflow":
        url: str = request.getfixturevalue("mlflow_server")
    else:
        url = request.getfixturevalue("tracking_server").url
    store = RestStore(url, Settings())
    yield store
    store.close()


def test_logged_models_through_the_rest_store(model_store: RestStore) -> None:
    store = model_store
    experiment_id = store.create_experiment(unique("models"))
    run_id = store.create_run(experiment_id, "bob", 1, [], "trainer").info.run_id
    model = store.create_logged_model(
        experiment_id,
        name="forest",
        source_run_id=run_id,
        tags={"team": "vision", "stale": "yes"},
        params={"n_estimators": "10"},
        model_type="sklearn",
    )
    assert model.status == LoggedModelStatus.PENDING
    assert (model.name, model.experiment_id) == ("forest", experiment_id)
    assert model.source_run_id == run_id
    assert (model.model_type, model.params) == ("sklearn", {"n_estimators": "10"})
    assert model.tags["team"] == "vision" and model.artifact_location
    assert store.get_logged_model(model.model_id).model_id == model.model_id

    store.set_logged_model_tags(model.model_id, {"stage": "candidate", "odd key: x": "x"})
    store.delete_logged_model_tag(model.model_id, "stale")
    store.delete_logged_model_tag(model.model_id, "odd key: x")
    store.log_logged_model_params(model.model_id, {"max_depth": "4"})
    ready = store.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    got = store.get_logged_model(model.model_id)
    assert {k: v for k, v in got.tags.items() if not k.startswith("mlflow.")} == {
        "team": "vision",
        "stage": "candidate",
    }
    assert got.params == {"n_estimators": "10", "max_depth": "4"}

    other = store.create_logged_model(experiment_id, name="boost")
    found = store.search_logged_models([experiment_id], filter_string="name = 'forest'")
    assert [m.model_id for m in found] == [model.model_id]
    first = store.search_logged_models([experiment_id], max_results=1)
    assert len(first) == 1 and first.token
    rest = store.search_logged_models([experiment_id], max_results=1, page_token=first.token)
    assert {first[0].model_id, rest[0].model_id} == {model.model_id, other.model_id}

    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 3)])
    assert store.get_run(run_id).outputs.model_outputs == (LoggedModelOutput(model.model_id, 3),)
    reader = store.create_run(experiment_id, "bob", 2, [], "reader").info.run_id
    store.log_model_inputs(reader, [LoggedModelInput(model.model_id)])
    assert store.get_run(reader).inputs.model_inputs == (LoggedModelInput(model.model_id),)

    store.delete_logged_model(other.model_id)
    with pytest.raises(NotFound):
        store.get_logged_model(other.model_id)
    assert [m.model_id for m in store.search_logged_models([experiment_id])] == [model.model_id]
    with pytest.raises(NotFound):
        store.get_logged_model("m-" + "0" * 32)
