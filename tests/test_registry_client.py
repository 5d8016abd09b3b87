"""The registry from a data scientist's side: ``register_model``, ``registered_model_name=``,
every ``models:/`` URI form on load, a separate registry URI, and ``mltrail registry``.

All against an embedded SQLite store; the server and the official client have their own
tests (test_registry_server.py, test_registry_mlflow_compat.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import mltrail
from mltrail.cli.main import cli
from mltrail.entities.registry import ModelVersion, Stage
from mltrail.errors import InvalidArgument, NotFound
from mltrail.registry.uris import download_model, parse_model_uri
from mltrail.tracking.fluent import Session

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.random(120), "b": rng.random(120)})
    return x, (x["a"] > x["b"]).astype(int)


@pytest.fixture(scope="module")
def models(data: tuple[pd.DataFrame, pd.Series]) -> tuple[LogisticRegression, LogisticRegression]:
    """Two models that predict differently, to tell versions apart."""
    x, y = data
    return LogisticRegression().fit(x, y), LogisticRegression().fit(x, 1 - y)


def _predict(uri: str, x: pd.DataFrame) -> np.ndarray:
    return np.asarray(mltrail.pyfunc.load_model(uri).predict(x))


def test_register_a_logged_model_and_load_it_by_every_uri_form(
    session: Session, tmp_path: Path, data: tuple[pd.DataFrame, pd.Series], models: tuple[LogisticRegression, ...]
) -> None:
    x, _ = data
    first, second = models
    with mltrail.start_run() as run:
        info = mltrail.sklearn.log_model(first, name="model")
    v1 = mltrail.register_model(f"runs:/{run.info.run_id}/model", "fraud")
    assert isinstance(v1, ModelVersion)
    assert (v1.name, v1.version) == ("fraud", 1)
    # The version points at the logged model, as MLflow 3 registers it.
    assert v1.source == f"models:/{info.model_id}"
    assert v1.model_id == info.model_id
    assert v1.run_id == run.info.run_id

    with mltrail.start_run():
        v2_info = mltrail.sklearn.log_model(second, name="model", registered_model_name="fraud")
    assert v2_info.registered_model_version == 2

    client = session.client()
    client.set_registered_model_alias("fraud", "champion", 1)
    client.transition_model_version_stage("fraud", 2, "staging")

    expected_first, expected_second = first.predict(x), second.predict(x)
    assert not np.array_equal(expected_first, expected_second)
    np.testing.assert_array_equal(_predict("models:/fraud/1", x), expected_first)
    np.testing.assert_array_equal(_predict("models:/fraud/2", x), expected_second)
    np.testing.assert_array_equal(_predict("models:/fraud@champion", x), expected_first)
    np.testing.assert_array_equal(_predict("models:/fraud/latest", x), expected_second)
    np.testing.assert_array_equal(_predict("models:/fraud/Staging", x), expected_second)
    np.testing.assert_array_equal(_predict("models:/fraud/STAGING", x), expected_second)

    # Moving the alias moves what deployment code loads.
    client.set_registered_model_alias("fraud", "champion", "2")
    np.testing.assert_array_equal(_predict("models:/fraud@champion", x), expected_second)
    assert client.get_model_version_by_alias("fraud", "champion").version == 2
    assert client.get_registered_model("fraud").aliases == {"champion": 2}

    # A path inside a registered model points into its files.
    local = download_model("models:/fraud@champion/MLmodel", client, str(tmp_path / "dl"))
    assert "model_id: " + v2_info.model_id in Path(local).read_text()


def test_stage_and_alias_uris_name_what_is_missing(
    session: Session, models: tuple[LogisticRegression, ...]
) -> None:
    with mltrail.start_run():
        mltrail.sklearn.log_model(models[0], name="model", registered_model_name="churn")
    with pytest.raises(NotFound, match="Production"):
        mltrail.pyfunc.load_model("models:/churn/Production")
    with pytest.raises(NotFound, match="ghost"):
        mltrail.pyfunc.load_model("models:/churn@ghost")
    with pytest.raises(NotFound, match="nope"):
        mltrail.pyfunc.load_model("models:/nope/1")
    with pytest.raises(NotFound, match="7"):
        mltrail.pyfunc.load_model("models:/churn/7")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/churn", "which version"),
        ("models:/churn/", "which version"),
        ("models:/churn/abc", "not a version number"),
        ("models:/churn@", "models:/<name>@<alias>"),
        ("models:/@champion", "models:/<name>@<alias>"),
        ("models://host/churn/1", "no host"),
        ("models:/churn/1/../../x", "path"),
        ("", "non-empty"),
    ],
)
def test_bad_model_uris_are_refused_before_any_lookup(uri: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_model_uri(uri)


def test_model_uri_forms_parse() -> None:
    assert parse_model_uri("models:/a.b@champion/MLmodel").alias == "champion"
    assert parse_model_uri("models:/a.b@champion/MLmodel").path == "MLmodel"
    assert parse_model_uri("models:/fraud/3").version == 3
    assert parse_model_uri("models:/fraud/production").stage == "production"
    assert parse_model_uri("models:/fraud/Latest").stage == "Latest"
    assert parse_model_uri("models:/m-" + "0" * 32).kind == "logged_model"
    assert parse_model_uri("s3://bucket/model").kind == "artifact"


def test_journey_5_save_model_with_registered_model_name(
    session: Session, tmp_path: Path, data: tuple[pd.DataFrame, pd.Series],
    models: tuple[LogisticRegression, ...],
) -> None:
    # Journey 5: save_model(knn, path="models", registered_model_name="MyModel").
    x, _ = data
    path = tmp_path / "models"
    mltrail.sklearn.save_model(models[0], path=str(path), registered_model_name="MyModel")
    assert (path / "MLmodel").is_file()  # saved where asked, as without a registry
    version = session.client().get_model_version("MyModel", 1)
    # The registry points at an uploaded copy, never at a folder on this machine.
    assert version.source.startswith("models:/m-")
    assert version.model_id is not None
    np.testing.assert_array_equal(_predict("models:/MyModel/1", x), models[0].predict(x))
    # Deleting the local folder does not break the registered version.
    import shutil

    shutil.rmtree(path)
    np.testing.assert_array_equal(_predict("models:/MyModel/latest", x), models[0].predict(x))


@pytest.mark.parametrize("bad", ["a/b", "a:b", "", "   "])
def test_a_bad_registered_model_name_writes_nothing(
    session: Session, tmp_path: Path, models: tuple[LogisticRegression, ...], bad: str
) -> None:
    with pytest.raises(InvalidArgument, match="registered_model_name"):
        mltrail.sklearn.save_model(models[0], path=str(tmp_path / "m"), registered_model_name=bad)
    assert not (tmp_path / "m").exists()
    with mltrail.start_run(), pytest.raises(InvalidArgument, match="registered_model_name"):
        mltrail.sklearn.log_model(models[0], name="m", registered_model_name=bad)
    client = session.client()
    experiment = mltrail.tracking.fluent.experiment_id_in_force()
    assert list(client.search_logged_models([experiment])) == []
    assert list(client.search_registered_models()) == []


def test_register_model_refuses_a_folder_without_a_model(session: Session, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="MLmodel"):
        mltrail.register_model(str(tmp_path), "empty")
    assert list(session.client().search_registered_models()) == []


def test_register_model_by_logged_model_id_and_from_another_version(
    session: Session, models: tuple[LogisticRegression, ...]
) -> None:
    info = mltrail.sklearn.log_model(models[0], name="model")
    version = mltrail.register_model(info.model_uri, "by-id", tags={"team": "risk"})
    assert (version.version, version.model_id, version.tags) == (1, info.model_id, {"team": "risk"})
    copied = mltrail.register_model("models:/by-id/1", "copy")
    assert (copied.source, copied.model_id) == (version.source, info.model_id)


def test_a_separate_registry_uri(tmp_path: Path, session: Session) -> None:
    registry_uri = f"sqlite:///{tmp_path / 'registry.db'}"
    mltrail.set_registry_uri(registry_uri)
    assert mltrail.get_registry_uri() == registry_uri
    client = session.client()
    client.create_registered_model("elsewhere")
    version = client.create_model_version("elsewhere", "s3://models-bucket/fraud/1")
    assert version.version == 1
    other = mltrail.MltrailClient(mltrail.get_tracking_uri())
    with pytest.raises(NotFound):
        other.get_registered_model("elsewhere")
    assert mltrail.MltrailClient(registry_uri).get_registered_model("elsewhere").name == "elsewhere"


def test_the_registry_cli(
    session: Session, tracking_uri: str, models: tuple[LogisticRegression, ...]
) -> None:
    with mltrail.start_run() as run:
        mltrail.sklearn.log_model(models[0], name="model")
        mltrail.sklearn.log_model(models[1], name="other")
    runner = CliRunner()
    base = ["--tracking-uri", tracking_uri]

    def ok(*args: str) -> str:
        result = runner.invoke(cli, [*args, *base], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert ok("registry", "register", "-m", f"runs:/{run.info.run_id}/model", "-n", "cli-model",
              "-t", "team=risk").strip() == "1"
    assert ok("registry", "register", "-m", f"runs:/{run.info.run_id}/other", "-n", "cli-model",
              "-d", "retrained").strip() == "2"
    ok("registry", "alias", "-n", "cli-model", "-a", "champion", "-v", "1")
    ok("registry", "alias", "-n", "cli-model", "-a", "champion", "-v", "2")
    ok("registry", "stage", "-n", "cli-model", "-v", "1", "-s", "production")

    listed = json.loads(ok("registry", "list", "--output", "json"))
    [model] = listed["registered_models"]
    assert model["name"] == "cli-model"
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]

    shown = json.loads(ok("models", "registry", "show", "-n", "cli-model", "--output", "json"))
    versions = {v["version"]: v for v in shown["model_versions"]}
    assert list(versions) == ["2", "1"]
    assert versions["2"]["aliases"] == ["champion"]
    assert versions["2"]["description"] == "retrained"
    assert versions["1"]["current_stage"] == "Production"
    assert versions["1"]["tags"] == [{"key": "team", "value": "risk"}]

    table = ok("registry", "show", "-n", "cli-model")
    assert "@champion" in table and "Production" in table

    bad = runner.invoke(cli, ["registry", "alias", "-n", "cli-model", "-a", "latest", "-v", "1", *base])
    assert bad.exit_code != 0 and "reserved" in bad.output

    ok("registry", "delete", "-n", "cli-model", "-v", "1")
    assert session.client().get_latest_versions("cli-model", ["Production"]) == []
    refused = runner.invoke(cli, ["registry", "delete", "-n", "cli-model", *base], input="n\n")
    assert refused.exit_code != 0
    assert session.client().get_registered_model("cli-model").name == "cli-model"
    ok("registry", "delete", "-n", "cli-model", "--yes")
    with pytest.raises(NotFound, match="cli-model"):
        session.client().get_registered_model("cli-model")


@pytest.mark.filterwarnings("default::FutureWarning")
def test_stage_transitions_warn_that_stages_are_deprecated(
    session: Session, models: tuple[LogisticRegression, ...]
) -> None:
    mltrail.sklearn.log_model(models[0], name="model", registered_model_name="staged")
    client = session.client()
    assert client.get_model_version_stages("staged", 1) == [s.value for s in Stage]
    with pytest.warns(FutureWarning, match="aliases"):
        moved = client.transition_model_version_stage("staged", 1, "Production")
    assert moved.current_stage is Stage.PRODUCTION
