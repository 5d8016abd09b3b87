"""The model scoring server (MLflow's ``mlflow models serve`` protocol).

Most cases drive the ASGI app in process through ``httpx.ASGITransport``; the wire-level ones
(keep-alive, body limits, the time limit, a crashing model) run against a real uvicorn on
127.0.0.1, and ``serve()`` itself runs with two worker processes in a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import io
import logging
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from mltrail._version import __version__
from mltrail.errors import BadRequest, InvalidArgument
from mltrail.models.scoring.app import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TIMEOUT_S,
    INLINE_MAX_BYTES,
    ScoringApp,
    app_from_env,
    create_scoring_app,
    listening_socket,
    serve,
)
from mltrail.models.scoring.payload import (
    COLLECTOR_PAUSE_BYTES,
    InputSignature,
    parse_request,
)
from mltrail.models.scoring.predictions import encode_predictions

NAMES = [f"f{i}" for i in range(20)]
JSON = {"Content-Type": "application/json"}


# --- models -------------------------------------------------------------------------------


class Schema:
    def __init__(self, names: list[str], tensor: bool = False) -> None:
        self.names = names
        self.tensor = tensor

    def is_tensor_spec(self) -> bool:
        return self.tensor

    def has_input_names(self) -> bool:
        return bool(self.names)

    def input_names(self) -> list[str]:
        return list(self.names)


class LogRegModel:
    """A fitted scikit-learn LogisticRegression over 20 named float columns."""

    def __init__(self) -> None:
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(0)
        features = rng.normal(size=(300, 20))
        self.classifier = LogisticRegression().fit(features, (features[:, 0] > 0).astype(int))
        self.input_schema = Schema(NAMES)
        self.seen_params: list[dict[str, Any] | None] = []

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        self.seen_params.append(params)
        if isinstance(data, pd.DataFrame):
            missing = [name for name in NAMES if name not in data.columns]
            if missing:
                raise InvalidArgument(f"Model is missing inputs {missing}")
            data = data[NAMES].to_numpy(dtype=float)
        features = np.asarray(data, dtype=float)
        if features.ndim != 2 or features.shape[1] != 20:
            raise InvalidArgument(f"Expected 20 features, got shape {features.shape}")
        if params and "threshold" in params:
            return (self.classifier.predict_proba(features)[:, 1] > params["threshold"]).astype(int)
        return self.classifier.predict(features)


class EchoModel:
    """Answers with a description of what it was given."""

    def __init__(self, schema: Schema | None = None) -> None:
        self.input_schema = schema
        self.seen: list[Any] = []

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        self.seen.append(data)
        if isinstance(data, pd.DataFrame):
            return {"type": "frame", "columns": list(data.columns), "rows": data}
        if isinstance(data, np.ndarray):
            return {"type": "array", "shape": list(data.shape), "values": data}
        if isinstance(data, dict):
            return {"type": "dict", "values": data}
        return {"type": type(data).__name__, "value": data}


class ThresholdModel:
    """Journey 3's model: one column x, predicts 1 when x > 0."""

    input_schema = Schema(["x"])

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return (data["x"] > 0).astype(int).to_numpy()


class OutputModel:
    """Answers with whatever ``output`` holds (no signature)."""

    input_schema = None

    def __init__(self, output: Any) -> None:
        self.output = output

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.output


class FailingModel:
    input_schema = None

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        raise self.error


class NoParamsModel:
    input_schema = None

    def predict(self, data: Any) -> Any:
        return np.zeros(len(data))


class ScenarioModel:
    """For the real server: a quick model that sleeps or fails when its params say so."""

    input_schema = Schema(["a", "b"])

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        params = params or {}
        if params.get("sleep"):
            time.sleep(float(params["sleep"]))
        if params.get("fail"):
            raise ZeroDivisionError("the model divided by zero")
        return (data["a"] + data["b"]).to_numpy()


class SumModel:
    """What ``serve()``'s workers load in the subprocess test (numpy only)."""

    input_schema = Schema(["a", "b"])

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return (data["a"] + data["b"]).to_numpy()


def load_sum_model(uri: str) -> SumModel:
    """A loader for ``app_from_env`` and ``serve`` ("test_scoring_server:load_sum_model")."""
    return SumModel(uri)


# --- in-process driving -------------------------------------------------------------------


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def invoke(app: Any, body: Any, content_type: str = "application/json") -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": content_type}
    return call(app, "POST", "/invocations", content=content, headers=headers)


def assert_error(response: httpx.Response, status: int, code: str, match: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code
    assert re.search(match, body["message"]), body["message"]
    assert "Traceback" not in body["message"]


@pytest.fixture(scope="module")
def logreg() -> LogRegModel:
    return LogRegModel()


@pytest.fixture
def app(logreg: LogRegModel) -> ScoringApp:
    logreg.seen_params.clear()
    return create_scoring_app(logreg, model_uri="runs:/abc123/model")


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(5, 20))


def expected(model: LogRegModel, rows: np.ndarray) -> list[int]:
    return [int(v) for v in model.classifier.predict(rows)]


# --- routes -------------------------------------------------------------------------------


def test_ping_health_and_version(app: ScoringApp) -> None:
    for path in ("/ping", "/health"):
        response = call(app, "GET", path)
        assert response.status_code == 200
        assert len(response.content) < 10
        assert call(app, "HEAD", path).status_code == 200
    version = call(app, "GET", "/version")
    assert version.status_code == 200
    assert version.text == __version__


def test_index_page_says_what_is_served_and_how(app: ScoringApp) -> None:
    page = call(app, "GET", "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    assert "mltrail" in page.text and "scoring server" in page.text
    assert "runs:/abc123/model" in page.text
    assert "curl -X POST http://scoring/invocations" in page.text
    assert '"columns":["f0","f1"' in page.text
    quoted = create_scoring_app(EchoModel(Schema(["it's", 'say "hi"'])))
    assert """-d '{"dataframe_split":{"columns":["it'"'"'s","say \\"hi\\""]""" in call(
        quoted, "GET", "/").text
    html = call(app, "GET", "/", headers={"Accept": "text/html,*/*"})
    assert html.headers["content-type"].startswith("text/html")
    assert "runs:/abc123/model" in html.text and "{&quot;dataframe_split&quot;" in html.text
    anonymous = create_scoring_app(EchoModel())
    assert "no URI" in call(anonymous, "GET", "/").text


def test_unknown_routes_and_methods(app: ScoringApp) -> None:
    assert_error(call(app, "GET", "/predict"), 404, "ENDPOINT_NOT_FOUND", r"POST /invocations")
    wrong = call(app, "GET", "/invocations")
    assert_error(wrong, 405, "BAD_REQUEST", r"GET is not allowed on /invocations; use POST")
    assert wrong.headers["allow"] == "POST"
    assert_error(call(app, "POST", "/ping"), 405, "BAD_REQUEST", r"use GET")


def test_lifespan_handshake(app: ScoringApp) -> None:
    messages = [{"type": "lifespan.shutdown"}, {"type": "lifespan.startup"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# --- the JSON formats ---------------------------------------------------------------------


def test_dataframe_split(app: ScoringApp, logreg: LogRegModel, rows: np.ndarray) -> None:
    response = invoke(app, {"dataframe_split": {"columns": NAMES, "data": rows.tolist()}})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": expected(logreg, rows)}


def test_dataframe_split_with_index_and_without_columns() -> None:
    echo = EchoModel(Schema(["a", "b"]))
    app = create_scoring_app(echo)
    response = invoke(app, {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]],
                                                "index": [10, 20]}})
    assert response.status_code == 200, response.text
    assert list(echo.seen[-1].index) == [10, 20]
    # No columns: the signature's names are used when the width fits.
    response = invoke(app, {"dataframe_split": {"data": [[1.5, 2.5]]}})
    assert response.json()["predictions"]["columns"] == ["a", "b"]
    assert response.json()["predictions"]["rows"] == [{"a": 1.5, "b": 2.5}]


def test_split_frames_keep_each_columns_type() -> None:
    echo = EchoModel()
    app = create_scoring_app(echo)
    data = [[1, 2.5, "x", True], [2, 3.5, "y", False]]
    response = invoke(app, {"dataframe_split": {"columns": ["i", "f", "s", "b"], "data": data}})
    assert response.status_code == 200, response.text
    frame = echo.seen[-1]
    assert [str(t) for t in frame.dtypes] == ["int64", "float64", "object", "bool"]
    invoke(app, {"dataframe_split": {"columns": ["i", "j"], "data": [[1, 2], [3, 4]]}})
    assert [str(t) for t in echo.seen[-1].dtypes] == ["int64", "int64"]
    invoke(app, {"dataframe_split": {"columns": ["i", "j"], "data": [[1, 2], [3, 4.5]]}})
    assert [str(t) for t in echo.seen[-1].dtypes] == ["int64", "float64"]


def test_dataframe_records(app: ScoringApp, logreg: LogRegModel, rows: np.ndarray) -> None:
    records = [dict(zip(NAMES, row)) for row in rows.tolist()]
    response = invoke(app, {"dataframe_records": records})
    assert response.json() == {"predictions": expected(logreg, rows)}
    # Keys in another order name the same columns.
    shuffled = [dict(reversed(list(record.items()))) for record in records]
    assert invoke(app, {"dataframe_records": shuffled}).json() == response.json()


def test_records_with_missing_keys_get_nulls() -> None:
    echo = EchoModel()
    app = create_scoring_app(echo)
    response = invoke(app, {"dataframe_records": [{"a": 1.0, "b": 2.0}, {"a": 3.0}]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"]["rows"] == [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": None}]


def test_a_frame_encoded_twice_is_read(
    app: ScoringApp, logreg: LogRegModel, rows: np.ndarray
) -> None:
    frame = pd.DataFrame(rows, columns=NAMES)
    response = invoke(app, {"dataframe_split": frame.to_json(orient="split")})
    assert response.json() == {"predictions": expected(logreg, rows)}


def test_instances_and_inputs_follow_a_column_signature(
    app: ScoringApp, logreg: LogRegModel, rows: np.ndarray
) -> None:
    want = {"predictions": expected(logreg, rows)}
    assert invoke(app, {"instances": rows.tolist()}).json() == want
    assert invoke(app, {"inputs": rows.tolist()}).json() == want
    records = [dict(zip(NAMES, row)) for row in rows.tolist()]
    assert invoke(app, {"instances": records}).json() == want
    columns = {name: rows[:, i].tolist() for i, name in enumerate(NAMES)}
    assert invoke(app, {"inputs": columns}).json() == want


def test_instances_and_inputs_without_a_signature_are_tensors() -> None:
    echo = EchoModel()
    app = create_scoring_app(echo)
    response = invoke(app, {"instances": [[1, 2], [3, 4], [5, 6]]})
    assert response.json()["predictions"] == {"type": "array", "shape": [3, 2],
                                              "values": [[1, 2], [3, 4], [5, 6]]}
    response = invoke(app, {"instances": [{"a": [1, 2], "b": "x"}, {"a": [3, 4], "b": "y"}]})
    assert response.json()["predictions"] == {"type": "dict",
                                              "values": {"a": [[1, 2], [3, 4]], "b": ["x", "y"]}}
    response = invoke(app, {"inputs": {"a": [1.5, 2.5], "b": [[1], [2]]}})
    assert response.json()["predictions"] == {"type": "dict",
                                              "values": {"a": [1.5, 2.5], "b": [[1], [2]]}}
    assert isinstance(echo.seen[-1]["a"], np.ndarray)
    response = invoke(app, {"inputs": "a prompt"})
    assert response.json()["predictions"] == {"type": "str", "value": "a prompt"}


def test_inputs_with_a_tensor_signature_stay_arrays() -> None:
    echo = EchoModel(Schema(["image"], tensor=True))
    app = create_scoring_app(echo)
    response = invoke(app, {"inputs": [[[0, 1], [1, 0]]]})
    assert response.json()["predictions"]["shape"] == [1, 2, 2]


def test_nan_and_huge_integers_are_read_as_python_does() -> None:
    echo = EchoModel()
    app = create_scoring_app(echo)
    response = invoke(app, b'{"dataframe_split": {"columns": ["a"], "data": [[NaN], [1.5]]}}')
    assert response.status_code == 200, response.text
    assert response.json()["predictions"]["rows"] == [{"a": None}, {"a": 1.5}]


def test_params_are_passed_through(app: ScoringApp, logreg: LogRegModel, rows: np.ndarray) -> None:
    body = {"dataframe_split": {"columns": NAMES, "data": rows.tolist()},
            "params": {"threshold": 0.0}}
    response = invoke(app, body)
    assert response.json() == {"predictions": [1] * len(rows)}
    assert logreg.seen_params[-1] == {"threshold": 0.0}
    invoke(app, {"instances": rows.tolist()})
    assert logreg.seen_params[-1] is None


def test_a_model_without_params_gets_none_and_refuses_some() -> None:
    app = create_scoring_app(NoParamsModel())
    assert invoke(app, {"inputs": [1, 2]}).json() == {"predictions": [0.0, 0.0]}
    response = invoke(app, {"inputs": [1, 2], "params": {"k": 1}})
    assert_error(response, 400, "BAD_REQUEST", r"takes no 'params'")


# --- MLflow 1.x forms ---------------------------------------------------------------------


def test_journey_3_pandas_split_gets_the_bare_list() -> None:
    app = create_scoring_app(ThresholdModel())
    response = invoke(app, b'{"columns":["x"], "data":[[1], [-1]]}',
                      "application/json; format=pandas-split")
    assert response.status_code == 200, response.text
    assert response.json() == [1, 0]


def test_pandas_records_gets_the_bare_list(
    app: ScoringApp, logreg: LogRegModel, rows: np.ndarray
) -> None:
    records = [dict(zip(NAMES, row)) for row in rows.tolist()]
    response = invoke(app, records, "application/json; format=pandas-records")
    assert response.json() == expected(logreg, rows)
    split = {"columns": NAMES, "data": rows.tolist()}
    response = invoke(app, split, "application/json; format=pandas-split; charset=utf-8")
    assert response.json() == expected(logreg, rows)


def test_plain_json_without_a_key_is_read_the_1x_way(
    app: ScoringApp, logreg: LogRegModel, rows: np.ndarray
) -> None:
    want = expected(logreg, rows)
    assert invoke(app, {"columns": NAMES, "data": rows.tolist()}).json() == want
    assert invoke(app, [dict(zip(NAMES, row)) for row in rows.tolist()]).json() == want
    assert invoke(app, rows.tolist()).json() == want


def test_a_2x_body_under_a_1x_content_type_is_still_read(
    app: ScoringApp, logreg: LogRegModel, rows: np.ndarray
) -> None:
    body = {"dataframe_split": {"columns": NAMES, "data": rows.tolist()}}
    response = invoke(app, body, "application/json; format=pandas-split")
    assert response.json() == {"predictions": expected(logreg, rows)}


def test_charset_parameter(app: ScoringApp, logreg: LogRegModel, rows: np.ndarray) -> None:
    body = {"dataframe_split": {"columns": NAMES, "data": rows.tolist()}}
    want = {"predictions": expected(logreg, rows)}
    assert invoke(app, body, "application/json; charset=utf-8").json() == want
    assert invoke(app, body, "Application/JSON;charset=\"UTF-8\"").json() == want
    echo = create_scoring_app(EchoModel())
    latin = '{"inputs": ["caf\xe9"]}'.encode("latin-1")
    response = invoke(echo, latin, "application/json; charset=latin-1")
    assert response.json()["predictions"]["values"] == ["caf\xe9"]


# --- CSV and Parquet ----------------------------------------------------------------------


def test_csv(app: ScoringApp, logreg: LogRegModel, rows: np.ndarray) -> None:
    text = pd.DataFrame(rows, columns=NAMES).to_csv(index=False).encode()
    response = invoke(app, text, "text/csv")
    assert response.json() == {"predictions": expected(logreg, rows)}
    assert invoke(app, text, "text/csv; charset=utf-8").json() == response.json()


def test_parquet(app: ScoringApp, logreg: LogRegModel, rows: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(rows, columns=NAMES)), sink)
    want = {"predictions": expected(logreg, rows)}
    for content_type in ("application/vnd.apache.parquet", "application/parquet",
                         "application/x-parquet"):
        assert invoke(app, sink.getvalue(), content_type).json() == want


# --- bad input ----------------------------------------------------------------------------


def test_unsupported_content_types_get_415(app: ScoringApp) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = invoke(app, b"a=1", content_type)
        assert_error(response, 415, "BAD_REQUEST",
                     r"application/json, text/csv, application/vnd\.apache\.parquet")
    response = call(app, "POST", "/invocations", content=b"{}")
    assert_error(response, 415, "BAD_REQUEST", r"no Content-Type header")


def test_malformed_json_names_the_position(app: ScoringApp) -> None:
    response = invoke(app, b'{"dataframe_split": {"columns": ["a"], "data": [[1],, [2]]}}')
    assert_error(response, 400, "BAD_REQUEST", r"not valid JSON: .*line 1 column \d+ \(char \d+\)")
    assert_error(invoke(app, b""), 400, "BAD_REQUEST", r"body is empty")
    assert_error(invoke(app, b"\xff\xfe{}"), 400, "BAD_REQUEST", r"not valid JSON")


def test_the_keys_of_a_request(app: ScoringApp) -> None:
    accepted = r"'dataframe_split', 'dataframe_records', 'instances', 'inputs'"
    assert_error(invoke(app, {"rows": [[1]]}), 400, "BAD_REQUEST", rf"exactly one of {accepted}")
    assert_error(invoke(app, {"params": {}}), 400, "BAD_REQUEST", rf"exactly one of {accepted}")
    both = {"instances": [[1]], "inputs": [[1]]}
    assert_error(invoke(app, both), 400, "BAD_REQUEST", r"'instances', 'inputs'.*exactly one")
    assert_error(invoke(app, 42), 400, "BAD_REQUEST", r"JSON number; send an object")
    # Keys beside the one format key are ignored, as MLflow does.
    ok = invoke(app, {"instances": [[0.0] * 20], "client_request_id": "x"})
    assert ok.status_code == 200


def test_params_must_be_an_object(app: ScoringApp) -> None:
    for params in ([1, 2], "threshold=0.5", 3):
        body = {"instances": [[0.0] * 20], "params": params}
        assert_error(invoke(app, body), 400, "BAD_REQUEST", r"'params' must be a JSON object")


def test_wrong_columns_pass_the_models_message_on(app: ScoringApp) -> None:
    body = {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}
    assert_error(invoke(app, body), 400, "BAD_REQUEST", r"Model is missing inputs \['f0', 'f1'")
    assert_error(invoke(app, {"inputs": [[1.0, 2.0]]}), 400, "BAD_REQUEST",
                 r"Expected 20 features, got shape \(1, 2\)")
    text = b"a,b\n1,2\n"
    assert_error(invoke(app, text, "text/csv"), 400, "BAD_REQUEST", r"missing inputs")


def test_empty_input(app: ScoringApp) -> None:
    cases: list[tuple[Any, str]] = [
        ({"dataframe_split": {"columns": NAMES, "data": []}}, r"no rows to score"),
        ({"dataframe_records": []}, r"no records to score"),
        ({"instances": []}, r"'instances' is empty"),
        ({"inputs": []}, r"'inputs' is empty"),
        ({"inputs": {}}, r"empty object"),
        ({"inputs": None}, r"'inputs' is null"),
        ([], r"the request is empty"),
    ]
    for body, match in cases:
        assert_error(invoke(app, body), 400, "BAD_REQUEST", match)
    assert_error(invoke(app, b"", "text/csv"), 400, "BAD_REQUEST", r"CSV body is empty")
    assert_error(invoke(app, b"f0,f1\n", "text/csv"), 400, "BAD_REQUEST", r"header but no rows")
    assert_error(invoke(app, b"", "application/vnd.apache.parquet"), 400, "BAD_REQUEST",
                 r"Parquet body is empty")


def test_malformed_frames(app: ScoringApp) -> None:
    cases: list[tuple[Any, str]] = [
        ({"dataframe_split": [[1, 2]]}, r"'dataframe_split' must be an object"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]], "extra": 1}}, r"unknown key"),
        ({"dataframe_split": {"columns": "a", "data": [[1]]}}, r"'columns' .* must be a list"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}},
         r"Row 1 of 'dataframe_split' has 1 values; expected 2"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]], "index": [1, 2]}},
         r"'index' .* has 2 labels for 1 rows"),
        ({"dataframe_records": [{"a": 1}, [1]]}, r"Record 1 of 'dataframe_records' is a list"),
        ({"dataframe_records": {"a": 1}}, r"must be a list of records"),
        ({"instances": {"a": 1}}, r"'instances' must be a list"),
        ({"instances": [[1, 2], [3]]}, r"'instances' is ragged"),
        ({"inputs": {"f0": [1, 2], "f1": [3]}}, r"different lengths"),
    ]
    for body, match in cases:
        assert_error(invoke(app, body), 400, "BAD_REQUEST", match)


def test_formats_and_charsets_that_do_not_exist(app: ScoringApp) -> None:
    response = invoke(app, b"[]", "application/json; format=pandas-table")
    assert_error(response, 400, "BAD_REQUEST", r"Unknown format 'pandas-table'.*pandas-split")
    response = invoke(app, b"{}", "application/json; charset=klingon")
    assert_error(response, 400, "BAD_REQUEST", r"Unknown charset 'klingon'")
    response = invoke(app, b'{"a": 1}', "application/json; format=pandas-records")
    assert_error(response, 400, "BAD_REQUEST", r"pandas-records expects a JSON list")
    response = invoke(app, b"[[1]]", "application/json; format=pandas-split")
    assert_error(response, 400, "BAD_REQUEST", r"pandas-split expects a JSON object")


def test_csv_and_parquet_that_do_not_parse(app: ScoringApp) -> None:
    response = invoke(app, b"a,b\n1,2\n3,4,5,6\n", "text/csv")
    assert_error(response, 400, "BAD_REQUEST", r"CSV body could not be parsed: .*line 3")
    response = invoke(app, b"PAR1 this is not parquet", "application/vnd.apache.parquet")
    assert_error(response, 400, "BAD_REQUEST", r"not a readable Parquet file")


# --- model failures -------------------------------------------------------------------


def test_a_failing_model_is_a_400_with_the_traceback_only_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_scoring_app(FailingModel(RuntimeError("the weights are gone")))
    with caplog.at_level(logging.ERROR, logger="mltrail.scoring"):
        response = invoke(app, {"inputs": [1, 2]})
    assert_error(response, 400, "BAD_REQUEST", r"RuntimeError: the weights are gone")
    assert any(record.exc_info for record in caplog.records)
    assert "Traceback" not in response.text
    assert call(app, "GET", "/ping").status_code == 200


def test_invalid_argument_from_the_model_is_a_400() -> None:
    app = create_scoring_app(FailingModel(BadRequest("param 'k' must be positive")))
    assert_error(invoke(app, {"inputs": [1]}), 400, "BAD_REQUEST", r"param 'k' must be positive")
    app = create_scoring_app(FailingModel(SystemExit(3)))
    assert_error(invoke(app, {"inputs": [1]}), 400, "BAD_REQUEST", r"SystemExit")


def test_predictions_without_a_json_form_are_a_500() -> None:
    app = create_scoring_app(OutputModel(object()))
    assert_error(invoke(app, {"inputs": [1]}), 500, "INTERNAL_ERROR",
                 r"predictions \(object\) cannot be written as JSON")


# --- output conversion --------------------------------------------------------------------


def predictions_of(output: Any) -> Any:
    response = invoke(create_scoring_app(OutputModel(output)), {"inputs": [1]})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_arrays() -> None:
    assert predictions_of(np.array([1.5, np.nan, np.inf])) == [1.5, None, None]
    assert predictions_of(np.arange(6).reshape(2, 3)) == [[0, 1, 2], [3, 4, 5]]
    assert predictions_of(np.arange(6).reshape(2, 3)[:, 1]) == [1, 4]  # not contiguous
    assert predictions_of(np.array([1.0, 2.0], dtype=">f8")) == [1.0, 2.0]  # big-endian
    assert predictions_of(np.array(["a", "b"])) == ["a", "b"]
    assert predictions_of(np.array([1, "a", None], dtype=object)) == [1, "a", None]
    assert predictions_of(np.array([True, False])) == [True, False]
    assert predictions_of(np.array(["2024-05-01T12:00"], dtype="datetime64[s]")) == [
        "2024-05-01T12:00:00"]


def test_frames_become_records() -> None:
    frame = pd.DataFrame({
        "label": [1, 0],
        "score": [0.25, np.nan],
        "name": ["a", None],
        "when": pd.to_datetime(["2024-05-01 12:00", None]),
        "count": pd.array([3, None], dtype="Int64"),
        "zone": pd.to_datetime(["2024-05-01 12:00", "2024-05-02 00:00"]).tz_localize("UTC"),
        "kind": pd.Categorical(["x", "y"]),
    })
    assert predictions_of(frame) == [
        {"label": 1, "score": 0.25, "name": "a", "when": "2024-05-01T12:00:00", "count": 3,
         "zone": "2024-05-01T12:00:00+00:00", "kind": "x"},
        {"label": 0, "score": None, "name": None, "when": None, "count": None,
         "zone": "2024-05-02T00:00:00+00:00", "kind": "y"},
    ]
    assert predictions_of(pd.DataFrame(np.eye(2))) == [{"0": 1.0, "1": 0.0}, {"0": 0.0, "1": 1.0}]


def test_series_dicts_and_scalars() -> None:
    assert predictions_of(pd.Series([1.0, np.nan], name="y")) == [1.0, None]
    assert predictions_of({"a": np.array([1, 2]), "b": pd.Series(["x", "y"]),
                           "c": pd.DataFrame({"z": [1]})}) == {
        "a": [1, 2], "b": ["x", "y"], "c": [{"z": 1}]}
    assert predictions_of(np.float32(0.5)) == 0.5
    assert predictions_of(np.int64(7)) == 7
    assert predictions_of(float("nan")) is None
    assert predictions_of([np.array([1, 2]), {"k": np.float64(1.5)}]) == [[1, 2], {"k": 1.5}]
    assert predictions_of(datetime.date(2024, 5, 1)) == "2024-05-01"
    assert predictions_of([pd.Timestamp("2024-05-01"), pd.NaT, pd.NA]) == [
        "2024-05-01T00:00:00", None, None]
    assert predictions_of("text") == "text"


def test_encode_predictions_bare() -> None:
    assert encode_predictions(np.array([1, 0]), bare=True) == b"[1,0]"
    assert encode_predictions(np.array([1, 0])) == b'{"predictions":[1,0]}'


# --- limits, in process -------------------------------------------------------------------


def raw_call(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, Any, int]:
    """Call the app with a body in ``chunks``; the status, the JSON answer, chunks consumed."""
    pending = list(chunks)
    consumed = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        if not pending:
            await asyncio.sleep(3600)
        consumed += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], orjson.loads(sent[1]["body"]), consumed


def test_a_body_over_the_limit_is_refused_as_it_arrives(logreg: LogRegModel) -> None:
    app = create_scoring_app(logreg, max_body_bytes=1024 * 1024)
    chunk = b" " * (256 * 1024)
    # The Content-Length lies: it says 10 bytes, then 40 chunks of 256 KiB come.
    headers = [(b"content-type", b"application/json"), (b"content-length", b"10")]
    status, body, consumed = raw_call(app, headers, [chunk] * 40)
    assert status == 413 and body["error_code"] == "RESOURCE_EXHAUSTED"
    assert re.search(r"larger than the scoring server's limit of 1048576 bytes", body["message"])
    assert consumed == 5  # stopped at the first chunk past the limit
    # No Content-Length at all.
    status, body, consumed = raw_call(app, [(b"content-type", b"application/json")], [chunk] * 40)
    assert (status, consumed) == (413, 5)
    # A Content-Length over the limit is refused before any of the body is read.
    headers = [(b"content-type", b"application/json"), (b"content-length", b"5000000")]
    status, body, consumed = raw_call(app, headers, [chunk] * 40)
    assert (status, consumed) == (413, 0)


def test_the_time_limit_in_process() -> None:
    app = create_scoring_app(ScenarioModel(), timeout_s=0.2)
    body = {"inputs": {"a": [1], "b": [2]}, "params": {"sleep": 0.6}}
    assert_error(invoke(app, body), 504, "DEADLINE_EXCEEDED", r"time limit of 0\.2 s")


def test_large_requests_are_scored_in_a_thread(logreg: LogRegModel) -> None:
    app = create_scoring_app(logreg)
    data = np.random.default_rng(3).normal(size=(10_000, 20))
    body = orjson.dumps({"dataframe_split": {"columns": NAMES, "data": data.tolist()}})
    assert len(body) > INLINE_MAX_BYTES
    response = invoke(app, body)
    assert response.json() == {"predictions": expected(logreg, data)}



@contextlib.contextmanager
def collections_started() -> Iterator[list[int]]:
    """The generation of each collection the cyclic garbage collector starts in the block."""
    started: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(record)
    try:
        yield started
    finally:
        gc.callbacks.remove(record)


def test_a_big_json_body_is_read_with_the_collector_paused() -> None:
    data = np.random.default_rng(4).normal(size=(10_000, 20))
    body = orjson.dumps({"dataframe_split": {"columns": NAMES, "data": data.tolist()}})
    records = orjson.dumps({"dataframe_records": [dict(zip(NAMES, row)) for row in data.tolist()]})
    assert len(body) > COLLECTOR_PAUSE_BYTES
    signature = InputSignature(names=tuple(NAMES))
    assert gc.isenabled()
    # The first reads may import what frames need; the collector catches up on those after.
    parse_request("application/json", body, signature)
    parse_request("application/json", records, signature)
    with collections_started() as started:
        frame = parse_request("application/json", body, signature).data
        by_records = parse_request("application/json", records, signature).data
    # 10,000 rows are 10,000 new lists (records: dicts), which start a collection every 700.
    assert started == []
    assert gc.isenabled()
    assert list(frame.columns) == NAMES and frame.to_numpy().tolist() == data.tolist()
    pd.testing.assert_frame_equal(by_records, frame)
    # A body refused half way through turns the collector back on too.
    ragged = body[:-3] + b",[1.0]]}}"
    with pytest.raises(BadRequest, match=r"Row 10000 of 'dataframe_split' has 1 values"):
        parse_request("application/json", ragged, signature)
    assert gc.isenabled()
    # A collector that was off stays off.
    gc.disable()
    try:
        parse_request("application/json", body, signature)
        assert not gc.isenabled()
    finally:
        gc.enable()


class ThreadRecordingModel:
    """Records which thread each prediction ran on; sleeps ``delay`` seconds."""

    input_schema = None

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.threads: list[str] = []

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return [0] * len(data)


def test_small_requests_of_a_quick_model_are_scored_on_the_event_loop() -> None:
    main = threading.current_thread().name  # asyncio.run drives the app from this thread
    quick = ThreadRecordingModel()
    app = create_scoring_app(quick)

    async def three() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            small = [await client.post("/invocations", json={"inputs": [1, 2]}) for _ in range(3)]
            big = await client.post("/invocations", json={"inputs": [[0.5] * 100] * 200})
            return [r.status_code for r in (*small, big)]

    assert asyncio.run(three()) == [200] * 4
    # The first request shows the model quick; the next small ones stay on the loop; a body
    # over 64 KiB goes to a worker thread.
    assert quick.threads[0] != main and quick.threads[1:3] == [main, main]
    assert quick.threads[3] != main
    slow = ThreadRecordingModel(delay=0.02)
    app = create_scoring_app(slow)
    assert asyncio.run(three()) == [200] * 4
    assert main not in slow.threads


def test_limits_are_checked(logreg: LogRegModel) -> None:
    with pytest.raises(InvalidArgument, match=r"max_body_bytes must be a positive integer"):
        create_scoring_app(logreg, max_body_bytes=0)
    with pytest.raises(InvalidArgument, match=r"timeout_s must be a positive number"):
        create_scoring_app(logreg, timeout_s=-1)
    with pytest.raises(InvalidArgument, match=r"several workers needs a model URI"):
        serve(LogRegModel, workers=2)
    with pytest.raises(InvalidArgument, match=r"workers must be at least 1"):
        serve("runs:/x/model", workers=0)


# --- app_from_env -------------------------------------------------------------------------


@pytest.fixture
def scoring_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MLTRAIL_SCORING_MAX_BODY_BYTES", "MLTRAIL_SCORING_TIMEOUT_S",
                 "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLTRAIL_SCORING_MODEL_URI", "models:/adder/1")
    monkeypatch.setenv("MLTRAIL_SCORING_LOADER", f"{__name__}:load_sum_model")
    return monkeypatch


def test_app_from_env(scoring_env: pytest.MonkeyPatch) -> None:
    app = app_from_env()
    assert (app.max_body_bytes, app.timeout_s) == (DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_S)
    assert "models:/adder/1" in call(app, "GET", "/").text
    assert invoke(app, {"inputs": {"a": [1, 2], "b": [10, 20]}}).json() == {"predictions": [11, 22]}
    scoring_env.setenv("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", "30")
    assert app_from_env().timeout_s == 30.0
    scoring_env.setenv("MLTRAIL_SCORING_TIMEOUT_S", "2.5")
    scoring_env.setenv("MLTRAIL_SCORING_MAX_BODY_BYTES", "2048")
    app = app_from_env()
    assert (app.max_body_bytes, app.timeout_s) == (2048, 2.5)


def test_app_from_env_refuses_bad_settings(scoring_env: pytest.MonkeyPatch) -> None:
    scoring_env.setenv("MLTRAIL_SCORING_TIMEOUT_S", "soon")
    with pytest.raises(InvalidArgument, match=r"MLTRAIL_SCORING_TIMEOUT_S must be a number"):
        app_from_env()
    scoring_env.setenv("MLTRAIL_SCORING_TIMEOUT_S", "0")
    with pytest.raises(InvalidArgument, match=r"MLTRAIL_SCORING_TIMEOUT_S must be positive"):
        app_from_env()
    scoring_env.delenv("MLTRAIL_SCORING_TIMEOUT_S")
    scoring_env.setenv("MLTRAIL_SCORING_MAX_BODY_BYTES", "1.5")
    with pytest.raises(InvalidArgument, match=r"whole number of bytes"):
        app_from_env()
    scoring_env.delenv("MLTRAIL_SCORING_MAX_BODY_BYTES")
    scoring_env.setenv("MLTRAIL_SCORING_LOADER", "no_colon")
    with pytest.raises(InvalidArgument, match=r"'module:function'"):
        app_from_env()
    scoring_env.delenv("MLTRAIL_SCORING_MODEL_URI")
    with pytest.raises(InvalidArgument, match=r"MLTRAIL_SCORING_MODEL_URI is not set"):
        app_from_env()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc's settings are glibc's",
)
def test_serving_processes_keep_freed_memory() -> None:
    # In a fresh interpreter: the setting is its process's.
    code = "from mltrail.models.scoring.app import keep_freed_memory; print(keep_freed_memory())"

    def kept(**environ: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        done = subprocess.run([sys.executable, "-c", code], env={**env, **environ},
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert kept() == "True"
    # A threshold given in the environment is the user's: neither is changed then.
    assert kept(MALLOC_TRIM_THRESHOLD_="131072") == "False"
    assert kept(MALLOC_MMAP_THRESHOLD_="131072") == "False"


# --- a real uvicorn -----------------------------------------------------------------------


class Wire:
    """One kept-alive HTTP/1.1 connection, spoken by hand."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.reader = self.sock.makefile("rb")

    def send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        all_headers = dict(headers or {})
        if "Transfer-Encoding" not in all_headers and (body or method == "POST"):
            all_headers.setdefault("Content-Length", str(len(body)))
        lines += [f"{name}: {value}" for name, value in all_headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status_line = self.reader.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.reader.read(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        self.send(method, path, body, headers)
        return self.response()

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture(scope="module")
def live_port() -> Iterator[int]:
    import uvicorn

    app = create_scoring_app(ScenarioModel(), max_body_bytes=1024 * 1024, timeout_s=0.5)
    sock = listening_socket("127.0.0.1", 0)
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the scoring server did not start"
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def scenario(params: dict[str, Any] | None = None, rows: int = 1) -> bytes:
    body: dict[str, Any] = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]] * rows}}
    if params:
        body["params"] = params
    return orjson.dumps(body)


def test_the_listening_socket_has_tcp_nodelay() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


def test_keep_alive_serves_many_requests_on_one_connection(live_port: int) -> None:
    wire = Wire(live_port)
    try:
        for _ in range(30):
            status, headers, body = wire.request("POST", "/invocations", scenario(), JSON)
            assert (status, body) == (200, b'{"predictions":[3]}')
            assert headers.get("connection", "keep-alive") != "close"
        assert wire.request("GET", "/ping")[0] == 200
    finally:
        wire.close()


def test_body_limit_on_the_wire(live_port: int) -> None:
    wire = Wire(live_port)
    try:
        # A Content-Length over the limit is answered without waiting for the body.
        status, _, body = wire.request("POST", "/invocations", b"",
                                       {**JSON, "Content-Length": str(50 * 1024 * 1024)})
        assert status == 413 and orjson.loads(body)["error_code"] == "RESOURCE_EXHAUSTED"
    finally:
        wire.close()
    wire = Wire(live_port)
    try:
        # No Content-Length: a chunked body is counted as it comes.
        wire.send("POST", "/invocations", b"", {**JSON, "Transfer-Encoding": "chunked"})
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
        wire.sock.sendall(chunk * 24)  # 1.5 MiB
        status, _, body = wire.response()
        assert status == 413
        assert re.search(r"limit of 1048576 bytes", orjson.loads(body)["message"])
        wire.sock.sendall(b"0\r\n\r\n")  # the rest of the body is discarded by the server
        assert wire.request("GET", "/ping")[0] == 200
    finally:
        wire.close()


def test_time_limit_on_the_wire_and_ping_stays_responsive(live_port: int) -> None:
    slow, other = Wire(live_port), Wire(live_port)
    try:
        # Big enough to be scored in a worker thread whatever the server learnt before.
        status, _, body = slow.request("POST", "/invocations",
                                       scenario({"sleep": 1.5}, rows=12_000), JSON)
        assert status == 504, body
        assert orjson.loads(body)["error_code"] == "DEADLINE_EXCEEDED"
        # The model is still asleep in its thread; the server answers meanwhile.
        assert other.request("GET", "/ping")[0] == 200
        assert other.request("POST", "/invocations", scenario(), JSON)[0] == 200
        assert slow.request("GET", "/health")[0] == 200
    finally:
        slow.close()
        other.close()


def test_a_crashing_model_leaves_the_server_serving(live_port: int) -> None:
    wire = Wire(live_port)
    try:
        status, _, body = wire.request("POST", "/invocations", scenario({"fail": True}), JSON)
        assert status == 400
        answer = orjson.loads(body)
        assert answer["error_code"] == "BAD_REQUEST"
        assert re.search(r"ZeroDivisionError: the model divided by zero", answer["message"])
        assert wire.request("GET", "/ping")[0] == 200
        status, _, body = wire.request("POST", "/invocations", scenario(), JSON)
        assert (status, body) == (200, b'{"predictions":[3]}')
    finally:
        wire.close()


@pytest.mark.slow
def test_serve_with_two_workers(tmp_path: Path) -> None:
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    tests_dir = str(Path(__file__).parent)
    python_path = os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": python_path}
    script = (
        "from mltrail.models.scoring.app import serve\n"
        f"serve('models:/adder/2', loader='{__name__}:load_sum_model', workers=2, port={port},"
        " timeout_s=5)\n"
    )
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while True:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "serve() did not answer /ping"
                try:
                    if client.get("/ping").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert "models:/adder/2" in client.get("/").text
            for _ in range(20):
                response = client.post("/invocations", json={"inputs": {"a": [1], "b": [2]}})
                assert response.json() == {"predictions": [3]}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
