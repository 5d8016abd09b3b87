"""Environments built with uv from a model's requirements: built once, reused, and used by
``mltrail models predict --env-manager uv`` (real uv, real packages from the index)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

import mltrail
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.models.envs import mltrail_requirement, prepare_env, python_version_of

MLTRAIL = [sys.executable, "-m", "mltrail.cli.main"]


@pytest.fixture(scope="module")
def env_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x = pd.DataFrame({"a": np.linspace(0, 1, 50), "b": np.linspace(1, 0, 50)})
    path = tmp_path_factory.mktemp("model") / "m"
    mltrail.sklearn.save_model(
        LogisticRegression().fit(x, x["a"] > 0.5), str(path), serialization_format="cloudpickle"
    )
    return path


def test_an_environment_is_built_once_and_reused(model_dir: Path, env_root: Path) -> None:
    python = prepare_env(str(model_dir), str(env_root))
    assert python.startswith(str(env_root))
    done = subprocess.run(
        [python, "-c", "import sklearn, cloudpickle, mltrail; print(sklearn.__version__)"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    import sklearn

    assert done.stdout.strip() == sklearn.__version__  # the pinned version, not the newest
    assert prepare_env(str(model_dir), str(env_root)) == python
    assert len([p for p in env_root.iterdir() if p.is_dir()]) == 1


def test_predict_runs_in_the_models_environment(
    model_dir: Path, env_root: Path, tmp_path: Path
) -> None:
    pd.DataFrame({"a": [0.9, 0.1], "b": [0.1, 0.9]}).to_csv(tmp_path / "in.csv", index=False)
    env = {**os.environ, "MLTRAIL_ENV_ROOT": str(env_root)}
    done = subprocess.run(
        [*MLTRAIL, "models", "predict", "-m", str(model_dir), "-i", str(tmp_path / "in.csv"),
         "-o", str(tmp_path / "out.csv"), "--env-manager", "uv", "--no-progress"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].tolist() == [True, False]


def test_a_python_that_is_not_installed_is_named(model_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "m"
    other.mkdir()
    for name in ("MLmodel", "requirements.txt", "model.pkl"):
        (other / name).write_bytes((model_dir / name).read_bytes())
    (other / "python_env.yaml").write_text(yaml.safe_dump({"python": "3.2.1"}))
    with pytest.raises(MltrailError, match="Python 3.2 installed"):
        prepare_env(str(other), str(tmp_path / "envs"))
    assert [p.name for p in (tmp_path / "envs").iterdir() if p.is_dir()] == []


def test_the_python_version_is_read_as_major_minor(tmp_path: Path) -> None:
    (tmp_path / "python_env.yaml").write_text("python: 3.11.7\n")
    assert python_version_of(str(tmp_path)) == "3.11"
    (tmp_path / "python_env.yaml").write_text("python: eleven\n")
    with pytest.raises(InvalidArgument, match="Invalid Python version 'eleven'"):
        python_version_of(str(tmp_path))


def test_mltrail_comes_from_its_source_folder_when_installed_from_one() -> None:
    requirement = mltrail_requirement()
    source = Path(__file__).resolve().parents[1]
    assert requirement in (
        f"mltrail[server,models] @ file://{source}",
        f"mltrail[server,models]=={mltrail.__version__}",
    )
