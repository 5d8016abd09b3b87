"""The projects suite: `mltrail run` and `mlflow run` of the same tiny project.

`bench/run.py --suite projects` imports this module and drives the workload from its own
process; each library runs as its user runs it, through its command line, in a fresh
temporary folder with `MLFLOW_TRACKING_URI=sqlite:///<tmp>/x.db` (mltrail honours it too).

The project is the issue's: an MLproject whose entry point `main` (two float parameters)
runs `python train.py {alpha} {l1_ratio}`, a script that logs the two parameters and a
metric through the library's fluent API. Its first line writes `time.time()` to a file
(`BENCH_FIRST_LINE`), before it imports anything else; the launcher takes `time.time()` just
before it starts the command, so "to the first line" is everything the runner does before
the entry point runs: its own start, reading the MLproject, the environment, creating the
run. "End to end" is the whole command's wall time.

Workload and what its scale means:

  projects_run   N timed runs of `<cli> run PROJECT -P alpha=... --env-manager local` per
                 library (after one untimed run that creates the store and warms the
                 bytecode cache), medians reported; for mltrail also N runs with
                 `--env-manager uv` once its environment is built (the build is timed once)

Afterwards every run is read back with the library's own client: each must be FINISHED with
its metric, or the workload fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Figures = dict[str, Any]

NAMES: tuple[str, ...] = ("projects_run",)
RUN_TIMEOUT_S = 600.0

MLPROJECT = """\
name: bench-tiny
{env}
entry_points:
  main:
    parameters:
      alpha: {{type: float, default: 0.5}}
      l1_ratio: {{type: float, default: 0.1}}
    command: "python train.py {{alpha}} {{l1_ratio}}"
"""

TRAIN_PY = """\
import time
with open(__import__("os").environ["BENCH_FIRST_LINE"], "w") as _f:
    _f.write(repr(time.time()))
import importlib, os, sys
lib = importlib.import_module(os.environ["BENCH_LIB"])
with lib.start_run():
    lib.log_params({"alpha": sys.argv[1], "l1_ratio": sys.argv[2]})
    lib.log_metric("rmse", float(sys.argv[1]) / 2)
"""

READ_BACK = """\
import importlib, json, sys
lib = importlib.import_module(sys.argv[1])
runs = lib.MlflowClient().search_runs(["0"], max_results=1000)
print(json.dumps([[r.info.status, r.data.metrics.get("rmse"), r.data.params.get("alpha")]
                  for r in runs]))
"""


@dataclasses.dataclass(frozen=True)
class ProjectSpec:
    lib: str
    python: Path  # the library's interpreter (reads the runs back)
    cli: tuple[str, ...]  # the command that starts the library's CLI
    env: dict[str, str]  # its environment (bench/run.py's library_env, PATH with its venv)


class BenchError(Exception):
    pass


def write_project(directory: Path, env_line: str = "") -> Path:
    directory.mkdir(parents=True)
    (directory / "MLproject").write_text(MLPROJECT.format(env=env_line))
    (directory / "train.py").write_text(TRAIN_PY)
    if env_line:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        (directory / "python_env.yaml").write_text(f'python: "{version}"\ndependencies: []\n')
    return directory


def timed_run(spec: ProjectSpec, project: Path, workdir: Path, alpha: str,
              env_manager: str, extra_env: dict[str, str] | None = None) -> tuple[float, float]:
    """One `<cli> run`: (seconds to the entry point's first line, seconds end to end)."""
    marker = workdir / "first_line.txt"
    marker.unlink(missing_ok=True)
    env = dict(spec.env)
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{workdir / 'x.db'}", BENCH_LIB=spec.lib,
               BENCH_FIRST_LINE=str(marker), **(extra_env or {}))
    argv = [*spec.cli, "run", str(project), "-P", f"alpha={alpha}", "--env-manager", env_manager]
    start = time.time()
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {done.returncode}:\n{done.stderr[-3000:]}")
    if not marker.exists():
        raise BenchError(f"`{' '.join(argv)}` never ran the entry point's first line")
    return float(marker.read_text()) - start, wall


def read_back(spec: ProjectSpec, workdir: Path, expected: int) -> None:
    env = dict(spec.env, MLFLOW_TRACKING_URI=f"sqlite:///{workdir / 'x.db'}")
    done = subprocess.run([str(spec.python), "-c", READ_BACK, spec.lib], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise BenchError(f"reading the runs back failed:\n{done.stderr[-3000:]}")
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    good = [r for r in runs if r[0] == "FINISHED" and r[1] is not None]
    if len(runs) != expected or len(good) != expected:
        raise BenchError(f"expected {expected} FINISHED runs with their metric, found {runs}")


def projects_run(spec: ProjectSpec, root: Path, repeats: int) -> Figures:
    project = write_project(root / "project")
    workdir = root / "local"
    workdir.mkdir()
    # Untimed: creates the store (MLflow runs its migrations) and warms the bytecode cache.
    cold_first, cold_wall = timed_run(spec, project, workdir, "0.05", "local")
    firsts, walls = [], []
    for i in range(repeats):
        first, wall = timed_run(spec, project, workdir, f"0.{i + 1}", "local")
        firsts.append(first)
        walls.append(wall)
    read_back(spec, workdir, repeats + 1)
    fig: Figures = {
        "first_line_s": statistics.median(firsts),
        "end_to_end_s": statistics.median(walls),
        "first_line_all_s": firsts,
        "end_to_end_all_s": walls,
        "new_store_end_to_end_s": cold_wall,
        "new_store_first_line_s": cold_first,
    }
    if spec.lib == "mltrail":
        fig.update(uv_case(spec, root, repeats))
    return fig


def uv_case(spec: ProjectSpec, root: Path, repeats: int) -> Figures:
    """mltrail with `--env-manager uv`: the environment built once, then warm runs."""
    project = write_project(root / "project-uv", env_line="python_env: python_env.yaml")
    workdir = root / "uv"
    workdir.mkdir()
    envs = {"MLTRAIL_ENV_ROOT": str(root / "envs")}
    _first, build_wall = timed_run(spec, project, workdir, "0.05", "uv", envs)
    firsts, walls = [], []
    for i in range(repeats):
        first, wall = timed_run(spec, project, workdir, f"0.{i + 1}", "uv", envs)
        firsts.append(first)
        walls.append(wall)
    read_back(spec, workdir, repeats + 1)
    return {
        "uv_build_end_to_end_s": build_wall,
        "uv_first_line_s": statistics.median(firsts),
        "uv_end_to_end_s": statistics.median(walls),
    }


def _failure(exc: BaseException) -> Figures:
    if isinstance(exc, BenchError):
        return {"error": str(exc)}
    return {"error": "".join(traceback.format_exception(exc)).strip()}


def run_suite(specs: Sequence[ProjectSpec], scales: dict[str, dict[str, int]],
              log: Callable[[str], None]) -> dict[str, dict[str, Figures]]:
    """Run `projects_run` for each library in turn (`scales`: `{name: {lib: repeats}}`)."""
    results: dict[str, dict[str, Figures]] = {n: {} for n in NAMES if n in scales}
    for name in results:
        for spec in specs:
            repeats = scales[name][spec.lib]
            log(f"{name} / {spec.lib} ({repeats} timed runs) ...")
            root = Path(tempfile.mkdtemp(prefix=f"bench-projects-{spec.lib}-"))
            t0 = time.perf_counter()
            try:
                fig = projects_run(spec, root, repeats)
            except Exception as exc:
                fig = _failure(exc)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            fig.update(scale=repeats, loadavg_1m=os.getloadavg()[0],
                       process_wall_s=time.perf_counter() - t0)
            results[name][spec.lib] = fig
            if "error" in fig:
                log(f"{name} / {spec.lib} FAILED:\n{fig['error']}")
            else:
                log(f"{name} / {spec.lib} done in {fig['process_wall_s']:.1f} s")
    return results
