"""Reading only the columns on screen: ``search_run_dicts(columns=...)`` and ``run_keys``, on
SQLite and on PostgreSQL, against the ``TrackingStore`` defaults that read whole runs. The UI's
runs table reads pages this way, so runs with thousands of keys stay fast (MLflow's UI
crashes at 12,000 columns: MLFLOW_PAIN_POINTS.md, item 1)."""

from __future__ import annotations

from typing import Any

from mltrail.entities import Metric, Param, RunTag
from mltrail.storage.sql.store import SqlTrackingStore
from mltrail.storage.tracking import RunColumns, TrackingStore


def _wide_run(store: SqlTrackingStore, name: str, width: int) -> str:
    run_id = store.create_run("0", "ada", 1000, [RunTag("mlflow.runName", name)], name
                              ).info.run_id
    store.log_batch(run_id, tags=[RunTag(f"t{i:03d}", str(i)) for i in range(3)])
    for start in range(0, width, 100):  # MLflow's limit: 100 params a batch
        part = range(start, min(start + 100, width))
        store.log_batch(
            run_id,
            metrics=[Metric(f"m{i:03d}", float(i), 1000, 0) for i in part],
            params=[Param(f"p{i:03d}", f"{name}-{i}") for i in part],
        )
    return run_id


def _data(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [run.get("data", {}) for run in page]


def test_columns_read_only_their_keys(store: SqlTrackingStore) -> None:
    wide = _wide_run(store, "wide", 300)
    narrow = _wide_run(store, "narrow", 2)
    columns = RunColumns(params=["p001", "p250", "absent"], metrics=["m002"],
                         tags=["t000", "mlflow.runName"])
    page = store.search_run_dicts(["0"], order_by=["attributes.run_name ASC"], columns=columns)
    assert [run["info"]["run_id"] for run in page] == [narrow, wide]
    by_name = {run["info"]["run_name"]: run["data"] for run in page}
    assert by_name["wide"]["params"] == [{"key": "p001", "value": "wide-1"},
                                         {"key": "p250", "value": "wide-250"}]
    assert by_name["narrow"]["params"] == [{"key": "p001", "value": "narrow-1"}]
    assert by_name["wide"]["metrics"] == [{"key": "m002", "value": 2.0, "timestamp": 1000,
                                           "step": 0}]
    assert "metrics" not in by_name["narrow"]  # m002 is not one of its keys
    assert sorted(t["key"] for t in by_name["wide"]["tags"]) == ["mlflow.runName", "t000"]
    # The default reads whole runs and picks the same keys out.
    default = TrackingStore.search_run_dicts(store, ["0"], order_by=["attributes.run_name ASC"],
                                             columns=columns)
    assert _data(default) == _data(page)


def test_empty_and_absent_columns(store: SqlTrackingStore) -> None:
    run_id = _wide_run(store, "only", 5)
    nothing = store.search_run_dicts(["0"], columns=RunColumns(params=[], metrics=[], tags=[]))
    assert [run["info"]["run_id"] for run in nothing] == [run_id]
    assert _data(nothing) == [{}]
    everything_but_params = store.search_run_dicts(["0"], columns=RunColumns(params=[]))
    data = everything_but_params[0]["data"]
    assert "params" not in data and len(data["metrics"]) == 5 and len(data["tags"]) >= 3
    assert store.search_run_dicts(["0"])[0]["data"]["params"]  # no columns: whole runs


def test_many_columns_are_picked_out_after_reading(store: SqlTrackingStore) -> None:
    _wide_run(store, "wide", 600)
    keys = [f"p{i:03d}" for i in range(0, 600, 1)] + ["absent"]  # past one IN list's keys
    page = store.search_run_dicts(["0"], columns=RunColumns(params=keys, metrics=[], tags=[]))
    assert len(page[0]["data"]["params"]) == 600


def test_run_keys_all_and_first(store: SqlTrackingStore) -> None:
    first = _wide_run(store, "a", 12)
    second = _wide_run(store, "b", 3)
    store.log_batch(second, params=[Param("alpha", "1")], metrics=[Metric("acc", 1, 1, 0)])
    ids = [first, second, "f" * 32]  # an unknown run is skipped
    everything = store.run_keys(ids)
    assert everything["params"] == ["alpha", *[f"p{i:03d}" for i in range(12)]]
    assert everything["metrics"] == ["acc", *[f"m{i:03d}" for i in range(12)]]
    assert everything["tags"] == ["mlflow.runName", "t000", "t001", "t002"]
    firsts = store.run_keys(ids, 4)
    assert firsts["params"] == ["alpha", "p000", "p001", "p002"]
    assert firsts["metrics"] == ["acc", "m000", "m001", "m002"]
    assert TrackingStore.run_keys(store, ids) == everything  # the default agrees
    assert TrackingStore.run_keys(store, ids, 4) == firsts
    assert store.run_keys([]) == {"params": [], "metrics": [], "tags": []}
