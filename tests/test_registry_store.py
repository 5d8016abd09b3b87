"""The SQL model registry store on SQLite and a real PostgreSQL: registered models, versions,
tags, aliases, stages, searches and paging, the checks on a version's source, and
concurrent version creation."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from fixtures_tracking import ROOT

from mltrail.entities.registry import ModelVersion, ModelVersionStatus, Stage
from mltrail.entities.search import encode_page_token
from mltrail.errors import AlreadyExists, InvalidArgument, NotFound
from mltrail.storage.sql.migrate import HEAD_REVISION, current_revision, ensure_schema
from mltrail.storage.sql.registry import SqlRegistryStore
from mltrail.storage.sql.store import SqlTrackingStore

S3 = "s3://bucket/models/m1"


class Clock:
    """Milliseconds that move on by one at each reading."""

    def __init__(self) -> None:
        self._ticks = itertools.count(1_000)

    def __call__(self) -> int:
        return next(self._ticks)


@pytest.fixture
def reg(store: SqlTrackingStore) -> Iterator[SqlRegistryStore]:
    registry = store.registry_store()
    registry.clock = Clock()
    yield registry


def _run(store: SqlTrackingStore, experiment_id: str = "0") -> tuple[str, str]:
    info = store.create_run(experiment_id, "alice", 1000).info
    return info.run_id, info.artifact_uri


def _count(store: SqlTrackingStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def _versions(found: list[ModelVersion]) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in found]


# Schema


def test_a_0003_database_is_migrated_to_the_registry_tables(engine: sa.Engine) -> None:
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", "mltrail.storage.sql:migrations")
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("registered_models")
    ensure_schema(engine, ROOT)
    with engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
    reg = SqlTrackingStore(engine, ROOT).registry_store()
    reg.create_registered_model("old", {"k": "v"})
    reg.create_model_version("old", S3, tags={"t": "1"})
    reg.set_registered_model_alias("old", "champion", 1)
    # The migration's foreign keys (enforced by PostgreSQL) let a rename carry the children.
    renamed = reg.rename_registered_model("old", "new")
    assert renamed.aliases == {"champion": 1}
    assert reg.get_model_version("new", 1).tags == {"t": "1"}
    reg.delete_registered_model("new")
    assert reg.search_model_versions() == []


# Registered models


def test_the_store_hands_out_one_registry(store: SqlTrackingStore) -> None:
    assert store.registry_store() is store.registry_store()


def test_create_and_get_a_registered_model(reg: SqlRegistryStore) -> None:
    created = reg.create_registered_model("m", {"team": "a"}, "first", "alice")
    assert created.name == "m"
    assert created.tags == {"team": "a"}
    assert created.description == "first"
    assert created.user_id == "alice"
    assert created.creation_timestamp == created.last_updated_timestamp
    assert created.latest_versions == () and created.aliases == {}
    assert reg.get_registered_model("m") == created
    assert reg.create_registered_model("no-user").user_id is None


def test_a_duplicate_name_is_refused_and_changes_nothing(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    reg.create_registered_model("m", {"k": "1"})
    with pytest.raises(AlreadyExists, match=r"Registered Model \(name=m\) already exists"):
        reg.create_registered_model("m", {"k": "2"}, "other")
    model = reg.get_registered_model("m")
    assert model.tags == {"k": "1"} and model.description is None
    assert _count(store, "registered_models") == 1


BAD_NAMES: list[tuple[str, str]] = [
    ("", "must not be empty"),
    ("a/b", "'/'"),
    ("a:b", "':'"),
    ("x" * 257, "limit is 256"),
]


def test_bad_names_are_refused_before_any_write(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    for name, match in BAD_NAMES:
        with pytest.raises(InvalidArgument, match=match):
            reg.create_registered_model(name)
    assert _count(store, "registered_models") == 0


def test_bad_tags_and_descriptions_write_nothing(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    with pytest.raises(InvalidArgument, match="limit is 250"):
        reg.create_registered_model("m", {"k" * 251: "v"})
    with pytest.raises(InvalidArgument, match="limit is 5000"):
        reg.create_registered_model("m", description="d" * 5001)
    assert _count(store, "registered_models") == 0
    reg.create_registered_model("m")
    with pytest.raises(InvalidArgument, match="limit is 100000"):
        reg.set_registered_model_tag("m", "k", "v" * 100_001)
    with pytest.raises(InvalidArgument, match="limit is 5000"):
        reg.update_registered_model("m", "d" * 5001)
    assert reg.get_registered_model("m").tags == {}


def test_unknown_models_are_not_found_by_name(reg: SqlRegistryStore) -> None:
    for call in (
        lambda: reg.get_registered_model("ghost"),
        lambda: reg.update_registered_model("ghost", "d"),
        lambda: reg.rename_registered_model("ghost", "g2"),
        lambda: reg.delete_registered_model("ghost"),
        lambda: reg.get_latest_versions("ghost"),
        lambda: reg.set_registered_model_tag("ghost", "k", "v"),
        lambda: reg.delete_registered_model_tag("ghost", "k"),
        lambda: reg.delete_registered_model_alias("ghost", "a"),
        lambda: reg.get_model_version_by_alias("ghost", "a"),
        lambda: reg.create_model_version("ghost", S3),
        lambda: reg.get_model_version("ghost", 1),
    ):
        with pytest.raises(NotFound, match="name=ghost"):
            call()


def test_update_sets_the_description_and_the_update_time(reg: SqlRegistryStore) -> None:
    created = reg.create_registered_model("m", description="old")
    updated = reg.update_registered_model("m", "new")
    assert updated.description == "new"
    assert updated.last_updated_timestamp > created.last_updated_timestamp
    assert reg.update_registered_model("m", None).description is None


def test_tags_are_set_replaced_and_deleted(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    reg.set_registered_model_tag("m", "k", "1")
    reg.set_registered_model_tag("m", "k", "2")
    reg.set_registered_model_tag("m", "other", "x")
    assert reg.get_registered_model("m").tags == {"k": "2", "other": "x"}
    reg.delete_registered_model_tag("m", "k")
    reg.delete_registered_model_tag("m", "never-set")  # as MLflow: nothing to delete is fine
    assert reg.get_registered_model("m").tags == {"other": "x"}


# Versions


def test_versions_count_from_one_and_touch_the_model(reg: SqlRegistryStore) -> None:
    model = reg.create_registered_model("m")
    first = reg.create_model_version("m", S3, description="d", user_id="bob", run_link="http://x")
    assert (first.version, first.current_stage, first.status) == (
        1,
        Stage.NONE,
        ModelVersionStatus.READY,
    )
    assert (first.description, first.user_id, first.run_link) == ("d", "bob", "http://x")
    assert [reg.create_model_version("m", S3).version for _ in range(2)] == [2, 3]
    touched = reg.get_registered_model("m")
    assert touched.last_updated_timestamp > model.last_updated_timestamp
    assert reg.get_model_version("m", "2").version == 2


def test_a_deleted_version_number_is_not_given_again(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    reg.create_registered_model("m")
    for _ in range(3):
        reg.create_model_version("m", S3, tags={"k": "v"})
    reg.set_registered_model_alias("m", "champion", 3)
    reg.delete_model_version("m", 3)
    with pytest.raises(NotFound, match=r"name=m, version=3"):
        reg.get_model_version("m", 3)
    assert reg.get_registered_model("m").aliases == {}
    assert _count(store, "model_version_tags") == 2
    assert reg.create_model_version("m", S3).version == 4


def test_unknown_versions_are_not_found_naming_name_and_version(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    for call in (
        lambda: reg.get_model_version("m", 7),
        lambda: reg.update_model_version("m", 7, "d"),
        lambda: reg.transition_model_version_stage("m", 7, "Staging"),
        lambda: reg.delete_model_version("m", 7),
        lambda: reg.get_model_version_download_uri("m", 7),
        lambda: reg.set_model_version_tag("m", 7, "k", "v"),
        lambda: reg.delete_model_version_tag("m", 7, "k"),
        lambda: reg.set_registered_model_alias("m", "a", 7),
    ):
        with pytest.raises(NotFound, match=r"name=m, version=7"):
            call()
    with pytest.raises(InvalidArgument, match="positive integer"):
        reg.get_model_version("m", "one")


def test_a_version_unknown_model_writes_nothing(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    with pytest.raises(NotFound, match="name=ghost"):
        reg.create_model_version("ghost", S3, tags={"k": "v"})
    assert _count(store, "model_versions") == 0 and _count(store, "model_version_tags") == 0


def test_version_descriptions_and_tags(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    created = reg.create_model_version("m", S3, tags={"a": "1"})
    updated = reg.update_model_version("m", 1, "better")
    assert updated.description == "better"
    assert updated.last_updated_timestamp > created.last_updated_timestamp
    reg.set_model_version_tag("m", 1, "a", "2")
    reg.set_model_version_tag("m", "1", "b", "3")
    assert reg.get_model_version("m", 1).tags == {"a": "2", "b": "3"}
    reg.delete_model_version_tag("m", 1, "a")
    reg.delete_model_version_tag("m", 1, "never-set")
    assert reg.get_model_version("m", 1).tags == {"b": "3"}
    with pytest.raises(InvalidArgument, match="non-empty"):
        reg.set_model_version_tag("m", 1, "", "v")


def test_concurrent_creations_get_distinct_consecutive_versions(
    reg: SqlRegistryStore,
) -> None:
    reg.create_registered_model("m")
    made: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def create() -> None:
        try:
            for _ in range(3):
                version = reg.create_model_version("m", S3).version
                with lock:
                    made.append(version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(made) == list(range(1, 19))
    found = reg.search_model_versions("name = 'm'", order_by=["version_number ASC"])
    assert [v.version for v in found] == list(range(1, 19))


def test_concurrent_creations_of_one_name_leave_one_model(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def create() -> None:
        start.wait()
        try:
            reg.create_registered_model("m")
            outcome = "created"
        except AlreadyExists:
            outcome = "exists"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "exists", "exists", "exists"]
    assert _count(store, "registered_models") == 1


# Rename and delete


def test_rename_carries_versions_tags_and_aliases(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    reg.create_registered_model("old", {"k": "v"})
    reg.create_model_version("old", S3, tags={"t": "1"})
    reg.create_model_version("old", S3)
    reg.set_registered_model_alias("old", "champion", 2)
    renamed = reg.rename_registered_model("old", "new")
    assert renamed.name == "new" and renamed.tags == {"k": "v"}
    assert renamed.aliases == {"champion": 2}
    assert [v.name for v in renamed.latest_versions] == ["new"]
    assert reg.get_model_version("new", 1).tags == {"t": "1"}
    assert reg.get_model_version_by_alias("new", "champion").version == 2
    with pytest.raises(NotFound, match="name=old"):
        reg.get_registered_model("old")
    with store.engine.connect() as conn:
        for table in ("registered_model_tags", "model_versions", "model_version_tags",
                      "registered_model_aliases"):
            names = {r[0] for r in conn.execute(sa.text(f"SELECT name FROM {table}"))}
            assert names == {"new"}, table
    assert reg.create_model_version("new", S3).version == 3


def test_rename_to_a_taken_name_changes_nothing(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("a")
    reg.create_model_version("a", S3)
    reg.create_registered_model("b")
    with pytest.raises(AlreadyExists, match=r"name=b\) already exists"):
        reg.rename_registered_model("a", "b")
    with pytest.raises(InvalidArgument, match="new_name"):
        reg.rename_registered_model("a", "x/y")
    assert reg.get_model_version("a", 1).name == "a"
    assert reg.get_registered_model("b").latest_versions == ()


def test_delete_takes_versions_tags_and_aliases_along(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    reg.create_registered_model("m", {"k": "v"})
    reg.create_model_version("m", S3, tags={"t": "1"})
    reg.set_registered_model_alias("m", "champion", 1)
    reg.create_registered_model("kept")
    reg.create_model_version("kept", S3)
    reg.delete_registered_model("m")
    for table, left in (
        ("registered_models", 1),
        ("registered_model_tags", 0),
        ("model_versions", 1),
        ("model_version_tags", 0),
        ("registered_model_aliases", 0),
    ):
        assert _count(store, table) == left, table
    again = reg.create_registered_model("m")
    assert again.tags == {} and again.aliases == {}
    assert reg.create_model_version("m", S3).version == 1


# Aliases


def test_aliases_point_move_and_go(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    for _ in range(2):
        reg.create_model_version("m", S3)
    reg.set_registered_model_alias("m", "champion", 1)
    reg.set_registered_model_alias("m", "challenger", "1")
    assert reg.get_model_version("m", 1).aliases == ("challenger", "champion")
    reg.set_registered_model_alias("m", "champion", 2)
    assert reg.get_model_version_by_alias("m", "champion").version == 2
    assert reg.get_model_version_by_alias("m", "champion").aliases == ("champion",)
    assert reg.get_registered_model("m").aliases == {"challenger": 1, "champion": 2}
    reg.delete_registered_model_alias("m", "challenger")
    reg.delete_registered_model_alias("m", "never-set")  # as MLflow: fine
    with pytest.raises(NotFound, match="alias 'challenger' not found for model 'm'"):
        reg.get_model_version_by_alias("m", "challenger")
    assert reg.get_model_version_by_alias("m", "latest").version == 2


def test_bad_and_reserved_aliases_are_refused(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    reg.create_model_version("m", S3)
    for alias, match in (("latest", "reserved"), ("v3", "reserved"), ("a b", "letters")):
        with pytest.raises(InvalidArgument, match=match):
            reg.set_registered_model_alias("m", alias, 1)
    assert reg.get_registered_model("m").aliases == {}
    reg.delete_model_version("m", 1)
    with pytest.raises(NotFound, match="has no versions"):
        reg.get_model_version_by_alias("m", "latest")


# Stages


def test_stage_transitions_and_archiving(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    for _ in range(3):
        reg.create_model_version("m", S3)
    moved = reg.transition_model_version_stage("m", 1, "production")
    assert moved.current_stage is Stage.PRODUCTION
    reg.transition_model_version_stage("m", 2, "STAGING")
    before = reg.get_registered_model("m").last_updated_timestamp
    moved = reg.transition_model_version_stage("m", 3, "Production", archive_existing_versions=True)
    assert moved.version == 3 and moved.current_stage is Stage.PRODUCTION
    assert reg.get_model_version("m", 1).current_stage is Stage.ARCHIVED
    assert reg.get_model_version("m", 2).current_stage is Stage.STAGING
    assert reg.get_registered_model("m").last_updated_timestamp > before


def test_archiving_is_only_for_staging_and_production(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    reg.create_model_version("m", S3)
    reg.transition_model_version_stage("m", 1, "Staging")
    for stage in ("Archived", "None"):
        with pytest.raises(InvalidArgument, match="Staging or Production"):
            reg.transition_model_version_stage("m", 1, stage, archive_existing_versions=True)
    with pytest.raises(InvalidArgument, match="expected one of None, Staging"):
        reg.transition_model_version_stage("m", 1, "Prod")
    assert reg.get_model_version("m", 1).current_stage is Stage.STAGING


def test_latest_versions_are_the_newest_per_stage(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    for _ in range(5):
        reg.create_model_version("m", S3)
    reg.transition_model_version_stage("m", 1, "Production")
    reg.transition_model_version_stage("m", 2, "Production")
    reg.transition_model_version_stage("m", 3, "Staging")
    latest = reg.get_registered_model("m").latest_versions
    assert [(v.current_stage, v.version) for v in latest] == [
        (Stage.NONE, 5),
        (Stage.STAGING, 3),
        (Stage.PRODUCTION, 2),
    ]
    assert [v.version for v in reg.get_latest_versions("m")] == [5, 3, 2]
    assert [v.version for v in reg.get_latest_versions("m", ["production", "Staging"])] == [3, 2]
    assert reg.get_latest_versions("m", ["Archived"]) == []
    with pytest.raises(InvalidArgument, match="stage"):
        reg.get_latest_versions("m", ["Retired"])


# Download URIs and sources


def test_download_uris_resolve_runs_and_logged_models(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    run_id, artifact_uri = _run(store)
    logged = store.create_logged_model("0", source_run_id=run_id)
    reg.create_registered_model("m")
    # What MLflow 3's client sends when registering runs:/<run>/model of a log_model model.
    v1 = reg.create_model_version(
        "m", f"models:/{logged.model_id}", run_id=run_id, model_id=logged.model_id
    )
    assert (v1.run_id, v1.model_id) == (run_id, logged.model_id)
    reg.create_model_version("m", f"runs:/{run_id}/model")
    reg.create_model_version("m", S3)
    v4 = reg.create_model_version("m", f"models:/{logged.model_id}")
    assert (v4.run_id, v4.model_id) == (run_id, logged.model_id)  # from the logged model
    reg.create_model_version("m", "models:/m/2")
    assert reg.get_model_version_download_uri("m", 1) == logged.artifact_location
    assert reg.get_model_version_download_uri("m", 2) == f"{artifact_uri}/model"
    assert reg.get_model_version_download_uri("m", 3) == S3
    assert reg.get_model_version_download_uri("m", 5) == f"{artifact_uri}/model"
    assert reg.get_model_version("m", 2).run_id == run_id


def test_accepted_local_and_remote_sources(store: SqlTrackingStore, reg: SqlRegistryStore) -> None:
    run_id, artifact_uri = _run(store)
    assert artifact_uri.startswith("file:///artifacts/0/")
    local = artifact_uri[len("file://") :]
    logged = store.create_logged_model("0")
    reg.create_registered_model("m")
    for source, run, model in (
        (f"{artifact_uri}/model", run_id, None),
        (f"{local}/model", run_id, None),
        (f"{logged.artifact_location}/x", None, logged.model_id),
        ("file:///artifacts/0/loose/model", None, None),
        ("gs://bucket/a/b", None, None),
        ("https://models.example.com/m.tar.gz", None, None),
    ):
        version = reg.create_model_version("m", source, run_id=run, model_id=model)
        assert reg.get_model_version_download_uri("m", version.version) == source


def test_mlflow_artifacts_sources_stay_under_the_run(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    experiment = store.create_experiment("proxied", artifact_location="mlflow-artifacts:/proxied")
    run_id, artifact_uri = _run(store, experiment)
    assert artifact_uri.startswith("mlflow-artifacts:/proxied/")
    reg.create_registered_model("m")
    assert reg.create_model_version("m", f"{artifact_uri}/model", run_id=run_id).version == 1
    with pytest.raises(InvalidArgument, match="must lie under the artifact root"):
        reg.create_model_version(
            "m", "mlflow-artifacts:/proxied/other-run/artifacts", run_id=run_id
        )


BAD_SOURCES: list[tuple[str, str]] = [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("s3://b/k\x00", "control character"),
    ("s3://b/k\nx", "control character"),
    ("s3://b/%00k", "control character"),
    ("s3://bucket/a/../b", r"'\.\.' path segment"),
    ("s3://bucket/%2e%2e/b", r"'\.\.' path segment"),
    ("s3://bucket/%252e%252e/b", r"'\.\.' path segment"),
    ("s3://bucket/a/..\\x", r"'\.\.' path segment"),
    ("RUN_ARTIFACTS/..%2f..%2fsecret", r"'\.\.' path segment"),
    ("mlflow-artifacts:/a/../../etc", r"'\.\.' path segment"),
    ("s3://bucket\\key", "backslash"),
    ("/etc/passwd", "local path must lie inside"),
    ("file:///etc/passwd", "local path must lie inside"),
    ("file://otherhost/artifacts/x", "must not name a host"),
    ("relative/model", "must be absolute"),
    ("file:relative", "must be absolute"),
    ("runs:/0123456789abcdef0123456789abcdef/model", "names run"),
    ("http://169.254.169.254/latest/meta-data", "internal"),
    ("http://localhost:5000/model", "internal"),
    ("http://127.0.0.1/model", "internal"),
    ("https://10.1.2.3/model", "internal"),
    ("http://[::1]/model", "internal"),
    ("http://2130706433/model", "internal"),
    ("://host/path", "empty URI scheme"),
    ("//host/path", "no URI scheme"),
    ("c:/windows/model", "Windows"),
    ("javascript:alert(1)", "not model locations"),
    ("models:/name@champion", "models:/<name>/<version>"),
    ("models://profile/name/1", "without a host"),
    ("s3://b/" + "k" * 500, "limit is 500"),
]


def test_bad_sources_are_refused_and_write_nothing(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    run_id, artifact_uri = _run(store)
    reg.create_registered_model("m")
    for source, match in BAD_SOURCES:
        source = source.replace("RUN_ARTIFACTS", artifact_uri)
        with pytest.raises(InvalidArgument, match=match):
            reg.create_model_version("m", source, run_id=run_id, tags={"k": "v"})
    assert _count(store, "model_versions") == 0 and _count(store, "model_version_tags") == 0
    assert reg.create_model_version("m", S3).version == 1  # the number was not used up


def test_sources_naming_unknown_things_are_refused(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    run_id, _ = _run(store)
    other_run, other_uri = _run(store)
    logged = store.create_logged_model("0")
    reg.create_registered_model("m")
    ghost = "f" * 32
    with pytest.raises(NotFound, match=f"Run with id={ghost} not found"):
        reg.create_model_version("m", f"runs:/{ghost}/model")
    with pytest.raises(NotFound, match=f"Run with id={ghost} not found"):
        reg.create_model_version("m", S3, run_id=ghost)
    with pytest.raises(NotFound, match=f"m-{ghost}"):
        reg.create_model_version("m", f"models:/m-{ghost}")
    with pytest.raises(NotFound, match=r"name=m, version=9"):
        reg.create_model_version("m", "models:/m/9")
    with pytest.raises(NotFound, match=f"m-{ghost}"):
        reg.create_model_version("m", S3, model_id=f"m-{ghost}")
    other_model = store.create_logged_model("0")
    with pytest.raises(InvalidArgument, match="names logged model"):
        reg.create_model_version("m", f"models:/{logged.model_id}", model_id=other_model.model_id)
    with pytest.raises(InvalidArgument, match="names run"):
        reg.create_model_version("m", f"runs:/{other_run}/model", run_id=run_id)
    # Another run's files, given as a local path, are not this run's.
    with pytest.raises(InvalidArgument, match="local path must lie inside"):
        reg.create_model_version("m", f"{other_uri}/model", run_id=run_id)
    with pytest.raises(InvalidArgument, match="model_id"):
        reg.create_model_version("m", S3, model_id="not-a-model-id")
    assert _count(store, "model_versions") == 0


# Searching registered models


def _models(reg: SqlRegistryStore) -> None:
    for index, (name, team) in enumerate(
        [("alpha", "a"), ("Beta", "b"), ("gamma", "a"), ("delta", "c"), ("alpha-2", "b")]
    ):
        reg.create_registered_model(name, {"team": team, "index": str(index)})


MODEL_FILTERS: list[tuple[str | None, list[str]]] = [
    (None, ["Beta", "alpha", "alpha-2", "delta", "gamma"]),
    ("name = 'alpha'", ["alpha"]),
    ("name != 'alpha'", ["Beta", "alpha-2", "delta", "gamma"]),
    ("name LIKE 'alpha%'", ["alpha", "alpha-2"]),
    ("name LIKE 'beta'", []),
    ("name ILIKE 'beta'", ["Beta"]),
    ("name IN ('gamma', 'delta', 'nope')", ["delta", "gamma"]),
    ("name NOT IN ('gamma', 'delta')", ["Beta", "alpha", "alpha-2"]),
    ("tags.team = 'a'", ["alpha", "gamma"]),
    ("tags.team != 'a'", ["Beta", "alpha-2", "delta"]),
    ("tags.team LIKE 'b'", ["Beta", "alpha-2"]),
    ("tags.`team` ILIKE 'B'", ["Beta", "alpha-2"]),
    ("tags.team = 'b' AND name LIKE 'alpha%'", ["alpha-2"]),
    ("tags.missing = 'x'", []),
]


def test_search_registered_models_filters(reg: SqlRegistryStore) -> None:
    _models(reg)
    for filter_string, expected in MODEL_FILTERS:
        found = reg.search_registered_models(filter_string)
        assert [m.name for m in found] == expected, filter_string


def test_search_registered_models_orders_and_pages(reg: SqlRegistryStore) -> None:
    _models(reg)
    reg.update_registered_model("alpha", "touched last")
    by_creation = reg.search_registered_models(order_by=["timestamp DESC"])
    assert [m.name for m in by_creation] == ["alpha-2", "delta", "gamma", "Beta", "alpha"]
    by_update = reg.search_registered_models(order_by=["last_updated_timestamp DESC"])
    assert by_update[0].name == "alpha"
    by_name = reg.search_registered_models(order_by=["name DESC"])
    assert [m.name for m in by_name] == ["gamma", "delta", "alpha-2", "alpha", "Beta"]
    seen: list[str] = []
    token = None
    while True:
        page = reg.search_registered_models(max_results=2, page_token=token)
        seen.extend(m.name for m in page)
        token = page.token
        if token is None:
            break
        assert len(page) == 2
    assert seen == ["Beta", "alpha", "alpha-2", "delta", "gamma"]
    last = reg.search_registered_models(max_results=5)
    assert last.token is None


def test_search_registered_models_shows_latest_versions_and_aliases(
    reg: SqlRegistryStore,
) -> None:
    reg.create_registered_model("m")
    reg.create_model_version("m", S3)
    reg.create_model_version("m", S3, tags={"t": "x"})
    reg.set_registered_model_alias("m", "champion", 2)
    [found] = reg.search_registered_models("name = 'm'")
    assert found.aliases == {"champion": 2}
    [latest] = found.latest_versions
    assert (latest.version, latest.tags, latest.aliases) == (2, {"t": "x"}, ("champion",))


def test_searches_leave_prompts_out_unless_asked(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("model")
    reg.create_registered_model("prompt", {"mlflow.prompt.is_prompt": "true"})
    reg.create_model_version("prompt", S3)
    assert [m.name for m in reg.search_registered_models()] == ["model"]
    asked = reg.search_registered_models("tags.`mlflow.prompt.is_prompt` = 'true'")
    assert [m.name for m in asked] == ["prompt"]
    assert reg.search_model_versions() == []


BAD_MODEL_SEARCHES: list[tuple[dict[str, object], str]] = [
    ({"max_results": 0}, "between 1 and 1000"),
    ({"max_results": 1001}, "between 1 and 1000"),
    ({"filter_string": "owner = 'x'"}, "expected one of name"),
    ({"filter_string": "name = 'a' OR name = 'b'"}, "OR is not supported"),
    ({"filter_string": "tags.k IN ('a')"}, "comparator IN is not supported"),
    ({"filter_string": "name = "}, "expected a value"),
    ({"order_by": ["owner"]}, r"name, creation_timestamp, last_updated_timestamp"),
    ({"order_by": ["name SIDEWAYS"]}, "ASC or DESC"),
    ({"order_by": ["name", "name DESC"]}, "more than once"),
    ({"page_token": "not-a-token!"}, "Invalid page token"),
]


def test_search_registered_models_refuses_bad_arguments(reg: SqlRegistryStore) -> None:
    for kwargs, match in BAD_MODEL_SEARCHES:
        with pytest.raises(InvalidArgument, match=match):
            reg.search_registered_models(**kwargs)  # type: ignore[arg-type]


# Searching model versions


def _fleet(store: SqlTrackingStore, reg: SqlRegistryStore) -> dict[str, str]:
    """Two models, a: versions 1-3, b: versions 1-2; versions a/1 and b/2 from run r1."""
    r1, u1 = _run(store)
    r2, _ = _run(store)
    reg.create_registered_model("a")
    reg.create_registered_model("b")
    reg.create_model_version("a", f"runs:/{r1}/model", tags={"env": "prod"})
    reg.create_model_version("b", "s3://bucket/b/one")
    reg.create_model_version("a", f"runs:/{r2}/model", tags={"env": "dev"})
    reg.create_model_version("b", "s3://bucket/b/two", run_id=r1, tags={"env": "Prod"})
    reg.create_model_version("a", "s3://bucket/a/three")
    return {"r1": r1, "r2": r2, "u1": u1}


VERSION_FILTERS: list[tuple[str, list[tuple[str, int]]]] = [
    ("name = 'a'", [("a", 3), ("a", 2), ("a", 1)]),
    ("name != 'a'", [("b", 2), ("b", 1)]),
    ("name LIKE 'A'", []),
    ("name ILIKE 'A'", [("a", 3), ("a", 2), ("a", 1)]),
    ("name IN ('b')", [("b", 2), ("b", 1)]),
    ("run_id = 'R1'", [("a", 1), ("b", 2)]),
    ("run_id IN ('R1', 'R2')", [("a", 2), ("a", 1), ("b", 2)]),
    ("run_id != 'R1'", [("a", 2)]),
    ("source_path = 's3://bucket/b/one'", [("b", 1)]),
    ("source_path LIKE 's3://bucket/%'", [("a", 3), ("b", 2), ("b", 1)]),
    ("source_path ILIKE 'S3://BUCKET/B/%'", [("b", 2), ("b", 1)]),
    ("source_path != 's3://bucket/b/one' AND name = 'b'", [("b", 2)]),
    ("version_number = 2", [("a", 2), ("b", 2)]),
    ("version_number != 2", [("a", 3), ("a", 1), ("b", 1)]),
    ("version_number > 2", [("a", 3)]),
    ("version_number >= 2 AND name = 'b'", [("b", 2)]),
    ("version_number < 2", [("a", 1), ("b", 1)]),
    ("version_number <= 1", [("a", 1), ("b", 1)]),
    ("tags.env = 'prod'", [("a", 1)]),
    ("tags.env != 'prod'", [("a", 2), ("b", 2)]),
    ("tags.env LIKE 'p%'", [("a", 1)]),
    ("tags.env ILIKE 'p%'", [("a", 1), ("b", 2)]),
]


def test_search_model_versions_filters(store: SqlTrackingStore, reg: SqlRegistryStore) -> None:
    ids = _fleet(store, reg)
    for filter_string, expected in VERSION_FILTERS:
        text = filter_string.replace("R1", ids["r1"]).replace("R2", ids["r2"])
        found = reg.search_model_versions(text, order_by=["name ASC"])
        assert _versions(found) == expected, filter_string


def test_search_model_versions_orders(store: SqlTrackingStore, reg: SqlRegistryStore) -> None:
    _fleet(store, reg)
    # MLflow's default: the most recently changed first, then name, then newest version.
    assert _versions(reg.search_model_versions()) == [
        ("a", 3), ("b", 2), ("a", 2), ("b", 1), ("a", 1)
    ]
    reg.update_model_version("b", 1, "touched")
    assert _versions(reg.search_model_versions())[0] == ("b", 1)
    assert _versions(reg.search_model_versions(order_by=["version_number ASC"])) == [
        ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)
    ]
    assert _versions(
        reg.search_model_versions(order_by=["name DESC", "version_number ASC"])
    ) == [("b", 1), ("b", 2), ("a", 1), ("a", 2), ("a", 3)]
    assert _versions(reg.search_model_versions(order_by=["creation_timestamp ASC"])) == [
        ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)
    ]
    assert _versions(reg.search_model_versions(order_by=["last_updated_timestamp ASC"]))[-1] == (
        "b", 1
    )


def test_search_model_versions_pages_without_repeats(
    store: SqlTrackingStore, reg: SqlRegistryStore
) -> None:
    reg.create_registered_model("a")
    reg.create_registered_model("b")
    for _ in range(7):
        reg.create_model_version("a", S3, tags={"k": "v"})
        reg.create_model_version("b", S3)
    reg.set_registered_model_alias("a", "champion", 4)
    seen: list[ModelVersion] = []
    token = None
    pages = 0
    while True:
        page = reg.search_model_versions(max_results=3, page_token=token)
        seen.extend(page)
        pages += 1
        token = page.token
        if token is None:
            break
    assert pages == 5
    assert len(seen) == 14 and len(set(_versions(seen))) == 14
    champion = [v for v in seen if v.aliases]
    assert _versions(champion) == [("a", 4)] and champion[0].tags == {"k": "v"}
    assert all(v.tags == ({"k": "v"} if v.name == "a" else {}) for v in seen)
    beyond = reg.search_model_versions(page_token=encode_page_token(100))
    assert list(beyond) == [] and beyond.token is None


BAD_VERSION_SEARCHES: list[tuple[dict[str, object], str]] = [
    ({"max_results": 0}, "between 1 and 200000"),
    ({"max_results": 200_001}, "between 1 and 200000"),
    ({"filter_string": "version_number = 1.5"}, "whole number"),
    ({"filter_string": "version_number = '1'"}, "numeric"),
    ({"filter_string": "source_path IN ('a')"}, "comparator IN is not supported"),
    ({"filter_string": "stage = 'None'"}, "expected one of name, run_id"),
    ({"filter_string": "metrics.x > 1"}, "unknown entity"),
    ({"order_by": ["source_path"]}, "name, version_number, creation_timestamp"),
    ({"page_token": "eyJvZmZzZXQiOiAtNX0="}, "negative"),
]


def test_search_model_versions_refuses_bad_arguments(reg: SqlRegistryStore) -> None:
    for kwargs, match in BAD_VERSION_SEARCHES:
        with pytest.raises(InvalidArgument, match=match):
            reg.search_model_versions(**kwargs)  # type: ignore[arg-type]
