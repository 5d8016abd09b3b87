"""The model registry across the wire, both ways, with real parts only.

* The official MLflow client (``mlflow-skinny``), unchanged, against an mltrail server: every
  registry method of ``MlflowClient``, then ``register_model`` after ``sklearn.log_model`` and
  ``pyfunc.load_model`` by alias, by number and by ``latest``.
* mltrail's ``RestRegistryStore`` against MLflow's own server (``mlflow_server``), and against
  mltrail's: the same round trips, and either server's errors arriving as the same mltrail
  error classes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny (a test dependency) is not installed")
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from fixtures_server import RunningServer, start_server  # noqa: E402
from mltrail.entities.registry import ModelVersionStatus, Stage  # noqa: E402
from mltrail.errors import AlreadyExists, InvalidArgument, NotFound  # noqa: E402
from mltrail.server.config import ServerConfig  # noqa: E402
from mltrail.settings import Settings  # noqa: E402
from mltrail.storage.rest import RestStore  # noqa: E402
from mltrail.storage.rest_registry import RestRegistryStore  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    # mlflow.pyfunc's import warns about its own type hints.
    "ignore:.*Any type hint is inferred:UserWarning",
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------------------------
# mltrail's RestRegistryStore against MLflow's server and mltrail's


@pytest.fixture(scope="module", params=["mlflow", "mltrail"])
def remote_store(request: pytest.FixtureRequest) -> Iterator[RestStore]:
    """mltrail's REST store on MLflow's server, then on mltrail's own."""
    if request.param == "mlflow":
        url: str = request.getfixturevalue("mlflow_server")
    else:
        url = request.getfixturevalue("mltrail_server").url
    store = RestStore(url, Settings())
    yield store
    store.close()


@pytest.fixture
def remote_registry(remote_store: RestStore) -> RestRegistryStore:
    registry = remote_store.registry_store()
    assert isinstance(registry, RestRegistryStore)
    assert remote_store.registry_store() is registry
    return registry


def _run_on(store: RestStore) -> tuple[str, str]:
    """A new run on ``store``'s server: its id and artifact URI."""
    experiment_id = store.create_experiment(unique("registry"))
    run = store.create_run(experiment_id, "tester", int(time.time() * 1000))
    return run.info.run_id, run.info.artifact_uri


def test_registered_models(remote_registry: RestRegistryStore) -> None:
    name = unique("model")
    created = remote_registry.create_registered_model(
        name, tags={"team": "vision"}, description="first"
    )
    assert (created.name, created.description, created.tags) == (name, "first", {"team": "vision"})
    assert created.creation_timestamp > 0

    got = remote_registry.get_registered_model(name)
    assert (got.name, got.tags, got.latest_versions) == (name, {"team": "vision"}, ())

    updated = remote_registry.update_registered_model(name, "second")
    assert updated.description == "second"
    remote_registry.set_registered_model_tag(name, "owner", "ada")
    remote_registry.delete_registered_model_tag(name, "team")
    assert remote_registry.get_registered_model(name).tags == {"owner": "ada"}

    new_name = unique("renamed")
    assert remote_registry.rename_registered_model(name, new_name).name == new_name
    with pytest.raises(NotFound):
        remote_registry.get_registered_model(name)

    with pytest.raises(AlreadyExists):
        remote_registry.create_registered_model(new_name)

    found = remote_registry.search_registered_models(filter_string=f"name = '{new_name}'")
    assert [m.name for m in found] == [new_name]
    assert found.token is None

    remote_registry.delete_registered_model(new_name)
    with pytest.raises(NotFound, match=new_name):
        remote_registry.get_registered_model(new_name)
    with pytest.raises(NotFound):
        remote_registry.delete_registered_model(new_name)


def test_search_registered_models_pages(remote_registry: RestRegistryStore) -> None:
    prefix = unique("paged")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        remote_registry.create_registered_model(name)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = remote_registry.search_registered_models(
            filter_string=f"name LIKE '{prefix}-%'",
            max_results=2,
            order_by=["name DESC"],
            page_token=token,
        )
        seen.extend(m.name for m in page)
        pages += 1
        token = page.token
        if token is None:
            break
    assert seen == sorted(names, reverse=True)
    assert pages == 3
    with pytest.raises(InvalidArgument):
        remote_registry.search_registered_models(page_token="not-a-token")
    with pytest.raises(InvalidArgument):
        remote_registry.search_registered_models(filter_string="nope = 'x'")
    with pytest.raises(InvalidArgument):
        remote_registry.search_registered_models(max_results=10**9)


def test_versions_stages_aliases_tags(
    remote_store: RestStore, remote_registry: RestRegistryStore
) -> None:
    run_id, artifact_uri = _run_on(remote_store)
    name = unique("versions")
    remote_registry.create_registered_model(name)
    source = f"{artifact_uri}/model"
    v1 = remote_registry.create_model_version(
        name, source, run_id=run_id, tags={"k": "v"}, description="one"
    )
    v2 = remote_registry.create_model_version(name, source, run_id=run_id)
    assert (v1.version, v2.version) == (1, 2)
    assert (v1.name, v1.source, v1.run_id, v1.description) == (name, source, run_id, "one")
    assert v1.tags == {"k": "v"} and v1.current_stage is Stage.NONE
    assert v1.status is ModelVersionStatus.READY

    assert remote_registry.get_model_version(name, "2").version == 2
    assert remote_registry.update_model_version(name, 2, "two").description == "two"

    staged = remote_registry.transition_model_version_stage(name, 1, "production")
    assert staged.current_stage is Stage.PRODUCTION
    moved = remote_registry.transition_model_version_stage(
        name, 2, Stage.PRODUCTION, archive_existing_versions=True
    )
    assert moved.current_stage is Stage.PRODUCTION
    assert remote_registry.get_model_version(name, 1).current_stage is Stage.ARCHIVED
    latest = remote_registry.get_latest_versions(name, ["Production"])
    assert [v.version for v in latest] == [2]
    every = {v.current_stage: v.version for v in remote_registry.get_latest_versions(name)}
    assert every == {Stage.ARCHIVED: 1, Stage.PRODUCTION: 2}

    remote_registry.set_registered_model_alias(name, "champion", 1)
    remote_registry.set_registered_model_alias(name, "champion", "2")  # moves it
    by_alias = remote_registry.get_model_version_by_alias(name, "champion")
    assert (by_alias.version, by_alias.aliases) == (2, ("champion",))
    assert remote_registry.get_registered_model(name).aliases == {"champion": 2}
    remote_registry.delete_registered_model_alias(name, "champion")
    with pytest.raises(NotFound):
        remote_registry.get_model_version_by_alias(name, "champion")

    remote_registry.set_model_version_tag(name, 1, "quality", "good")
    remote_registry.delete_model_version_tag(name, 1, "k")
    assert remote_registry.get_model_version(name, 1).tags == {"quality": "good"}

    found = remote_registry.search_model_versions(
        filter_string=f"name = '{name}'", order_by=["version_number ASC"]
    )
    assert [v.version for v in found] == [1, 2]
    one = remote_registry.search_model_versions(filter_string=f"name = '{name}'", max_results=1)
    assert len(one) == 1 and one.token is not None
    assert remote_registry.get_model_version_download_uri(name, 1) == source

    remote_registry.delete_model_version(name, 1)
    with pytest.raises(NotFound):
        remote_registry.get_model_version(name, 1)
    with pytest.raises(NotFound):
        remote_registry.get_model_version(name, 99)
    remote_registry.delete_registered_model(name)
    assert list(remote_registry.search_model_versions(filter_string=f"name = '{name}'")) == []


def test_bad_values_fail_before_the_wire(remote_registry: RestRegistryStore) -> None:
    """The same validators as the SQL store: nothing reaches MLflow's server."""
    name = unique("checked")
    for bad_name in ("a/b", "a:b", " "):
        with pytest.raises(InvalidArgument):
            remote_registry.create_registered_model(bad_name)
    remote_registry.create_registered_model(name)
    for alias in ("latest", "v3", "a b"):
        with pytest.raises(InvalidArgument):
            remote_registry.set_registered_model_alias(name, alias, 1)
    for version in ("abc", 0):
        with pytest.raises(InvalidArgument):
            remote_registry.get_model_version(name, version)
    with pytest.raises(InvalidArgument):
        remote_registry.transition_model_version_stage(name, 1, "Shipping")
    assert remote_registry.get_registered_model(name).aliases == {}
    remote_registry.delete_registered_model(name)


def test_unknown_models_are_not_found(remote_registry: RestRegistryStore) -> None:
    with pytest.raises(NotFound):
        remote_registry.set_registered_model_alias(unique("missing"), "champion", 1)
    with pytest.raises(NotFound):
        remote_registry.get_model_version(unique("missing"), 1)
    with pytest.raises(NotFound):
        remote_registry.update_registered_model(unique("missing"), "text")


# ---------------------------------------------------------------------------------------------
# The official MLflow client against an mltrail server


@pytest.fixture(scope="module")
def mltrail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("registry-compat")
    running = start_server(
        ServerConfig(
            backend_store_uri=f"sqlite:///{root / 'server.db'}",
            artifacts_destination=str(root / "artifacts"),
        )
    )
    yield running
    running.stop()


@pytest.fixture
def url(mltrail_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The official client reads its configuration from the environment.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mltrail_server.url)
    # Set, not deleted: mlflow.set_registry_uri below writes the variable too, and only a
    # variable monkeypatch has set is taken away after the test (later tests read it).
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", mltrail_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri(mltrail_server.url)
    mlflow.set_registry_uri(mltrail_server.url)
    yield mltrail_server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=url, registry_uri=url)


def _code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def test_official_client_registered_models(client: MlflowClient) -> None:
    name = unique("official")
    created = client.create_registered_model(name, tags={"team": "vision"}, description="first")
    assert (created.name, created.description, created.tags) == (name, "first", {"team": "vision"})
    assert client.get_registered_model(name).tags == {"team": "vision"}

    assert client.update_registered_model(name, description="second").description == "second"
    client.set_registered_model_tag(name, "owner", "ada")
    client.delete_registered_model_tag(name, "team")
    assert client.get_registered_model(name).tags == {"owner": "ada"}

    new_name = unique("official-renamed")
    client.rename_registered_model(name, new_name)  # MlflowClient returns None here
    assert client.get_registered_model(new_name).description == "second"
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model(name)
    assert _code(missing) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as exists:
        client.create_registered_model(new_name)
    assert _code(exists) == "RESOURCE_ALREADY_EXISTS"

    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model(new_name)
    assert _code(gone) == "RESOURCE_DOES_NOT_EXIST"


def test_official_client_search_registered_models(client: MlflowClient) -> None:
    prefix = unique("osearch")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"parity": str(i % 2)})
    first = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"], max_results=2
    )
    assert [m.name for m in first] == names[:-3:-1]
    second = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%'",
        order_by=["name DESC"],
        max_results=2,
        page_token=first.token,
    )
    assert [m.name for m in second] == [names[2], names[1]]
    odd = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%' AND tags.parity = '1'"
    )
    assert sorted(m.name for m in odd) == [names[1], names[3]]


def test_official_client_model_versions(client: MlflowClient) -> None:
    experiment_id = client.create_experiment(unique("oversions"))
    run = client.create_run(experiment_id)
    source = f"{run.info.artifact_uri}/model"
    name = unique("oversions")
    client.create_registered_model(name)
    v1 = client.create_model_version(
        name, source, run_id=run.info.run_id, tags={"k": "v"}, description="one"
    )
    v2 = client.create_model_version(name, source, run_id=run.info.run_id)
    assert (v1.version, v2.version) == ("1", "2")
    assert (v1.source, v1.run_id, v1.tags, v1.description) == (
        source,
        run.info.run_id,
        {"k": "v"},
        "one",
    )
    assert v1.current_stage == "None" and v1.status == "READY"

    assert client.get_model_version(name, "2").version == "2"
    assert client.update_model_version(name, "2", description="two").description == "two"

    staged = client.transition_model_version_stage(name, "1", "Production")
    assert staged.current_stage == "Production"
    moved = client.transition_model_version_stage(
        name, "2", "Production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["2"]
    assert sorted(v.version for v in client.get_latest_versions(name)) == ["1", "2"]

    client.set_model_version_tag(name, "1", "quality", "good")
    client.delete_model_version_tag(name, "1", "k")
    assert client.get_model_version(name, "1").tags == {"quality": "good"}

    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as no_alias:
        client.get_model_version_by_alias(name, "champion")
    assert _code(no_alias) == "RESOURCE_DOES_NOT_EXIST"

    found = client.search_model_versions(f"name = '{name}'", order_by=["version_number ASC"])
    assert [v.version for v in found] == ["1", "2"]
    page = client.search_model_versions(f"name = '{name}'", max_results=1)
    assert len(page) == 1 and page.token
    assert client.get_model_version_download_uri(name, "1") == source

    client.delete_model_version(name, "1")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version(name, "1")
    assert _code(gone) == "RESOURCE_DOES_NOT_EXIST"
    client.delete_registered_model(name)


def test_register_and_load_a_logged_sklearn_model(url: str, client: MlflowClient) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    mlflow.set_experiment(unique("oregister"))
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model")
    name = unique("oregistered")
    registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert registered.version == "1"
    # What MLflow 3's client sends: the logged model's URI, with its id and the run's.
    assert registered.source == f"models:/{info.model_id}"
    assert registered.run_id == run.info.run_id
    # MlflowClient's ModelVersion leaves model_id out; the wire carries it, as mltrail reads it.
    ours = RestStore(url, Settings())
    try:
        assert ours.registry_store().get_model_version(name, 1).model_id == info.model_id
    finally:
        ours.close()

    client.set_registered_model_alias(name, "champion", "1")
    want = model.predict(x)
    for uri in (f"models:/{name}@champion", f"models:/{name}/1", f"models:/{name}/latest"):
        np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(x), want)
    download = client.get_model_version_download_uri(name, "1")
    assert download.startswith("mlflow-artifacts:/") and info.model_id in download
