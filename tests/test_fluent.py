"""The fluent API (``import mltrail as mlflow``) on a real SQLite store, against MLflow's
documented behaviour: tracking URI, experiments, runs, logging, search."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_tracking import close_session

import mltrail as mlflow
from mltrail.entities import LifecycleStage, Run, RunStatus, ViewType
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.settings import Settings
from mltrail.storage.uri import close_all
from mltrail.tracking.fluent import ActiveRun, Session, use_session


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A session with nothing configured, working in an empty directory."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with use_session(Session(Settings())) as bound:
        try:
            yield work
        finally:
            close_session(bound)
    close_all()


def env_session(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Session:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Session(Settings.from_env())


# Tracking URI


def test_a_relative_sqlite_uri_becomes_absolute(fresh: Path) -> None:
    mlflow.set_tracking_uri("sqlite:///rel.db")
    assert mlflow.get_tracking_uri() == f"sqlite:///{fresh / 'rel.db'}"
    assert mlflow.is_tracking_uri_set()


def test_a_relative_sqlite_uri_is_made_absolute_when_set(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow.set_tracking_uri("sqlite:///rel.db")
    elsewhere = fresh / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert mlflow.get_tracking_uri() == f"sqlite:///{fresh / 'rel.db'}"
    with mlflow.start_run():
        pass
    assert (fresh / "rel.db").exists()
    assert not (elsewhere / "rel.db").exists()


def test_a_bare_database_path_is_a_sqlite_uri(fresh: Path) -> None:
    mlflow.set_tracking_uri(Path("sub.db"))
    assert mlflow.get_tracking_uri() == f"sqlite:///{fresh / 'sub.db'}"


def test_the_default_store_is_mltrail_db_in_the_cwd_with_mlartifacts_beside(fresh: Path) -> None:
    assert not mlflow.is_tracking_uri_set()
    assert mlflow.get_tracking_uri() == f"sqlite:///{fresh / 'mltrail.db'}"
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/hello.txt")
    assert (fresh / "mltrail.db").is_file()
    assert run.info.experiment_id == "0"
    expected = fresh / "mlartifacts" / "0" / run.info.run_id / "artifacts" / "notes" / "hello.txt"
    assert expected.read_text() == "hello"
    assert run.info.artifact_uri == (expected.parent.parent).as_uri()


def test_a_folder_tracking_uri_is_refused_with_the_sqlite_spelling(fresh: Path) -> None:
    mlflow.set_tracking_uri("./mlruns")
    with pytest.raises(InvalidArgument, match=r"keeps runs in a database.*sqlite:///"):
        mlflow.start_run()
    assert mlflow.active_run() is None


# Environment


def test_mltrail_tracking_uri_wins_over_mlflow_tracking_uri(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    session = env_session(
        clean_env,
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        MLTRAIL_TRACKING_URI=f"sqlite:///{tmp_path / 'mltrail.db'}",
    )
    with use_session(session):
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'mltrail.db'}"
        assert mlflow.is_tracking_uri_set()
        with mlflow.start_run():
            pass
        close_session(session)
    assert (tmp_path / "mltrail.db").exists()
    assert not (tmp_path / "mlflow.db").exists()


def test_mlflow_tracking_uri_is_the_fallback(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    session = env_session(clean_env, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    with use_session(session):
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_mlflow_experiment_name_creates_and_uses_the_experiment(
    tracking_uri: str, clean_env: pytest.MonkeyPatch
) -> None:
    session = env_session(
        clean_env, MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_EXPERIMENT_NAME="from-env"
    )
    with use_session(session):
        with mlflow.start_run() as run:
            pass
        experiment = mlflow.get_experiment_by_name("from-env")
        assert experiment is not None
        assert run.info.experiment_id == experiment.experiment_id != "0"
        close_session(session)


def test_mlflow_experiment_id_is_used(tracking_uri: str, clean_env: pytest.MonkeyPatch) -> None:
    with use_session(Session(Settings(tracking_uri=tracking_uri))) as setup:
        experiment_id = mlflow.create_experiment("by-id")
        close_session(setup)
    session = env_session(
        clean_env, MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_EXPERIMENT_ID=experiment_id
    )
    with use_session(session):
        with mlflow.start_run() as run:
            pass
        assert run.info.experiment_id == experiment_id
        close_session(session)


def test_mlflow_run_id_resumes_that_run(tracking_uri: str, clean_env: pytest.MonkeyPatch) -> None:
    with use_session(Session(Settings(tracking_uri=tracking_uri))) as setup:
        with mlflow.start_run() as first:
            mlflow.log_param("kept", "yes")
        close_session(setup)
    session = env_session(clean_env, MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_RUN_ID=first.info.run_id)
    with use_session(session):
        with mlflow.start_run() as resumed:
            assert resumed.info.run_id == first.info.run_id
            assert resumed.info.status == "RUNNING"
            assert resumed.data.params == {"kept": "yes"}
        assert mlflow.get_run(first.info.run_id).info.status == "FINISHED"
        close_session(session)


def test_mlflow_user_names_the_run_user(tracking_uri: str, clean_env: pytest.MonkeyPatch) -> None:
    session = env_session(clean_env, MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_USER="ada")
    with use_session(session):
        with mlflow.start_run() as run:
            pass
        assert run.info.user_id == "ada"
        assert run.data.tags["mlflow.user"] == "ada"
        close_session(session)


# Experiments


def test_set_experiment_by_name_creates_it_once(session: Session) -> None:
    assert mlflow.get_experiment_by_name("exp") is None
    created = mlflow.set_experiment("exp")
    assert created.name == "exp"
    assert created.lifecycle_stage == LifecycleStage.ACTIVE
    assert mlflow.set_experiment("exp").experiment_id == created.experiment_id
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == created.experiment_id
    assert [e.name for e in mlflow.search_experiments(filter_string="name = 'exp'")] == ["exp"]


def test_set_experiment_by_id(session: Session) -> None:
    experiment_id = mlflow.create_experiment("by-id", tags={"team": "vision"})
    experiment = mlflow.set_experiment(experiment_id=experiment_id)
    assert experiment.name == "by-id"
    assert experiment.tags == {"team": "vision"}
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == experiment_id


def test_set_experiment_with_an_unknown_id_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="No Experiment with id=4242"):
        mlflow.set_experiment(experiment_id="4242")


def test_set_experiment_needs_exactly_one_of_name_and_id(session: Session) -> None:
    with pytest.raises(InvalidArgument, match="exactly one of experiment_name or experiment_id"):
        mlflow.set_experiment()
    with pytest.raises(InvalidArgument, match="exactly one of experiment_name or experiment_id"):
        mlflow.set_experiment("a", "1")


def test_a_deleted_experiment_cannot_be_set(session: Session) -> None:
    experiment_id = mlflow.create_experiment("gone")
    mlflow.delete_experiment(experiment_id)
    with pytest.raises(InvalidArgument, match="deleted experiment 'gone'"):
        mlflow.set_experiment("gone")
    with pytest.raises(InvalidArgument, match="deleted experiment 'gone'"):
        mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == "0"


def test_experiment_tags_go_to_the_active_experiment(session: Session) -> None:
    experiment = mlflow.set_experiment("tagged")
    mlflow.set_experiment_tag("owner", "ada")
    mlflow.set_experiment_tags({"stage": 2, "team": "nlp"})
    assert mlflow.get_experiment(experiment.experiment_id).tags == {
        "owner": "ada",
        "stage": "2",
        "team": "nlp",
    }


def test_search_experiments(session: Session) -> None:
    for name in ("exp-b", "exp-a", "other"):
        mlflow.create_experiment(name)
    deleted = mlflow.create_experiment("exp-deleted")
    mlflow.delete_experiment(deleted)
    active = mlflow.search_experiments(filter_string="name LIKE 'exp-%'", order_by=["name ASC"])
    assert [e.name for e in active] == ["exp-a", "exp-b"]
    assert len(mlflow.search_experiments()) == 4  # with Default
    assert len(mlflow.search_experiments(max_results=2)) == 2
    gone = mlflow.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.experiment_id for e in gone] == [deleted]
    assert len(mlflow.search_experiments(view_type="ALL")) == 5


# Starting and ending runs


def test_start_run_as_a_context_manager_finishes_the_run(session: Session) -> None:
    assert mlflow.active_run() is None
    with mlflow.start_run() as run:
        assert isinstance(run, ActiveRun)
        assert run.info.status == "RUNNING"
        assert run.info.end_time is None
        active = mlflow.active_run()
        assert active is not None and active.info.run_id == run.info.run_id
    assert mlflow.active_run() is None
    ended = mlflow.get_run(run.info.run_id)
    assert ended.info.status == "FINISHED"
    assert ended.info.end_time is not None
    assert ended.info.start_time is not None and ended.info.end_time >= ended.info.start_time


def test_an_exception_inside_the_run_fails_it_and_propagates(session: Session) -> None:
    with pytest.raises(ValueError, match="diverged"):
        with mlflow.start_run() as run:
            raise ValueError("diverged")
    assert mlflow.active_run() is None
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"


def test_keyboard_interrupt_kills_the_run(session: Session) -> None:
    with pytest.raises(KeyboardInterrupt, match="^$"):
        with mlflow.start_run() as run:
            raise KeyboardInterrupt
    assert mlflow.get_run(run.info.run_id).info.status == "KILLED"


def test_the_users_exception_wins_over_a_background_logging_error(session: Session) -> None:
    with pytest.raises(KeyboardInterrupt, match="stop"):
        with mlflow.start_run() as run:
            mlflow.log_param("lr", "0.1", synchronous=True)
            mlflow.log_param("lr", "0.2")  # refused by the store, in the background
            raise KeyboardInterrupt("stop")
    assert mlflow.active_run() is None
    ended = mlflow.get_run(run.info.run_id)
    assert ended.info.status == "KILLED"
    assert ended.data.params == {"lr": "0.1"}


def test_nested_runs_record_their_parent(session: Session) -> None:
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
            active = mlflow.active_run()
            assert active is not None and active.info.run_id == child.info.run_id
        active = mlflow.active_run()
        assert active is not None and active.info.run_id == parent.info.run_id
        assert mlflow.get_run(child.info.run_id).info.status == "FINISHED"
        assert mlflow.get_run(parent.info.run_id).info.status == "RUNNING"
    parent_of_child = mlflow.get_parent_run(child.info.run_id)
    assert parent_of_child is not None and parent_of_child.info.run_id == parent.info.run_id
    assert mlflow.get_parent_run(parent.info.run_id) is None
    assert "mlflow.parentRunId" not in mlflow.get_run(parent.info.run_id).data.tags


def test_a_second_top_level_run_while_one_is_active_is_refused(session: Session) -> None:
    with mlflow.start_run() as run:
        with pytest.raises(InvalidArgument, match=f"Run with UUID {run.info.run_id} is already active"):
            mlflow.start_run()
        active = mlflow.active_run()
        assert active is not None and active.info.run_id == run.info.run_id
    assert len(mlflow.search_runs(output_format="list")) == 1


def test_run_name_tags_and_description(session: Session) -> None:
    with mlflow.start_run(
        run_name="baseline", tags={"team": "nlp", "epochs": 3}, description="first try"
    ) as run:
        pass
    stored = mlflow.get_run(run.info.run_id)
    assert stored.info.run_name == "baseline"
    assert stored.data.tags["mlflow.runName"] == "baseline"
    assert stored.data.tags["team"] == "nlp"
    assert stored.data.tags["epochs"] == "3"
    assert stored.data.tags["mlflow.note.content"] == "first try"


def test_a_run_without_a_name_gets_a_generated_one(session: Session) -> None:
    with mlflow.start_run() as run:
        pass
    assert run.info.run_name
    assert run.data.tags["mlflow.runName"] == run.info.run_name


def test_resuming_a_finished_run_by_id(session: Session) -> None:
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_metric("loss", 1.0, step=0)
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
    with mlflow.start_run(run_id=run.info.run_id, tags={"resumed": "yes"}) as again:
        assert again.info.run_id == run.info.run_id
        assert again.info.status == "RUNNING"
        assert mlflow.get_run(run.info.run_id).info.status == "RUNNING"
        mlflow.log_metric("loss", 0.5, step=1)
    resumed = mlflow.get_run(run.info.run_id)
    assert resumed.info.status == "FINISHED"
    assert resumed.info.run_name == "first"
    assert resumed.data.tags["resumed"] == "yes"
    history = session.client().get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5)]


def test_resuming_refuses_unknown_deleted_and_misplaced_runs(session: Session) -> None:
    with pytest.raises(NotFound, match="Run with id=0123456789abcdef not found"):
        mlflow.start_run(run_id="0123456789abcdef")
    other = mlflow.create_experiment("other")
    with mlflow.start_run() as run:
        pass
    with pytest.raises(InvalidArgument, match=f"belongs to experiment 0, not to experiment {other}"):
        mlflow.start_run(run_id=run.info.run_id, experiment_id=other)
    mlflow.delete_run(run.info.run_id)
    with pytest.raises(InvalidArgument, match="it is deleted"):
        mlflow.start_run(run_id=run.info.run_id)
    assert mlflow.active_run() is None


def test_end_run_with_a_status(session: Session) -> None:
    run = mlflow.start_run()
    mlflow.end_run("KILLED")
    assert mlflow.active_run() is None
    stored = mlflow.get_run(run.info.run_id)
    assert stored.info.status == "KILLED"
    assert stored.info.end_time is not None
    mlflow.end_run()  # nothing active: nothing to do
    assert mlflow.get_run(run.info.run_id).info.status == "KILLED"


def test_end_run_with_a_bad_status_keeps_the_run_active(session: Session) -> None:
    run = mlflow.start_run()
    with pytest.raises(InvalidArgument, match="Invalid run status 'DONE'"):
        mlflow.end_run("DONE")
    active = mlflow.active_run()
    assert active is not None and active.info.run_id == run.info.run_id
    mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"


def test_active_run_and_last_active_run(session: Session) -> None:
    assert mlflow.active_run() is None
    assert mlflow.last_active_run() is None
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.5)
        current = mlflow.last_active_run()
        assert current is not None and current.info.run_id == run.info.run_id
        assert current.data.metrics == {"acc": 0.5}
    assert mlflow.active_run() is None
    last = mlflow.last_active_run()
    assert isinstance(last, Run)
    assert last.info.run_id == run.info.run_id
    assert last.info.status == "FINISHED"
    assert last.data.metrics == {"acc": 0.5}


def test_logging_without_an_active_run_starts_one(session: Session) -> None:
    mlflow.log_metric("loss", 0.25)
    run = mlflow.active_run()
    assert run is not None
    mlflow.end_run()
    assert mlflow.get_run(run.info.run_id).data.metrics == {"loss": 0.25}


def test_context_tags(tracking_uri: str) -> None:
    with use_session(Session(Settings(tracking_uri=tracking_uri, user="grace"))) as bound:
        with mlflow.start_run() as run:
            pass
        close_session(bound)
    tags = run.data.tags
    assert tags["mlflow.user"] == "grace"
    assert run.info.user_id == "grace"
    assert tags["mlflow.source.type"] == "LOCAL"
    script = os.path.abspath(sys.argv[0])
    assert tags["mlflow.source.name"] == (script if os.path.isfile(script) else sys.argv[0])


# Logging


def test_log_param_returns_the_value(session: Session) -> None:
    with mlflow.start_run() as run:
        assert mlflow.log_param("lr", 0.01) == 0.01
        value = {"depth": 3}
        assert mlflow.log_param("tree", value) is value
        mlflow.log_params({"batch": 32, "optimizer": "adam", "flag": True})
    assert mlflow.get_run(run.info.run_id).data.params == {
        "lr": "0.01",
        "tree": "{'depth': 3}",
        "batch": "32",
        "optimizer": "adam",
        "flag": "True",
    }


def test_log_metric_with_step_and_timestamp(session: Session) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5, step=3, timestamp=1_700_000_000_000)
        mlflow.log_metric("acc", 1)
    client = session.client()
    (loss,) = client.get_metric_history(run.info.run_id, "loss")
    assert (loss.value, loss.step, loss.timestamp) == (0.5, 3, 1_700_000_000_000)
    (acc,) = client.get_metric_history(run.info.run_id, "acc")
    assert acc.value == 1.0 and isinstance(acc.value, float)
    assert acc.step == 0
    assert acc.timestamp > 1_700_000_000_000


def test_log_metrics_share_one_step_and_timestamp(session: Session) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metrics({"a": 1.0, "b": 2}, step=7)
    client = session.client()
    (a,) = client.get_metric_history(run.info.run_id, "a")
    (b,) = client.get_metric_history(run.info.run_id, "b")
    assert (a.step, b.step) == (7, 7)
    assert a.timestamp == b.timestamp
    assert mlflow.get_run(run.info.run_id).data.metrics == {"a": 1.0, "b": 2.0}


def test_the_same_metric_three_times_keeps_its_history(session: Session) -> None:
    with mlflow.start_run() as run:
        for step, value in enumerate([0.9, 0.5, 0.7]):
            mlflow.log_metric("loss", value, step=step, timestamp=1000 + step)
    history = session.client().get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (0, 0.9, 1000),
        (1, 0.5, 1001),
        (2, 0.7, 1002),
    ]
    assert mlflow.get_run(run.info.run_id).data.metrics == {"loss": 0.7}


def test_nan_metrics_are_kept(session: Session) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", math.nan)
        mlflow.log_metric("gain", math.inf)
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["loss"])
    assert metrics["gain"] == math.inf


def test_set_tags_and_delete_tag(session: Session) -> None:
    with mlflow.start_run() as run:
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"team": "nlp", "version": 2})
        mlflow.set_tag("stage", "prod")  # tags, unlike params, may change
        mlflow.delete_tag("team")
        with pytest.raises(NotFound, match="No tag with name: team"):
            mlflow.delete_tag("team")
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["stage"] == "prod"
    assert tags["version"] == "2"
    assert "team" not in tags


def test_bad_keys_and_values_are_refused_at_the_call(session: Session) -> None:
    with mlflow.start_run():
        with pytest.raises(InvalidArgument, match="must be a number"):
            mlflow.log_metric("loss", "0.5")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="no '..' segment"):
            mlflow.log_param("../escape", 1)
        with pytest.raises(InvalidArgument, match="the limit is 250"):
            mlflow.set_tag("k" * 251, "v")


def test_get_run_of_an_unknown_run_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="Run with id=ffffffffffffffff not found"):
        mlflow.get_run("ffffffffffffffff")


# Search


@pytest.fixture
def four_runs(session: Session) -> dict[str, str]:
    """alpha/beta/gamma/delta in the Default experiment; run name -> run id."""
    rows: list[tuple[str, float | None, str | None, str | None, str]] = [
        ("alpha", 0.9, "0.1", "cnn", "FINISHED"),
        ("beta", 0.5, "0.01", "rnn", "FAILED"),
        ("gamma", math.nan, "0.1", "CNN-big", "FINISHED"),
        ("delta", None, None, None, "KILLED"),
    ]
    ids = {}
    for name, acc, lr, model, status in rows:
        with mlflow.start_run(run_name=name) as run:
            if acc is not None:
                mlflow.log_metric("acc", acc)
            if lr is not None:
                mlflow.log_param("lr", lr)
            if model is not None:
                mlflow.set_tag("model", model)
        if status != "FINISHED":
            session.client().set_terminated(run.info.run_id, status)
        ids[name] = run.info.run_id
    return ids


def names_of(runs: list[Run], ids: dict[str, str]) -> list[str]:
    by_id = {run_id: name for name, run_id in ids.items()}
    return [by_id[run.info.run_id] for run in runs]


def test_search_runs_returns_mlflows_data_frame(four_runs: dict[str, str]) -> None:
    import pandas as pd

    frame = mlflow.search_runs(order_by=["attributes.run_name ASC"])
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:6]) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert {"metrics.acc", "params.lr", "tags.model", "tags.mlflow.runName"} <= set(frame.columns)
    rest = [c for c in frame.columns[6:]]
    kinds = [c.split(".", 1)[0] for c in rest]
    assert kinds == sorted(kinds, key=["metrics", "params", "tags"].index)
    assert list(frame["tags.mlflow.runName"]) == ["alpha", "beta", "delta", "gamma"]
    assert list(frame["run_id"]) == [four_runs[n] for n in ("alpha", "beta", "delta", "gamma")]
    assert list(frame["status"]) == ["FINISHED", "FAILED", "KILLED", "FINISHED"]
    assert set(frame["experiment_id"]) == {"0"}
    assert str(frame["start_time"].dt.tz) == "UTC"
    assert str(frame["end_time"].dt.tz) == "UTC"
    assert frame["metrics.acc"].dtype == "float64"
    assert frame["metrics.acc"].iloc[0] == 0.9
    assert math.isnan(frame["metrics.acc"].iloc[2])  # delta never logged it
    assert frame["params.lr"].iloc[2] is None
    assert frame["params.lr"].iloc[0] == "0.1"


def test_search_runs_as_a_list(four_runs: dict[str, str]) -> None:
    runs = mlflow.search_runs(output_format="list", order_by=["attributes.run_name"])
    assert all(isinstance(run, Run) for run in runs)
    assert names_of(runs, four_runs) == ["alpha", "beta", "delta", "gamma"]
    assert runs[0].data.params == {"lr": "0.1"}
    with pytest.raises(InvalidArgument, match="output_format must be 'pandas' or 'list'"):
        mlflow.search_runs(output_format="json")


def test_search_runs_with_no_match_has_the_info_columns(four_runs: dict[str, str]) -> None:
    frame = mlflow.search_runs(filter_string="params.lr = 'none such'")
    assert len(frame) == 0
    assert list(frame.columns) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.6", {"alpha"}),
        ("metrics.acc >= 0.5", {"alpha", "beta"}),
        ("metrics.acc < 0.9", {"beta"}),
        ("metrics.acc != 0.5", {"alpha"}),  # NaN never matches; a run without acc neither
        ("metrics.`acc` = 0.9", {"alpha"}),
        ("params.lr = '0.1'", {"alpha", "gamma"}),
        ("params.lr != '0.1'", {"beta"}),
        ("params.lr LIKE '0.0%'", {"beta"}),
        ("params.lr IS NULL", {"delta"}),
        ("params.lr IS NOT NULL", {"alpha", "beta", "gamma"}),
        ("tags.model = 'cnn'", {"alpha"}),
        ("tags.model LIKE 'cnn%'", {"alpha"}),
        ("tags.model ILIKE 'cnn%'", {"alpha", "gamma"}),
        ("tags.model IS NULL", {"delta"}),
        ('tags."mlflow.runName" = \'beta\'', {"beta"}),
        ("attributes.status = 'FINISHED'", {"alpha", "gamma"}),
        ("attributes.status != 'FINISHED'", {"beta", "delta"}),
        ("status LIKE 'FINI%'", {"alpha", "gamma"}),
        ("attributes.status ILIKE 'k%'", {"delta"}),
        ("attributes.run_name = 'beta'", {"beta"}),
        ("run_name = 'gamma'", {"gamma"}),
        ("attributes.run_name LIKE '%a'", {"alpha", "beta", "gamma", "delta"}),
        ("attributes.start_time > 0", {"alpha", "beta", "gamma", "delta"}),
        ("attributes.end_time < 0", set()),
        ("metrics.acc > 0.1 AND params.lr = '0.1' AND tags.model = 'cnn'", {"alpha"}),
        ("params.lr = '0.1' and attributes.status = 'FINISHED'", {"alpha", "gamma"}),
    ],
)
def test_search_runs_filters(
    four_runs: dict[str, str], filter_string: str, expected: set[str]
) -> None:
    runs = mlflow.search_runs(filter_string=filter_string, output_format="list")
    assert set(names_of(runs, four_runs)) == expected
    assert len(runs) == len(expected)


def test_search_runs_by_run_id_in_a_list(four_runs: dict[str, str]) -> None:
    wanted = f"('{four_runs['alpha']}', '{four_runs['delta']}')"
    found = mlflow.search_runs(filter_string=f"attributes.run_id IN {wanted}", output_format="list")
    assert set(names_of(found, four_runs)) == {"alpha", "delta"}
    others = mlflow.search_runs(filter_string=f"run_id NOT IN {wanted}", output_format="list")
    assert set(names_of(others, four_runs)) == {"beta", "gamma"}


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("metrics.acc = 'high'", "Expected numeric value type for metric 'acc'"),
        ("bogus_attribute = 'x'", "unknown run attribute 'bogus_attribute'"),
        ("tags.model IN ('cnn', 'rnn')", "comparator IN is not supported for tag 'model'"),
        ("params.lr = '0.1' OR params.lr = '0.01'", "OR is not supported"),
        ("metrics.acc IS NULL", "comparator IS NULL is not supported for metric 'acc'"),
    ],
)
def test_search_runs_refuses_bad_filters(
    four_runs: dict[str, str], filter_string: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        mlflow.search_runs(filter_string=filter_string)


def test_order_by_several_keys(four_runs: dict[str, str]) -> None:
    runs = mlflow.search_runs(
        order_by=["params.lr ASC", "attributes.run_name DESC"], output_format="list"
    )
    # lr: beta 0.01 < gamma 0.1 = alpha 0.1 (name descending) < delta without lr (last)
    assert names_of(runs, four_runs) == ["beta", "gamma", "alpha", "delta"]


@pytest.mark.parametrize(
    ("order_by", "expected_head"),
    [("metrics.acc DESC", ["alpha", "beta"]), ("metrics.acc ASC", ["beta", "alpha"])],
)
def test_nan_and_missing_metrics_sort_last_either_way(
    four_runs: dict[str, str], order_by: str, expected_head: list[str]
) -> None:
    # MLflow's order, in both directions: numbers, then NaN (gamma), then missing (delta).
    runs = mlflow.search_runs(order_by=[order_by, "run_name DESC"], output_format="list")
    names = names_of(runs, four_runs)
    assert names[:2] == expected_head
    assert names[2:] == ["gamma", "delta"]


def test_order_by_a_tag_puts_runs_without_it_last(four_runs: dict[str, str]) -> None:
    runs = mlflow.search_runs(order_by=["tags.model DESC"], output_format="list")
    assert names_of(runs, four_runs) == ["beta", "alpha", "gamma", "delta"]  # rnn > cnn > CNN-big


def test_order_by_an_unknown_attribute_is_refused(four_runs: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument, match="colour"):
        mlflow.search_runs(order_by=["attributes.colour"])


def test_max_results_limits_the_runs(four_runs: dict[str, str]) -> None:
    runs = mlflow.search_runs(max_results=2, order_by=["run_name"], output_format="list")
    assert names_of(runs, four_runs) == ["alpha", "beta"]
    assert len(mlflow.search_runs(max_results=3)) == 3


def test_deleted_runs_by_view_type(four_runs: dict[str, str]) -> None:
    mlflow.delete_run(four_runs["beta"])
    active = mlflow.search_runs(output_format="list")
    assert set(names_of(active, four_runs)) == {"alpha", "gamma", "delta"}
    deleted = mlflow.search_runs(run_view_type=ViewType.DELETED_ONLY, output_format="list")
    assert names_of(deleted, four_runs) == ["beta"]
    assert deleted[0].info.lifecycle_stage == LifecycleStage.DELETED
    assert len(mlflow.search_runs(run_view_type="ALL", output_format="list")) == 4


def test_search_runs_across_experiments(session: Session) -> None:
    with mlflow.start_run(run_name="in-default"):
        pass
    mlflow.set_experiment("second")
    with mlflow.start_run(run_name="in-second"):
        pass
    here = mlflow.search_runs(output_format="list")
    assert [r.info.run_name for r in here] == ["in-second"]
    by_name = mlflow.search_runs(experiment_names=["Default"], output_format="list")
    assert [r.info.run_name for r in by_name] == ["in-default"]
    everywhere = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert {r.info.run_name for r in everywhere} == {"in-default", "in-second"}
    by_ids = mlflow.search_runs(experiment_ids=["0"], output_format="list")
    assert [r.info.run_name for r in by_ids] == ["in-default"]
    with pytest.raises(InvalidArgument, match="not both"):
        mlflow.search_runs(experiment_ids=["0"], experiment_names=["second"])


def test_get_run_returns_everything_logged(session: Session) -> None:
    with mlflow.start_run(run_name="full") as run:
        mlflow.log_param("p", 1)
        mlflow.log_metric("m", 2.0, step=4)
        mlflow.set_tag("t", "x")
    stored = mlflow.get_run(run.info.run_id)
    assert stored.info.run_id == run.info.run_id
    assert stored.info.experiment_id == "0"
    assert stored.info.lifecycle_stage == LifecycleStage.ACTIVE
    assert stored.data.params == {"p": "1"}
    assert stored.data.metrics == {"m": 2.0}
    assert stored.data.tags["t"] == "x"
    assert stored.info.artifact_uri.endswith(f"/0/{run.info.run_id}/artifacts")


def test_deleting_the_active_run_refuses_further_logging(session: Session) -> None:
    run = mlflow.start_run()
    mlflow.delete_run(run.info.run_id)
    with pytest.raises(InvalidArgument, match="must be in the 'active' state"):
        mlflow.log_param("p", 1, synchronous=True)
    with pytest.raises(MltrailError, match="must be in the 'active' state"):
        mlflow.end_run()
    assert mlflow.active_run() is None
