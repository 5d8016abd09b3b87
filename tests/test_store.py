"""The SQL tracking store, run unchanged on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fixtures_tracking import ROOT

from mltrail.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    Metric,
    MetricColumns,
    Param,
    RunTag,
    ViewType,
)
from mltrail.errors import AlreadyExists, InvalidArgument, NotFound, TemporarilyUnavailable
from mltrail.storage.sql import engine as sql_engine
from mltrail.storage.sql import store as sql_store
from mltrail.storage.sql.engine import create_engine
from mltrail.storage.sql.migrate import HEAD_REVISION, current_revision, ensure_schema
from mltrail.storage.sql.store import SqlTrackingStore
from mltrail.storage.tracking import WouldWait

def _run(store: SqlTrackingStore, experiment_id: str = "0", **kwargs: object) -> str:
    run = store.create_run(experiment_id, "alice", 1000, **kwargs)  # type: ignore[arg-type]
    return run.info.run_id


# Schema


def test_schema_is_at_head_with_a_default_experiment(store: SqlTrackingStore) -> None:
    with store.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
    default = store.get_experiment("0")
    assert default.name == "Default"
    assert default.artifact_location == f"{ROOT}/0"


def test_ensure_schema_twice_changes_nothing(store: SqlTrackingStore) -> None:
    store.create_experiment("kept")
    ensure_schema(store.engine, ROOT)
    assert store.get_experiment_by_name("kept") is not None


# Experiments


def test_experiment_lifecycle(store: SqlTrackingStore) -> None:
    experiment_id = store.create_experiment("exp", tags=[ExperimentTag("team", "vision")])
    experiment = store.get_experiment(experiment_id)
    assert experiment.name == "exp"
    assert experiment.tags == {"team": "vision"}
    assert experiment.artifact_location == f"{ROOT}/{experiment_id}"
    assert experiment.lifecycle_stage == LifecycleStage.ACTIVE

    store.rename_experiment(experiment_id, "renamed")
    assert store.get_experiment(experiment_id).name == "renamed"

    store.delete_experiment(experiment_id)
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    active = store.search_experiments(ViewType.ACTIVE_ONLY)
    assert experiment_id not in [e.experiment_id for e in active]
    deleted = store.search_experiments(ViewType.DELETED_ONLY)
    assert [e.experiment_id for e in deleted] == [experiment_id]

    store.restore_experiment(experiment_id)
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE


def test_duplicate_experiment_names_are_refused_even_when_deleted(store: SqlTrackingStore) -> None:
    experiment_id = store.create_experiment("dup")
    with pytest.raises(AlreadyExists, match="Experiment 'dup' already exists"):
        store.create_experiment("dup")
    store.delete_experiment(experiment_id)
    with pytest.raises(AlreadyExists, match="it is deleted"):
        store.create_experiment("dup")


def test_experiment_errors_name_the_problem(store: SqlTrackingStore) -> None:
    with pytest.raises(NotFound, match="No Experiment with id=999 exists"):
        store.get_experiment("999")
    with pytest.raises(NotFound, match="No Experiment with id=abc exists"):
        store.get_experiment("abc")
    with pytest.raises(InvalidArgument, match="must not be empty"):
        store.create_experiment("  ")
    with pytest.raises(InvalidArgument, match="the limit is 500"):
        store.create_experiment("x" * 501)
    with pytest.raises(InvalidArgument, match="Default experiment"):
        store.delete_experiment("0")


def test_experiment_tags_set_overwrite_delete(store: SqlTrackingStore) -> None:
    experiment_id = store.create_experiment("tagged")
    store.set_experiment_tag(experiment_id, ExperimentTag("a", "1"))
    store.set_experiment_tag(experiment_id, ExperimentTag("a", "2"))
    assert store.get_experiment(experiment_id).tags == {"a": "2"}
    store.delete_experiment_tag(experiment_id, "a")
    assert store.get_experiment(experiment_id).tags == {}
    with pytest.raises(NotFound, match="No tag with key 'a'"):
        store.delete_experiment_tag(experiment_id, "a")
    with pytest.raises(InvalidArgument, match="the limit is 20000"):
        store.set_experiment_tag(experiment_id, ExperimentTag("big", "x" * 20001))


def test_search_experiments_filter_order_and_pages(store: SqlTrackingStore) -> None:
    for name in ("alpha", "beta", "gamma"):
        store.create_experiment(name, tags=[ExperimentTag("kind", name[0])])
    found = store.search_experiments(filter_string="name LIKE '%a'", order_by=["name DESC"])
    assert [e.name for e in found] == ["gamma", "beta", "alpha"]
    found = store.search_experiments(filter_string="tags.kind = 'b'")
    assert [e.name for e in found] == ["beta"]
    first = store.search_experiments(max_results=2, order_by=["name"])
    assert [e.name for e in first] == ["Default", "alpha"]
    assert first.token
    second = store.search_experiments(max_results=2, order_by=["name"], page_token=first.token)
    assert [e.name for e in second] == ["beta", "gamma"]
    assert second.token is None
    with pytest.raises(InvalidArgument, match="max_results"):
        store.search_experiments(max_results=0)
    with pytest.raises(InvalidArgument, match="max_results"):
        store.search_experiments(max_results=50001)


# Runs


def test_run_lifecycle(store: SqlTrackingStore) -> None:
    run = store.create_run("0", "alice", 1234, tags=[RunTag("t", "v")], run_name="first")
    info = run.info
    assert len(info.run_id) == 32 and int(info.run_id, 16) >= 0
    assert info.run_name == "first"
    assert info.status == "RUNNING"
    assert info.start_time == 1234
    assert info.end_time is None
    assert info.user_id == "alice"
    assert info.artifact_uri == f"{ROOT}/0/{info.run_id}/artifacts"
    assert run.data.tags == {"t": "v", "mlflow.runName": "first"}

    updated = store.update_run_info(info.run_id, status="FINISHED", end_time=2000)
    assert (updated.status, updated.end_time) == ("FINISHED", 2000)

    store.delete_run(info.run_id)
    assert store.get_run(info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
    store.restore_run(info.run_id)
    assert store.get_run(info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_generated_run_names_and_rename(store: SqlTrackingStore) -> None:
    run = store.create_run("0", "u", 0)
    assert run.info.run_name
    assert run.data.tags["mlflow.runName"] == run.info.run_name
    store.update_run_info(run.info.run_id, run_name="better")
    fetched = store.get_run(run.info.run_id)
    assert fetched.info.run_name == "better"
    assert fetched.data.tags["mlflow.runName"] == "better"
    store.log_batch(run.info.run_id, tags=[RunTag("mlflow.runName", "by-tag")])
    assert store.get_run(run.info.run_id).info.run_name == "by-tag"


def test_unknown_runs_are_not_found(store: SqlTrackingStore) -> None:
    with pytest.raises(NotFound, match="Run with id=deadbeef not found"):
        store.get_run("deadbeef")
    with pytest.raises(NotFound, match="not found"):
        store.log_batch("deadbeef", metrics=[Metric("m", 1.0, 0, 0)])
    with pytest.raises(NotFound, match="not found"):
        store.get_run("../../etc/passwd")
    with pytest.raises(NotFound, match="No Experiment with id=42"):
        store.create_run("42", "u", 0)


def test_writes_to_a_deleted_run_are_refused(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.update_run_info(run_id, status="FINISHED", end_time=5)
    store.log_batch(run_id, metrics=[Metric("after_finish", 1.0, 0, 0)])  # finished runs take writes
    store.delete_run(run_id)
    with pytest.raises(InvalidArgument, match="must be in the 'active' state"):
        store.log_batch(run_id, params=[Param("p", "1")])
    with pytest.raises(InvalidArgument, match="must be in the 'active' state"):
        store.update_run_info(run_id, status="RUNNING")


def test_runs_in_deleted_experiments_are_refused(store: SqlTrackingStore) -> None:
    experiment_id = store.create_experiment("gone")
    store.delete_experiment(experiment_id)
    with pytest.raises(InvalidArgument, match="must be in the 'active' state"):
        store.create_run(experiment_id, "u", 0)


# Params, tags, metrics


def test_params_are_immutable(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, params=[Param("lr", "0.1")])
    store.log_batch(run_id, params=[Param("lr", "0.1")])  # the same value again is fine
    with pytest.raises(InvalidArgument, match="Changing param values is not allowed.*lr"):
        store.log_batch(run_id, params=[Param("lr", "0.2")])
    with pytest.raises(InvalidArgument, match="Duplicate param key 'x'"):
        store.log_batch(run_id, params=[Param("x", "1"), Param("x", "2")])
    assert store.get_run(run_id).data.params == {"lr": "0.1"}


def test_a_failing_batch_writes_nothing(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, params=[Param("p", "1")])
    with pytest.raises(InvalidArgument, match="Changing param values"):
        store.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 0, 0)],
            params=[Param("q", "new"), Param("p", "2")],
            tags=[RunTag("t", "v")],
        )
    data = store.get_run(run_id).data
    assert data.metrics == {}
    assert data.params == {"p": "1"}
    assert "t" not in data.tags


def test_tags_overwrite_and_delete(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, tags=[RunTag("k", "1")])
    store.log_batch(run_id, tags=[RunTag("k", "2")])
    assert store.get_run(run_id).data.tags["k"] == "2"
    store.delete_tag(run_id, "k")
    assert "k" not in store.get_run(run_id).data.tags
    with pytest.raises(NotFound, match="No tag with name: k"):
        store.delete_tag(run_id, "k")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (Param("p" * 251, "v"), "the limit is 250"),
        (Param("a/../b", "v"), r"no '\.\.' segment"),
        (Param("/abs", "v"), "leading"),
        (Param("bad$key", "v"), "may only contain"),
        (Param("p", "x" * 6001), "6001 characters, the limit is 6000"),
        (RunTag("t", "x" * 8001), "8001 characters, the limit is 8000"),
        (Metric("m", "1.0", 0, 0), "must be a number"),  # type: ignore[arg-type]
        (Metric("m", True, 0, 0), "must be a number"),
        (Metric("m", 1.0, -1, 0), "must be at least 0"),
    ],
)
def test_bad_items_are_refused_with_the_rule_named(
    store: SqlTrackingStore, item: Param | RunTag | Metric, message: str
) -> None:
    run_id = _run(store)
    kwargs = {Param: "params", RunTag: "tags", Metric: "metrics"}
    with pytest.raises(InvalidArgument, match=message):
        store.log_batch(run_id, **{kwargs[type(item)]: [item]})  # type: ignore[arg-type]


def test_long_values_are_cut_when_asked(store: SqlTrackingStore) -> None:
    cutting = SqlTrackingStore(store.engine, ROOT, truncate_long_values=True)
    run_id = _run(cutting)
    cutting.log_batch(run_id, params=[Param("p", "x" * 7000)])
    assert cutting.get_run(run_id).data.params["p"] == "x" * 6000


def test_batch_limits(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    with pytest.raises(InvalidArgument, match="1001 metrics: the limit is 1000"):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, i) for i in range(1001)])
    with pytest.raises(InvalidArgument, match="101 params: the limit is 100"):
        store.log_batch(run_id, params=[Param(f"p{i}", "v") for i in range(101)])


def test_metric_history_and_latest_value(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(
        run_id,
        metrics=[
            Metric("loss", 3.0, 100, 0),
            Metric("loss", 1.0, 300, 2),
            Metric("loss", 2.0, 200, 1),
            Metric("loss", 2.5, 50, 1),
        ],
    )
    store.log_batch(run_id, metrics=[Metric("loss", 9.0, 10, 0)])  # older step: not the latest
    history = store.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (0, 10, 9.0),
        (0, 100, 3.0),
        (1, 50, 2.5),
        (1, 200, 2.0),
        (2, 300, 1.0),
    ]
    assert store.get_run(run_id).data.metrics == {"loss": 1.0}
    page = store.get_metric_history(run_id, "loss", max_results=2)
    assert len(page) == 2 and page.token
    rest = store.get_metric_history(run_id, "loss", max_results=10, page_token=page.token)
    assert [m.value for m in rest] == [2.5, 2.0, 1.0]


def test_nan_and_infinities_are_kept(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(
        run_id,
        metrics=[
            Metric("nan", math.nan, 0, 0),
            Metric("pinf", math.inf, 0, 0),
            Metric("ninf", -math.inf, 0, 0),
        ],
    )
    metrics = store.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["pinf"] == math.inf
    assert metrics["ninf"] == -math.inf
    assert math.isnan(store.get_metric_history(run_id, "nan")[0].value)


def test_log_inputs(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    dataset = Dataset("wine", "abc123", "local", '{"uri": "wine.csv"}', schema="{}")
    store.log_inputs(run_id, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
    store.log_inputs(run_id, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "wine"
    assert inputs[0].tags == (InputTag("mlflow.data.context", "train"),)
    with pytest.raises(InvalidArgument, match="dataset digest: 37 characters"):
        store.log_inputs(run_id, [DatasetInput(Dataset("d", "x" * 37, "local", "s"))])


# Maintenance


def test_purge_removes_everything_of_a_deleted_run(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, 0)], params=[Param("p", "1")])
    with pytest.raises(InvalidArgument, match="must be deleted before"):
        store.purge_run(run_id)
    store.delete_run(run_id)
    assert store.deleted_run_ids() == [run_id]
    store.purge_run(run_id)
    with pytest.raises(NotFound, match="not found"):
        store.get_run(run_id)
    with store.engine.connect() as conn:
        for table in ("metric_chunks", "metric_series", "params", "tags"):
            count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
            assert count == 0, table


def test_purged_experiment_frees_its_name(store: SqlTrackingStore) -> None:
    experiment_id = store.create_experiment("reuse")
    run_id = _run(store, experiment_id)
    store.delete_experiment(experiment_id)
    with pytest.raises(InvalidArgument, match="still has 1 runs"):
        store.purge_experiment(experiment_id)
    store.delete_run(run_id)
    store.purge_run(run_id)
    store.purge_experiment(experiment_id)
    assert store.create_experiment("reuse") != experiment_id


def test_metric_columns_log_like_a_batch_of_metrics(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_metric_columns(
        run_id,
        [MetricColumns("loss", [0, 1, 2], [10, 11, 12], [0.9, 0.5, 0.25]), MetricColumns("acc", [0], [10], [1])],
        params=[Param("lr", "0.1")],
        tags=[RunTag("mlflow.runName", "columns")],
    )
    run = store.get_run(run_id)
    assert run.data.metrics == {"loss": 0.25, "acc": 1.0}
    assert run.data.params == {"lr": "0.1"} and run.info.run_name == "columns"
    assert [m.step for m in store.get_metric_history(run_id, "loss")] == [0, 1, 2]


def test_metric_columns_with_a_bad_point_store_nothing(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    good = MetricColumns("a", list(range(500)), [1] * 500, [0.0] * 500)
    bad = MetricColumns("b", [0], [-5], [1.0])
    with pytest.raises(InvalidArgument, match="timestamp"):
        store.log_metric_columns(run_id, [good, bad], params=[Param("p", "1")])
    too_many = MetricColumns("a", list(range(1001)), [1] * 1001, [0.0] * 1001)
    with pytest.raises(InvalidArgument, match="1000"):
        store.log_metric_columns(run_id, [too_many])
    run = store.get_run(run_id)
    assert run.data.metrics == {} and run.data.params == {}


@dataclasses.dataclass
class FileStore:
    """A store on a SQLite file with a run in it, and a second connection to the same file
    (``holder``) to take the write lock as another process would."""

    path: Path
    store: SqlTrackingStore
    run_id: str
    holder: sqlite3.Connection


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[FileStore]:
    path = tmp_path / "store.db"
    engine = create_engine(f"sqlite:///{path}")
    ensure_schema(engine, ROOT)
    store = SqlTrackingStore(engine, ROOT)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    yield FileStore(path, store, _run(store), holder)
    holder.close()
    store.close()


def test_without_waiting_refuses_a_write_the_lock_would_hold_up(file_store: FileStore) -> None:
    """On SQLite, ``without_waiting`` turns the first write that would wait for another
    writer into ``WouldWait``, having written nothing; the next write waits as before."""
    store, run_id, holder = file_store.store, file_store.run_id, file_store.holder
    with store.without_waiting():  # a free database: the write goes ahead
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(WouldWait), store.without_waiting():
        store.log_batch(run_id, metrics=[Metric("m", 2.0, 2, 1)])
    # The refusal left the connection's busy timeout as it was: this write waits for the
    # holder to let go, then lands. (With no timeout, the store's retries would give up in
    # 0.75 s, before the holder lets go.)
    release = threading.Timer(1.2, lambda: holder.execute("ROLLBACK"))
    release.start()
    store.log_batch(run_id, metrics=[Metric("m", 3.0, 3, 2)])
    release.join()
    assert [p.value for p in store.get_metric_history(run_id, "m")] == [1.0, 3.0]


def test_without_waiting_refuses_only_the_first_write(file_store: FileStore) -> None:
    """A write that went ahead may be followed by others in the same block: those wait
    as usual, so no caller sees a refusal after something was written."""
    store, run_id, holder = file_store.store, file_store.run_id, file_store.holder
    with store.without_waiting():
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
        holder.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: holder.execute("ROLLBACK"))
        release.start()
        store.log_batch(run_id, metrics=[Metric("m", 2.0, 2, 1)])
        release.join()
    assert [p.value for p in store.get_metric_history(run_id, "m")] == [1.0, 2.0]


def test_without_waiting_on_a_network_database_refuses_at_once(
    store: SqlTrackingStore, database_url: str
) -> None:
    run_id = _run(store)
    if database_url.startswith("sqlite"):
        with store.without_waiting():
            store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
        assert store.get_run(run_id).data.metrics == {"m": 1.0}
    else:
        with pytest.raises(WouldWait), store.without_waiting():
            raise AssertionError("the block must not run")
        assert store.get_run(run_id).data.metrics == {}


def test_maintenance_checkpoints_the_wal_in_the_background(file_store: FileStore) -> None:
    """With maintenance on, writes leave the WAL to a thread: they no longer checkpoint at
    1,000 pages, and the thread copies their pages into the database file by itself."""
    path, store, run_id = file_store.path, file_store.store, file_store.run_id
    store.start_maintenance()
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages == sql_engine.BACKGROUND_AUTOCHECKPOINT_PAGES
    before = path.stat().st_size
    for step in range(0, 60_000, 1_000):  # about 1.4 MB of points, in the WAL first
        steps = list(range(step, step + 1_000))
        store.log_metric_columns(run_id, [MetricColumns("m", steps, steps, [s / 7 for s in steps])])
    deadline = time.monotonic() + 15
    while path.stat().st_size < before + 1_000_000:
        assert time.monotonic() < deadline, "no checkpoint copied the pages back"
        time.sleep(0.05)
    assert len(store.get_metric_history(run_id, "m")) == 60_000
    store.close()
    assert not any(t.name == "mltrail-wal-checkpoints" for t in threading.enumerate())


def test_maintenance_has_nothing_to_do_on_postgresql(
    store: SqlTrackingStore, database_url: str
) -> None:
    store.start_maintenance()
    running = any(t.name == "mltrail-wal-checkpoints" for t in threading.enumerate())
    assert running == database_url.startswith("sqlite")
    store.close()
    assert not any(t.name == "mltrail-wal-checkpoints" for t in threading.enumerate())


def test_a_write_blocked_past_the_busy_timeout_is_temporarily_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock is taken on the driver's connection (BEGIN IMMEDIATE): its "locked" error must
    still reach the caller as TemporarilyUnavailable, after the store's retries, not raw."""
    monkeypatch.setattr(sql_engine, "SQLITE_BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(sql_store, "_LOCK_RETRIES", 2)
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite:///{path}")
    ensure_schema(engine, ROOT)
    store = SqlTrackingStore(engine, ROOT)
    run_id = _run(store)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(TemporarilyUnavailable, match="busy"):
            store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
        holder.execute("ROLLBACK")
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
        assert store.get_run(run_id).data.metrics == {"m": 1.0}
    finally:
        holder.close()
        engine.dispose()
