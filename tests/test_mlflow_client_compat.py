"""The official MLflow client, unchanged, against an mltrail server.

``mlflow-skinny`` is a test dependency only: these tests prove the wire contract from the
side of the client our users already have.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny (a test dependency) is not installed")
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture
def url(tracking_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The official client reads its configuration from the environment.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # set_experiment writes MLFLOW_EXPERIMENT_ID and a module global; both are undone after.
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri(tracking_server.url)
    yield tracking_server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=url)


def _code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def test_experiments(client: MlflowClient) -> None:
    experiment_id = client.create_experiment("compat", tags={"team": "vision"})
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == "compat"
    assert experiment.tags["team"] == "vision"
    assert client.get_experiment_by_name("compat").experiment_id == experiment_id
    assert client.get_experiment_by_name("nope") is None

    client.rename_experiment(experiment_id, "compat-2")
    client.set_experiment_tag(experiment_id, "stage", "dev")
    assert client.get_experiment(experiment_id).tags["stage"] == "dev"
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.experiment_id for e in deleted] == [experiment_id]
    client.restore_experiment(experiment_id)

    with pytest.raises(MlflowException) as exists:
        client.create_experiment("compat-2")
    assert _code(exists) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        client.get_experiment("12345")
    assert _code(missing) == "RESOURCE_DOES_NOT_EXIST"


def test_search_experiments_pages(client: MlflowClient) -> None:
    for i in range(5):
        client.create_experiment(f"page-{i}")
    first = client.search_experiments(max_results=2, filter_string="name LIKE 'page-%'", order_by=["name"])
    assert [e.name for e in first] == ["page-0", "page-1"]
    second = client.search_experiments(
        max_results=2, filter_string="name LIKE 'page-%'", order_by=["name"], page_token=first.token
    )
    assert [e.name for e in second] == ["page-2", "page-3"]


def test_fluent_nested_runs_and_logging(url: str) -> None:
    mlflow.set_experiment("fluent")
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"beta": 1, "gamma": "x"})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"a": "1"})
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 1.0)
    client = MlflowClient()
    parent_run = client.get_run(parent.info.run_id)
    assert parent_run.info.status == "FINISHED"
    assert parent_run.info.run_name == "parent"
    assert parent_run.data.params == {"alpha": "0.5", "beta": "1", "gamma": "x"}
    assert parent_run.data.metrics["loss"] == pytest.approx(1 / 3)
    assert parent_run.data.tags["team"] == "vision"
    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    history = client.get_metric_history(parent.info.run_id, "loss")
    assert [(m.step, round(m.value, 3)) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.333)]


def test_failed_run_status(url: str) -> None:
    with pytest.raises(ValueError, match="boom"):
        with mlflow.start_run() as run:
            raise ValueError("boom")
    assert MlflowClient().get_run(run.info.run_id).info.status == "FAILED"


def test_batch_logging_and_errors(client: MlflowClient) -> None:
    run = client.create_run("0")
    run_id = run.info.run_id
    metrics = [Metric("m", float(i), 1_700_000_000_000 + i, i) for i in range(1000)]
    client.log_batch(run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "v")])
    client.log_batch(run_id, metrics=[Metric("nan", math.nan, 0, 0), Metric("inf", math.inf, 0, 0)])
    data = client.get_run(run_id).data
    assert data.metrics["m"] == 999.0
    assert math.isnan(data.metrics["nan"])
    assert data.metrics["inf"] == math.inf
    assert len(client.get_metric_history(run_id, "m")) == 1000

    with pytest.raises(MlflowException, match="Changing param values is not allowed") as changed:
        client.log_param(run_id, "p", "2")
    assert _code(changed) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as unknown:
        client.get_run("f" * 32)
    assert _code(unknown) == "RESOURCE_DOES_NOT_EXIST"
    client.set_terminated(run_id, "KILLED")
    assert client.get_run(run_id).info.status == "KILLED"
    client.delete_run(run_id)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        client.log_metric(run_id, "late", 1.0)
    client.restore_run(run_id)
    client.delete_tag(run_id, "t")
    assert "t" not in client.get_run(run_id).data.tags


@pytest.fixture
def searchable(client: MlflowClient) -> tuple[str, list[str]]:
    experiment_id = client.create_experiment("search")
    ids = []
    for i in range(6):
        run = client.create_run(experiment_id, run_name=f"run-{i}", tags={"group": "even" if i % 2 == 0 else "odd"})
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", i / 10, 0, 0), Metric("f1 score", 1 - i / 10, 0, 0)],
            params=[Param("model", "tree" if i < 3 else "linear"), Param("depth", str(i))],
        )
        if i != 5:
            client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    return experiment_id, ids


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.25", [3, 4, 5]),
        ("metrics.acc >= 0.2 and metrics.acc <= 0.3", [2, 3]),
        ("metrics.`f1 score` < 0.6", [5]),
        ("params.model = 'tree'", [0, 1, 2]),
        ("params.model != 'tree'", [3, 4, 5]),
        ("params.depth LIKE '1%'", [1]),
        ("params.model ILIKE 'TR%'", [0, 1, 2]),
        ("tags.group = 'odd'", [1, 3, 5]),
        ('tags."group" = "even"', [0, 2, 4]),
        ("tags.missing IS NULL and params.depth = '2'", [2]),
        ("attributes.status = 'RUNNING'", [5]),
        ("attributes.run_name = 'run-4'", [4]),
        ("run_name LIKE 'run-%' and metrics.acc < 0.1", [0]),
    ],
)
def test_search_runs_filters(
    client: MlflowClient, searchable: tuple[str, list[str]], filter_string: str, expected: list[int]
) -> None:
    experiment_id, ids = searchable
    found = client.search_runs([experiment_id], filter_string=filter_string, order_by=["metrics.acc ASC"])
    assert [r.info.run_id for r in found] == [ids[i] for i in expected]


def test_search_runs_in_list_ordering_and_pages(
    client: MlflowClient, searchable: tuple[str, list[str]]
) -> None:
    experiment_id, ids = searchable
    found = client.search_runs([experiment_id], filter_string=f"attributes.run_id IN ('{ids[0]}', '{ids[4]}')")
    assert {r.info.run_id for r in found} == {ids[0], ids[4]}
    ordered = client.search_runs([experiment_id], order_by=["params.model DESC", "metrics.acc DESC"])
    assert [r.info.run_id for r in ordered] == [ids[i] for i in (2, 1, 0, 5, 4, 3)]
    page = client.search_runs([experiment_id], max_results=4, order_by=["metrics.acc"])
    rest = client.search_runs([experiment_id], max_results=4, order_by=["metrics.acc"], page_token=page.token)
    assert [r.info.run_id for r in page] + [r.info.run_id for r in rest] == ids
    assert rest.token is None
    frame = mlflow.search_runs([experiment_id], filter_string="metrics.acc > 0.35")
    assert sorted(frame["run_id"]) == sorted([ids[4], ids[5]])
    with pytest.raises(MlflowException) as bad:
        client.search_runs([experiment_id], filter_string="metrics.acc >> 1")
    assert _code(bad) == "INVALID_PARAMETER_VALUE"


def test_artifacts_through_the_proxy(client: MlflowClient, tmp_path: Path) -> None:
    run = client.create_run("0")
    run_id = run.info.run_id
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("alpha")
    (tmp_path / "data" / "sub").mkdir()
    (tmp_path / "data" / "sub" / "b.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    client.log_artifacts(run_id, str(tmp_path / "data"), "inputs")
    client.log_text(run_id, "hello", "notes/hello.txt")
    client.log_dict(run_id, {"k": [1, 2]}, "config.json")
    top = sorted(f.path for f in client.list_artifacts(run_id))
    assert top == ["config.json", "inputs", "notes"]
    nested = sorted(f.path for f in client.list_artifacts(run_id, "inputs"))
    assert nested == ["inputs/a.txt", "inputs/sub"]
    out = client.download_artifacts(run_id, "inputs", str(tmp_path / "out"))
    assert Path(out, "a.txt").read_text() == "alpha"
    assert Path(out, "sub", "b.bin").read_bytes() == (tmp_path / "data" / "sub" / "b.bin").read_bytes()
    loaded = mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json")
    assert loaded == {"k": [1, 2]}
