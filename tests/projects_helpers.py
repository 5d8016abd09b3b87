"""A tiny MLproject for the projects tests, and helpers to run ``mltrail run`` for real."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from mltrail import MltrailClient
from mltrail.entities import Run
from mltrail.settings import Settings

MLTRAIL = [sys.executable, "-m", "mltrail.cli.main"]

MLPROJECT = """\
name: tiny
entry_points:
  main:
    parameters:
      x: {type: float, default: 1.0}
      word: {type: string, default: hello}
    command: "python log.py {x} {word}"
  fail:
    parameters:
      code: {type: int, default: 3}
    command: "python fail.py {code}"
  wait:
    parameters:
      go: {type: string}
    command: "python wait.py {go}"
  data:
    parameters:
      input: {type: path}
    command: "python log.py 0 {input}"
"""

LOG_PY = """\
import json, os, sys
import mltrail
with mltrail.start_run() as run:
    mltrail.log_metric("x", float(sys.argv[1]))
    mltrail.set_tag("argv", json.dumps(sys.argv[1:]))
    mltrail.set_tag("cwd", os.getcwd())
print("child run", run.info.run_id)
"""

FAIL_PY = """\
import sys
import mltrail
mltrail.log_metric("before_failing", 1)
sys.exit(int(sys.argv[1]))
"""

WAIT_PY = """\
# Writes its pid and a grandchild's, then waits until the file named by argv[1] exists.
import os, subprocess, sys, time
import mltrail
mltrail.set_tag("waiting", "yes")
grandchild = subprocess.Popen(["sleep", "300"])
with open("pids.txt", "w") as handle:
    handle.write(f"{os.getpid()} {grandchild.pid}")
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
grandchild.kill()
"""


def write_project(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLproject").write_text(MLPROJECT)
    (directory / "log.py").write_text(LOG_PY)
    (directory / "fail.py").write_text(FAIL_PY)
    (directory / "wait.py").write_text(textwrap.dedent(WAIT_PY))
    return directory


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any tracking variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRAIL_", "MLFLOW_"))}
    env.update(extra)
    return env


def mltrail_run(
    *args: str, uri: str | None, cwd: Path | str | None = None, timeout: float = 180, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = clean_env(**extra) if uri is None else clean_env(MLTRAIL_TRACKING_URI=uri, **extra)
    return subprocess.run(
        [*MLTRAIL, "run", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )


def all_runs(uri: str) -> list[Run]:
    """Every run in every experiment of the store at ``uri``."""
    client = MltrailClient(uri, settings=Settings(async_logging=False))
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids, max_results=1000))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
