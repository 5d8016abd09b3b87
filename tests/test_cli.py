"""The ``mltrail`` command: every subcommand, both output modes, errors, and gc.

Most tests drive the CLI in process with click's ``CliRunner`` against a SQLite store in
``tmp_path``, creating data with ``MltrailClient``; a few run the real command in a
subprocess, in a fresh folder with no tracking URI set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mltrail.storage.sql.migrate import HEAD_REVISION
from mltrail import MltrailClient, __version__
from mltrail.cli import gc as gc_module
from mltrail.cli.main import cli
from mltrail.entities import Metric, Param, RunTag
from mltrail.errors import MltrailError
from mltrail.settings import Settings
from mltrail.storage.artifacts import LocalArtifactRepository
from mltrail.storage.uri import close_all

DAY_MS = 86_400_000


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith(("MLTRAIL_", "MLFLOW_")):
            monkeypatch.delenv(key)
    yield
    close_all()


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def client(uri: str) -> Iterator[MltrailClient]:
    client = MltrailClient(uri, settings=Settings(async_logging=False))
    client.get_experiment("0")  # opens, and so creates, the database
    yield client
    client.close()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(*args: str, uri: str | None = None) -> Result:
    result = invoke(*args, *(("--tracking-uri", uri) if uri else ()))
    assert result.exit_code == 0, result.output
    return result


def fails(*args: str, code: int = 1, uri: str | None = None) -> Result:
    result = invoke(*args, *(("--tracking-uri", uri) if uri else ()))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def log_run(
    client: MltrailClient,
    experiment_id: str = "0",
    name: str | None = None,
    metrics: dict[str, float] | None = None,
    params: dict[str, str] | None = None,
    artifact: Path | None = None,
) -> str:
    run = client.create_run(experiment_id, run_name=name)
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, 1_700_000_000_000, 3) for k, v in (metrics or {}).items()],
        params=[Param(k, v) for k, v in (params or {}).items()],
        tags=[RunTag("team", "vision")],
    )
    if artifact is not None:
        client.log_artifact(run_id, str(artifact), "outputs")
    client.set_terminated(run_id)
    return run_id


def local_dir(client: MltrailClient, run_id: str) -> Path:
    uri = client.get_run(run_id).info.artifact_uri
    assert uri.startswith("file://")
    return Path(uri[len("file://") :])


# The root command


def test_version_and_help_list_every_command() -> None:
    assert ok("--version").stdout.strip() == f"mltrail {__version__}"
    help_text = ok("--help").stdout
    for name in ("experiments", "runs", "artifacts", "db", "gc"):
        assert name in help_text
    assert "runs list" not in help_text  # subcommands' own help stays in their group
    assert "--experiment-id" in ok("runs", "list", "-h").stdout


def test_help_and_version_import_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from mltrail.cli.main import cli\n"
        "for args in (['--version'], ['--help'], ['runs', '--help'], ['gc', '--help']):\n"
        "    cli(args, standalone_mode=False)\n"
        "heavy = ('sqlalchemy', 'alembic', 'rich', 'pandas', 'numpy', 'fsspec')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


# Experiments


def test_experiments_create_prints_the_id_and_names_the_store(uri: str) -> None:
    result = ok("experiments", "create", "--experiment-name", "sweep", uri=uri)
    assert result.stdout.strip() == "1"
    assert uri in result.stderr
    second = ok("experiments", "create", "-n", "other", "-l", "file:///elsewhere", uri=uri)
    assert second.stdout.strip() == "2"
    listed = as_json(ok("experiments", "list", "--output", "json", uri=uri))
    by_name = {e["name"]: e for e in listed["experiments"]}
    assert set(by_name) == {"Default", "sweep", "other"}
    assert by_name["other"]["artifact_location"] == "file:///elsewhere"
    assert by_name["sweep"]["lifecycle_stage"] == "active"


def test_experiments_create_twice_is_an_error(uri: str) -> None:
    ok("experiments", "create", "-n", "sweep", uri=uri)
    result = fails("experiments", "create", "-n", "sweep", uri=uri)
    assert result.stderr.startswith("Error: ")
    assert "sweep" in result.stderr and "already exists" in result.stderr


def test_experiments_list_table_shows_names_and_the_store(client: MltrailClient, uri: str) -> None:
    client.create_experiment("sweep")
    table = ok("experiments", "list", uri=uri).stdout
    assert "sweep" in table and "Default" in table
    assert f"Store: {uri}" in table


def test_experiments_rename(client: MltrailClient, uri: str) -> None:
    experiment_id = client.create_experiment("old")
    renamed = ("experiments", "rename", "--experiment-id", experiment_id)
    result = ok(*renamed, "--new-name", "new", uri=uri)
    assert "'old'" in result.stderr and "'new'" in result.stderr
    assert client.get_experiment(experiment_id).name == "new"
    missing = fails("experiments", "rename", "--experiment-id", "42", "--new-name", "x", uri=uri)
    assert "42" in missing.stderr


def test_experiments_delete_and_restore(client: MltrailClient, uri: str) -> None:
    experiment_id = client.create_experiment("sweep")
    ok("experiments", "delete", "--experiment-id", experiment_id, uri=uri)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    again = fails("experiments", "delete", "--experiment-id", experiment_id, uri=uri)
    assert f"Experiment {experiment_id} ('sweep') is already deleted" in again.stderr

    active = as_json(ok("experiments", "list", "--output", "json", uri=uri))
    assert [e["name"] for e in active["experiments"]] == ["Default"]
    listed = ok("experiments", "list", "--view", "deleted_only", "--output", "json", uri=uri)
    deleted = as_json(listed)
    assert [e["name"] for e in deleted["experiments"]] == ["sweep"]
    both = ok("experiments", "list", "--view", "all", uri=uri).stdout
    assert "deleted" in both and "active" in both

    ok("experiments", "restore", "--experiment-id", experiment_id, uri=uri)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    not_deleted = fails("experiments", "restore", "--experiment-id", experiment_id, uri=uri)
    assert "is not deleted" in not_deleted.stderr


def test_the_default_experiment_cannot_be_deleted(client: MltrailClient, uri: str) -> None:
    result = fails("experiments", "delete", "--experiment-id", "0", uri=uri)
    assert "Default experiment" in result.stderr


# Runs


@pytest.fixture
def sweep(client: MltrailClient) -> dict[str, str]:
    """Three finished runs in experiment 'sweep'; returns run names to ids."""
    experiment_id = client.create_experiment("sweep")
    return {
        name: log_run(
            client,
            experiment_id,
            name,
            metrics={"acc": acc, "loss": 1 - acc},
            params={"lr": lr, "optimizer": "adam"},
        )
        for name, acc, lr in (("low", 0.5, "0.1"), ("mid", 0.7, "0.01"), ("high", 0.9, "0.001"))
    }


def test_runs_list_table(sweep: dict[str, str], uri: str) -> None:
    table = ok("runs", "list", "--experiment-name", "sweep", uri=uri).stdout
    for name, run_id in sweep.items():
        assert run_id in table and name in table
    for column in ("Run ID", "Name", "Status", "Started", "Duration", "metrics.acc", "params.lr"):
        assert column in table
    assert "FINISHED" in table and "0.9" in table
    assert "3 runs in experiment 'sweep' (id 1)" in table
    assert f"Store: {uri}" in table


def test_runs_list_json_is_the_runs_rest_shape(
    client: MltrailClient, sweep: dict[str, str], uri: str
) -> None:
    listed = as_json(ok("runs", "list", "--experiment-id", "1", "--output", "json", uri=uri))
    assert "next_page_token" not in listed
    by_id = {r["info"]["run_id"]: r for r in listed["runs"]}
    assert set(by_id) == set(sweep.values())
    high = by_id[sweep["high"]]
    assert high == client.get_run(sweep["high"]).to_dict()
    assert {"key": "lr", "value": "0.001"} in high["data"]["params"]


def test_runs_list_filter_order_and_paging(sweep: dict[str, str], uri: str) -> None:
    base = ("runs", "list", "--experiment-name", "sweep", "--tracking-uri", uri, "--output", "json")
    best = as_json(ok(*base, "--filter", "metrics.acc > 0.6", "--order-by", "metrics.acc DESC"))
    assert [r["info"]["run_name"] for r in best["runs"]] == ["high", "mid"]
    ordered = as_json(ok(*base, "--order-by", "params.optimizer", "--order-by", "metrics.loss ASC"))
    assert [r["info"]["run_name"] for r in ordered["runs"]] == ["high", "mid", "low"]
    first = as_json(ok(*base, "--order-by", "metrics.acc", "--max-results", "1"))
    assert [r["info"]["run_name"] for r in first["runs"]] == ["low"]
    rest = as_json(ok(*base, "--order-by", "metrics.acc", "--page-token", first["next_page_token"]))
    assert [r["info"]["run_name"] for r in rest["runs"]] == ["mid", "high"]


def test_runs_list_names_the_filter_columns_first(client: MltrailClient, uri: str) -> None:
    metrics = {f"m{i}": float(i) for i in range(8)}
    log_run(client, metrics={**metrics, "zz_rare": 1.0})
    table = ok("runs", "list", "--order-by", "metrics.zz_rare", uri=uri).stdout
    assert "metrics.zz_rare" in table
    assert "showing 4 of 9 metrics" in table


def test_runs_list_without_experiment_uses_the_default_one(client: MltrailClient, uri: str) -> None:
    run_id = log_run(client, name="in-default")
    other = client.create_experiment("other")
    log_run(client, other, name="elsewhere")
    table = ok("runs", "list", uri=uri).stdout
    assert run_id in table and "elsewhere" not in table
    both = as_json(
        ok("runs", "list", "--experiment-id", "0", "--experiment-name", "other",
           "--output", "json", uri=uri)
    )
    assert {r["info"]["run_name"] for r in both["runs"]} == {"in-default", "elsewhere"}


def test_runs_list_empty_says_where_it_looked(client: MltrailClient, uri: str) -> None:
    client.create_experiment("empty")
    out = ok("runs", "list", "--experiment-name", "empty", uri=uri).stdout
    assert "No runs in experiment 'empty' (id 1)." in out
    assert f"Store: {uri}" in out


def test_runs_list_unknown_experiment(client: MltrailClient, uri: str) -> None:
    unknown = fails("runs", "list", "--experiment-name", "nope", uri=uri)
    assert "No experiment named 'nope'" in unknown.stderr
    assert "id=17" in fails("runs", "list", "--experiment-id", "17", uri=uri).stderr


def test_a_bad_filter_is_a_message_not_a_traceback(sweep: dict[str, str], uri: str) -> None:
    base = ("runs", "list", "--experiment-name", "sweep")
    result = fails(*base, "--filter", "metrics.acc >>> 1", uri=uri)
    assert result.stderr.startswith("Error: Invalid clause")
    assert "metrics.acc >>> 1" in result.stderr
    bad_json = fails(*base, "--order-by", "metrics.acc SIDEWAYS", "--output", "json", uri=uri)
    error = json.loads(bad_json.stderr)
    assert error["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "SIDEWAYS" in error["message"]


def test_runs_list_deleted_view(client: MltrailClient, sweep: dict[str, str], uri: str) -> None:
    client.delete_run(sweep["low"])
    base = ("runs", "list", "--experiment-name", "sweep", "--tracking-uri", uri)
    active = as_json(ok(*base, "--output", "json"))
    assert sorted(r["info"]["run_name"] for r in active["runs"]) == ["high", "mid"]
    deleted = as_json(ok(*base, "--view", "deleted_only", "--output", "json"))
    assert [r["info"]["run_name"] for r in deleted["runs"]] == ["low"]
    table = ok(*base, "--view", "all").stdout
    assert "Stage" in table and "deleted" in table


def test_runs_describe(client: MltrailClient, sweep: dict[str, str], uri: str) -> None:
    run_id = sweep["mid"]
    table = ok("runs", "describe", "--run-id", run_id, uri=uri).stdout
    for text in (run_id, "mid", "1 (sweep)", "FINISHED", "Params", "optimizer", "adam",
                 "Metrics", "acc", "0.7", "Tags", "team", "vision", f"Store: {uri}"):
        assert text in table
    described = as_json(ok("runs", "describe", "--run-id", run_id, "--output", "json", uri=uri))
    assert described == client.get_run(run_id).to_dict()


def test_unknown_run_names_it(client: MltrailClient, uri: str) -> None:
    missing = "0" * 32
    result = fails("runs", "describe", "--run-id", missing, uri=uri)
    assert result.stderr.startswith("Error: ") and missing in result.stderr
    as_error = json.loads(
        fails("runs", "describe", "--run-id", missing, "--output", "json", uri=uri).stderr
    )
    assert as_error["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert missing in as_error["message"]
    assert missing in fails("runs", "delete", "--run-id", missing, uri=uri).stderr


def test_runs_delete_and_restore(client: MltrailClient, uri: str) -> None:
    run_id = log_run(client, name="doomed")
    result = ok("runs", "delete", "--run-id", run_id, uri=uri)
    assert run_id in result.stderr
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    again = fails("runs", "delete", "--run-id", run_id, uri=uri)
    assert f"Run {run_id} is already deleted" in again.stderr
    ok("runs", "restore", "--run-id", run_id, uri=uri)
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    active = fails("runs", "restore", "--run-id", run_id, uri=uri)
    assert f"Run {run_id} is not deleted" in active.stderr


def test_missing_required_option_is_a_usage_error(uri: str) -> None:
    result = fails("runs", "describe", code=2, uri=uri)
    assert "Missing option '--run-id'" in result.output


# The store in use


def test_the_tracking_uri_comes_from_the_environment(client: MltrailClient, uri: str) -> None:
    run_id = log_run(client)
    for variable in ("MLTRAIL_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        result = invoke("runs", "list", "--output", "json", env={variable: uri})
        assert result.exit_code == 0, result.output
        assert [r["info"]["run_id"] for r in as_json(result)["runs"]] == [run_id]


def test_a_missing_sqlite_store_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here.db"
    result = fails("runs", "list", "--tracking-uri", f"sqlite:///{path}")
    assert f"No tracking database at {path}" in result.stderr
    assert "--tracking-uri" in result.stderr
    assert not path.exists()


def test_a_folder_tracking_uri_is_refused_with_a_hint(tmp_path: Path) -> None:
    result = fails("runs", "list", "--tracking-uri", str(tmp_path / "mlruns"))
    assert "sqlite:///" in result.stderr


# Artifacts


def test_artifacts_log_list_and_download(client: MltrailClient, uri: str, tmp_path: Path) -> None:
    run_id = log_run(client)
    report = tmp_path / "report.txt"
    report.write_text("all good", encoding="utf-8")
    logged = ok("artifacts", "log-artifact", "--local-file", str(report), "--run-id", run_id,
                "--artifact-path", "docs", uri=uri)
    assert "docs/report.txt" in logged.stderr

    root = ok("artifacts", "list", "--run-id", run_id, uri=uri).stdout
    assert "docs/" in root and f"Store: {uri}" in root and "Artifact root: file://" in root
    listed = as_json(ok("artifacts", "list", "--run-id", run_id, "--artifact-path", "docs",
                        "--output", "json", uri=uri))
    assert listed["root_uri"] == client.get_run(run_id).info.artifact_uri
    assert listed["files"] == [{"path": "docs/report.txt", "is_dir": False, "file_size": 8}]
    table = ok("artifacts", "list", "--run-id", run_id, "--artifact-path", "docs", uri=uri).stdout
    assert "docs/report.txt" in table and "8 B" in table
    empty = ok("artifacts", "list", "--run-id", run_id, "--artifact-path", "none", uri=uri)
    assert "No artifacts under" in empty.stdout

    dst = tmp_path / "out"
    local = ok("artifacts", "download", "--run-id", run_id, "--artifact-path", "docs",
               "--dst-path", str(dst), uri=uri).stdout.strip()
    assert Path(local) == dst / "docs"
    assert (dst / "docs" / "report.txt").read_text(encoding="utf-8") == "all good"

    by_uri = ok("artifacts", "download", "--artifact-uri", f"runs:/{run_id}/docs/report.txt",
                "--dst-path", str(tmp_path / "again"), uri=uri).stdout.strip()
    assert Path(by_uri).read_text(encoding="utf-8") == "all good"
    everything = ok("artifacts", "download", "--run-id", run_id, "--dst-path",
                    str(tmp_path / "all"), uri=uri).stdout.strip()
    assert (Path(everything) / "docs" / "report.txt").exists()


def test_artifacts_errors(client: MltrailClient, uri: str, tmp_path: Path) -> None:
    run_id = log_run(client)
    missing = fails("artifacts", "download", "--run-id", run_id, "--artifact-path", "nope",
                    "--dst-path", str(tmp_path / "d"), uri=uri)
    assert "nope" in missing.stderr
    no_file = fails("artifacts", "log-artifact", "--local-file", str(tmp_path / "absent.txt"),
                    "--run-id", run_id, code=2, uri=uri)
    assert "absent.txt" in no_file.output
    unknown = fails("artifacts", "list", "--run-id", "f" * 32, uri=uri)
    assert "f" * 32 in unknown.stderr
    both = fails("artifacts", "download", "--run-id", run_id, "--artifact-uri",
                 f"runs:/{run_id}/x", code=2, uri=uri)
    assert "not both" in both.output


# Database


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = ok("db", "upgrade", url)
    assert result.stdout.strip() == HEAD_REVISION
    assert f"revision {HEAD_REVISION}" in result.stderr
    assert ok("db", "upgrade", url).stdout.strip() == HEAD_REVISION  # twice is fine
    client = MltrailClient(url, settings=Settings(async_logging=False))
    assert client.get_experiment("0").name == "Default"
    assert client.get_experiment("0").artifact_location == (tmp_path / "mlartifacts" / "0").as_uri()


def test_db_upgrade_errors(tmp_path: Path) -> None:
    result = fails("db", "upgrade", f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    assert "does not exist" in result.stderr
    assert "Missing argument 'URL'" in fails("db", "upgrade", code=2).output


# gc


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.txt"
    path.write_text("weights", encoding="utf-8")
    return path


def test_gc_removes_deleted_runs_and_their_files(
    client: MltrailClient, uri: str, report: Path
) -> None:
    kept = log_run(client, name="kept", artifact=report)
    doomed = log_run(client, name="doomed", artifact=report)
    doomed_dir = local_dir(client, doomed)
    assert (doomed_dir / "outputs" / "report.txt").exists()
    client.delete_run(doomed)

    result = ok("gc", uri=uri)
    assert f"Removed run {doomed}" in result.stdout
    assert f"Removed 1 run and 0 experiments in {uri}" in result.stdout
    assert not doomed_dir.exists() and not doomed_dir.parent.exists()
    assert (local_dir(client, kept) / "outputs" / "report.txt").exists()
    assert client.store.deleted_run_ids() == []
    assert doomed in fails("runs", "describe", "--run-id", doomed, uri=uri).stderr
    assert "Nothing to remove" in ok("gc", uri=uri).stdout


def test_gc_frees_a_deleted_experiments_name(client: MltrailClient, uri: str, report: Path) -> None:
    experiment_id = client.create_experiment("sweep")
    live = log_run(client, experiment_id, artifact=report)  # a run left active in it
    run_dir = local_dir(client, live)
    client.delete_experiment(experiment_id)
    assert "already exists" in fails("experiments", "create", "-n", "sweep", uri=uri).stderr

    result = as_json(ok("gc", "--output", "json", uri=uri))
    assert result == {"dry_run": False, "run_ids": [live], "experiment_ids": [experiment_id]}
    assert not run_dir.exists()
    assert not (run_dir.parent.parent).exists()  # the experiment's emptied folder
    assert ok("experiments", "create", "-n", "sweep", uri=uri).stdout.strip() != experiment_id


def test_gc_named_ids(client: MltrailClient, uri: str) -> None:
    first, second = log_run(client), log_run(client)
    client.delete_run(first)
    client.delete_run(second)
    gone = client.create_experiment("gone")
    stays = client.create_experiment("stays")
    client.delete_experiment(gone)
    client.delete_experiment(stays)

    ok("gc", "--run-ids", f"{first}, {first}", uri=uri)
    assert client.store.deleted_run_ids() == [second]  # only the named run
    assert {e.name for e in client.search_experiments("deleted_only")} == {"gone", "stays"}

    ok("gc", "--experiment-ids", gone, uri=uri)
    assert [e.name for e in client.search_experiments("deleted_only")] == ["stays"]
    assert client.store.deleted_run_ids() == [second]


def test_gc_refuses_active_and_unknown_items_before_removing_anything(
    client: MltrailClient, uri: str
) -> None:
    active = log_run(client, name="active")
    deleted = log_run(client)
    client.delete_run(deleted)
    refused = fails("gc", "--run-ids", f"{deleted},{active}", uri=uri)
    assert f"Run {active} is active" in refused.stderr
    assert "mltrail runs delete --run-id" in refused.stderr
    assert client.store.deleted_run_ids() == [deleted]  # nothing was removed

    unknown = fails("gc", "--run-ids", "e" * 32, uri=uri)
    assert "e" * 32 in unknown.stderr
    live_experiment = client.create_experiment("live")
    assert "is active" in fails("gc", "--experiment-ids", live_experiment, uri=uri).stderr


def test_gc_older_than(client: MltrailClient, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = log_run(client)
    client.delete_run(run_id)
    experiment_id = client.create_experiment("old")
    client.delete_experiment(experiment_id)

    assert "Nothing to remove" in ok("gc", "--older-than", "1d", uri=uri).stdout
    too_recent = fails("gc", "--older-than", "12h", "--run-ids", run_id, uri=uri)
    assert "deleted less than 12h ago" in too_recent.stderr
    assert client.store.deleted_run_ids() == [run_id]

    real_now = gc_module.now_ms()
    monkeypatch.setattr(gc_module, "now_ms", lambda: real_now + 2 * DAY_MS)
    assert "Nothing to remove" in ok("gc", "--older-than", "3d", uri=uri).stdout
    result = as_json(ok("gc", "--older-than", "1d12h", "--output", "json", uri=uri))
    assert result["run_ids"] == [run_id] and result["experiment_ids"] == [experiment_id]
    assert client.store.deleted_run_ids() == []


@pytest.mark.parametrize("age", ["3x", "d", "1d-2h", ""])
def test_gc_bad_age_is_a_usage_error(uri: str, age: str) -> None:
    result = fails("gc", "--older-than", age, code=2, uri=uri)
    assert "is not an age" in result.output


def test_gc_dry_run_removes_nothing(client: MltrailClient, uri: str, report: Path) -> None:
    run_id = log_run(client, artifact=report)
    client.delete_run(run_id)
    result = ok("gc", "--dry-run", uri=uri)
    assert f"Would remove run {run_id}" in result.stdout
    assert client.store.deleted_run_ids() == [run_id]
    assert (local_dir(client, run_id) / "outputs" / "report.txt").exists()


def test_gc_keeps_the_row_when_artifacts_cannot_be_deleted(
    client: MltrailClient, uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = log_run(client)
    client.delete_run(run_id)

    def broken(self: LocalArtifactRepository, rel: str) -> None:
        raise MltrailError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(LocalArtifactRepository, "_delete", broken)
        assert "Error: disk on fire" in fails("gc", uri=uri).stderr
    assert client.store.deleted_run_ids() == [run_id]  # retried by the next gc
    ok("gc", uri=uri)
    assert client.store.deleted_run_ids() == []


# The real command, in a fresh folder with nothing configured


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRAIL_", "MLFLOW_"))}
    env.pop("COLUMNS", None)
    return env


def _mltrail(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mltrail.cli.main", *args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_runs_list_shows_what_a_script_logged_in_the_same_folder(tmp_path: Path) -> None:
    script = (
        "import mltrail\n"
        "with mltrail.start_run(run_name='from-script') as run:\n"
        "    mltrail.log_metric('acc', 0.93)\n"
        "    mltrail.log_param('depth', 4)\n"
        "print(run.info.run_id)\n"
    )
    logged = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=_clean_env(),
        capture_output=True, text=True, timeout=120,
    )
    assert logged.returncode == 0, logged.stderr
    run_id = logged.stdout.strip()

    listed = _mltrail(tmp_path, "runs", "list")
    assert listed.returncode == 0, listed.stderr
    for text in (run_id, "from-script", "FINISHED", "metrics.acc", "0.93", "params.depth"):
        assert text in listed.stdout
    store = f"sqlite:///{(tmp_path / 'mltrail.db').resolve()}"
    assert f"Store: {store}" in listed.stdout

    as_json = _mltrail(tmp_path, "runs", "describe", "--run-id", run_id, "--output", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["info"]["run_name"] == "from-script"


def test_the_installed_script_in_an_empty_folder(tmp_path: Path) -> None:
    script = Path(sysconfig.get_path("scripts")) / ("mltrail.exe" if os.name == "nt" else "mltrail")
    assert script.exists(), f"the console script is not installed at {script}"
    version = subprocess.run(
        [str(script), "--version"], cwd=tmp_path, env=_clean_env(),
        capture_output=True, text=True, timeout=60,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"mltrail {__version__}"

    empty = subprocess.run(
        [str(script), "runs", "list"], cwd=tmp_path, env=_clean_env(),
        capture_output=True, text=True, timeout=60,
    )
    assert empty.returncode == 1
    assert "Traceback" not in empty.stderr
    assert f"No tracking database at {(tmp_path / 'mltrail.db').resolve()}" in empty.stderr
    assert not (tmp_path / "mltrail.db").exists()
