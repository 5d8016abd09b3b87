"""The user journeys of projects, end to end with the real command.

- Journey 2: with nothing configured, ``mltrail run`` of the wine example and the same
  script run by hand land in ./mltrail.db of the folder they run from, side by side.
- A new user runs a project from a git URL with a parameter in a uv environment, and reruns
  it at once from the caches (the environment's and the run's).
- Journey 6: the project with typed parameters (``examples/mlops_wine``, its MLproject as
  the blog wrote it), then its model made into a Docker build context.
- Journey 7: the workflow example run twice; the second time its steps are reused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from projects_helpers import LOG_PY, MLTRAIL, all_runs, clean_env, mltrail_run

from mltrail.storage.uri import close_all

ROOT = Path(__file__).resolve().parent.parent
WINE = ROOT / "examples" / "sklearn_elasticnet_wine"
WORKFLOW = ROOT / "examples" / "workflow"
MLOPS_WINE = ROOT / "examples" / "mlops_wine"


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    close_all()


def test_journey_2_a_project_run_and_a_plain_script_share_the_store(tmp_path: Path) -> None:
    done = mltrail_run(str(WINE), "-P", "alpha=0.42", "--env-manager", "local", uri=None, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = tmp_path / "mltrail.db"
    assert f"store sqlite:///{store}" in done.stderr
    plain = subprocess.run(
        [sys.executable, str(WINE / "train.py"), "0.3", "0.8"], cwd=tmp_path, env=clean_env(),
        capture_output=True, text=True, timeout=300,
    )
    assert plain.returncode == 0, plain.stderr
    assert not (WINE / "mltrail.db").exists() and not (WINE / "mlruns").exists()
    runs = all_runs(f"sqlite:///{store}")
    assert len(runs) == 2
    by_alpha = {r.data.params["alpha"]: r for r in runs}
    assert set(by_alpha) == {"0.42", "0.3"}
    project_run, script_run = by_alpha["0.42"], by_alpha["0.3"]
    assert project_run.info.experiment_id == script_run.info.experiment_id == "0"
    assert project_run.data.tags["mlflow.source.type"] == "PROJECT"
    assert project_run.data.params["l1_ratio"] == "0.1"
    assert script_run.data.params["l1_ratio"] == "0.8"
    for found in runs:
        assert found.info.status == "FINISHED"
        assert set(found.data.metrics) == {"rmse", "r2", "mae"}
        artifacts = Path(found.info.artifact_uri.removeprefix("file://"))
        assert artifacts.is_relative_to(tmp_path)


PYTHON_ENV = """\
python: "{python}"
dependencies:
  - six
"""

GIT_MLPROJECT = """\
name: from-git
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      x: {type: float, default: 1.0}
    command: "python log.py {x} git"
"""

LOG_WITH_SIX = "import six\n" + LOG_PY


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, timeout=60,
    )


def test_a_project_from_a_git_url_in_a_uv_environment_reruns_from_the_caches(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    project = work / "projects" / "tiny"
    project.mkdir(parents=True)
    (project / "MLproject").write_text(GIT_MLPROJECT)
    (project / "log.py").write_text(LOG_WITH_SIX)
    major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    (project / "python_env.yaml").write_text(PYTHON_ENV.format(python=major_minor))
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "tiny project", cwd=work)
    bare = tmp_path / "repo.git"
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    url = f"file://{bare}#projects/tiny"
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    caches = {
        "MLTRAIL_ENV_ROOT": str(tmp_path / "envs"),
        "MLTRAIL_PROJECT_CACHE": str(tmp_path / "projects"),
    }

    def go(*args: str) -> subprocess.CompletedProcess[str]:
        done = mltrail_run(url, "-v", "main", *args, "--env-manager", "uv", "--use-cache",
                           uri=uri, cwd=tmp_path, timeout=600, **caches)
        assert done.returncode == 0, done.stderr
        return done

    first = go("-P", "x=3")
    assert "Creating environment" in first.stderr
    (found,) = all_runs(uri)
    assert found.data.metrics == {"x": 3.0}
    tags = found.data.tags
    assert tags["mlflow.project.env"] == "uv"
    assert len(tags["mlflow.source.git.commit"]) == 40
    assert str(bare) in tags["mlflow.source.git.repoURL"]
    assert str(tmp_path / "envs") in tags["cwd"] or str(tmp_path / "projects") in tags["cwd"]

    again = go("-P", "x=3")
    assert f"Reusing run {found.info.run_id}" in again.stderr
    assert "child run" not in again.stdout
    other = go("-P", "x=4")
    assert "Creating environment" not in other.stderr
    assert "(cached)" in other.stderr
    assert len(all_runs(uri)) == 2


def test_journey_7_the_workflow_reuses_its_steps_the_second_time(tmp_path: Path) -> None:
    # A copy outside git: the cache key then hashes the project's files.
    project = tmp_path / "workflow"
    shutil.copytree(WORKFLOW, project, ignore=shutil.ignore_patterns("__pycache__"))
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    first = mltrail_run(str(project), "-P", "rows=200", uri=uri, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Reusing run" not in first.stderr
    runs = all_runs(uri)
    assert len(runs) == 4
    (main,) = [r for r in runs if r.data.tags["mlflow.project.entryPoint"] == "main"]
    steps = {r.data.tags["mlflow.project.entryPoint"]: r for r in runs if r is not main}
    assert set(steps) == {"load_data", "train", "evaluate"}
    assert all(s.data.tags["mlflow.parentRunId"] == main.info.run_id for s in steps.values())
    assert all(s.info.experiment_id == main.info.experiment_id for s in steps.values())
    assert main.data.metrics["rmse"] == steps["evaluate"].data.metrics["rmse"]
    assert steps["train"].data.params["data"] == f"runs:/{steps['load_data'].info.run_id}/data"

    second = mltrail_run(str(project), "-P", "rows=200", uri=uri, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    for step in steps.values():
        assert f"Reusing run {step.info.run_id}" in second.stderr
    assert len(all_runs(uri)) == 5  # only the new main run

    changed = mltrail_run(str(project), "-P", "rows=200", "-P", "l2=0.5", uri=uri, cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert f"Reusing run {steps['load_data'].info.run_id}" in changed.stderr
    assert f"Reusing run {steps['train'].info.run_id}" not in changed.stderr
    assert len(all_runs(uri)) == 8  # main, train and evaluate ran again


def test_journey_6_typed_parameters_then_a_docker_build_context(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    done = mltrail_run(str(MLOPS_WINE), "-P", "alpha=0.3", "--env-manager", "local", uri=uri,
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (found,) = all_runs(uri)
    assert found.info.status == "FINISHED"
    assert found.data.params["alpha"] == "0.3" and found.data.params["beta"] == "0.2"
    assert found.data.tags["mlflow.project.entryPoint"] == "main"
    assert found.data.metrics["rmse"] > 0
    model_uri = done.stdout.split()[-1]
    assert model_uri.startswith("models:/m-")

    bad = mltrail_run(str(MLOPS_WINE), "-P", "beta=high", "--env-manager", "local", uri=uri,
                      cwd=tmp_path)
    assert bad.returncode != 0 and "beta" in bad.stderr
    assert len(all_runs(uri)) == 1

    out = tmp_path / "image"
    context = subprocess.run(
        [*MLTRAIL, "models", "generate-dockerfile", "-m", model_uri, "-d", str(out),
         "--enable-mlserver"],
        cwd=tmp_path, env=clean_env(MLTRAIL_TRACKING_URI=uri), capture_output=True, text=True,
        timeout=300,
    )
    assert context.returncode == 0, context.stderr
    assert "MLServer images are not supported" in context.stderr
    assert (out / "Dockerfile").is_file() and (out / "model" / "MLmodel").is_file()
