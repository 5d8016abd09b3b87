"""metrics/get-history on a real server: the body written from columns must be the JSON
MLflow's clients read, for ordinary, unordered, repeated and non-finite points, and pages."""

from __future__ import annotations

import math
from typing import Any

import httpx
import orjson
import pytest
from fixtures_server import RunningServer

from mltrail.entities import MetricHistory
from mltrail.server.api.metrics import history_json

API = "/api/2.0/mlflow"


@pytest.fixture
def api(tracking_server: RunningServer) -> httpx.Client:
    with httpx.Client(base_url=tracking_server.url + API) as client:
        yield client  # type: ignore[misc]


def _run(api: httpx.Client) -> str:
    response = api.post("/runs/create", json={"experiment_id": "0", "start_time": 1})
    run_id: str = response.json()["run"]["info"]["run_id"]
    return run_id


def _history(api: httpx.Client, run_id: str, **params: Any) -> dict[str, Any]:
    response = api.get("/metrics/get-history", params={"run_id": run_id, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = orjson.loads(response.content)
    return body


def test_history_in_step_order_with_non_finite_values_spelled_as_mlflow_does(
    api: httpx.Client,
) -> None:
    run_id = _run(api)
    # Logged out of order, over two batches, with a point repeated and NaN and infinities.
    first = [
        {"key": "m", "value": 3.5, "timestamp": 30, "step": 3},
        {"key": "m", "value": "NaN", "timestamp": 10, "step": 1},
        {"key": "m", "value": "Infinity", "timestamp": 20, "step": 2},
    ]
    second = [
        {"key": "m", "value": "-Infinity", "timestamp": 5, "step": 0},
        {"key": "m", "value": 3.5, "timestamp": 30, "step": 3},  # the same point again
        {"key": "m", "value": 1e-7, "timestamp": 31, "step": 3},
    ]
    for metrics in (first, second):
        response = api.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
        assert response.status_code == 200, response.text
    body = _history(api, run_id, metric_key="m")
    assert body == {
        "metrics": [
            {"key": "m", "value": "-Infinity", "timestamp": 5, "step": 0},
            {"key": "m", "value": "NaN", "timestamp": 10, "step": 1},
            {"key": "m", "value": "Infinity", "timestamp": 20, "step": 2},
            {"key": "m", "value": 3.5, "timestamp": 30, "step": 3},
            {"key": "m", "value": 1e-7, "timestamp": 31, "step": 3},
        ]
    }


def test_history_pages_carry_the_next_token(api: httpx.Client) -> None:
    run_id = _run(api)
    metrics = [{"key": "a b", "value": s / 2, "timestamp": 100 + s, "step": s} for s in range(5)]
    api.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    steps, token, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"metric_key": "a b", "max_results": 2}
        if token:
            params["page_token"] = token
        body = _history(api, run_id, **params)
        pages += 1
        steps += [m["step"] for m in body["metrics"]]
        assert all(m["key"] == "a b" and m["value"] == m["step"] / 2 for m in body["metrics"])
        token = body.get("next_page_token")
        if not token:
            break
    assert (steps, pages) == ([0, 1, 2, 3, 4], 3)


def test_an_unknown_metric_has_an_empty_history(api: httpx.Client) -> None:
    assert _history(api, _run(api), metric_key="never") == {"metrics": []}


@pytest.mark.parametrize("token", [None, "abc"])
@pytest.mark.parametrize("key", ['k"\\', "100% %s %d"])
def test_history_json_matches_a_dict_per_point(token: str | None, key: str) -> None:
    steps = [-2, 0, 7, 2**62]
    timestamps = [0, 1, 2**40, 5]
    values = [0.1, -0.0, math.inf, 123456789.125]
    history = MetricHistory(key, steps, timestamps, values, token)
    expected: dict[str, Any] = {
        "metrics": [
            {"key": key, "value": v if math.isfinite(v) else "Infinity", "timestamp": t, "step": s}
            for s, t, v in zip(steps, timestamps, values)
        ]
    }
    if token:
        expected["next_page_token"] = token
    assert orjson.loads(history_json(history)) == expected
    assert orjson.loads(history_json(MetricHistory("k", [], [], [], token))) == {
        "metrics": [],
        **({"next_page_token": token} if token else {}),
    }
