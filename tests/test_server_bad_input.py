"""Bad requests to the server: each a 4xx with MLflow's error code, nothing written, no
internals in the message."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mltrail.server.config import ServerConfig

API = "/api/2.0/mlflow"


@pytest.fixture
def small_server(tmp_path: Path, server_factory: Callable[[ServerConfig], Any]) -> Any:
    return server_factory(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'bad.db'}",
            artifacts_destination=str(tmp_path / "artifacts"),
            max_request_bytes=64 * 1024,
        )
    )


@pytest.fixture
def api(small_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small_server.url + API, timeout=30) as client:
        yield client


def _run_id(api: httpx.Client) -> str:
    response = api.post("/runs/create", json={"experiment_id": "0"})
    assert response.status_code == 200
    return str(response.json()["run"]["info"]["run_id"])


def _assert_error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    for word in words:
        assert word in body["message"]
    lowered = body["message"].lower()
    for leak in ("select ", "insert ", "sqlite3", "sqlalchemy", "traceback", "psycopg"):
        assert leak not in lowered


def _runs_count(api: httpx.Client) -> int:
    found = api.post("/runs/search", json={"experiment_ids": ["0"], "max_results": 100}).json()
    return len(found.get("runs", []))


def test_posts_must_be_json(api: httpx.Client) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        headers = {"Content-Type": content_type} if content_type else {}
        response = api.post("/experiments/create", content=b'{"name": "csrf"}', headers=headers)
        _assert_error(response, 400, "INVALID_PARAMETER_VALUE", "Content-Type must be one of")
    assert api.get("/experiments/get-by-name", params={"experiment_name": "csrf"}).status_code == 404


def test_bodies_over_the_limit_are_refused(api: httpx.Client) -> None:
    run_id = _run_id(api)
    metrics = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(2000)]
    response = api.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    _assert_error(response, 413, "RESOURCE_EXHAUSTED", "limit")
    history = api.get("/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}).json()
    assert history["metrics"] == []


def test_a_streamed_body_over_the_limit_is_refused(api: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    response = api.post(
        "/experiments/create", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _assert_error(response, 413, "RESOURCE_EXHAUSTED", "limit")


def test_invalid_json_and_bare_nan_are_refused(api: httpx.Client) -> None:
    run_id = _run_id(api)
    headers = {"Content-Type": "application/json"}
    response = api.post("/experiments/create", content=b'{"name": ', headers=headers)
    _assert_error(response, 400, "INVALID_PARAMETER_VALUE", "not valid JSON")
    body = '{"run_id": "%s", "metrics": [{"key": "m", "value": NaN, "timestamp": 1}]}' % run_id
    response = api.post("/runs/log-batch", content=body.encode(), headers=headers)
    _assert_error(response, 400, "INVALID_PARAMETER_VALUE")
    response = api.post("/experiments/create", content=b"[1, 2]", headers=headers)
    _assert_error(response, 400, "INVALID_PARAMETER_VALUE", "body")


@pytest.mark.parametrize("max_results", [0, -1, 50001])
def test_max_results_out_of_range(api: httpx.Client, max_results: int) -> None:
    response = api.post("/runs/search", json={"experiment_ids": ["0"], "max_results": max_results})
    _assert_error(response, 400, "INVALID_PARAMETER_VALUE", "max_results")
    response = api.post("/experiments/search", json={"max_results": max_results})
    _assert_error(response, 400, "INVALID_PARAMETER_VALUE", "max_results")


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(json.dumps({"offset": -5}).encode()).decode(),
        base64.b64encode(json.dumps({"offset": "3"}).encode()).decode(),
        base64.b64encode(json.dumps([1]).encode()).decode(),
    ],
)
def test_bad_page_tokens(api: httpx.Client, token: str) -> None:
    response = api.post("/runs/search", json={"experiment_ids": ["0"], "page_token": token})
    _assert_error(response, 400, "INVALID_PARAMETER_VALUE", "page token")


def test_a_100_kb_filter_is_refused(tracking_server: Any) -> None:
    huge = " and ".join(f"params.p{i} = 'x'" for i in range(6000))
    assert len(huge) > 100_000
    response = httpx.post(
        tracking_server.url + API + "/runs/search",
        json={"experiment_ids": ["0"], "filter": huge},
        timeout=30,
    )
    _assert_error(response, 400, "INVALID_PARAMETER_VALUE", "100000")


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/runs/log-metric", {"key": "m", "value": 1, "timestamp": 1}, ["run_id"]),
        ("/runs/log-metric", {"run_id": "RUN", "key": "m", "value": "abc", "timestamp": 1}, ["must be a number"]),
        ("/runs/log-metric", {"run_id": "RUN", "key": "m", "value": True, "timestamp": 1}, ["boolean"]),
        ("/runs/log-metric", {"run_id": "RUN", "key": "m", "value": 1, "timestamp": -1}, ["at least 0"]),
        ("/runs/log-metric", {"run_id": "RUN", "key": "a/../b", "value": 1, "timestamp": 1}, [".."]),
        ("/runs/log-parameter", {"run_id": "RUN", "key": "k" * 251, "value": "v"}, ["250"]),
        ("/runs/log-parameter", {"run_id": "RUN", "key": "p", "value": "v" * 6001}, ["6000"]),
        ("/runs/set-tag", {"run_id": "RUN", "key": "t", "value": "v" * 8001}, ["8000"]),
        ("/runs/update", {"run_id": "RUN", "status": "BOGUS"}, ["BOGUS"]),
        ("/runs/log-batch", {"run_id": "RUN", "metrics": "nope"}, ["metrics"]),
        ("/experiments/create", {"name": ""}, ["empty"]),
        ("/experiments/create", {"name": 5}, ["name"]),
    ],
)
def test_bad_fields_name_the_field_and_rule(
    api: httpx.Client, path: str, body: dict[str, Any], words: list[str]
) -> None:
    run_id = _run_id(api)
    filled = {k: (run_id if v == "RUN" else v) for k, v in body.items()}
    response = api.post(path, json=filled)
    _assert_error(response, 400, "INVALID_PARAMETER_VALUE", *words)
    run = api.get("/runs/get", params={"run_id": run_id}).json()["run"]
    assert "params" not in run["data"] and "metrics" not in run["data"]
    assert run["info"]["status"] == "RUNNING"


def test_duplicates_and_unknowns_use_mlflows_codes(api: httpx.Client) -> None:
    assert api.post("/experiments/create", json={"name": "dup"}).status_code == 200
    _assert_error(
        api.post("/experiments/create", json={"name": "dup"}), 400, "RESOURCE_ALREADY_EXISTS", "dup"
    )
    _assert_error(api.get("/runs/get", params={"run_id": "0" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    _assert_error(api.get("/runs/get", params={"run_id": "../../etc"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _assert_error(
        api.get("/experiments/get", params={"experiment_id": "1 OR 1=1"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    before = _runs_count(api)
    _assert_error(
        api.post("/runs/create", json={"experiment_id": "999"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert _runs_count(api) == before


def test_lower_camel_case_and_twice_encoded_bodies_are_accepted(api: httpx.Client) -> None:
    response = api.post("/runs/create", json={"experimentId": "0", "runName": "camel"})
    assert response.status_code == 200, response.text
    run_id = response.json()["run"]["info"]["run_id"]
    assert response.json()["run"]["info"]["run_name"] == "camel"
    twice = json.dumps(json.dumps({"runId": run_id, "key": "k", "value": "v"}))
    response = api.post(
        "/runs/set-tag", content=twice.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    tags = api.get("/runs/get", params={"run_id": run_id}).json()["run"]["data"]["tags"]
    assert {"key": "k", "value": "v"} in tags
