"""Logged models (MLflow 3): the SQL store on SQLite and PostgreSQL, the REST routes, and the
official MLflow client's ``log_model`` / ``load_model`` against a real mltrail server."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fixtures_tracking import ROOT

from mltrail.entities import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
)
from mltrail.errors import InvalidArgument, NotFound
from mltrail.storage.sql.migrate import HEAD_REVISION, current_revision, ensure_schema
from mltrail.storage.sql.store import SqlTrackingStore

API = "/api/2.0/mlflow"


def _run(store: SqlTrackingStore, experiment_id: str = "0") -> str:
    return store.create_run(experiment_id, "alice", 1000).info.run_id


def _ids(models: list[LoggedModel]) -> list[str]:
    return [m.model_id for m in models]


# Schema


def test_a_0001_database_is_migrated_to_the_logged_model_tables(engine: sa.Engine) -> None:
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", "mltrail.storage.sql:migrations")
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with engine.connect() as conn:
        assert current_revision(conn) == "0001"
        assert not sa.inspect(conn).has_table("logged_models")

    ensure_schema(engine, ROOT)
    with engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
        tables = set(sa.inspect(conn).get_table_names())
    assert {
        "logged_models",
        "logged_model_tags",
        "logged_model_params",
        "logged_model_metrics",
        "run_model_outputs",
        "run_model_inputs",
    } <= tables
    store = SqlTrackingStore(engine, ROOT)
    assert store.create_logged_model("0").status is LoggedModelStatus.PENDING


# Entities


def test_status_accepts_wire_names_short_names_and_numbers() -> None:
    assert LoggedModelStatus.coerce("LOGGED_MODEL_READY") is LoggedModelStatus.READY
    assert LoggedModelStatus.coerce("ready") is LoggedModelStatus.READY
    assert LoggedModelStatus.coerce(3) is LoggedModelStatus.FAILED
    assert LoggedModelStatus.coerce("1") is LoggedModelStatus.PENDING
    assert LoggedModelStatus.FAILED.wire_name == "LOGGED_MODEL_UPLOAD_FAILED"
    for bad in ("LOGGED_MODEL_STATUS_UNSPECIFIED", 0, 9, True, "done"):
        with pytest.raises(InvalidArgument, match="Invalid logged model status"):
            LoggedModelStatus.coerce(bad)  # type: ignore[arg-type]


def test_logged_model_json_round_trips() -> None:
    model = LoggedModel(
        model_id="m-" + "a" * 32,
        experiment_id="3",
        name="model",
        artifact_location="mlflow-artifacts:/3/models/m-x/artifacts",
        creation_timestamp=5,
        last_updated_timestamp=6,
        status=LoggedModelStatus.READY,
        model_type="agent",
        source_run_id="r" * 32,
        tags={"t": "1"},
        params={"p": "2"},
        metrics=(Metric("acc", math.nan, 7, 1, "train", "d1", "m-" + "a" * 32, "r" * 32),),
    )
    wire = model.to_dict()
    assert wire["info"]["status"] == "LOGGED_MODEL_READY"
    assert wire["info"]["artifact_uri"] == model.artifact_location
    assert wire["info"]["creation_timestamp_ms"] == 5
    assert wire["info"]["tags"] == [{"key": "t", "value": "1"}]
    assert wire["data"]["params"] == [{"key": "p", "value": "2"}]
    assert wire["data"]["metrics"][0]["value"] == "NaN"
    back = LoggedModel.from_dict(json.loads(json.dumps(wire)))
    assert back.to_dict() == wire
    assert back.model_uri == f"models:/{model.model_id}"


# Store: create, read, finalize, delete


def test_create_and_get(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    model = store.create_logged_model(
        "0",
        name="model",
        source_run_id=run_id,
        tags={"mlflow.user": "alice"},
        params={"lr": "0.1"},
        model_type="classifier",
    )
    assert model.model_id.startswith("m-") and len(model.model_id) == 34
    assert model.artifact_location == f"{ROOT}/0/models/{model.model_id}/artifacts"
    assert model.status is LoggedModelStatus.PENDING
    assert model.creation_timestamp == model.last_updated_timestamp > 0
    assert (model.name, model.source_run_id, model.model_type) == ("model", run_id, "classifier")
    assert model.tags == {"mlflow.user": "alice"}
    assert model.params == {"lr": "0.1"}
    assert model.metrics == ()
    assert store.get_logged_model(model.model_id) == model

    unnamed = store.create_logged_model("0")
    assert unnamed.name and unnamed.source_run_id is None and unnamed.model_type is None


def test_create_checks_its_input(store: SqlTrackingStore) -> None:
    for bad in ("a/b", "a.b", "it's", ""):
        with pytest.raises(InvalidArgument, match="Invalid model name"):
            store.create_logged_model("0", name=bad)
    with pytest.raises(NotFound, match="No Experiment with id=42"):
        store.create_logged_model("42")
    with pytest.raises(NotFound, match="Run with id="):
        store.create_logged_model("0", source_run_id="f" * 32)
    with pytest.raises(InvalidArgument, match="tag key"):
        store.create_logged_model("0", tags={"../up": "x"})
    with pytest.raises(InvalidArgument, match="param 'p'"):
        store.create_logged_model("0", params={"p": "x" * 6001})
    experiment_id = store.create_experiment("gone")
    store.delete_experiment(experiment_id)
    with pytest.raises(InvalidArgument, match="active"):
        store.create_logged_model(experiment_id)
    assert store.search_logged_models(["0", experiment_id]) == []


def test_unknown_and_malformed_ids_are_not_found(store: SqlTrackingStore) -> None:
    for model_id in ("m-" + "0" * 32, "nope", "'; DROP TABLE logged_models; --"):
        with pytest.raises(NotFound, match="Logged model with ID"):
            store.get_logged_model(model_id)
        with pytest.raises(NotFound, match="Logged model with ID"):
            store.finalize_logged_model(model_id, LoggedModelStatus.READY)
        with pytest.raises(NotFound, match="Logged model with ID"):
            store.set_logged_model_tags(model_id, {"a": "b"})
        with pytest.raises(NotFound, match="Logged model with ID"):
            store.delete_logged_model(model_id)
        with pytest.raises(NotFound, match="Logged model with ID"):
            store.log_logged_model_params(model_id, {"a": "b"})


def test_finalize_sets_the_status(store: SqlTrackingStore) -> None:
    model = store.create_logged_model("0")
    ready = store.finalize_logged_model(model.model_id, "LOGGED_MODEL_READY")
    assert ready.status is LoggedModelStatus.READY
    assert ready.last_updated_timestamp >= model.creation_timestamp
    failed = store.finalize_logged_model(model.model_id, 3)
    assert failed.status is LoggedModelStatus.FAILED
    with pytest.raises(InvalidArgument, match="Invalid logged model status"):
        store.finalize_logged_model(model.model_id, "SHIPPED")
    assert store.get_logged_model(model.model_id).status is LoggedModelStatus.FAILED


def test_delete_is_soft(store: SqlTrackingStore) -> None:
    kept = store.create_logged_model("0", name="kept")
    gone = store.create_logged_model("0", name="gone")
    store.delete_logged_model(gone.model_id)
    with pytest.raises(NotFound, match="Logged model with ID"):
        store.get_logged_model(gone.model_id)
    assert store.get_logged_model(gone.model_id, allow_deleted=True).name == "gone"
    assert _ids(store.search_logged_models(["0"])) == [kept.model_id]
    store.delete_logged_model(gone.model_id)  # again: no error


# Store: tags and params


def test_tags_set_overwrite_delete(store: SqlTrackingStore) -> None:
    model = store.create_logged_model("0", tags={"a": "1"})
    store.set_logged_model_tags(model.model_id, {"a": "2", "b/c": "3", "big": "x" * 50_000})
    assert store.get_logged_model(model.model_id).tags == {"a": "2", "b/c": "3", "big": "x" * 50_000}
    store.delete_logged_model_tag(model.model_id, "b/c")
    assert set(store.get_logged_model(model.model_id).tags) == {"a", "big"}
    with pytest.raises(NotFound, match="No tag with key 'b/c'"):
        store.delete_logged_model_tag(model.model_id, "b/c")
    with pytest.raises(InvalidArgument, match="limit is 100000"):
        store.set_logged_model_tags(model.model_id, {"huge": "x" * 100_001})
    with pytest.raises(InvalidArgument, match="NUL"):
        store.set_logged_model_tags(model.model_id, {"a": "bad\x00"})
    assert store.get_logged_model(model.model_id).tags["a"] == "2"


def test_params_are_immutable(store: SqlTrackingStore) -> None:
    model = store.create_logged_model("0", params={"a": "1"})
    store.log_logged_model_params(model.model_id, {"a": "1", "b": "2"})
    assert store.get_logged_model(model.model_id).params == {"a": "1", "b": "2"}
    with pytest.raises(InvalidArgument, match="Changing param values is not allowed"):
        store.log_logged_model_params(model.model_id, {"b": "3", "c": "4"})
    assert store.get_logged_model(model.model_id).params == {"a": "1", "b": "2"}


# Store: metrics, outputs and inputs


def test_metrics_with_a_model_id_are_kept_for_the_model(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    model = store.create_logged_model("0", source_run_id=run_id)
    store.log_batch(run_id, metrics=[Metric("loss", 0.5, 10, 0), Metric("loss", 0.4, 20, 1)])
    # MLflow's log_model logs the run's points at the step again, with the new model's id.
    store.log_batch(
        run_id,
        metrics=[
            Metric("loss", 0.5, 10, 0, model_id=model.model_id),
            Metric("acc", math.nan, 30, 1, "eval", "abc", model.model_id),
        ],
    )
    history = store.get_metric_history(run_id, "loss")
    assert [(m.value, m.step) for m in history] == [(0.5, 0), (0.4, 1)]  # not stored twice
    assert store.get_run(run_id).data.metrics["loss"] == 0.4
    assert math.isnan(store.get_run(run_id).data.metrics["acc"])

    metrics = store.get_logged_model(model.model_id).metrics
    assert [(m.key, m.step, m.model_id, m.run_id) for m in metrics] == [
        ("acc", 1, model.model_id, run_id),
        ("loss", 0, model.model_id, run_id),
    ]
    assert (metrics[0].dataset_name, metrics[0].dataset_digest) == ("eval", "abc")
    assert math.isnan(metrics[0].value)
    # The same point again is kept once.
    store.log_batch(run_id, metrics=[Metric("loss", 0.5, 10, 0, model_id=model.model_id)])
    assert len(store.get_logged_model(model.model_id).metrics) == 2


def test_a_metric_for_an_unknown_model_writes_nothing(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    with pytest.raises(NotFound, match="Logged model with ID"):
        store.log_batch(
            run_id,
            metrics=[Metric("a", 1.0, 1), Metric("b", 2.0, 1, model_id="m-" + "9" * 32)],
            params=[Param("p", "v")],
        )
    with pytest.raises(InvalidArgument, match="Invalid model_id"):
        store.log_batch(run_id, metrics=[Metric("b", 2.0, 1, model_id="bogus")])
    run = store.get_run(run_id)
    assert run.data.metrics == {} and run.data.params == {}


def test_outputs_and_inputs_appear_on_the_run(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    first = store.create_logged_model("0", source_run_id=run_id)
    second = store.create_logged_model("0")
    store.log_outputs(run_id, [LoggedModelOutput(first.model_id, 0)])
    store.log_outputs(run_id, [LoggedModelOutput(first.model_id, 0), LoggedModelOutput(second.model_id, 5)])
    store.log_model_inputs(run_id, [LoggedModelInput(second.model_id)])
    store.log_model_inputs(run_id, [LoggedModelInput(second.model_id)])

    run = store.get_run(run_id)
    assert run.outputs.model_outputs == (
        LoggedModelOutput(first.model_id, 0),
        LoggedModelOutput(second.model_id, 5),
    )
    assert run.inputs.model_inputs == (LoggedModelInput(second.model_id),)
    wire = run.to_dict()
    assert wire["outputs"] == {
        "model_outputs": [
            {"model_id": first.model_id, "step": 0},
            {"model_id": second.model_id, "step": 5},
        ]
    }
    assert wire["inputs"] == {"model_inputs": [{"model_id": second.model_id}]}
    assert Run.from_dict(wire).outputs == run.outputs
    searched = store.search_runs(["0"])
    assert searched[0].outputs == run.outputs

    with pytest.raises(NotFound, match="Logged model with ID"):
        store.log_outputs(run_id, [LoggedModelOutput("m-" + "1" * 32, 0)])
    with pytest.raises(NotFound, match="Run with id"):
        store.log_outputs("f" * 32, [LoggedModelOutput(first.model_id, 0)])
    store.delete_run(run_id)
    with pytest.raises(InvalidArgument, match="active"):
        store.log_outputs(run_id, [LoggedModelOutput(second.model_id, 1)])


def test_purging_removes_what_points_at_runs_and_models(store: SqlTrackingStore) -> None:
    experiment_id = store.create_experiment("purged")
    run_id = _run(store, experiment_id)
    model = store.create_logged_model(experiment_id, source_run_id=run_id, tags={"a": "b"})
    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, model_id=model.model_id)])
    store.delete_run(run_id)
    store.purge_run(run_id)
    assert store.get_logged_model(model.model_id).metrics == ()

    store.delete_experiment(experiment_id)
    store.purge_experiment(experiment_id)
    with pytest.raises(NotFound, match="Logged model with ID"):
        store.get_logged_model(model.model_id, allow_deleted=True)


# Store: search


@pytest.fixture
def catalogue(store: SqlTrackingStore) -> dict[str, LoggedModel]:
    """Four models in experiment 0 (and one elsewhere) with metrics, params and tags."""
    run_id = _run(store)
    other = store.create_experiment("other")
    made = {}
    for name, acc, lr, model_type in (
        ("alpha", 0.9, "0.1", "tree"),
        ("beta", 0.7, "0.01", "linear"),
        ("gamma", None, "0.1", None),
        ("delta", 0.8, None, "tree"),
    ):
        params = {"lr": lr} if lr else {}
        model = store.create_logged_model(
            "0", name=name, source_run_id=run_id, params=params, model_type=model_type,
            tags={"owner": name.upper()},
        )
        if acc is not None:
            store.log_batch(
                run_id,
                metrics=[
                    Metric("acc", acc - 0.5, 1, 0, "train", "d1", model.model_id),
                    Metric("acc", acc, 2, 1, "eval", "d2", model.model_id),
                ],
            )
        made[name] = model
    store.finalize_logged_model(made["alpha"].model_id, LoggedModelStatus.READY)
    store.finalize_logged_model(made["beta"].model_id, LoggedModelStatus.FAILED)
    made["elsewhere"] = store.create_logged_model(other, name="alpha")
    return made


def _names(store: SqlTrackingStore, filter_string: str | None = None, **kwargs: Any) -> list[str]:
    return [m.name for m in store.search_logged_models(["0"], filter_string, **kwargs)]


def test_search_filters(store: SqlTrackingStore, catalogue: dict[str, LoggedModel]) -> None:
    def names(filter_string: str, **kwargs: Any) -> set[str]:
        return set(_names(store, filter_string, **kwargs))

    assert names("name = 'alpha'") == {"alpha"}
    assert names("name LIKE '%ta'") == {"beta", "delta"}
    assert names("name ILIKE 'AL%'") == {"alpha"}
    assert names("attributes.name IN ('beta', 'gamma')") == {"beta", "gamma"}
    assert names("name NOT IN ('beta', 'gamma')") == {"alpha", "delta"}
    assert names(f"model_id = '{catalogue['beta'].model_id}'") == {"beta"}
    assert names("model_type = 'tree'") == {"alpha", "delta"}
    assert names("status = 'READY'") == {"alpha"}
    assert names("status = 'LOGGED_MODEL_UPLOAD_FAILED'") == {"beta"}
    assert names("status IN ('PENDING', 'LOGGED_MODEL_READY')") == {"alpha", "gamma", "delta"}
    assert names("status != 'PENDING'") == {"alpha", "beta"}
    run_id = catalogue["alpha"].source_run_id
    assert names(f"source_run_id = '{run_id}'") == {"alpha", "beta", "gamma", "delta"}
    created = catalogue["alpha"].creation_timestamp
    assert names(f"creation_time >= {created}") == {"alpha", "beta", "gamma", "delta"}
    assert names(f"creation_timestamp < {created}") == set()
    assert names("last_updated_time > 0") == {"alpha", "beta", "gamma", "delta"}

    assert names("metrics.acc > 0.75") == {"alpha", "delta"}  # any point of the metric
    # Each clause on its own: some point above 0.75, and some point below 0.35.
    assert names("metrics.acc > 0.75 AND metrics.acc < 0.35") == {"delta"}
    assert names("metrics.acc > 0.25", datasets=[{"dataset_name": "train"}]) == {"alpha", "delta"}
    assert names("metrics.acc > 0.75", datasets=[{"dataset_name": "train"}]) == set()
    eval_d2 = [{"dataset_name": "eval", "dataset_digest": "d2"}]
    assert names("metrics.acc >= 0.7", datasets=eval_d2) == {"alpha", "beta", "delta"}
    assert names("metrics.acc >= 0.7", datasets=[{"dataset_name": "eval", "dataset_digest": "zz"}]) == set()
    assert names("", datasets=[{"dataset_name": "eval"}]) == {"alpha", "beta", "delta"}
    assert names("metrics.missing > 0") == set()

    assert names("params.lr = '0.1'") == {"alpha", "gamma"}
    assert names("params.lr IS NULL") == {"delta"}
    assert names("params.lr IS NOT NULL AND params.lr != '0.1'") == {"beta"}
    assert names("tags.owner = 'GAMMA'") == {"gamma"}
    assert names("tags.owner LIKE 'AL%' AND name = 'alpha'") == {"alpha"}


def test_search_orders(store: SqlTrackingStore, catalogue: dict[str, LoggedModel]) -> None:
    models = [catalogue[n] for n in ("alpha", "beta", "gamma", "delta")]
    default = sorted(models, key=lambda m: (-m.creation_timestamp, m.model_id))
    assert _names(store) == [m.name for m in default]
    assert _names(store, order_by=[{"field_name": "name"}]) == ["alpha", "beta", "delta", "gamma"]
    assert _names(store, order_by=[{"field_name": "name", "ascending": False}])[0] == "gamma"
    by_acc = [{"field_name": "metrics.acc", "ascending": False}]
    assert _names(store, order_by=by_acc) == ["alpha", "delta", "beta", "gamma"]  # missing last
    by_acc_up = [{"field_name": "metrics.acc", "ascending": True}]
    assert _names(store, order_by=by_acc_up) == ["beta", "delta", "alpha", "gamma"]
    on_train = [{"field_name": "metrics.acc", "ascending": False, "dataset_name": "train"}]
    assert _names(store, order_by=on_train) == ["alpha", "delta", "beta", "gamma"]
    by_type = [{"field_name": "model_type"}, {"field_name": "name", "ascending": False}]
    assert _names(store, order_by=by_type) == ["beta", "delta", "alpha", "gamma"]
    by_time = [{"field_name": "creation_time", "ascending": True}, {"field_name": "model_id"}]
    assert _names(store, order_by=by_time) == [
        m.name for m in sorted(models, key=lambda m: (m.creation_timestamp, m.model_id))
    ]


def test_search_pages(store: SqlTrackingStore, catalogue: dict[str, LoggedModel]) -> None:
    order = [{"field_name": "name"}]
    seen: list[str] = []
    token = None
    for _ in range(3):
        page = store.search_logged_models(["0"], max_results=2, order_by=order, page_token=token)
        seen += [m.name for m in page]
        token = page.token
        if token is None:
            break
    assert seen == ["alpha", "beta", "delta", "gamma"]
    assert json.loads(base64.urlsafe_b64decode(store.search_logged_models(
        ["0"], max_results=1, order_by=order).token or "")) == {"offset": 1}
    both = store.search_logged_models(["0", catalogue["elsewhere"].experiment_id], "name = 'alpha'")
    assert len(both) == 2
    assert store.search_logged_models([]) == []
    assert store.search_logged_models(["999", "x"]) == []


def test_search_refuses_bad_input(store: SqlTrackingStore) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"filter_string": "name = 'a' OR name = 'b'"}, "OR is not supported"),
        ({"filter_string": "metrics.acc > 'high'"}, "Expected numeric value"),
        ({"filter_string": "color = 'red'"}, "unknown logged model attribute 'color'"),
        ({"filter_string": "name > 3"}, "comparator > is not supported"),
        ({"filter_string": "status = 'SHIPPED'"}, "Invalid logged model status"),
        ({"datasets": [{"dataset_digest": "x"}]}, "dataset_name"),
        ({"order_by": [{"field_name": "params.lr"}]}, "order_by field_name"),
        ({"order_by": [{"field_name": "name", "dataset_name": "x"}]}, "only qualify a metric"),
        ({"order_by": [{"ascending": True}]}, "field_name"),
        ({"max_results": 0}, "max_results"),
        ({"max_results": 50_001}, "max_results"),
        ({"page_token": "garbage!"}, "Invalid page token"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            store.search_logged_models(["0"], **kwargs)


# REST routes


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    response = client.post(API + path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_rest_lifecycle(tracking_server: Any) -> None:
    with httpx.Client(base_url=tracking_server.url, timeout=30) as client:
        run_id = _post(client, "/runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
        created = _post(
            client,
            "/logged-models",
            {
                "experiment_id": "0",
                "name": "model",
                "model_type": "sk",
                "source_run_id": run_id,
                "params": [{"key": "lr", "value": "0.1"}],
                "tags": [{"key": "t", "value": "1"}],
            },
        )["model"]
        model_id = created["info"]["model_id"]
        assert created["info"]["status"] == "LOGGED_MODEL_PENDING"
        assert created["info"]["artifact_uri"] == f"mlflow-artifacts:/0/models/{model_id}/artifacts"
        assert created["info"]["tags"] == [{"key": "t", "value": "1"}]
        assert created["data"] == {"params": [{"key": "lr", "value": "0.1"}]}
        assert set(created["info"]) >= {"creation_timestamp_ms", "last_updated_timestamp_ms"}

        got = client.get(f"{API}/logged-models/{model_id}").json()
        assert got == {"model": created}
        finalized = client.patch(
            f"{API}/logged-models/{model_id}",
            json={"model_id": model_id, "status": "LOGGED_MODEL_READY"},
        ).json()["model"]
        assert finalized["info"]["status"] == "LOGGED_MODEL_READY"
        assert client.patch(f"{API}/logged-models/{model_id}", json={"status": 3}).json()[
            "model"]["info"]["status"] == "LOGGED_MODEL_UPLOAD_FAILED"
        client.patch(f"{API}/logged-models/{model_id}", json={"status": "READY"})

        tagged = client.patch(
            f"{API}/logged-models/{model_id}/tags",
            json={"tags": [{"key": "a/b", "value": "x"}, {"key": "c", "value": "y"}]},
        )
        assert (tagged.status_code, tagged.json()) == (200, {})
        deleted_tag = client.delete(f"{API}/logged-models/{model_id}/tags/a/b")
        assert (deleted_tag.status_code, deleted_tag.json()) == (200, {})
        assert _post(client, f"/logged-models/{model_id}/params", {
            "model_id": model_id, "params": [{"key": "depth", "value": "3"}]}) == {}
        _post(client, "/runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "acc", "value": 0.9, "timestamp": 1, "step": 0, "model_id": model_id,
             "dataset_name": "eval", "dataset_digest": "d"}]})
        assert _post(client, "/runs/outputs", {
            "run_id": run_id, "models": [{"model_id": model_id, "step": 0}]}) == {}

        model = client.get(f"{API}/logged-models/{model_id}").json()["model"]
        assert {t["key"] for t in model["info"]["tags"]} == {"t", "c"}
        assert {p["key"] for p in model["data"]["params"]} == {"lr", "depth"}
        assert model["data"]["metrics"] == [{
            "key": "acc", "value": 0.9, "timestamp": 1, "step": 0, "dataset_name": "eval",
            "dataset_digest": "d", "model_id": model_id, "run_id": run_id}]
        run = client.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
        assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 0}]}

        found = _post(client, "/logged-models/search", {
            "experiment_ids": ["0"],
            "filter": "metrics.acc > 0.5 AND status = 'LOGGED_MODEL_READY'",
            "datasets": [{"dataset_name": "eval"}],
            "order_by": [{"field_name": "metrics.acc", "ascending": False}],
        })
        assert [m["info"]["model_id"] for m in found["models"]] == [model_id]
        assert "next_page_token" not in found
        assert _post(client, "/logged-models/search", {"experiment_ids": ["0"], "filter": "name = 'x'"}) == {}

        ajax = client.get(f"/ajax-api/2.0/mlflow/logged-models/{model_id}")
        assert ajax.status_code == 200

        gone = client.request("DELETE", f"{API}/logged-models/{model_id}", json={"model_id": model_id})
        assert (gone.status_code, gone.json()) == (200, {})
        missing = client.get(f"{API}/logged-models/{model_id}")
        assert missing.status_code == 404
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        allowed = client.get(f"{API}/logged-models/{model_id}", params={"allow_deleted": "true"})
        assert allowed.status_code == 200


def test_rest_search_pages_with_the_proto_default(tracking_server: Any) -> None:
    with httpx.Client(base_url=tracking_server.url, timeout=30) as client:
        for i in range(52):
            _post(client, "/logged-models", {"experiment_id": "0", "name": f"m{i:02d}"})
        body = {"experiment_ids": ["0"], "order_by": [{"field_name": "name"}]}
        first = _post(client, "/logged-models/search", body)
        assert len(first["models"]) == 50  # the proto's default max_results
        second = _post(client, "/logged-models/search", {**body, "page_token": first["next_page_token"]})
        assert [m["info"]["name"] for m in second["models"]] == ["m50", "m51"]
        assert "next_page_token" not in second


def test_rest_errors_use_mlflows_envelope(tracking_server: Any) -> None:
    unknown = "m-" + "0" * 32
    with httpx.Client(base_url=tracking_server.url, timeout=30) as client:
        model_id = _post(client, "/logged-models", {"experiment_id": "0"})["model"]["info"]["model_id"]
        cases = [
            ("POST", "/logged-models", {}, 400, "INVALID_PARAMETER_VALUE", "experiment_id"),
            ("POST", "/logged-models", {"experiment_id": "77"}, 404, "RESOURCE_DOES_NOT_EXIST", "77"),
            ("POST", "/logged-models", {"experiment_id": "0", "name": "a/b"}, 400,
             "INVALID_PARAMETER_VALUE", "model name"),
            ("GET", f"/logged-models/{unknown}", None, 404, "RESOURCE_DOES_NOT_EXIST", unknown),
            ("PATCH", f"/logged-models/{model_id}", {"status": "DONE"}, 400,
             "INVALID_PARAMETER_VALUE", "status"),
            ("PATCH", f"/logged-models/{model_id}", {}, 400, "INVALID_PARAMETER_VALUE", "status"),
            ("DELETE", f"/logged-models/{model_id}/tags/nope", None, 404,
             "RESOURCE_DOES_NOT_EXIST", "nope"),
            ("POST", "/logged-models/search", {}, 400, "INVALID_PARAMETER_VALUE", "experiment_ids"),
            ("POST", "/logged-models/search", {"experiment_ids": ["0"], "filter": "a OR b"}, 400,
             "INVALID_PARAMETER_VALUE", "OR"),
            ("POST", "/logged-models/search", {"experiment_ids": ["0"], "max_results": 0}, 400,
             "INVALID_PARAMETER_VALUE", "max_results"),
            ("POST", f"/logged-models/{model_id}/params",
             {"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]}, 400,
             "INVALID_PARAMETER_VALUE", "Duplicate param key"),
            ("POST", "/runs/outputs", {"models": []}, 400, "INVALID_PARAMETER_VALUE", "run_id"),
            ("POST", "/runs/outputs", {"run_id": "f" * 32, "models": [{"model_id": model_id}]},
             404, "RESOURCE_DOES_NOT_EXIST", "Run"),
        ]
        for method, path, body, status, code, text in cases:
            response = client.request(method, API + path, json=body)
            assert response.status_code == status, (method, path, response.text)
            assert response.json()["error_code"] == code
            assert text in response.json()["message"]
        no_type = client.post(API + "/logged-models", content=b'{"experiment_id": "0"}')
        assert no_type.status_code == 400
        assert "Content-Type" in no_type.json()["message"]


def test_rest_lists_model_artifacts(tracking_server: Any) -> None:
    with httpx.Client(base_url=tracking_server.url, timeout=30) as client:
        model = _post(client, "/logged-models", {"experiment_id": "0"})["model"]["info"]
        model_id = model["model_id"]
        relative = model["artifact_uri"].removeprefix("mlflow-artifacts:/")
        for name in ("MLmodel", "sub/model.pkl"):
            put = client.put(f"/api/2.0/mlflow-artifacts/artifacts/{relative}/{name}", content=b"x")
            assert put.status_code == 200, put.text
        listing = client.get(f"{API}/logged-models/{model_id}/artifacts/directories").json()
        assert listing["root_uri"] == model["artifact_uri"]
        assert {(f["path"], f["is_dir"]) for f in listing["files"]} == {("MLmodel", False), ("sub", True)}
        sub = client.get(
            f"{API}/logged-models/{model_id}/artifacts/directories",
            params={"artifact_directory_path": "sub"},
        ).json()
        assert [f["path"] for f in sub["files"]] == ["sub/model.pkl"]
        escape = client.get(
            f"{API}/logged-models/{model_id}/artifacts/directories",
            params={"artifact_directory_path": "../../x"},
        )
        assert escape.status_code == 400


def test_every_logged_model_rpc_of_mlflow_is_routed(tracking_server: Any) -> None:
    databricks_pb2 = pytest.importorskip(
        "mlflow.protos.databricks_pb2", reason="mlflow-skinny (a test dependency) is not installed"
    )
    from mlflow.protos import service_pb2

    declared = set()
    for service in service_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            for endpoint in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
                if "logged-models" in endpoint.path or endpoint.path == "/mlflow/runs/outputs":
                    declared.add((endpoint.method, f"{endpoint.since.major}.0{endpoint.path}"))
    assert len(declared) == 10
    unknown = "m-" + "0" * 32
    for method, path in sorted(declared):
        for base in ("api", "ajax-api"):
            url = f"{tracking_server.url}/{base}/{path}"
            url = url.replace("{model_id}", unknown).replace("{tag_key}", "k")
            response = httpx.request(method, url, json=None if method == "GET" else {})
            # Routed: the handler answered, with a 400 for the empty body or a 404 for the model.
            assert response.status_code in (400, 404), (method, url, response.text)
            assert response.json()["error_code"] in (
                "INVALID_PARAMETER_VALUE",
                "RESOURCE_DOES_NOT_EXIST",
            ), (method, url, response.text)


# The official MLflow client


@pytest.fixture
def mlflow_url(tracking_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    mlflow = pytest.importorskip(
        "mlflow", reason="mlflow-skinny (a test dependency) is not installed"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri(tracking_server.url)
    yield str(tracking_server.url)
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.mark.slow
@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    # Importing mlflow.pyfunc warns about MLflow's own type hints.
    "ignore:.*Any type hint is inferred:UserWarning",
)
def test_official_client_logs_and_loads_an_sklearn_model(mlflow_url: str) -> None:
    import mlflow

    np = pytest.importorskip("numpy")
    linear_model = pytest.importorskip(
        "sklearn.linear_model", reason="scikit-learn is not installed: pip install scikit-learn"
    )
    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    labels = np.array([0, 0, 1, 1])
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("acc", 0.75)
        info = mlflow.sklearn.log_model(
            linear_model.LogisticRegression().fit(features, labels),
            name="model",
            serialization_format="cloudpickle",
        )
    run_id = run.info.run_id
    assert info.model_id.startswith("m-")
    assert info.model_uri == f"models:/{info.model_id}"

    by_run = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    assert list(by_run.predict(features)) == [0, 0, 1, 1]
    by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    assert list(by_id.predict(features)) == [0, 0, 1, 1]

    client = mlflow.MlflowClient()
    model = client.get_logged_model(info.model_id)
    assert model.status == mlflow.entities.LoggedModelStatus.READY
    assert (model.name, model.source_run_id) == ("model", run_id)
    assert model.params == {"C": "1.0"}
    assert [(m.key, m.value, m.model_id) for m in model.metrics] == [("acc", 0.75, info.model_id)]
    assert model.artifact_location.endswith(f"/models/{info.model_id}/artifacts")
    fetched = client.get_run(run_id)
    assert [(o.model_id, o.step) for o in fetched.outputs.model_outputs] == [(info.model_id, 0)]
    assert len(client.get_metric_history(run_id, "acc")) == 1

    client.set_logged_model_tags(info.model_id, {"stage": "candidate"})
    assert client.get_logged_model(info.model_id).tags["stage"] == "candidate"
    client.delete_logged_model_tag(info.model_id, "stage")
    assert "stage" not in client.get_logged_model(info.model_id).tags
    found = mlflow.search_logged_models(
        filter_string="name = 'model' AND metrics.acc > 0.5",
        order_by=[{"field_name": "creation_time", "ascending": False}],
        output_format="list",
    )
    assert [m.model_id for m in found] == [info.model_id]
    assert mlflow.last_logged_model().model_id == info.model_id
