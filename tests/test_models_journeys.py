"""Journey 3 as a user types it: train with the example script, serve ``runs:/<id>/model``
with ``mltrail models serve``, score it in every format MLflow's clients send, and score a
Parquet file with ``mltrail models predict``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fixtures_server import serving_model

ROOT = Path(__file__).resolve().parent.parent
MLTRAIL = [sys.executable, "-m", "mltrail.cli.main"]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env["MLTRAIL_TRACKING_URI"] = f"sqlite:///{tmp / 'mltrail.db'}"
    return env


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The example trained in a fresh folder: the folder, and the run id it printed."""
    tmp = tmp_path_factory.mktemp("journey3")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sklearn_logistic_regression" / "train.py")],
        cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return tmp, done.stdout.split()[-1]


@pytest.fixture(scope="module")
def served(trained: tuple[Path, str]) -> Iterator[str]:
    tmp, run_id = trained
    with serving_model(f"runs:/{run_id}/model", tmp, _env(tmp), timeout=60) as url:
        yield url


def test_the_users_curl_in_mlflow_1_form_gets_the_bare_answer(served: str) -> None:
    r = httpx.post(
        f"{served}/invocations",
        content=b'{"columns":["x"], "data":[[1], [-1]]}',
        headers={"Content-Type": "application/json; format=pandas-split"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == [1, 0]


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["x"], "data": [[1], [-1]]}},
        {"dataframe_records": [{"x": 1}, {"x": -1}]},
        {"instances": [{"x": 1}, {"x": -1}]},
        {"inputs": {"x": [1, -1]}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs"],
)
def test_every_json_form_scores(served: str, body: dict[str, object]) -> None:
    r = httpx.post(f"{served}/invocations", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [1, 0]}


def test_csv_and_parquet_score(served: str) -> None:
    r = httpx.post(f"{served}/invocations", content=b"x\n1\n-1\n",
                   headers={"Content-Type": "text/csv"})
    assert (r.status_code, r.json()) == (200, {"predictions": [1, 0]})
    parquet = io.BytesIO()
    pd.DataFrame({"x": [1.0, -1.0]}).to_parquet(parquet)
    r = httpx.post(f"{served}/invocations", content=parquet.getvalue(),
                   headers={"Content-Type": "application/vnd.apache.parquet"})
    assert (r.status_code, r.json()) == (200, {"predictions": [1, 0]})


def test_bad_input_is_a_400_naming_the_problem(served: str) -> None:
    r = httpx.post(f"{served}/invocations", json={"dataframe_split": {"columns": ["y"], "data": [[1]]}})
    assert r.status_code == 400
    assert r.json()["error_code"] == "BAD_REQUEST" and "'x'" in r.json()["message"]
    r = httpx.post(f"{served}/invocations", json={"dataframe_records": [{"x": "tall"}]})
    assert r.status_code == 400 and "'x'" in r.json()["message"]
    r = httpx.post(f"{served}/invocations", content=b'{"inputs": [1,', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert httpx.get(f"{served}/ping").status_code == 200


def test_the_root_page_says_what_is_served(served: str, trained: tuple[Path, str]) -> None:
    r = httpx.get(f"{served}/")
    assert r.status_code == 200
    assert "/invocations" in r.text and trained[1] in r.text


def test_predict_scores_a_parquet_file_into_csv(trained: tuple[Path, str]) -> None:
    tmp, run_id = trained
    pd.DataFrame({"x": [2.0, -2.0, 1.0]}).to_parquet(tmp / "in.parquet")
    done = subprocess.run(
        [*MLTRAIL, "models", "predict", "-m", f"runs:/{run_id}/model", "-i", "in.parquet",
         "-o", "out.csv"],
        cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp / "out.csv")["prediction"].tolist() == [1, 0, 1]
    done = subprocess.run(
        [*MLTRAIL, "models", "predict", "-m", f"runs:/{run_id}/model", "-i", "in.parquet"],
        cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '{"predictions":[1,0,1]}'
    done = subprocess.run(
        [*MLTRAIL, "models", "predict", "-m", f"runs:/{run_id}/model", "-i", "in.txt"],
        cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1 and "Cannot tell the input format" in done.stderr
