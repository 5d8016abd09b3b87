"""``MltrailClient`` (MLflow's ``MlflowClient`` methods) on a real SQLite store: experiments,
runs, logging, search paging, and the rule each bad input breaks."""

from __future__ import annotations

import base64
import json
import runpy
import textwrap
from pathlib import Path

import pytest
from fixtures_tracking import close_session, count_points, count_rows

import mltrail
import mltrail.exceptions
from mltrail import MltrailClient
from mltrail.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from mltrail.errors import AlreadyExists, InvalidArgument, MltrailError, NotFound
from mltrail.settings import Settings
from mltrail.storage.uri import close_all
from mltrail.tracking.fluent import Session, use_session


def new_run(client: MltrailClient, experiment_id: str = "0", **kwargs: object) -> str:
    return client.create_run(experiment_id, **kwargs).info.run_id  # type: ignore[arg-type]


# Names MLflow users import


def test_mlflow_names_are_the_same_objects() -> None:
    assert mltrail.exceptions.MlflowException is mltrail.MltrailError
    assert mltrail.MlflowClient is mltrail.MltrailClient
    from mltrail.tracking import MlflowClient

    assert MlflowClient is MltrailClient


def test_errors_carry_mlflows_codes(client: MltrailClient) -> None:
    with pytest.raises(NotFound, match="Run with id=0123456789abcdef not found") as missing:
        client.get_run("0123456789abcdef")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert isinstance(missing.value, mltrail.exceptions.MlflowException)
    client.create_experiment("twice")
    with pytest.raises(AlreadyExists, match="Experiment 'twice' already exists") as clash:
        client.create_experiment("twice")
    assert clash.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(InvalidArgument, match="must be a number") as bad:
        client.log_metric(new_run(client), "m", "x")  # type: ignore[arg-type]
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_script_moved_from_mlflow_runs_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import mltrail as mlflow

            with open("model.txt", "w") as handle:
                handle.write("weights")

            mlflow.set_experiment("moved-from-mlflow")
            with mlflow.start_run(run_name="compat") as run:
                mlflow.log_param("alpha", 0.5)
                for step in range(3):
                    mlflow.log_metric("rmse", 1.0 / (step + 1), step=step)
                mlflow.set_tag("framework", "none")
                mlflow.log_artifact("model.txt")

            runs = mlflow.search_runs(filter_string="params.alpha = '0.5'")
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    with use_session(Session(Settings())) as bound:
        try:
            result = runpy.run_path(str(script), run_name="__main__")
        finally:
            close_session(bound)
    close_all()
    runs = result["runs"]
    run_id = result["run"].info.run_id
    assert list(runs["run_id"]) == [run_id]
    assert runs["status"].iloc[0] == "FINISHED"
    assert runs["params.alpha"].iloc[0] == "0.5"
    assert runs["metrics.rmse"].iloc[0] == pytest.approx(1 / 3)
    assert runs["tags.framework"].iloc[0] == "none"
    assert runs["tags.mlflow.runName"].iloc[0] == "compat"
    experiment_id = runs["experiment_id"].iloc[0]
    artifact = tmp_path / "mlartifacts" / experiment_id / run_id / "artifacts" / "model.txt"
    assert artifact.read_text() == "weights"
    uri = f"sqlite:///{tmp_path / 'mltrail.db'}"
    assert count_points(uri, run_id) == 3


# Experiments


def test_experiment_lifecycle(client: MltrailClient) -> None:
    experiment_id = client.create_experiment("exp", tags={"team": "vision", "size": 3})
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == "exp"
    assert experiment.tags == {"team": "vision", "size": "3"}
    assert experiment.lifecycle_stage == LifecycleStage.ACTIVE
    assert experiment.artifact_location.endswith(f"/mlartifacts/{experiment_id}")
    by_name = client.get_experiment_by_name("exp")
    assert by_name is not None and by_name.experiment_id == experiment_id
    assert client.get_experiment_by_name("nope") is None

    client.rename_experiment(experiment_id, "renamed")
    assert client.get_experiment(experiment_id).name == "renamed"
    assert client.get_experiment_by_name("exp") is None

    client.set_experiment_tag(experiment_id, "stage", "dev")
    client.delete_experiment_tag(experiment_id, "team")
    assert client.get_experiment(experiment_id).tags == {"size": "3", "stage": "dev"}
    with pytest.raises(NotFound, match="No tag with key 'team'"):
        client.delete_experiment_tag(experiment_id, "team")

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(InvalidArgument, match="must be in the 'active' state"):
        client.create_run(experiment_id)
    with pytest.raises(AlreadyExists, match="it is deleted"):
        client.create_experiment("renamed")
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE


def test_experiment_with_an_artifact_location(client: MltrailClient, tmp_path: Path) -> None:
    location = (tmp_path / "elsewhere").as_uri()
    experiment_id = client.create_experiment("placed", artifact_location=location)
    assert client.get_experiment(experiment_id).artifact_location == location
    run = client.create_run(experiment_id)
    assert run.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"


def test_unknown_experiments_are_not_found(client: MltrailClient) -> None:
    with pytest.raises(NotFound, match="No Experiment with id=999"):
        client.get_experiment("999")
    with pytest.raises(NotFound, match="No Experiment with id=999"):
        client.create_run("999")
    with pytest.raises(NotFound, match="No Experiment with id=999"):
        client.delete_experiment("999")


def test_the_default_experiment_cannot_be_deleted(client: MltrailClient) -> None:
    with pytest.raises(InvalidArgument, match="Default experiment"):
        client.delete_experiment("0")


def test_bad_experiment_names(client: MltrailClient) -> None:
    with pytest.raises(InvalidArgument, match="must not be empty"):
        client.create_experiment("  ")
    with pytest.raises(InvalidArgument, match="the limit is 500"):
        client.create_experiment("e" * 501)


def test_search_experiments_pages(client: MltrailClient) -> None:
    for index in range(5):
        client.create_experiment(f"exp-{index}")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_experiments(
            max_results=2, order_by=["name ASC"], filter_string="name LIKE 'exp-%'", page_token=token
        )
        seen.extend(e.name for e in page)
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == [f"exp-{i}" for i in range(5)]
    assert pages == 3
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert list(deleted) == [] and deleted.token is None


# Runs


def test_create_run(client: MltrailClient) -> None:
    run = client.create_run("0", start_time=1234, tags={"team": "nlp", "n": 1}, run_name="named")
    assert run.info.status == "RUNNING"
    assert run.info.start_time == 1234
    assert run.info.end_time is None
    assert run.info.run_name == "named"
    assert run.info.user_id == "unknown"  # MLflow's client: the mlflow.user tag, else unknown
    assert run.data.tags == {"team": "nlp", "n": "1", "mlflow.runName": "named"}
    assert run.info.lifecycle_stage == LifecycleStage.ACTIVE
    assert client.get_run(run.info.run_id) == run


def test_create_run_takes_the_user_from_its_tag_or_settings(tracking_uri: str) -> None:
    plain = MltrailClient(tracking_uri, settings=Settings())
    assert plain.create_run("0", tags={"mlflow.user": "tagged"}).info.user_id == "tagged"
    named = MltrailClient(tracking_uri, settings=Settings(user="configured"))
    assert named.create_run("0").info.user_id == "configured"
    close_all()


def test_the_tracking_uri_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    client = MltrailClient("sqlite:///here.db", settings=Settings())
    assert client.tracking_uri == f"sqlite:///{tmp_path / 'here.db'}"


def test_update_run_and_set_terminated(client: MltrailClient) -> None:
    run_id = new_run(client, start_time=100)
    client.update_run(run_id, name="renamed")
    renamed = client.get_run(run_id)
    assert renamed.info.run_name == "renamed"
    assert renamed.data.tags["mlflow.runName"] == "renamed"
    assert renamed.info.status == "RUNNING"
    client.update_run(run_id, status="SCHEDULED")
    assert client.get_run(run_id).info.status == "SCHEDULED"
    info = client.set_terminated(run_id, "FAILED", end_time=500)
    assert (info.status, info.end_time) == ("FAILED", 500)
    info = client.set_terminated(run_id)
    assert info.status == "FINISHED"
    assert info.end_time is not None and info.end_time > 500
    with pytest.raises(InvalidArgument, match="Invalid run status 'DONE'"):
        client.update_run(run_id, status="DONE")
    with pytest.raises(InvalidArgument, match="Invalid end_time -1: must be at least 0"):
        client.set_terminated(run_id, end_time=-1)


def test_delete_and_restore_run(client: MltrailClient) -> None:
    run_id = new_run(client)
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert list(client.search_runs("0")) == []
    assert [r.info.run_id for r in client.search_runs("0", run_view_type="DELETED_ONLY")] == [run_id]
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert [r.info.run_id for r in client.search_runs(["0"])] == [run_id]


def test_writing_to_a_deleted_run_is_refused(client: MltrailClient) -> None:
    run_id = new_run(client)
    client.set_tag(run_id, "kept", "1", synchronous=True)
    client.delete_run(run_id)
    refused = "must be in the 'active' state. Current state is deleted"
    with pytest.raises(InvalidArgument, match=refused):
        client.log_metric(run_id, "m", 1.0, synchronous=True)
    with pytest.raises(InvalidArgument, match=refused):
        client.log_param(run_id, "p", "1", synchronous=True)
    with pytest.raises(InvalidArgument, match=refused):
        client.set_tag(run_id, "t", "1", synchronous=True)
    with pytest.raises(InvalidArgument, match=refused):
        client.delete_tag(run_id, "kept")
    with pytest.raises(InvalidArgument, match=refused):
        client.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    with pytest.raises(InvalidArgument, match=refused):
        client.set_terminated(run_id)
    client.log_metric(run_id, "m", 2.0)  # queued: refused when it is sent
    with pytest.raises(InvalidArgument, match=refused):
        client.flush()
    data = client.get_run(run_id).data
    assert data.metrics == {} and data.params == {} and data.tags["kept"] == "1"


def test_an_unknown_run_is_not_found(client: MltrailClient) -> None:
    unknown = "0123456789abcdef0123456789abcdef"
    message = f"Run with id={unknown} not found"
    with pytest.raises(NotFound, match=message):
        client.get_run(unknown)
    with pytest.raises(NotFound, match=message):
        client.log_metric(unknown, "m", 1.0, synchronous=True)
    with pytest.raises(NotFound, match=message):
        client.log_param(unknown, "p", 1, synchronous=True)
    with pytest.raises(NotFound, match=message):
        client.update_run(unknown, status="FINISHED")
    with pytest.raises(NotFound, match=message):
        client.set_terminated(unknown)
    with pytest.raises(NotFound, match=message):
        client.delete_run(unknown)
    with pytest.raises(NotFound, match=message):
        client.restore_run(unknown)
    with pytest.raises(NotFound, match=message):
        client.get_metric_history(unknown, "m")
    with pytest.raises(NotFound, match=message):
        client.artifact_repository(unknown)
    client.set_tag(unknown, "t", "v")
    with pytest.raises(NotFound, match=message):
        client.flush()


def test_get_parent_run(client: MltrailClient) -> None:
    parent = new_run(client)
    child = new_run(client, tags={"mlflow.parentRunId": parent})
    found = client.get_parent_run(child)
    assert found is not None and found.info.run_id == parent
    assert client.get_parent_run(parent) is None


# Logging


def test_log_metric_param_and_tag(client: MltrailClient) -> None:
    run_id = new_run(client)
    client.log_metric(run_id, "loss", 0.5, timestamp=10, step=2)
    assert client.log_param(run_id, "lr", 0.1) == 0.1
    client.set_tag(run_id, "stage", "dev")
    client.set_tag(run_id, "stage", "prod")
    client.log_param(run_id, "lr", 0.1)  # the same value again is fine
    data = client.get_run(run_id).data
    assert data.metrics == {"loss": 0.5}
    assert data.params == {"lr": "0.1"}
    assert data.tags["stage"] == "prod"
    client.delete_tag(run_id, "stage")
    assert "stage" not in client.get_run(run_id).data.tags
    with pytest.raises(NotFound, match="No tag with name: stage"):
        client.delete_tag(run_id, "stage")


def test_changing_a_param_is_refused(client: MltrailClient) -> None:
    run_id = new_run(client)
    client.log_param(run_id, "lr", "0.1", synchronous=True)
    with pytest.raises(InvalidArgument, match="Changing param values is not allowed.*key='lr'"):
        client.log_param(run_id, "lr", "0.2", synchronous=True)
    assert client.get_run(run_id).data.params == {"lr": "0.1"}


def test_get_metric_history(client: MltrailClient) -> None:
    run_id = new_run(client)
    for step, value in [(0, 3.0), (1, 2.0), (2, 1.0)]:
        client.log_metric(run_id, "loss", value, timestamp=100 + step, step=step)
    history = client.get_metric_history(run_id, "loss")
    assert [(m.key, m.value, m.timestamp, m.step) for m in history] == [
        ("loss", 3.0, 100, 0),
        ("loss", 2.0, 101, 1),
        ("loss", 1.0, 102, 2),
    ]
    assert client.get_metric_history(run_id, "never-logged") == []


def test_log_batch_splits_past_mlflows_limits(client: MltrailClient, tracking_uri: str) -> None:
    run_id = new_run(client)
    metrics = [Metric("m", float(i), 1000 + i, i) for i in range(2500)]
    params = [Param(f"p{i}", str(i)) for i in range(250)]
    tags = [RunTag(f"t{i}", "v") for i in range(150)]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    history = client.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(2500))
    data = client.get_run(run_id).data
    assert len(data.params) == 250
    assert {f"t{i}" for i in range(150)} <= set(data.tags)
    assert count_points(tracking_uri, run_id) == 2500


def test_log_batch_splits_past_the_limit_of_1000_items_in_all(
    client: MltrailClient, tracking_uri: str
) -> None:
    run_id = new_run(client)
    client.log_batch(
        run_id,
        metrics=[Metric("m", 1.0, 1, i) for i in range(900)],
        params=[Param(f"p{i}", "1") for i in range(100)],
        tags=[RunTag(f"t{i}", "1") for i in range(100)],
    )
    assert count_points(tracking_uri, run_id) == 900
    assert len(client.get_run(run_id).data.params) == 100


def test_log_batch_within_the_limits(client: MltrailClient) -> None:
    run_id = new_run(client)
    client.log_batch(
        run_id,
        metrics=[Metric("a", 1.0, 5, 0), Metric("a", 2.0, 6, 1)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "x")],
    )
    data = client.get_run(run_id).data
    assert data.metrics == {"a": 2.0}
    assert data.params == {"p": "1"}
    assert data.tags["t"] == "x"


@pytest.mark.parametrize(
    ("bad_metric", "message"),
    [
        (Metric("m", True, 1, 0), r"Invalid value True for metric 'm': must be a number"),
        (Metric("m", "1.0", 1, 0), r"Invalid value '1.0' for metric 'm': must be a number"),  # type: ignore[arg-type]
        (Metric("m", 1.0, -5, 0), r"Invalid timestamp of metric 'm' -5: must be at least 0"),
        (Metric("a/../b", 1.0, 1, 0), r"no '\.\.' segment"),
    ],
)
def test_a_split_log_batch_with_one_bad_item_stores_nothing(
    client: MltrailClient, tracking_uri: str, bad_metric: Metric, message: str
) -> None:
    run_id = new_run(client)
    metrics = [Metric("m", float(i), 1, i) for i in range(1500)]
    metrics[1200] = bad_metric
    with pytest.raises(InvalidArgument, match=message):
        client.log_batch(run_id, metrics=metrics, params=[Param("p", "1")])
    assert count_points(tracking_uri, run_id) == 0
    assert client.get_run(run_id).data.params == {}


def test_a_split_log_batch_with_a_param_given_two_values_stores_nothing(
    client: MltrailClient, tracking_uri: str
) -> None:
    run_id = new_run(client)
    params = [Param(f"p{i}", "x") for i in range(150)]
    params.append(Param("p0", "y"))
    with pytest.raises(InvalidArgument, match="p0"):
        client.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)] * 1001, params=params)
    assert count_rows(tracking_uri, "SELECT count(*) FROM params WHERE run_uuid = ?", run_id) == 0
    assert count_points(tracking_uri, run_id) == 0


def test_a_split_log_batch_changing_a_stored_param_stores_nothing(
    client: MltrailClient, tracking_uri: str
) -> None:
    run_id = new_run(client)
    client.log_param(run_id, "p120", "old", synchronous=True)
    params = [Param(f"p{i}", "new") for i in range(150)]
    with pytest.raises(InvalidArgument, match="Changing param values is not allowed.*p120"):
        client.log_batch(run_id, params=params)
    assert client.get_run(run_id).data.params == {"p120": "old"}


def test_log_batch_asynchronously(client: MltrailClient, tracking_uri: str) -> None:
    run_id = new_run(client)
    client.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)], synchronous=False)
    client.flush()
    assert count_points(tracking_uri, run_id) == 1


def test_log_inputs(client: MltrailClient) -> None:
    run_id = new_run(client)
    dataset = Dataset("iris", "abc123", "local", '{"uri": "iris.csv"}', schema='{"cols": 4}')
    client.log_inputs(run_id, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
    (logged,) = client.get_run(run_id).inputs.dataset_inputs
    assert logged.dataset == dataset
    assert logged.tags == (InputTag("mlflow.data.context", "train"),)
    found = client.search_runs("0", "datasets.context = 'train'")
    assert [r.info.run_id for r in found] == [run_id]


# Bad input, each with the rule named


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, r: c.log_metric(r, "k" * 251, 1.0), r"251 characters, the limit is 250"),
        (lambda c, r: c.log_param(r, "k" * 251, "v"), r"251 characters, the limit is 250"),
        (lambda c, r: c.set_tag(r, "k" * 251, "v"), r"251 characters, the limit is 250"),
        (lambda c, r: c.log_metric(r, "a/../b", 1.0), r"no '\.\.' segment"),
        (lambda c, r: c.log_param(r, "../p", 1), r"no '\.\.' segment"),
        (lambda c, r: c.log_metric(r, "/abs", 1.0), r"no '\.\.' segment and no leading"),
        (lambda c, r: c.log_metric(r, "bad*key", 1.0), r"names may only contain alphanumerics"),
        (lambda c, r: c.log_metric(r, "", 1.0), r"Invalid metric key: must not be empty"),
        (lambda c, r: c.log_metric(r, "m", True), r"Invalid value True for metric 'm'.*bool"),
        (lambda c, r: c.log_metric(r, "m", "0.5"), r"Invalid value '0.5' for metric 'm'.*str"),
        (lambda c, r: c.log_metric(r, "m", None), r"Invalid value None for metric 'm'"),
        (lambda c, r: c.log_metric(r, "m", 1.0, timestamp=-1), r"Invalid timestamp -1: must be at least 0"),
        (lambda c, r: c.log_metric(r, "m", 1.0, step=1.5), r"Invalid step 1.5: must be an integer"),
        (lambda c, r: c.log_param(r, "p", "x" * 6001), r"6001 characters, the limit is 6000"),
        (lambda c, r: c.set_tag(r, "t", "x" * 8001), r"8001 characters, the limit is 8000"),
        (lambda c, r: c.log_param(r, "p", None), r"Missing value for value of param 'p'"),
        (lambda c, r: c.set_tag(r, "t", "a\x00b"), r"must not contain a NUL character"),
    ],
)
def test_bad_input_is_refused_at_the_call(
    client: MltrailClient, tracking_uri: str, call: object, message: str
) -> None:
    run_id = new_run(client)
    assert callable(call)
    with pytest.raises(InvalidArgument, match=message):
        call(client, run_id)  # asynchronous by default: refused before it is queued
    client.flush()
    data = client.get_run(run_id).data
    assert data.metrics == {} and data.params == {}
    assert set(data.tags) == {"mlflow.runName"}


def test_long_values_are_cut_when_asked(tracking_uri: str) -> None:
    client = MltrailClient(tracking_uri, settings=Settings(truncate_long_values=True))
    run_id = new_run(client)
    client.log_param(run_id, "p", "x" * 6001)
    client.set_tag(run_id, "t", "y" * 8001)
    data = client.get_run(run_id).data
    assert data.params["p"] == "x" * 6000
    assert data.tags["t"] == "y" * 8000
    client.close()
    close_all()


def test_truncation_follows_the_environment(
    tracking_uri: str, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "true")
    client = MltrailClient(tracking_uri, settings=Settings.from_env())
    run_id = new_run(client)
    client.log_param(run_id, "p", "x" * 6001, synchronous=True)
    assert client.get_run(run_id).data.params["p"] == "x" * 6000
    close_all()


# search_runs


@pytest.fixture
def seven_runs(client: MltrailClient) -> list[str]:
    """Seven runs in Default, started at 1..7 ms: newest first is the default order."""
    ids = []
    for index in range(7):
        run_id = new_run(client, start_time=index + 1, run_name=f"r{index}")
        client.log_metric(run_id, "score", float(index % 3), step=0)
        ids.append(run_id)
    client.flush()
    return ids


def test_search_runs_pages_through_every_run(client: MltrailClient, seven_runs: list[str]) -> None:
    found: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs("0", max_results=3, page_token=token)
        found.extend(r.info.run_id for r in page)
        pages += 1
        token = page.token
        if token is None:
            break
    assert pages == 3
    assert found == list(reversed(seven_runs))  # start_time descending
    whole = client.search_runs("0", max_results=7)
    assert [r.info.run_id for r in whole] == found
    assert whole.token is None


def test_search_runs_pages_keep_the_order_by(client: MltrailClient, seven_runs: list[str]) -> None:
    order = ["metrics.score DESC", "attributes.run_name ASC"]
    first = client.search_runs("0", "metrics.score >= 1", max_results=2, order_by=order)
    assert first.token is not None
    second = client.search_runs("0", "metrics.score >= 1", max_results=2, order_by=order, page_token=first.token)
    names = [r.info.run_name for r in [*first, *second]]
    assert names == ["r2", "r5", "r1", "r4"]
    assert second.token is None


def test_a_garbage_page_token_is_refused(client: MltrailClient, seven_runs: list[str]) -> None:
    with pytest.raises(InvalidArgument, match="Invalid page token"):
        client.search_runs("0", page_token="not a token!")


def test_a_negative_offset_token_is_refused(client: MltrailClient, seven_runs: list[str]) -> None:
    token = base64.b64encode(json.dumps({"offset": -1}).encode()).decode()
    with pytest.raises(InvalidArgument, match="Invalid page token.*negative"):
        client.search_runs("0", page_token=token)


@pytest.mark.parametrize("max_results", [0, 50_001])
def test_max_results_is_bounded(client: MltrailClient, max_results: int) -> None:
    with pytest.raises(InvalidArgument, match="must be between 1 and 50000"):
        client.search_runs("0", max_results=max_results)


def test_search_runs_reads_what_was_queued(client: MltrailClient) -> None:
    run_id = new_run(client)
    client.log_metric(run_id, "acc", 0.99)  # queued, not yet sent
    found = client.search_runs("0", "metrics.acc > 0.9")
    assert [r.info.run_id for r in found] == [run_id]


def test_close_sends_what_is_queued(client: MltrailClient, tracking_uri: str) -> None:
    run_id = new_run(client)
    for step in range(10):
        client.log_metric(run_id, "m", float(step), step=step)
    client.close()
    assert count_points(tracking_uri, run_id) == 10


def test_errors_are_one_tree(client: MltrailClient) -> None:
    for error in (NotFound, InvalidArgument, AlreadyExists):
        assert issubclass(error, MltrailError)
