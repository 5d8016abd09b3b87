"""``mltrail run`` as a user runs it: a real subprocess against a SQLite store in a temporary
folder, ``--env-manager local``. What it prints, its exit statuses (FAILED, Ctrl-C, SIGTERM),
parameter values that must stay data, bad input, the cache and sweeps.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from projects_helpers import MLTRAIL, all_runs, clean_env, mltrail_run, pid_alive, write_project

from mltrail.storage.uri import close_all


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("cli") / "project")


@pytest.fixture
def uri(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'store.db'}"
    close_all()


def test_a_run_prints_where_it_went_and_finishes(project: Path, uri: str) -> None:
    done = mltrail_run(
        str(project), "-P", "x=3", "-P", "word=hi", "--env-manager", "local",
        "--experiment-name", "cli", "--run-name", "r1", "--output", "json", uri=uri,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    run_id = summary["run_id"]
    assert summary["status"] == "FINISHED" and summary["exit_code"] == 0
    assert summary["tracking_uri"] == uri
    # The store, the experiment and the run id, on stderr before the command's own output.
    assert f"Run {run_id} in experiment 'cli'" in done.stderr
    assert uri in done.stderr
    assert f"child run {run_id}" in done.stdout
    (found,) = all_runs(uri)
    assert found.info.run_id == run_id and found.info.run_name == "r1"
    assert found.data.params == {"x": "3", "word": "hi"}
    assert found.data.metrics == {"x": 3.0}


def test_a_failed_command_exits_1_and_its_run_is_failed(project: Path, uri: str) -> None:
    done = mltrail_run(str(project), "-e", "fail", "-P", "code=5", "--env-manager", "local", uri=uri)
    assert done.returncode == 1
    (found,) = all_runs(uri)
    assert found.info.status == "FAILED"
    assert f"Error: Run {found.info.run_id} FAILED" in done.stderr
    assert "status 5" in done.stderr


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_command_and_marks_the_run_killed(
    project: Path, uri: str, tmp_path: Path, signum: int, code: int
) -> None:
    pids = project / "pids.txt"
    pids.unlink(missing_ok=True)
    process = subprocess.Popen(
        [*MLTRAIL, "run", str(project), "-e", "wait", "-P", f"go={tmp_path / 'never'}",
         "--env-manager", "local"],
        env=clean_env(MLTRAIL_TRACKING_URI=uri),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child, grandchild = map(int, pids.read_text().split())
        process.send_signal(signum)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, err
    (found,) = all_runs(uri)
    assert found.info.status == "KILLED"
    assert found.info.end_time is not None
    deadline = time.monotonic() + 30
    while (pid_alive(child) or pid_alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child) and not pid_alive(grandchild)


def test_parameter_values_reach_the_program_verbatim_and_run_nothing(
    project: Path, uri: str, tmp_path: Path
) -> None:
    nasty = [
        "$(touch pwned); rm -rf x",
        "`touch pwned`",
        "a'b\"c; touch pwned",
        "line1\nline2 && touch pwned",
        "--x=1 | touch pwned",
    ]
    # The first as the declared `word`, the others as undeclared parameters (--pN value).
    args = ["-P", f"word={nasty[0]}"]
    for index, value in enumerate(nasty[1:]):
        args += ["-P", f"p{index}={value}"]
    done = mltrail_run(str(project), *args, "--env-manager", "local", uri=uri, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (found,) = all_runs(uri)
    expected = ["1.0", nasty[0]]
    for index, value in enumerate(nasty[1:]):
        expected += [f"--p{index}", value]
    assert json.loads(found.data.tags["argv"]) == expected
    assert found.data.params["word"] == nasty[0]
    assert found.data.params["p1"] == nasty[2]
    assert not (tmp_path / "pwned").exists() and not (project / "pwned").exists()


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["-e", "nope"], "nope", 1),
        (["-e", "wait"], "go", 1),
        (["-P", "x=abc"], "abc", 1),
        (["-b", "databricks"], "databricks", 1),
        (["-P", "novalue"], "NAME=VALUE", 2),
        (["-P", "x=1", "-P", "x=2"], "twice", 2),
        (["--max-parallel", "2"], "--sweep", 2),
        (["-c", "{not json"], "not JSON", 2),
    ],
)
def test_bad_input_is_one_line_and_creates_no_run(
    project: Path, uri: str, args: list[str], message: str, code: int
) -> None:
    done = mltrail_run(str(project), "--env-manager", "local", *args, uri=uri)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    if code == 1:
        assert done.stderr.strip().startswith("Error: ")
        assert all_runs(uri) == []


def test_use_cache_from_the_command_line(tmp_path: Path, uri: str) -> None:
    project = write_project(tmp_path / "cached")
    first = mltrail_run(str(project), "-P", "x=4", "--use-cache", "--env-manager", "local", uri=uri)
    assert first.returncode == 0, first.stderr
    second = mltrail_run(
        str(project), "-P", "x=4", "--use-cache", "--env-manager", "local", "--output", "json",
        uri=uri,
    )
    assert second.returncode == 0, second.stderr
    (only,) = all_runs(uri)
    assert f"Reusing run {only.info.run_id}" in second.stderr
    assert json.loads(second.stdout)["reused"] is True
    assert "child run" not in second.stdout  # nothing ran


def test_a_sweep_runs_the_grid_as_children_of_one_run(project: Path, uri: str) -> None:
    done = mltrail_run(
        str(project), "-P", "x=1,2", "-P", "word=a,b", "--sweep", "--max-parallel", "2",
        "--env-manager", "local", uri=uri,
    )
    assert done.returncode == 0, done.stderr
    runs = all_runs(uri)
    assert len(runs) == 5
    (parent,) = [r for r in runs if "mltrail.sweep" in r.data.tags]
    children = [r for r in runs if r is not parent]
    assert parent.info.status == "FINISHED"
    assert json.loads(parent.data.tags["mltrail.sweep"]) == {"x": ["1", "2"], "word": ["a", "b"]}
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert all(c.info.status == "FINISHED" for c in children)
    assert sorted((c.data.params["x"], c.data.params["word"]) for c in children) == [
        ("1", "a"), ("1", "b"), ("2", "a"), ("2", "b")
    ]
    # The table: each child with its parameters, status and final metrics.
    for child in children:
        assert child.info.run_id in done.stdout
    assert "FINISHED" in done.stdout and "Status" in done.stdout
    assert done.stdout.count("FINISHED") >= 4


def test_a_sweep_with_a_failing_child_fails_its_parent_and_reports_json(
    project: Path, uri: str
) -> None:
    done = mltrail_run(
        str(project), "-e", "fail", "-P", "code=0,2", "--sweep", "--env-manager", "local",
        "--output", "json", uri=uri,
    )
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["status"] == "FAILED"
    assert [c["status"] for c in result["children"]] == ["FINISHED", "FAILED"]
    assert [c["parameters"] for c in result["children"]] == [{"code": "0"}, {"code": "2"}]
    assert "1 of 2 runs" in done.stderr
    parent = [r for r in all_runs(uri) if r.info.run_id == result["parent_run_id"]]
    assert parent[0].info.status == "FAILED"


def test_a_bad_value_in_a_sweep_runs_nothing(project: Path, uri: str) -> None:
    done = mltrail_run(
        str(project), "-P", "x=1,oops", "--sweep", "--env-manager", "local", uri=uri
    )
    assert done.returncode == 1
    assert "oops" in done.stderr
    assert all_runs(uri) == []
