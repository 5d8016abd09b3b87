"""``mltrail.projects.run`` in process: the run it creates, the child's logging, statuses,
async runs, cancel, child runs, the cache, and bad input that must create nothing.

The entry points are real subprocesses (``--env-manager local``: this interpreter) logging
into a SQLite store in a temporary folder.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from projects_helpers import all_runs, pid_alive, write_project

import mltrail
from mltrail import MltrailClient
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.projects import SubmittedRun, run
from mltrail.projects.run import CACHE_KEY_TAG
from mltrail.settings import Settings
from mltrail.storage.uri import close_all
from mltrail.tracking.fluent import Session, use_session


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith(("MLTRAIL_", "MLFLOW_")):
            monkeypatch.delenv(key)
    yield
    close_all()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("tiny") / "project")


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def client(uri: str) -> Iterator[MltrailClient]:
    client = MltrailClient(uri, settings=Settings(async_logging=False))
    yield client
    client.close()


def start(project: Path, uri: str, lines: list[str] | None = None, **kwargs: object) -> SubmittedRun:
    sink = lines if lines is not None else []
    kwargs.setdefault("env_manager", "local")
    return run(str(project), tracking_uri=uri, report=sink.append, **kwargs)  # type: ignore[arg-type]


def test_the_run_is_created_first_and_the_script_logs_into_it(
    project: Path, uri: str, client: MltrailClient
) -> None:
    lines: list[str] = []
    submitted = start(project, uri, lines, parameters={"x": 2.5}, run_name="first")
    assert submitted.wait() is True
    assert submitted.get_status() == "FINISHED"
    found = client.get_run(submitted.run_id)
    assert found.info.status == "FINISHED" and found.info.end_time is not None
    assert found.info.run_name == "first"
    assert found.data.metrics == {"x": 2.5}
    assert found.data.params == {"x": "2.5", "word": "hello"}
    tags = found.data.tags
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.source.name"] == str(project)
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "local"
    assert tags["mlflow.project.backend"] == "local"
    assert tags["mlflow.runName"] == "first"
    assert len(tags[CACHE_KEY_TAG]) == 64
    assert json.loads(tags["argv"]) == ["2.5", "hello"]
    assert tags["cwd"] == str(project)
    assert "mlflow.parentRunId" not in tags
    # It says where the run went.
    assert any(submitted.run_id in line and uri.split("///")[1] in line for line in lines)
    assert len(all_runs(uri)) == 1


def test_a_failing_command_ends_its_run_failed(
    project: Path, uri: str, client: MltrailClient
) -> None:
    submitted = start(project, uri, entry_point="fail", parameters={"code": 4})
    assert submitted.wait() is False
    assert submitted.returncode == 4
    assert submitted.get_status() == "FAILED"
    found = client.get_run(submitted.run_id)
    assert found.info.status == "FAILED"
    assert found.data.metrics == {"before_failing": 1.0}


def test_an_asynchronous_run_returns_at_once_and_waits(
    project: Path, uri: str, client: MltrailClient, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    submitted = start(project, uri, entry_point="wait", parameters={"go": str(go)}, synchronous=False)
    assert submitted.get_status() == "RUNNING"
    assert client.get_run(submitted.run_id).info.status == "RUNNING"
    go.write_text("")
    assert submitted.wait() is True
    assert client.get_run(submitted.run_id).info.status == "FINISHED"
    assert client.get_run(submitted.run_id).data.tags["waiting"] == "yes"


def test_cancel_stops_the_whole_process_group_and_marks_the_run_killed(
    project: Path, uri: str, client: MltrailClient, tmp_path: Path
) -> None:
    pids = project / "pids.txt"
    pids.unlink(missing_ok=True)
    submitted = start(
        project, uri, entry_point="wait", parameters={"go": str(tmp_path / "never")},
        synchronous=False,
    )
    deadline = time.monotonic() + 60
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child, grandchild = map(int, pids.read_text().split())
    submitted.cancel()
    assert submitted.get_status() == "KILLED"
    assert client.get_run(submitted.run_id).info.status == "KILLED"
    assert submitted.wait() is False
    deadline = time.monotonic() + 30
    while (pid_alive(child) or pid_alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child)
    assert not pid_alive(grandchild)


def test_inside_a_run_the_project_run_is_its_child_in_its_experiment(
    project: Path, uri: str, client: MltrailClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = client.create_experiment("pipelines")
    parent = client.create_run(experiment).info.run_id
    monkeypatch.setenv("MLTRAIL_RUN_ID", parent)
    submitted = start(project, uri)
    assert submitted.wait()
    found = client.get_run(submitted.run_id)
    assert found.info.run_id != parent
    assert found.data.tags["mlflow.parentRunId"] == parent
    assert found.info.experiment_id == experiment


def test_a_fluent_active_run_is_the_parent_too(project: Path, uri: str, client: MltrailClient) -> None:
    # A session of its own: the process's default one may carry another test's experiment.
    with use_session(Session(Settings(tracking_uri=uri))), mltrail.start_run() as outer:
        submitted = start(project, uri)
        assert submitted.wait()
    assert client.get_run(submitted.run_id).data.tags["mlflow.parentRunId"] == outer.info.run_id


def test_experiment_by_name_is_created_and_resume_by_run_id(
    project: Path, uri: str, client: MltrailClient
) -> None:
    submitted = start(project, uri, experiment_name="new one")
    assert submitted.wait()
    experiment = client.get_experiment_by_name("new one")
    assert experiment is not None
    assert client.get_run(submitted.run_id).info.experiment_id == experiment.experiment_id

    existing = client.create_run(experiment.experiment_id, run_name="mine").info.run_id
    client.set_terminated(existing, "FAILED")
    resumed = start(project, uri, run_id=existing, parameters={"x": 7})
    assert resumed.run_id == existing and resumed.wait()
    found = client.get_run(existing)
    assert found.info.status == "FINISHED"
    assert found.info.run_name == "mine"
    assert found.data.metrics == {"x": 7.0}
    assert found.data.tags["mlflow.project.entryPoint"] == "main"
    assert len(all_runs(uri)) == 2


def test_use_cache_reuses_a_finished_run_with_the_same_inputs_only(
    project: Path, uri: str, client: MltrailClient
) -> None:
    first = start(project, uri, parameters={"x": 1})
    assert first.wait()
    lines: list[str] = []
    again = start(project, uri, lines, parameters={"x": "1.0"}, use_cache=True)
    # x=1 and x=1.0 are different values as given: only an identical resolved value hits.
    assert again.run_id != first.run_id and again.wait()
    hit_lines: list[str] = []
    hit = start(project, uri, hit_lines, parameters={"x": 1}, use_cache=True)
    assert hit.reused and hit.run_id == first.run_id
    assert hit.wait() is True and hit.get_status() == "FINISHED"
    assert any(f"Reusing run {first.run_id}" in line for line in hit_lines)
    changed = start(project, uri, parameters={"x": 2}, use_cache=True)
    assert not changed.reused and changed.run_id not in (first.run_id, again.run_id)
    assert changed.wait()
    # Without use_cache the same inputs run again.
    fresh = start(project, uri, parameters={"x": 1})
    assert not fresh.reused and fresh.run_id != first.run_id and fresh.wait()
    assert len(all_runs(uri)) == 4
    keys = {r.info.run_id: r.data.tags[CACHE_KEY_TAG] for r in all_runs(uri)}
    assert keys[first.run_id] == keys[fresh.run_id] != keys[changed.run_id]


def test_a_failed_run_is_not_reused(project: Path, uri: str) -> None:
    failed = start(project, uri, entry_point="fail")
    assert not failed.wait()
    again = start(project, uri, entry_point="fail", use_cache=True)
    assert not again.reused and again.run_id != failed.run_id
    again.wait()


def test_editing_the_code_of_a_project_outside_git_misses_the_cache(
    uri: str, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "editable")
    first = start(project, uri)
    assert first.wait()
    assert start(project, uri, use_cache=True).reused
    (project / "log.py").write_text((project / "log.py").read_text() + "\n# edited\n")
    edited = start(project, uri, use_cache=True)
    assert not edited.reused and edited.wait()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entry_point": "nope"}, "nope"),
        ({"entry_point": "wait"}, "go"),
        ({"parameters": {"x": "abc"}}, "abc"),
        ({"entry_point": "data", "parameters": {"input": "/no/such/file.csv"}}, "/no/such/file.csv"),
        ({"backend": "kubernetes"}, "kubernetes"),
        ({"env_manager": "pip"}, "pip"),
        ({"experiment_id": "12345"}, "12345"),
    ],
)
def test_bad_input_is_an_error_before_any_run_exists(
    project: Path, uri: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(MltrailError) as raised:
        start(project, uri, **kwargs)
    assert message in raised.value.message
    assert isinstance(raised.value, InvalidArgument) or kwargs.get("experiment_id")
    assert all_runs(uri) == []


def test_a_folder_that_does_not_exist_is_an_error(uri: str, tmp_path: Path) -> None:
    with pytest.raises(MltrailError) as raised:
        start(tmp_path / "missing", uri)
    assert "missing" in raised.value.message
    assert all_runs(uri) == []


def test_runs_and_the_cache_work_on_every_store(project: Path, database_url: str) -> None:
    # SQLite and PostgreSQL: the child logs over the same URI; the cache searches by tag.
    first = start(project, database_url, parameters={"x": 9})
    assert first.wait()
    hit = start(project, database_url, parameters={"x": 9}, use_cache=True)
    assert hit.reused and hit.run_id == first.run_id
    found = MltrailClient(database_url, settings=Settings(async_logging=False)).get_run(
        first.run_id
    )
    assert found.info.status == "FINISHED" and found.data.metrics == {"x": 9.0}


def test_mltrail_projects_is_reachable_after_import_mltrail() -> None:
    assert mltrail.projects.run is run
