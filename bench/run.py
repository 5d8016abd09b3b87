"""Run mltrail's benchmark workloads side by side with MLflow and print the ratios.

    python bench/run.py [--suite embedded|server|registry|models|projects|ui|all] [--quick]
                        [--only NAME[,NAME...]]
                        [--lib both|mltrail|mlflow] [--json OUT.json] [--write-docs]

MLflow lives only in its own venv, ``bench/.venv-mlflow``, which this script creates with uv
on first use. mltrail runs with the interpreter running this script, importing ``src/`` of
this checkout.

Six suites. The embedded suite calls each library in-process: every (workload, library)
pair runs as a fresh process of ``bench/workloads.py`` in a fresh temporary directory,
against a fresh SQLite store there. The server suite (``bench/servers.py``, run in this
process) starts ``mlflow server`` and ``mltrail server`` as subprocesses on fresh stores and
drives them over HTTP; the registry suite drives the same servers through the registry's
endpoints. The models suite (``bench/models.py``, driven from this process) saves
the same scikit-learn model with each library, then serves it (``models serve``), scores a
CSV file with it (``models predict``) and scores a Spark DataFrame with it (``spark_udf``).
The projects suite (``bench/projects.py``) times ``mltrail run`` and ``mlflow run`` of the
same tiny project. The UI suite (``bench/ui.py``) opens each library's web UI in headless
Chromium on the same data and times pages until they show what a user came for. See
bench/README.md for what each workload measures.

``--write-docs`` rewrites docs/benchmarks.md; the sections of suites this run left out are
kept from the page as it was, marked with the date of the run that measured them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import models
import projects
import servers
import ui

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKER = BENCH / "workloads.py"
DOCS = REPO / "docs" / "benchmarks.md"
MLFLOW_VENV = BENCH / ".venv-mlflow"
PYCACHE = BENCH / ".pycache"
MLFLOW_PIN = "3.17.2"
LIBS = ("mltrail", "mlflow")
WORKER_TIMEOUT_S = 3 * 3600

Figures = dict[str, Any]


# ---------------------------------------------------------------------------- what is run


@dataclasses.dataclass(frozen=True)
class Scale:
    """The worker's --scale for each library (see bench/workloads.py for its meaning)."""

    mltrail: int
    mlflow: int

    def of(self, lib: str) -> int:
        return int(getattr(self, lib))


EMBEDDED_NAMES = ("training_loop", "log_batch", "search_runs", "import_time")
REGISTRY_NAMES = ("server_registry",)
SERVER_NAMES = tuple(n for n in servers.NAMES if n not in REGISTRY_NAMES)
MODELS_NAMES = models.NAMES
PROJECTS_NAMES = projects.NAMES
UI_NAMES = ui.NAMES
WORKLOAD_NAMES = (*EMBEDDED_NAMES, *SERVER_NAMES, *REGISTRY_NAMES, *MODELS_NAMES,
                  *PROJECTS_NAMES, *UI_NAMES)
SUITES = {"embedded": EMBEDDED_NAMES, "server": SERVER_NAMES, "registry": REGISTRY_NAMES,
          "models": MODELS_NAMES, "projects": PROJECTS_NAMES, "ui": UI_NAMES,
          "all": WORKLOAD_NAMES}
# The title of each suite's section in docs/benchmarks.md.
SECTION_TITLES = {"embedded": "Embedded suite", "server": "Server suite",
                  "registry": "Registry suite", "models": "Models suite",
                  "projects": "Projects suite", "ui": "UI suite"}

# MLflow is measured on a smaller training_loop and log_batch because it is synchronous and
# slow at both (the figures compared are per point, so the sizes need not match).
FULL: dict[str, Scale] = {
    "training_loop": Scale(mltrail=10_000, mlflow=100),  # steps; 5 points a step
    "log_batch": Scale(mltrail=1_000_000, mlflow=50_000),  # points
    "search_runs": Scale(mltrail=10_000, mlflow=10_000),  # runs
    "import_time": Scale(mltrail=7, mlflow=7),  # timed starts
    # The server suite (bench/servers.py). MLflow's server answers log-batch at a few
    # thousand points/s, so it logs fewer points; the figures compared are rates.
    "server_log_batch": Scale(mltrail=1_000_000, mlflow=50_000),  # points
    "server_log_metric_latency": Scale(mltrail=500, mlflow=500),  # calls
    "server_search": Scale(mltrail=1_000, mlflow=1_000),  # runs
    "server_history": Scale(mltrail=200_000, mlflow=200_000),  # points of one metric
    "server_concurrent": Scale(mltrail=10, mlflow=10),  # seconds of 8 threads logging
    "server_artifacts": Scale(mltrail=100, mlflow=100),  # MiB
    "server_start_and_idle": Scale(mltrail=3, mlflow=1),  # starts of each configuration
    "server_registry": Scale(mltrail=10_000, mlflow=10_000),  # model versions of 100 models
    # The models suite (bench/models.py): the same sizes for both; a --quick run also makes
    # fewer starts, a shorter concurrent load and fewer batch requests (models.QUICK_SIZES).
    "models_serve": Scale(mltrail=2_000, mlflow=2_000),  # sequential 1-row requests
    "models_predict": Scale(mltrail=100_000, mlflow=100_000),  # rows of the CSV
    "models_spark": Scale(mltrail=1_000_000, mlflow=1_000_000),  # rows of the DataFrame
    # The projects suite (bench/projects.py): timed runs of a tiny project per library.
    "projects_run": Scale(mltrail=7, mlflow=5),
    # The UI suite (bench/ui.py): the same data for both. ui_runs_table and ui_compare share
    # one experiment, so they share one scale (runs); ui_metric_chart's is the points.
    "ui_runs_table": Scale(mltrail=10_000, mlflow=10_000),
    "ui_compare": Scale(mltrail=10_000, mlflow=10_000),
    "ui_metric_chart": Scale(mltrail=1_000_000, mlflow=1_000_000),
}
QUICK: dict[str, Scale] = {
    "training_loop": Scale(mltrail=1_000, mlflow=20),
    "log_batch": Scale(mltrail=50_000, mlflow=10_000),
    "search_runs": Scale(mltrail=1_000, mlflow=1_000),
    "import_time": Scale(mltrail=3, mlflow=3),
    "server_log_batch": Scale(mltrail=100_000, mlflow=10_000),
    "server_log_metric_latency": Scale(mltrail=200, mlflow=50),
    "server_search": Scale(mltrail=100, mlflow=100),
    "server_history": Scale(mltrail=10_000, mlflow=10_000),
    "server_concurrent": Scale(mltrail=3, mlflow=3),
    "server_artifacts": Scale(mltrail=10, mlflow=10),
    "server_start_and_idle": Scale(mltrail=1, mlflow=1),
    "server_registry": Scale(mltrail=1_000, mlflow=1_000),
    "models_serve": Scale(mltrail=200, mlflow=200),
    "models_predict": Scale(mltrail=10_000, mlflow=10_000),
    "models_spark": Scale(mltrail=100_000, mlflow=100_000),
    "projects_run": Scale(mltrail=3, mlflow=2),
    "ui_runs_table": Scale(mltrail=1_000, mlflow=1_000),
    "ui_compare": Scale(mltrail=1_000, mlflow=1_000),
    "ui_metric_chart": Scale(mltrail=100_000, mlflow=100_000),
}


@dataclasses.dataclass(frozen=True)
class Goal:
    """One row of the table: a figure of a workload, and what mltrail's must be.

    `min_ratio` is how many times better than MLflow mltrail must be (cheaper if
    `lower_is_better`, else higher); `limit` is a bound on mltrail's own figure (strict:
    `limit=1` with `lower_is_better` means 0 for a count). A `full_scale_only` limit is
    judged only on a full run. With `extrapolate`, MLflow's figure is scaled linearly from
    its --scale to mltrail's (MLflow is measured smaller). A goal with neither bound is a
    figure shown for reference.
    """

    workload: str
    figure: str
    label: str
    unit: str
    lower_is_better: bool
    min_ratio: float | None = None
    limit: float | None = None
    full_scale_only: bool = False
    extrapolate: bool = False
    text: str | None = None  # the goal column, when the default wording does not fit

    def describe(self) -> str:
        if self.text is not None:
            return self.text
        parts = []
        if self.limit is not None:
            parts.append(f"{'<' if self.lower_is_better else '>'} {self.limit:g} {self.unit}")
        if self.min_ratio is not None:
            parts.append(f"≥ {self.min_ratio:g}×")
        return " and ".join(parts)


# The goals from the issue. Figures are recorded, never asserted in tests.
GOALS: tuple[Goal, ...] = (
    Goal("training_loop", "per_point_us", "cost per logged point", "µs",
         lower_is_better=True, min_ratio=50),
    Goal("training_loop", "overhead_s", "log_metric calls + end_run", "s",
         lower_is_better=True, limit=1.0, full_scale_only=True, extrapolate=True),
    Goal("log_batch", "points_per_s", "log_batch throughput", "points/s",
         lower_is_better=False, min_ratio=50),
    Goal("search_runs", "median_ms", "filtered search, median", "ms",
         lower_is_better=True, min_ratio=10),
    Goal("import_time", "import_ms", "import time", "ms",
         lower_is_better=True, min_ratio=4, limit=150),
    # The server suite: both servers with 2 workers, driven over HTTP (bench/servers.py).
    Goal("server_log_batch", "points_per_s", "runs/log-batch throughput", "points/s",
         lower_is_better=False, min_ratio=50),
    Goal("server_log_metric_latency", "p50_ms", "runs/log-metric latency, p50", "ms",
         lower_is_better=True, min_ratio=20),
    Goal("server_log_metric_latency", "p99_ms", "runs/log-metric latency, p99", "ms",
         lower_is_better=True),
    Goal("server_search", "filtered_ms", "runs/search filtered + ordered, median", "ms",
         lower_is_better=True, min_ratio=20),
    Goal("server_search", "all_ms", "runs/search all runs, median", "ms",
         lower_is_better=True, min_ratio=10),
    Goal("server_search", "all_json_bytes", "runs/search all runs, response JSON", "bytes",
         lower_is_better=True, min_ratio=1, text="no larger"),
    Goal("server_history", "seconds", "metrics/get-history, median", "s",
         lower_is_better=True, min_ratio=20),
    Goal("server_concurrent", "calls_per_s", "8 threads logging: throughput", "calls/s",
         lower_is_better=False, min_ratio=10),
    Goal("server_concurrent", "errors", "8 threads logging: failed calls", "calls",
         lower_is_better=True, limit=1, text="none"),
    Goal("server_artifacts", "upload_mib_s", "artifact proxy upload", "MiB/s",
         lower_is_better=False, min_ratio=1),
    Goal("server_artifacts", "download_mib_s", "artifact proxy download", "MiB/s",
         lower_is_better=False, min_ratio=1),
    Goal("server_artifacts", "rss_growth_pct", "server RSS growth / file size", "%",
         lower_is_better=True, limit=25),
    Goal("server_registry", "one_model_ms", "model-versions/search, one model's 100", "ms",
         lower_is_better=True, min_ratio=5),
    Goal("server_registry", "like_ms", "model-versions/search, LIKE, newest 1,000", "ms",
         lower_is_better=True, min_ratio=5),
    Goal("server_registry", "tag_ms", "model-versions/search, name and tag", "ms",
         lower_is_better=True, min_ratio=5),
    Goal("server_registry", "all_ms", "model-versions/search, all in pages of 1,000", "ms",
         lower_is_better=True, min_ratio=5),
    Goal("server_registry", "alias_p50_ms", "alias resolution on load, p50", "ms",
         lower_is_better=True, min_ratio=5),
    Goal("server_start_and_idle", "start_default_s", "start to /health, defaults", "s",
         lower_is_better=True, limit=1),
    Goal("server_start_and_idle", f"start_w{servers.WORKERS}_s",
         f"start to /health, {servers.WORKERS} workers", "s", lower_is_better=True, limit=1),
    Goal("server_start_and_idle", "idle_rss_default_mib", "idle RSS, defaults", "MiB",
         lower_is_better=True, min_ratio=10),
    Goal("server_start_and_idle", f"idle_rss_w{servers.WORKERS}_mib",
         f"idle RSS, {servers.WORKERS} workers", "MiB", lower_is_better=True, min_ratio=10),
    # The models suite: a LogisticRegression on 20 features (bench/models.py).
    Goal("models_serve", "conc_req_per_s", "serve 1-row, 16 connections", "req/s",
         lower_is_better=False, min_ratio=10),
    Goal("models_serve", "conc_p99_ms", "serve 1-row, 16 connections, p99", "ms",
         lower_is_better=True, min_ratio=10),
    Goal("models_serve", "seq_p50_ms", "serve 1-row, sequential, p50", "ms",
         lower_is_better=True),
    Goal("models_serve", "batch_rows_per_s", "serve 10,000-row requests", "rows/s",
         lower_is_better=False, min_ratio=5),
    Goal("models_serve", "errors", "serve: failed or wrong answers", "requests",
         lower_is_better=True, limit=1, text="none"),
    Goal("models_serve", "start_s", "serve: start to first 200 on /ping", "s",
         lower_is_better=True, limit=1),
    Goal("models_predict", "seconds", "models predict, whole command", "s",
         lower_is_better=True, min_ratio=4),
    Goal("models_spark", "pass1_rows_per_s", "spark_udf first pass", "rows/s",
         lower_is_better=False, min_ratio=1.5),
    Goal("models_spark", "pass2_rows_per_s", "spark_udf warm pass", "rows/s",
         lower_is_better=False),
    Goal("models_spark", "warm_over_plain", "spark_udf warm pass / Spark's own pass", "ratio",
         lower_is_better=True, limit=1.3, text="≤ 1.3 (mltrail's own)"),
    # The projects suite: `<cli> run` of a tiny project (bench/projects.py).
    Goal("projects_run", "first_line_s", "run: launch to the entry point's first line", "s",
         lower_is_better=True, min_ratio=10, limit=0.5),
    Goal("projects_run", "end_to_end_s", "run of a tiny project, end to end", "s",
         lower_is_better=True),
    Goal("projects_run", "new_store_end_to_end_s", "run: first run, new store", "s",
         lower_is_better=True),
    Goal("projects_run", "uv_first_line_s", "run --env-manager uv (warm): to first line", "s",
         lower_is_better=True, limit=0.5, text="< 0.5 s (mltrail only)"),
    Goal("projects_run", "uv_build_end_to_end_s", "run --env-manager uv: first (builds)", "s",
         lower_is_better=True),
    # The UI suite: pages in headless Chromium, a returning user's visit (bench/ui.py).
    Goal("ui_runs_table", "warm_ms", "10,000 runs: first rows on screen", "ms",
         lower_is_better=True, min_ratio=5, limit=1000),
    Goal("ui_runs_table", "cold_ms", "10,000 runs: first rows, first visit", "ms",
         lower_is_better=True),
    Goal("ui_metric_chart", "warm_ms", "1,000,000-point metric: chart drawn", "ms",
         lower_is_better=True, limit=1000),
    Goal("ui_metric_chart", "cold_ms", "1,000,000-point metric: chart, first visit", "ms",
         lower_is_better=True),
    Goal("ui_compare", "warm_ms", "compare 100 runs: table and first chart", "ms",
         lower_is_better=True, limit=2000),
    Goal("ui_compare", "cold_ms", "compare 100 runs, first visit", "ms",
         lower_is_better=True),
)


# ---------------------------------------------------------------------------- interpreters


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed_version(python: Path, dist: str) -> str | None:
    code = f"from importlib.metadata import version; print(version({dist!r}))"
    p = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def ensure_mlflow_venv() -> tuple[Path, str]:
    """Create bench/.venv-mlflow with MLflow (pinned; else the newest that resolves)."""
    python = venv_python(MLFLOW_VENV)
    uv = shutil.which("uv")
    if not python.exists():
        if uv is None:
            raise SystemExit("uv is needed to create bench/.venv-mlflow (pip install uv)")
        log(f"creating {MLFLOW_VENV.relative_to(REPO)}")
        subprocess.run([uv, "venv", "--python", sys.executable, str(MLFLOW_VENV)], check=True)
    version = installed_version(python, "mlflow")
    if version != MLFLOW_PIN and uv is not None:
        log(f"installing mlflow=={MLFLOW_PIN} into {MLFLOW_VENV.relative_to(REPO)}")
        install = [uv, "pip", "install", "--python", str(python)]
        if subprocess.run([*install, f"mlflow=={MLFLOW_PIN}"]).returncode != 0 and version is None:
            log(f"mlflow=={MLFLOW_PIN} did not install; trying the newest that resolves")
            subprocess.run([*install, "mlflow"], check=True)
        version = installed_version(python, "mlflow")
    if version is None:
        raise SystemExit(f"MLflow is not installed in {MLFLOW_VENV}")
    return python, version


def library_env(lib: str) -> dict[str, str]:
    """The environment of a process of `lib`: ours, minus any tracking settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    # No usage telemetry from MLflow 3 (this machine has no route out anyway).
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    # Imports read cached bytecode, as they do for a user after `pip install`, but the cache
    # is kept under bench/ so that neither src/ nor MLflow's venv gets __pycache__ folders.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE / lib)
    if lib == "mltrail":
        # Benchmark this checkout's src/ even if another mltrail is installed.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p
        )
    else:
        env.pop("PYTHONPATH", None)  # MLflow's venv sees nothing of this checkout
    return env


def worker_env(lib: str, workdir: Path) -> dict[str, str]:
    """The environment of an embedded worker: `library_env` plus a fresh store."""
    env = library_env(lib)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'x.db'}"
    return env


# Added to the environment of every MLflow server but those measured on the defaults. On its
# defaults `mlflow server` also starts a job runner (for GenAI evaluation jobs; no part of
# the tracking API): seven huey consumer processes that import MLflow after /health answers,
# keeping both cores of this machine busy for 20-50 s and adding about 1.9 GB resident.
MLFLOW_BENCH_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def server_spec(lib: str, python: Path) -> servers.ServerSpec:
    """How bench/servers.py starts `lib`'s server: `mlflow server` from MLflow's venv (its
    console script, as a user runs it), `mltrail server` from src/ of this checkout."""
    if lib == "mlflow":
        return servers.ServerSpec(lib=lib, command=(str(python.parent / "mlflow"), "server"),
                                  env=library_env(lib), bench_env=MLFLOW_BENCH_ENV)
    return servers.ServerSpec(lib=lib, command=(str(python), "-m", "mltrail.cli.main", "server"),
                              env=library_env(lib))


def model_spec(lib: str, python: Path) -> models.ModelSpec:
    """How bench/models.py runs `lib`: `mlflow models ...` from MLflow's venv (its console
    script, as a user runs it), `mltrail models ...` from src/ of this checkout."""
    cli = (str(python.parent / "mlflow"),) if lib == "mlflow" else (
        str(python), "-m", "mltrail.cli.main")
    env = library_env(lib)
    # As in an activated venv: `mlflow models serve` runs `uvicorn` from PATH.
    env["PATH"] = os.pathsep.join(p for p in (str(python.parent), env.get("PATH")) if p)
    return models.ModelSpec(lib=lib, python=python, cli=cli, env=env)


def project_spec(lib: str, python: Path) -> projects.ProjectSpec:
    """How bench/projects.py runs `lib`: `mlflow run` from MLflow's venv (its console
    script), `mltrail run` from src/ of this checkout; each venv's bin first on PATH, so the
    entry point's `python` is the library's interpreter, as in an activated venv."""
    cli = (str(python.parent / "mlflow"),) if lib == "mlflow" else (
        str(python), "-m", "mltrail.cli.main")
    env = library_env(lib)
    env["PATH"] = os.pathsep.join(p for p in (str(python.parent), env.get("PATH")) if p)
    return projects.ProjectSpec(lib=lib, python=python, cli=cli, env=env)


def mltrail_version(python: Path) -> str | None:
    """mltrail's version as the benchmarked checkout reports it."""
    code = "import mltrail; print(mltrail.__version__)"
    p = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                       env=library_env("mltrail"))
    return p.stdout.strip() if p.returncode == 0 else None


def run_worker(python: Path, lib: str, workload: str, scale: int) -> Figures:
    """Run one workload in a fresh process and temp dir; return its figures or an error."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{lib}-{workload}-") as tmp:
        workdir = Path(tmp)
        argv = [str(python), str(WORKER), "--lib", lib, "--workload", workload,
                "--scale", str(scale)]
        load, probe, stolen = os.getloadavg()[0], servers.cpu_probe_ms(), servers.steal_s()
        t0 = time.perf_counter()
        try:
            p = subprocess.run(argv, cwd=workdir, env=worker_env(lib, workdir),
                               capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {WORKER_TIMEOUT_S} s"}
        wall = time.perf_counter() - t0
        lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
        if p.returncode != 0 or not lines:
            tail = "\n".join(p.stderr.strip().splitlines()[-30:])
            return {"error": f"exit status {p.returncode}\n{tail}", "process_wall_s": wall}
        try:
            figures: Figures = json.loads(lines[-1])
        except json.JSONDecodeError:
            return {"error": f"no JSON result; last line: {lines[-1][:300]}"}
        figures["scale"] = scale
        figures["loadavg_1m"] = load
        figures["cpu_probe_ms"] = probe
        figures["steal_s"] = servers.steal_s() - stolen
        figures["process_wall_s"] = wall
        figures["stderr_tail"] = p.stderr.strip().splitlines()[-20:]  # warnings, logs
        return figures


# ---------------------------------------------------------------------------- the table


@dataclasses.dataclass
class Row:
    goal: Goal
    mltrail: float | None
    mlflow: float | None
    mlflow_extrapolated: bool
    ratio: float | None
    met: str  # "yes", "no", "n/a" or "failed"


def figure_of(fig: Figures | None, name: str) -> float | None:
    if fig is None or "error" in fig or fig.get(name) is None:
        return None
    return float(fig[name])


def evaluate(goal: Goal, res: dict[str, Figures], scale: Scale, full_scale: bool) -> Row:
    ours = figure_of(res.get("mltrail"), goal.figure)
    theirs = figure_of(res.get("mlflow"), goal.figure)
    if theirs is not None and goal.extrapolate:
        theirs *= scale.mltrail / scale.mlflow
    row = Row(goal, ours, theirs, goal.extrapolate, None, "failed")
    if ours is None or (goal.min_ratio is not None and theirs is None):
        if "mlflow" not in res or "mltrail" not in res:
            row.met = "not run"
        return row
    if theirs is not None and ours > 0 and theirs > 0:
        row.ratio = theirs / ours if goal.lower_is_better else ours / theirs
    checks: list[bool] = []
    if goal.min_ratio is not None and theirs is not None:
        # Compared directly rather than through the ratio, which a zero leaves undefined.
        checks.append(ours * goal.min_ratio <= theirs if goal.lower_is_better
                      else ours >= theirs * goal.min_ratio)
    if goal.limit is not None and (full_scale or not goal.full_scale_only):
        checks.append(ours < goal.limit if goal.lower_is_better else ours > goal.limit)
    row.met = "n/a" if not checks else "yes" if all(checks) else "no"
    return row


def fmt(value: float | None, approx: bool = False) -> str:
    if value is None:
        return "—"
    if value >= 100:
        text = f"{value:,.0f}"
    elif value >= 1:
        text = f"{value:.3g}" if value < 10 else f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return ("~" if approx else "") + text


def table_cells(row: Row) -> list[str]:
    g = row.goal
    return [
        g.workload,
        f"{g.label} ({g.unit})",
        fmt(row.mltrail),
        fmt(row.mlflow, approx=row.mlflow_extrapolated),
        f"{row.ratio:,.1f}×" if row.ratio is not None else "—",
        g.describe(),
        row.met,
    ]


HEADER = ["workload", "figure", "mltrail", "MLflow", "ratio", "goal", "met"]


def print_table(rows: Sequence[Row]) -> None:
    cells = [HEADER] + [table_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    right = {2, 3, 4}
    for n, line in enumerate(cells):
        print("  ".join(c.rjust(w) if i in right else c.ljust(w)
                        for i, (c, w) in enumerate(zip(line, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def markdown_table(rows: Sequence[Row]) -> str:
    out = ["| " + " | ".join(HEADER) + " |",
           "|" + "|".join(" --- " if i not in (2, 3, 4) else " ---: " for i in range(len(HEADER))) + "|"]
    out += ["| " + " | ".join(table_cells(r)) + " |" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------- docs


def source_state() -> str:
    """The commit of this checkout, and whether src/ differs from it (read-only git calls:
    --no-optional-locks keeps `status` from refreshing the index)."""
    def git(*args: str) -> str | None:
        p = subprocess.run(["git", "--no-optional-locks", *args], cwd=REPO,
                           capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else None

    head = git("rev-parse", "--short", "HEAD")
    if head is None:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--", "src")
    return f"{head}, src/ {'with uncommitted changes' if dirty else 'as committed'}"


def machine_facts(mlflow_version: str | None) -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mlflow": mlflow_version,
        "loadavg_start": os.getloadavg(),
        "source_start": source_state(),
    }


def fmt_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    return str(value)


def detail_lines(results: dict[str, dict[str, Figures]], names: Sequence[str]) -> list[str]:
    """One line of raw figures per (workload, library), for the docs."""
    skip = {"lib", "workload", "version", "times_ms", "stderr_tail", "server_first_traceback",
            "command", "first_answer", "output_head"}
    out = []
    for workload in names:
        for lib, fig in results.get(workload, {}).items():
            if "error" in fig:
                lines = [ln for ln in fig["error"].split("--- server log tail")[0].splitlines()
                         if ln.strip()]
                out.append(f"- `{workload}` / {lib}: **failed**: `{lines[-1][:200]}`")
                continue
            items = ", ".join(f"{k} = {fmt_value(v)}" for k, v in sorted(fig.items())
                              if k not in skip)
            out.append(f"- `{workload}` / {lib}: {items}")
    return out


def server_section(rows: Sequence[Row], results: dict[str, dict[str, Figures]],
                   meta: dict[str, Any]) -> str:
    commands = meta.get("server_commands") or {}
    env = {"mlflow": " ".join(f"{k}={v}" for k, v in MLFLOW_BENCH_ENV.items()) + " "}
    lines = [f"- {lib}: `{env.get(lib, '')}"
             f"{' '.join(Path(c).name if c.startswith('/') else c for c in cmd)} "
             f"--backend-store-uri sqlite:///<tmp>/store.db --artifacts-destination "
             f"<tmp>/artifacts --host 127.0.0.1 --port <free port> --default-artifact-root "
             f"mlflow-artifacts:/ --workers {servers.WORKERS}`"
             for lib, cmd in commands.items()]
    names = [n for n in SERVER_NAMES if n in results]
    wall = meta["suite_wall_s"].get("server")
    return f"""## Server suite

Each library's tracking server, started as a subprocess for each workload on 127.0.0.1 with
a fresh SQLite store and artifacts folder, and driven over plain HTTP (httpx, one kept-alive
connection unless stated) through MLflow's REST API, once the server is up and quiet. Both
run with {servers.WORKERS} workers, as below:

{chr(10).join(lines)}

The rows marked "defaults" start each server with only the flags that place its store and
socket, and none of the environment above: mltrail then runs 1 worker; MLflow runs 4
uvicorn workers and its job runner (seven huey consumer processes, which import MLflow
after `/health` first answers). MLflow's job runner serves GenAI evaluation jobs, no part
of the tracking API; it is switched off for every other row because on this 2-core machine
it keeps both cores busy for 20-50 s after each start.

{markdown_table(rows)}

Suite wall time: {f"{wall / 60:.1f} min" if wall else "—"}.

### Raw figures

{chr(10).join(detail_lines(results, names))}
"""


def models_section(rows: Sequence[Row], results: dict[str, dict[str, Figures]],
                   meta: dict[str, Any]) -> str:
    commands = meta.get("model_commands") or {}
    serve = [f"- {lib}: `{' '.join(cmd)} models serve -m <model> -p <free port> "
             f"-w {models.WORKERS} --env-manager local`" for lib, cmd in commands.items()]
    names = [n for n in MODELS_NAMES if n in results]
    wall = meta["suite_wall_s"].get("models")
    return f"""## Models suite

The same model for both: a scikit-learn `LogisticRegression` fitted on the same seeded data
({models.TRAIN_ROWS:,} rows of {models.N_FEATURES} double features `f0`..`f19`), saved by
each library in its own interpreter with `<lib>.sklearn.save_model(model, path)` (each
library's default format). The scoring server runs with {models.WORKERS} worker, as below,
and is driven over plain HTTP with pre-encoded `dataframe_split` bodies (httpx; asyncio for
the {models.CONNECTIONS} connections); `models predict` and the Spark child run in each
library's own interpreter, Spark in a fresh `local[2]` session.

{chr(10).join(serve)}

{markdown_table(rows)}

Suite wall time: {f"{wall / 60:.1f} min" if wall else "—"}.

### Raw figures

{chr(10).join(detail_lines(results, names))}
"""


def registry_section(rows: Sequence[Row], results: dict[str, dict[str, Figures]],
                     meta: dict[str, Any]) -> str:
    names = [n for n in REGISTRY_NAMES if n in results]
    return f"""## Registry suite

Each library's tracking server, started as in the server suite ({servers.WORKERS} workers,
SQLite, on 127.0.0.1), filled over REST with {servers.REGISTRY_MODELS} registered models and
their versions (2 tags each, a `champion` alias per model), then `model-versions/search` and
the two calls a client makes to load `models:/<name>@champion`, on one kept-alive connection.

{markdown_table(rows)}

### Raw figures

{chr(10).join(detail_lines(results, names))}
"""


def projects_section(rows: Sequence[Row], results: dict[str, dict[str, Figures]],
                     meta: dict[str, Any]) -> str:
    names = [n for n in PROJECTS_NAMES if n in results]
    wall = meta["suite_wall_s"].get("projects")
    return f"""## Projects suite

`<cli> run <tiny project> -P alpha=... --env-manager local` for each library, as its user
runs it, against a SQLite store in a fresh folder: an entry point whose script writes the
time on its first line, then logs two params and a metric. Medians of the timed runs, after
one untimed run that creates the store (shown apart: "first run, new store"). mltrail also
runs the project with `--env-manager uv` once its environment is built.

{markdown_table(rows)}

Suite wall time: {f"{wall / 60:.1f} min" if wall else "—"}.

### Raw figures

{chr(10).join(detail_lines(results, names))}
"""


def ui_section(rows: Sequence[Row], results: dict[str, dict[str, Figures]],
               meta: dict[str, Any]) -> str:
    names = [n for n in UI_NAMES if n in results]
    wall = meta["suite_wall_s"].get("ui")
    return f"""## UI suite

Each library's web UI in headless Chromium (Playwright, Debian's Chromium, a 1400×900 window),
on the same data: an experiment of 10,000 runs with 20 params, 10 metrics and 5 tags each,
and a run whose metric has 1,000,000 points. Each figure is the time from the navigation's
start until the page shows what was asked: the newest run's name in the runs table; the
metric's chart drawn; the comparison table holding the 100th run with its first
visualization drawn. "warm" is the median of 5 visits in one browser context after a first
visit (a returning user), "first visit" the median of 3 visits in fresh contexts (nothing
cached). `points_drawn` is how many points the chart has on screen.

{markdown_table(rows)}

Suite wall time: {f"{wall / 60:.1f} min" if wall else "—"}.

### Raw figures

{chr(10).join(detail_lines(results, names))}
"""


def embedded_section(rows: Sequence[Row], results: dict[str, dict[str, Figures]],
                     meta: dict[str, Any]) -> str:
    names = [n for n in EMBEDDED_NAMES if n in results]
    wall = meta["suite_wall_s"].get("embedded")
    return f"""## Embedded suite

Each library called in-process (its client and fluent API) against a local SQLite file,
one fresh process per workload.

{markdown_table(rows)}

Suite wall time: {f"{wall / 60:.1f} min" if wall else "—"}.

### Raw figures

{chr(10).join(detail_lines(results, names))}
"""


def _previous_sections() -> tuple[dict[str, str], str | None]:
    """The suite sections of the page as it is, by title, and the date of that run."""
    if not DOCS.exists():
        return {}, None
    text = DOCS.read_text()
    date = next((line.split("|")[2].strip() for line in text.splitlines()
                 if line.startswith("| date |")), None)
    sections: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        title = chunk.split("\n", 1)[0].strip()
        sections[title] = "## " + chunk.rstrip("\n") + "\n"
    return sections, date


def write_docs(rows: Sequence[Row], results: dict[str, dict[str, Figures]],
               meta: dict[str, Any]) -> None:
    m = meta["machine"]
    scale = "quick (`--quick`, scaled down)" if meta["quick"] else "full"
    builders = {"embedded": (EMBEDDED_NAMES, embedded_section),
                "server": (SERVER_NAMES, server_section),
                "registry": (REGISTRY_NAMES, registry_section),
                "models": (MODELS_NAMES, models_section),
                "projects": (PROJECTS_NAMES, projects_section),
                "ui": (UI_NAMES, ui_section)}
    previous, previous_date = _previous_sections()
    sections, kept = [], []
    for suite, (names, build) in builders.items():
        suite_rows = [r for r in rows if r.goal.workload in names]
        if suite_rows:
            sections.append(build(suite_rows, results, meta))
        elif SECTION_TITLES[suite] in previous:
            # A run of some suites keeps the others' figures from the page's last run.
            title = SECTION_TITLES[suite]
            old = previous[title].removeprefix(f"## {title}\n")
            if not old.lstrip().startswith("*Kept from"):
                old = f"\n*Kept from the run of {previous_date or 'an earlier date'}.*\n" + old
            sections.append(f"## {title}\n{old}")
            kept.append(title)
    text = f"""# Benchmarks

mltrail against MLflow {m['mlflow']} on the same machine, in one run of `python bench/run.py`.
This page is generated by `python bench/run.py --write-docs`; see `bench/README.md` for what
each workload measures. "ratio" is how many times better mltrail's figure is (cheaper,
faster, smaller or higher throughput); a `~` marks an MLflow figure extrapolated linearly
from a smaller run. Each raw figure line gives `loadavg_1m`, the machine's load average as
that workload started: the machine has {m['nproc']} cores, and figures taken under a load
above that are slower than on an idle machine, for both libraries. It also gives
`cpu_probe_ms`, the time a fixed piece of pure-Python work took just before the workload:
on a shared machine the speed drifts by tens of percent over minutes, and a ratio whose two
probes differ much is skewed by as much. `steal_s` is the CPU time the hypervisor gave to
other guests while the workload ran (all cores): time the workload waited for.

| fact | value |
| --- | --- |
| date | {m['date']} |
| scale | {scale} |
| suites | {meta['suite']} |
| nproc | {m['nproc']} |
| CPU | {m['cpu'] or 'unknown'} |
| memory | {m['memory_gib']} GiB |
| platform | {m['platform']} |
| Python | {m['python']} |
| MLflow | {m['mlflow']} |
| mltrail | {meta.get('mltrail_version') or 'unknown'} |
| mltrail source at start / end | {m['source_start']} / {m['source_end']} |
| load average (1 min) at start / end | {m['loadavg_start'][0]:.2f} / {m['loadavg_end'][0]:.2f} |
| sections kept from an earlier run | {", ".join(kept) or "none"} |

{chr(10).join(sections)}"""
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text)
    log(f"wrote {DOCS.relative_to(REPO)}")


# ---------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=tuple(SUITES), default="all",
                    help="the embedded, server, registry, models, projects or ui workloads, "
                         "or all of them")
    ap.add_argument("--quick", action="store_true", help="scaled-down smoke run")
    ap.add_argument("--only", help=f"comma-separated workloads (of {', '.join(WORKLOAD_NAMES)})")
    ap.add_argument("--lib", choices=("both", *LIBS), default="both",
                    help="run only one side (its rows then show no ratio)")
    ap.add_argument("--json", type=Path, help="write every raw figure to this file")
    ap.add_argument("--write-docs", action="store_true", help=f"rewrite {DOCS.relative_to(REPO)}")
    args = ap.parse_args(argv)
    allowed = SUITES[args.suite]
    names = args.only.split(",") if args.only else list(allowed)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        ap.error(f"unknown workload(s) {unknown} for --suite {args.suite}; "
                 f"choose from {', '.join(allowed)}")
    args.names = names
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    libs = LIBS if args.lib == "both" else (args.lib,)
    scales = QUICK if args.quick else FULL
    pythons: dict[str, Path] = {"mltrail": Path(sys.executable)}
    mlflow_version = None
    if "mlflow" in libs:
        pythons["mlflow"], mlflow_version = ensure_mlflow_venv()
    machine = machine_facts(mlflow_version)  # before the runs: it holds the starting load

    results: dict[str, dict[str, Figures]] = {}
    suite_s: dict[str, float] = {}
    embedded = [n for n in args.names if n in EMBEDDED_NAMES]
    t_suite = time.perf_counter()
    for name in embedded:
        results[name] = {}
        for lib in libs:
            scale = scales[name].of(lib)
            log(f"{name} / {lib} (scale {scale:,}) ...")
            fig = run_worker(pythons[lib], lib, name, scale)
            results[name][lib] = fig
            if "error" in fig:
                log(f"{name} / {lib} FAILED:\n{fig['error']}")
            else:
                log(f"{name} / {lib} done in {fig['process_wall_s']:.1f} s")
    if embedded:
        suite_s["embedded"] = time.perf_counter() - t_suite

    # The registry suite runs on the same servers, the same way.
    on_server = [n for n in args.names if n in SERVER_NAMES or n in REGISTRY_NAMES]
    t_suite = time.perf_counter()
    for name in on_server:
        results[name] = {}
    if args.quick:
        # One library at a time: its server stays up through its workloads, and an idle
        # server of the other library would take CPU from it.
        for lib in libs if on_server else ():
            per_lib = servers.run_suite(server_spec(lib, pythons[lib]),
                                        {n: scales[n].of(lib) for n in on_server},
                                        shared=True, log=log)
            for name, fig in per_lib.items():
                results[name][lib] = fig
    else:
        # Workload by workload, each library in turn, as in the embedded suite: the two
        # figures of a ratio are taken minutes apart at most, not a whole suite apart, so a
        # drift in the machine's speed skews a ratio less.
        warmed: set[str] = set()
        for name in on_server:
            for lib in libs:
                per_lib = servers.run_suite(server_spec(lib, pythons[lib]),
                                            {name: scales[name].of(lib)}, shared=False,
                                            log=log, warm_up=lib not in warmed)
                warmed.add(lib)
                results[name][lib] = per_lib[name]
    if on_server:
        suite_s["server"] = time.perf_counter() - t_suite

    on_models = [n for n in args.names if n in MODELS_NAMES]
    t_suite = time.perf_counter()
    if on_models:
        results.update(models.run_suite(
            [model_spec(lib, pythons[lib]) for lib in libs],
            {n: {lib: scales[n].of(lib) for lib in libs} for n in on_models},
            quick=args.quick, log=log))
        suite_s["models"] = time.perf_counter() - t_suite

    on_projects = [n for n in args.names if n in PROJECTS_NAMES]
    t_suite = time.perf_counter()
    if on_projects:
        results.update(projects.run_suite(
            [project_spec(lib, pythons[lib]) for lib in libs],
            {n: {lib: scales[n].of(lib) for lib in libs} for n in on_projects}, log=log))
        suite_s["projects"] = time.perf_counter() - t_suite

    on_ui = [n for n in args.names if n in UI_NAMES]
    t_suite = time.perf_counter()
    if on_ui:
        log(f"ui suite: {', '.join(on_ui)} ...")
        results.update(ui.run_suite(
            [server_spec(lib, pythons[lib]) for lib in libs],
            {n: {lib: scales[n].of(lib) for lib in libs} for n in on_ui}, on_ui))
        suite_s["ui"] = time.perf_counter() - t_suite

    versions = {lib: fig.get("version") for per in results.values()
                for lib, fig in per.items() if "version" in fig}
    if "mltrail" in libs and "mltrail" not in versions:
        versions["mltrail"] = mltrail_version(pythons["mltrail"])
    rows = [evaluate(g, results[g.workload], scales[g.workload], not args.quick)
            for g in GOALS if g.workload in results]
    meta = {"quick": args.quick, "suite": args.suite, "libs": list(libs), "machine": machine,
            "mltrail_version": versions.get("mltrail"), "suite_wall_s": suite_s,
            "server_commands": {lib: list(server_spec(lib, pythons[lib]).command)
                                for lib in libs} if on_server else None,
            "model_commands": {lib: [Path(c).name if c.startswith("/") else c
                                     for c in model_spec(lib, pythons[lib]).cli]
                               for lib in libs} if on_models else None,
            "scales": {n: dataclasses.asdict(scales[n]) for n in args.names}}
    meta["machine"]["loadavg_end"] = os.getloadavg()
    meta["machine"]["source_end"] = source_state()

    print()
    print_table(rows)
    walls = ", ".join(f"{k} suite {v / 60:.1f} min" for k, v in suite_s.items())
    print(f"\n{walls}; load average (1 min) {machine['loadavg_start'][0]:.2f} at start, "
          f"{meta['machine']['loadavg_end'][0]:.2f} at end")
    if machine["source_end"] != machine["source_start"]:
        log(f"the source changed during the run: {machine['source_start']} at start, "
            f"{machine['source_end']} at end")
    print(f"MLflow {mlflow_version or '-'}, mltrail {versions.get('mltrail') or '-'}, "
          f"Python {platform.python_version()}, nproc {meta['machine']['nproc']}"
          f"{', quick scale' if args.quick else ''}")

    if args.json:
        payload = {"meta": meta, "results": results,
                   "rows": [dict(dataclasses.asdict(r), goal=dataclasses.asdict(r.goal)) for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
        log(f"wrote {args.json}")
    if args.write_docs:
        write_docs(rows, results, meta)
    failed = any("error" in fig for per in results.values() for fig in per.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
