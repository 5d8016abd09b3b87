"""The registry's "done when", as a new user types it against a tracking server: train twice
with the example script, register both runs' models from the command line, point the
``champion`` alias at one and then move it, and serve ``models:/<name>@champion`` with
``mltrail models serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from fixtures_server import serving_model

import mltrail

ROOT = Path(__file__).resolve().parent.parent
MLTRAIL = [sys.executable, "-m", "mltrail.cli.main"]


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env["MLFLOW_TRACKING_URI"] = url  # as the user's shell has it (journey 4)
    return env


def _run(args: list[str], url: str, cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, env=_env(url), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_register_move_champion_and_serve_it(tracking_server: Any, tmp_path: Path) -> None:
    url = tracking_server.url
    train = [sys.executable, str(ROOT / "examples" / "sklearn_logistic_regression" / "train.py")]
    first = _run(train, url, tmp_path).split()[-1]
    second = _run(train, url, tmp_path).split()[-1]

    def cli(*args: str) -> str:
        return _run([*MLTRAIL, *args], url, tmp_path)

    assert cli("registry", "register", "-m", f"runs:/{first}/model", "-n", "quality").strip() == "1"
    assert cli("registry", "register", "-m", f"runs:/{second}/model", "-n", "quality").strip() == "2"
    cli("registry", "alias", "-n", "quality", "-a", "champion", "-v", "1")
    cli("registry", "alias", "-n", "quality", "-a", "champion", "-v", "2")

    shown = json.loads(cli("registry", "show", "-n", "quality", "--output", "json"))
    by_version = {v["version"]: v for v in shown["model_versions"]}
    assert by_version["2"]["aliases"] == ["champion"] and "aliases" not in by_version["1"]
    assert by_version["2"]["run_id"] == second
    assert by_version["2"]["source"].startswith("models:/m-")

    body = {"dataframe_split": {"columns": ["x"], "data": [[-2.0], [0.5], [2.0]]}}
    with serving_model("models:/quality@champion", tmp_path, _env(url)) as served:
        answer = httpx.post(f"{served}/invocations", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]

    # The server scored what the champion is: the second run's model, loaded here directly.
    client = mltrail.MltrailClient(url)
    champion = client.get_model_version_by_alias("quality", "champion")
    assert (champion.version, champion.run_id) == (2, second)
    mltrail.set_tracking_uri(url)
    try:
        direct = mltrail.pyfunc.load_model(f"runs:/{second}/model").predict(
            pd.DataFrame({"x": [-2.0, 0.5, 2.0]})
        )
    finally:
        mltrail.set_tracking_uri("")
    np.testing.assert_array_equal(np.asarray(predictions), np.asarray(direct))
