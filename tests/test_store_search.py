"""``search_runs`` in the SQL store, and its REST-shaped twin ``search_run_dicts``, on SQLite
and on a real PostgreSQL server: the rows behind a page are read on the driver's cursor (IN
lists in chunks on SQLite, one array on PostgreSQL), and the dicts are built without
entities, so both are checked against the entities' own ``to_dict``."""

from __future__ import annotations

import math

import pytest

from mltrail.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.storage.sql.store import SqlTrackingStore
from mltrail.storage.tracking import TrackingStore

def _varied_runs(store: SqlTrackingStore) -> list[str]:
    """Runs with every part a run can have, and runs with almost nothing."""
    exp = store.create_experiment("varied")
    ids = []
    for i in range(6):
        tags = [RunTag("t", f"x{i % 3}")]
        ids.append(store.create_run(exp, "alice", 1000 + i // 2, tags, None).info.run_id)
    special = [math.nan, math.inf, -math.inf, 0.0, -2.5, 1e300]
    for i, run_id in enumerate(ids[:4]):
        store.log_batch(
            run_id,
            metrics=[
                Metric("loss", special[i], 10 + i, i),
                Metric("acc", i / 10, 20, 1),
                Metric("acc", i / 5, 30, 2),  # the latest point is the one searched
            ],
            params=[Param("lr", f"0.{i}"), Param("a", "1")],
            tags=[RunTag("zz", "last"), RunTag("note", "a'quote\"and\\slash")],
        )
    dataset = Dataset("train", "d1", "local", "/data", schema='{"a": 1}', profile=None)
    store.log_inputs(
        ids[0], [DatasetInput(dataset, (InputTag("mlflow.data.context", "training"),))]
    )
    store.log_inputs(ids[1], [DatasetInput(Dataset("eval", "d2", "local", "/eval"))])
    model = store.create_logged_model(exp, source_run_id=ids[2])
    store.log_outputs(ids[2], [LoggedModelOutput(model.model_id, 3)])
    store.log_model_inputs(ids[3], [LoggedModelInput(model.model_id)])
    store.update_run_info(ids[0], RunStatus.FINISHED.name, 5000, None)
    store.delete_run(ids[5])
    return ids


SEARCHES = [
    {},
    {"filter_string": "metrics.acc > 0.1", "order_by": ["metrics.loss DESC"]},
    {"filter_string": "params.lr != '0.1' and tags.t = 'x0'", "order_by": ["params.lr"]},
    {"order_by": ["metrics.loss"], "max_results": 2},
    {"order_by": ["tags.note DESC", "attributes.start_time"], "max_results": 3},
    {"filter_string": "dataset.context = 'training'"},
    {"filter_string": "datasets.name IN ('train', 'eval')", "order_by": ["run_name"]},
    {"run_view_type": ViewType.ALL, "order_by": ["metrics.acc DESC"]},
    {"run_view_type": ViewType.DELETED_ONLY},
    {"filter_string": "params.missing = 'x'"},
]


@pytest.mark.parametrize("search", SEARCHES, ids=range(len(SEARCHES)))
def test_search_run_dicts_is_search_runs_to_dict(
    store: SqlTrackingStore, search: dict[str, object]
) -> None:
    _varied_runs(store)
    exp = store.get_experiment_by_name("varied")
    assert exp is not None
    token = None
    pages = 0
    while True:
        ids = [exp.experiment_id]
        runs = store.search_runs(ids, page_token=token, **search)  # type: ignore[arg-type]
        dicts = store.search_run_dicts(ids, page_token=token, **search)  # type: ignore[arg-type]
        assert list(dicts) == [run.to_dict() for run in runs]
        assert dicts.token == runs.token
        # The generic projection every store inherits gives the same page.
        generic = TrackingStore.search_run_dicts(
            store, [exp.experiment_id], page_token=token, **search  # type: ignore[arg-type]
        )
        assert list(generic) == list(dicts)
        pages += 1
        token = runs.token
        if not token:
            break
    assert pages >= 1


def test_searched_runs_are_the_runs_get_run_returns(store: SqlTrackingStore) -> None:
    ids = _varied_runs(store)
    exp = store.get_experiment_by_name("varied")
    assert exp is not None
    found = store.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
    assert sorted(r.info.run_id for r in found) == sorted(ids)
    for run in found:
        got = store.get_run(run.info.run_id)
        assert run.to_dict() == got.to_dict()
        assert run.info == got.info and run.inputs == got.inputs and run.outputs == got.outputs
    first = store.get_run(ids[0])
    assert math.isnan(first.data.metrics["loss"])
    assert first.data.metrics["acc"] == 0.0
    assert [m.key for m in first.data.metric_objs] == ["acc", "loss"]
    # A run's latest metrics carry no run id, as MLflow's store writes them: the run says it.
    assert first.data.metric_objs[0] == Metric("acc", 0.0, 30, 2)
    assert first.to_dict()["data"]["metrics"][0] == {
        "key": "acc", "value": 0.0, "timestamp": 30, "step": 2
    }
    assert list(first.data.params) == ["a", "lr"]
    assert first.info.end_time == 5000 and first.info.status == "FINISHED"
    assert first.inputs.dataset_inputs[0].tags == (InputTag("mlflow.data.context", "training"),)
    assert first.to_dict()["data"]["metrics"][1]["value"] == "NaN"
    assert store.get_run(ids[4]).data.metric_objs == ()


def test_pages_larger_than_an_in_list_chunk(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("many")
    n = 1_203  # SQLite reads 500 runs per IN list: three chunks, the last one short
    for i in range(n):
        run_id = store.create_run(exp, "bob", i, [], f"r{i}").info.run_id
        store.log_batch(
            run_id, metrics=[Metric("m", float(i), 0, 0)], params=[Param("i", str(i))]
        )
    runs = store.search_runs(
        [exp], filter_string="metrics.m >= 100", order_by=["metrics.m DESC"], max_results=1_150
    )
    assert len(runs) == 1_103 and runs.token is None
    assert [r.info.run_name for r in runs] == [f"r{i}" for i in range(n - 1, 99, -1)]
    assert all(r.data.params == {"i": r.info.run_name[1:]} for r in runs)
    assert all(r.data.tags == {"mlflow.runName": r.info.run_name} for r in runs)
    dicts = store.search_run_dicts([exp], max_results=1_000)
    assert len(dicts) == 1_000 and dicts.token
    assert [d["info"]["run_name"] for d in dicts] == [f"r{i}" for i in range(n - 1, n - 1_001, -1)]
    rest = store.search_run_dicts([exp], max_results=1_000, page_token=dicts.token)
    assert len(rest) == n - 1_000 and rest.token is None
    assert rest[-1]["data"] == {
        "metrics": [{"key": "m", "value": 0.0, "timestamp": 0, "step": 0}],
        "params": [{"key": "i", "value": "0"}],
        "tags": [{"key": "mlflow.runName", "value": "r0"}],
    }


def test_clauses_in_any_order_find_the_same_runs(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("order")
    for i in range(30):
        run_id = store.create_run(exp, "carol", i, [RunTag("k", str(i % 2))], f"r{i}").info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric("m", i / 30, 0, 0)],
            params=[Param("p", f"v{i % 3}")],
        )
    clauses = ["metrics.m > 0.2", "params.p = 'v1'", "tags.k != '0'", "attributes.start_time < 26"]
    expected = [f"r{i}" for i in (25, 19, 13, 7)]  # newest first
    for rotation in range(len(clauses)):
        text = " and ".join(clauses[rotation:] + clauses[:rotation])
        found = [r.info.run_name for r in store.search_runs([exp], filter_string=text)]
        assert found == expected


def test_no_experiments_no_runs(store: SqlTrackingStore) -> None:
    page = store.search_run_dicts(["not-an-id"])
    assert list(page) == [] and page.token is None
    assert list(store.search_runs(["not-an-id"])) == []
