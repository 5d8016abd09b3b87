"""Run mltrail's benchmark workloads side by side with MLflow and print the ratios.

    python bench/run.py [--quick] [--only NAME[,NAME...]] [--lib both|mltrail|mlflow]
                        [--json OUT.json] [--write-docs]

MLflow lives only in its own venv, ``bench/.venv-mlflow``, which this script creates with uv
on first use. mltrail runs with the interpreter running this script, importing ``src/`` of
this checkout. Every (workload, library) pair runs as a fresh process of
``bench/workloads.py`` in a fresh temporary directory, against a fresh SQLite store there.
See bench/README.md for what each workload measures.
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


WORKLOAD_NAMES = ("training_loop", "log_batch", "search_runs", "import_time")

# MLflow is measured on a smaller training_loop and log_batch because it is synchronous and
# slow at both (the figures compared are per point, so the sizes need not match).
FULL: dict[str, Scale] = {
    "training_loop": Scale(mltrail=10_000, mlflow=100),  # steps; 5 points a step
    "log_batch": Scale(mltrail=1_000_000, mlflow=50_000),  # points
    "search_runs": Scale(mltrail=10_000, mlflow=10_000),  # runs
    "import_time": Scale(mltrail=7, mlflow=7),  # timed starts
}
QUICK: dict[str, Scale] = {
    "training_loop": Scale(mltrail=1_000, mlflow=20),
    "log_batch": Scale(mltrail=50_000, mlflow=10_000),
    "search_runs": Scale(mltrail=1_000, mlflow=1_000),
    "import_time": Scale(mltrail=3, mlflow=3),
}


@dataclasses.dataclass(frozen=True)
class Goal:
    """One row of the table: a figure of a workload, and what mltrail's must be.

    `min_ratio` is how many times better than MLflow mltrail must be (cheaper if
    `lower_is_better`, else higher); `limit` is a bound on mltrail's own figure. A
    `full_scale_only` limit is judged only on a full run. With `extrapolate`, MLflow's
    figure is scaled linearly from its --scale to mltrail's (MLflow is measured smaller).
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

    def describe(self) -> str:
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


def worker_env(lib: str, workdir: Path) -> dict[str, str]:
    """The environment of a worker: ours, minus any tracking settings, plus a fresh store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'x.db'}"
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


def run_worker(python: Path, lib: str, workload: str, scale: int) -> Figures:
    """Run one workload in a fresh process and temp dir; return its figures or an error."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{lib}-{workload}-") as tmp:
        workdir = Path(tmp)
        argv = [str(python), str(WORKER), "--lib", lib, "--workload", workload,
                "--scale", str(scale)]
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
    if set(res) != set(LIBS):
        row.met = "not run"
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return row
    row.ratio = theirs / ours if goal.lower_is_better else ours / theirs
    checks: list[bool] = []
    if goal.min_ratio is not None:
        checks.append(row.ratio >= goal.min_ratio)
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
    }


def detail_lines(results: dict[str, dict[str, Figures]]) -> list[str]:
    """One line of raw figures per (workload, library), for the docs."""
    skip = {"lib", "workload", "version", "times_ms", "stderr_tail"}
    out = []
    for workload, per_lib in results.items():
        for lib, fig in per_lib.items():
            if "error" in fig:
                first = fig["error"].strip().splitlines()[-1][:200]
                out.append(f"- `{workload}` / {lib}: **failed**: `{first}`")
                continue
            items = ", ".join(
                f"{k} = {fmt(v) if isinstance(v, float) else f'{v:,}' if isinstance(v, int) else v}"
                for k, v in sorted(fig.items()) if k not in skip
            )
            out.append(f"- `{workload}` / {lib}: {items}")
    return out


def write_docs(rows: Sequence[Row], results: dict[str, dict[str, Figures]],
               meta: dict[str, Any]) -> None:
    m = meta["machine"]
    scale = "quick (`--quick`, scaled down)" if meta["quick"] else "full"
    text = f"""# Benchmarks

mltrail against MLflow {m['mlflow']} on the same machine, in one run of `python bench/run.py`.
This page is generated by `python bench/run.py --write-docs`; see `bench/README.md` for what
each workload measures. "ratio" is how many times better mltrail's figure is (cheaper,
faster or higher throughput); a `~` marks an MLflow figure extrapolated linearly from a
smaller run.

| fact | value |
| --- | --- |
| date | {m['date']} |
| scale | {scale} |
| nproc | {m['nproc']} |
| CPU | {m['cpu'] or 'unknown'} |
| memory | {m['memory_gib']} GiB |
| platform | {m['platform']} |
| Python | {m['python']} |
| MLflow | {m['mlflow']} |
| mltrail | {meta.get('mltrail_version') or 'unknown'} |
| load average (1 min) at start / end | {m['loadavg_start'][0]:.2f} / {m['loadavg_end'][0]:.2f} |

## Figures

{markdown_table(rows)}

## Raw figures

{chr(10).join(detail_lines(results))}
"""
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text)
    log(f"wrote {DOCS.relative_to(REPO)}")


# ---------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="scaled-down smoke run")
    ap.add_argument("--only", help=f"comma-separated workloads (of {', '.join(WORKLOAD_NAMES)})")
    ap.add_argument("--lib", choices=("both", *LIBS), default="both",
                    help="run only one side (its rows then show no ratio)")
    ap.add_argument("--json", type=Path, help="write every raw figure to this file")
    ap.add_argument("--write-docs", action="store_true", help=f"rewrite {DOCS.relative_to(REPO)}")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(WORKLOAD_NAMES)
    unknown = [n for n in names if n not in WORKLOAD_NAMES]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOAD_NAMES)}")
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
    for name in args.names:
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

    versions = {lib: fig.get("version") for per in results.values()
                for lib, fig in per.items() if "version" in fig}
    rows = [evaluate(g, results[g.workload], scales[g.workload], not args.quick)
            for g in GOALS if g.workload in results]
    meta = {"quick": args.quick, "libs": list(libs), "machine": machine,
            "mltrail_version": versions.get("mltrail"),
            "scales": {n: dataclasses.asdict(scales[n]) for n in args.names}}
    meta["machine"]["loadavg_end"] = os.getloadavg()

    print()
    print_table(rows)
    print(f"\nMLflow {mlflow_version or '-'}, mltrail {versions.get('mltrail') or '-'}, "
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
