"""The express lane answers the hot write endpoints exactly as FastAPI's routes do.

Each request is sent twice to one real server: once through the express lane and once with
the lane switched off on the running app, so that FastAPI's route answers it; the two
answers must be the same bytes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mltrail.server.config import ServerConfig
from mltrail.server.express import ExpressLane, TrackingApp

LIMIT = 4096
JSON = {"Content-Type": "application/json"}
HOT = ("runs/log-metric", "runs/log-parameter", "runs/set-tag", "runs/log-batch")


def _config(tmp_path: Path, **options: Any) -> ServerConfig:
    return ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        **options,
    )


@pytest.fixture
def server(tmp_path: Path, server_factory: Callable[[ServerConfig], Any]) -> Any:
    return server_factory(_config(tmp_path, max_request_bytes=LIMIT))


@pytest.fixture
def api(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _app(server: Any) -> TrackingApp:
    app = server.server.config.app
    assert isinstance(app, TrackingApp)
    return app


def _run_id(api: httpx.Client) -> str:
    response = api.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    response.raise_for_status()
    run_id: str = response.json()["run"]["info"]["run_id"]
    return run_id


def _answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("date",)]
    return response.status_code, response.content, headers


def _both_ways(server: Any, api: httpx.Client, path: str, **request: Any) -> httpx.Response:
    """Send one request through the express lane and through FastAPI; the same answer."""
    app = _app(server)
    express = app.express
    assert express is not None and express.routes
    fast = api.post(path, **request)
    app.express = None
    try:
        slow = api.post(path, **request)
    finally:
        app.express = express
    assert _answer(fast) == _answer(slow), (fast.text, slow.text)
    return fast


def _bodies(run_id: str) -> dict[str, list[Any]]:
    """Request bodies per endpoint: good, oddly spelled, and wrong."""
    common: list[Any] = [
        b"",
        b"{",
        b"not json",
        b"[1, 2]",
        b"17",
        b"null",
        b'"text"',
        b"{}",
        {"run_id": 5},
        {"run_id": "0" * 32},  # no such run
    ]
    metric = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1000, "step": 3}
    return {
        "runs/log-metric": common
        + [
            metric,
            {**metric, "value": "NaN"},
            {**metric, "value": "-Infinity"},
            {**metric, "value": "abc"},
            {**metric, "value": True},
            {**metric, "value": 7},
            {**metric, "timestamp": "1001"},
            {**metric, "timestamp": "12x"},
            {**metric, "step": 1.5},
            {**metric, "step": None},
            {**metric, "key": 5},
            {**metric, "key": ""},
            {**metric, "key": "../bad"},
            {"runId": run_id, "key": "camel", "value": 1.0, "timestamp": 5, "datasetName": "d"},
            {"run_uuid": run_id, "key": "uuid", "value": 1.0, "timestamp": 5},
            json.dumps(json.dumps(metric)).encode(),  # encoded twice
            b'{"run_id": "%s", "key": "big", "value": 1, "timestamp": 18446744073709551617}'
            % run_id.encode(),
            b'{"run_id": "%s", "key": "huge", "value": 1e400, "timestamp": 1}' % run_id.encode(),
            {k: v for k, v in metric.items() if k != "timestamp"},
        ],
        "runs/log-parameter": common
        + [
            {"run_id": run_id, "key": "lr", "value": "0.1"},
            {"run_id": run_id, "key": "lr", "value": "0.2"},  # a changed param
            {"runId": run_id, "key": "camel", "value": "x"},
            {"run_id": run_id, "key": "none"},
            {"run_id": run_id, "key": "n", "value": 3},
            {"run_id": run_id, "value": "v"},
            {"run_id": run_id, "key": "long", "value": "x" * 3000},
        ],
        "runs/set-tag": common
        + [
            {"run_id": run_id, "key": "team", "value": "a"},
            {"run_id": run_id, "key": "team", "value": "b"},
            {"run_id": run_id, "key": "mlflow.runName", "value": "renamed"},
            {"run_id": run_id, "key": "empty"},
            {"run_id": run_id, "key": 1, "value": "x"},
        ],
        "runs/log-batch": common
        + [
            {"run_id": run_id, "metrics": [metric | {"run_id": None}] * 2},
            {
                "runId": run_id,
                "metrics": [{"key": "m", "value": "Infinity", "timestamp": "9", "modelId": None}],
                "params": [{"key": "p", "value": "1"}],
                "tags": [{"key": "t"}],
            },
            {"run_id": run_id, "metrics": {"key": "m"}},
            {"run_id": run_id, "metrics": [5]},
            {"run_id": run_id, "metrics": [{"key": "m", "value": 1.0}]},
            {"run_id": run_id, "metrics": [{"key": "m", "value": 1.0, "timestamp": 1.5}]},
            {"run_id": run_id, "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": True}]},
            {"run_id": run_id, "params": [{"key": "p"}]},
            {"run_id": run_id, "params": [{"key": "p", "value": "2"}]},
            {"run_id": run_id, "tags": [{"key": 5, "value": "x"}]},
            {"run_id": run_id, "metrics": [{"key": f"k{i}", "value": 1.0, "timestamp": 1}
                                           for i in range(1001)]},
        ],
    }


def _send(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        return {"content": body, "headers": JSON}
    return {"json": body}


@pytest.mark.parametrize("base", ["api", "ajax-api"])
def test_the_hot_endpoints_answer_as_fastapi_does(
    server: Any, api: httpx.Client, base: str
) -> None:
    run_id = _run_id(api)
    for path, bodies in _bodies(run_id).items():
        for body in bodies:
            _both_ways(server, api, f"/{base}/2.0/mlflow/{path}", **_send(body))
    run = api.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]
    assert {m["key"] for m in run["data"]["metrics"]} >= {"loss", "camel", "uuid", "m"}
    assert {"key": "lr", "value": "0.1"} in run["data"]["params"]
    assert run["info"]["run_name"] == "renamed"


def test_transport_rules_are_fastapis(server: Any, api: httpx.Client) -> None:
    run_id = _run_id(api)
    path = "/api/2.0/mlflow/runs/log-metric"
    body = json.dumps({"run_id": run_id, "key": "k", "value": 1.0, "timestamp": 1}).encode()
    for content_type in (None, "text/plain", "application/json; charset=utf-8", "APPLICATION/JSON",
                         "application/jsonx", "application/x-www-form-urlencoded"):
        headers = {"Content-Type": content_type} if content_type else {}
        answer = _both_ways(server, api, path, content=body, headers=headers)
        assert answer.status_code == (200 if "json;" in (content_type or "").lower()
                                      or content_type == "APPLICATION/JSON" else 400)
    too_big = b'{"pad": "%s"}' % (b"x" * LIMIT)
    answer = _both_ways(server, api, path, content=too_big, headers=JSON)
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "RESOURCE_EXHAUSTED"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the lane counts what arrives
        for _ in range(4):
            yield b" " * (LIMIT // 2)

    answer = api.post(path, content=chunks(), headers=JSON)
    assert answer.status_code == 413, answer.text
    assert answer.json() == {
        "error_code": "RESOURCE_EXHAUSTED",
        "message": f"The request body exceeds the limit of {LIMIT} bytes",
    }


def test_other_methods_and_paths_fall_through(server: Any, api: httpx.Client) -> None:
    for method, path in (
        ("GET", "/api/2.0/mlflow/runs/log-metric"),
        ("PUT", "/ajax-api/2.0/mlflow/runs/set-tag"),
        ("POST", "/api/2.0/mlflow/runs/log-metric/"),
        ("POST", "/api/2.0/mlflow/runs/log-metricx"),
        ("POST", "/api/2.1/mlflow/runs/log-metric"),
    ):
        response = api.request(method, path, json={})
        assert response.status_code in (307, 404, 405), (method, path, response.text)
    spec = api.get("/openapi.json").json()
    for path in HOT:
        assert f"/api/2.0/mlflow/{path}" in spec["paths"]


def test_the_lane_serves_the_static_prefix(
    tmp_path: Path, server_factory: Callable[[ServerConfig], Any]
) -> None:
    server = server_factory(_config(tmp_path, static_prefix="/tracking"))
    express = _app(server).express
    assert express is not None
    assert set(express.routes) == {
        f"/tracking/{base}/2.0/mlflow/{path}" for base in ("api", "ajax-api") for path in HOT
    }
    with httpx.Client(base_url=server.url, timeout=30) as api:
        run_id = api.post(
            "/tracking/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}
        ).json()["run"]["info"]["run_id"]
        for base in ("api", "ajax-api"):
            metric = {"run_id": run_id, "key": base, "value": 2.0, "timestamp": 1}
            _both_ways(server, api, f"/tracking/{base}/2.0/mlflow/runs/log-metric", json=metric)
            missing = api.post(f"/{base}/2.0/mlflow/runs/log-metric", json=metric)
            assert missing.status_code == 404
            assert missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        run = api.get("/tracking/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()
        assert {m["key"] for m in run["run"]["data"]["metrics"]} == {"api", "ajax-api"}


def test_no_lane_without_the_tracking_api(
    tmp_path: Path, server_factory: Callable[[ServerConfig], Any]
) -> None:
    server = server_factory(_config(tmp_path, artifacts_only=True))
    assert _app(server).express is None
    response = httpx.post(f"{server.url}/api/2.0/mlflow/runs/log-metric", json={})
    assert response.status_code == 503


def test_a_write_waiting_on_the_database_does_not_hold_up_other_requests(
    server: Any, api: httpx.Client, tmp_path: Path
) -> None:
    run_id = _run_id(api)
    blocker = sqlite3.connect(tmp_path / "server.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock, as another process would
    answers: list[httpx.Response] = []
    metric = {"run_id": run_id, "key": "late", "value": 1.0, "timestamp": 1}
    writer = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{server.url}/api/2.0/mlflow/runs/log-metric", json=metric, timeout=60)
        )
    )
    try:
        writer.start()
        for _ in range(5):  # answered while the write still waits for the lock
            assert api.get("/health").text == "OK"
            run = api.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})
            assert run.status_code == 200
        assert not answers
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        writer.join(timeout=60)
    assert answers[0].status_code == 200, answers[0].text
    run = api.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]
    assert [m["key"] for m in run["data"]["metrics"]] == ["late"]


def test_lane_routes_only_posts_on_its_paths() -> None:
    store: Any = None  # match() never touches the store
    lane = ExpressLane(store, static_prefix="/p/", max_request_bytes=LIMIT)
    scope = {"type": "http", "method": "POST", "path": "/p/api/2.0/mlflow/runs/set-tag"}
    assert lane.match(scope) is not None
    assert lane.match({**scope, "method": "GET"}) is None
    assert lane.match({**scope, "root_path": "/mounted"}) is None
    assert lane.match({**scope, "path": "/api/2.0/mlflow/runs/set-tag"}) is None
    assert lane.match({"type": "websocket", "path": scope["path"]}) is None


@pytest.mark.parametrize("prefix", ["", "/tracking"])
def test_health_and_version_answer_as_fastapi_does(
    tmp_path: Path, server_factory: Callable[[ServerConfig], Any], prefix: str
) -> None:
    server = server_factory(_config(tmp_path, static_prefix=prefix))
    app = _app(server)
    assert set(app.plain_answers) == {f"{prefix}/health", f"{prefix}/version"}
    with httpx.Client(base_url=server.url, timeout=30) as api:
        for method, path in (("GET", "/health"), ("GET", "/version"), ("HEAD", "/health"),
                             ("POST", "/version"), ("GET", "/health/")):
            fast = api.request(method, prefix + path)
            answers = app.plain_answers
            app.plain_answers = {}
            try:
                slow = api.request(method, prefix + path)
            finally:
                app.plain_answers = answers
            assert _answer(fast) == _answer(slow), (method, path, fast.text, slow.text)
        assert api.get(f"{prefix}/health").text == "OK"
        assert api.get(f"{prefix}/version").text == app.version
        if prefix:
            assert api.get("/health").status_code == 404
