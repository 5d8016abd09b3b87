"""One benchmark workload against one tracking library, in a fresh process.

    python bench/workloads.py --lib mlflow|mltrail --workload NAME --scale N

`bench/run.py` starts this script once per (workload, library) with the interpreter that has
that library installed, in a fresh temporary directory as its working directory and with
``MLFLOW_TRACKING_URI`` pointing at a fresh SQLite file there. It prints exactly one JSON
object (the figures) as the last line of stdout; any failure is a traceback and a non-zero
exit status.

The library is imported by name and both libraries get the same calls: mltrail is a drop-in
for MLflow's tracking API, so the only difference between the two code paths is the name of
the client class. The one deliberate exception is how `search_runs` fills MLflow's store (see
`populate_mlflow_bulk`), which is setup and is not timed.

Only the standard library is used here, so the script runs unchanged in MLflow's venv.

Workloads and what ``--scale`` means for each:

  training_loop  N steps of the fluent API, five ``log_metric`` calls a step
  log_batch      N metric points through ``client.log_batch`` in batches of 1,000
  search_runs    N runs (20 params, 10 metrics each) in one experiment, then a filtered,
                 ordered ``client.search_runs``
  import_time    N timed starts each of ``python -c "import <lib>"`` and ``python -c pass``
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

Figures = dict[str, Any]

LIBS = ("mltrail", "mlflow")
CLIENT_CLASS = {"mltrail": "MltrailClient", "mlflow": "MlflowClient"}

# training_loop
METRICS_PER_STEP = 5

# log_batch
BATCH_KEYS = 10
BATCH_SIZE = 1_000  # MLflow's per-request cap on metrics in one log_batch

# search_runs
SEARCH_PARAMS = 20
SEARCH_METRICS = 10
SEARCH_P1_VALUES = 5  # p1 cycles through v0..v4, so the filter keeps about a tenth of the runs
SEARCH_FILTER = "metrics.m1 > 0.5 and params.p1 = 'v1'"
SEARCH_ORDER_BY = ["metrics.m2 DESC"]
SEARCH_MAX_RESULTS = 1_000
SEARCH_WARMUPS = 1
SEARCH_REPEATS = 5


# ---------------------------------------------------------------------------- helpers


def now_ms() -> int:
    return int(time.time() * 1000)


def client_for(mod: ModuleType) -> Any:
    """The library's tracking client (`MltrailClient` / `MlflowClient`), default arguments."""
    return getattr(mod, CLIENT_CLASS[mod.__name__])()


def entities_of(mod: ModuleType) -> ModuleType:
    return importlib.import_module(f"{mod.__name__}.entities")


def check(condition: bool, message: str) -> None:
    """Like `assert`, but not stripped by -O: a wrong answer makes the figures worthless."""
    if not condition:
        raise RuntimeError(message)


def check_history(client: Any, run_id: str, keys: Sequence[str], expected: int) -> int:
    """Read every key's full history back and check its length; return the points seen."""
    seen = 0
    for key in keys:
        n = len(client.get_metric_history(run_id, key))
        check(n == expected, f"metric {key!r}: {n} points stored, expected {expected}")
        seen += n
    return seen


# ---------------------------------------------------------------------------- training_loop


def training_loop(mod: ModuleType, steps: int) -> Figures:
    """The fluent API as a training script uses it: 5 x log_metric per step inside one run."""
    keys = [f"m{i}" for i in range(METRICS_PER_STEP)]
    run = mod.start_run()
    run_id: str = run.info.run_id

    t0 = time.perf_counter()
    for step in range(steps):
        for i, key in enumerate(keys):
            mod.log_metric(key, 1.0 / (step + 1) + i, step=step)
    log_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    mod.end_run()
    end_run_s = time.perf_counter() - t0

    points = steps * METRICS_PER_STEP
    stored = check_history(client_for(mod), run_id, keys, steps)
    overhead_s = log_s + end_run_s
    return {
        "steps": steps,
        "points": points,
        "log_s": log_s,
        "end_run_s": end_run_s,
        "overhead_s": overhead_s,
        "per_call_us": log_s / points * 1e6,
        "per_point_us": overhead_s / points * 1e6,
        "stored_points": stored,
    }


# ---------------------------------------------------------------------------- log_batch


def log_batch(mod: ModuleType, points: int) -> Figures:
    """`points` metric points (10 keys x points/10 steps) through client.log_batch."""
    check(points % BATCH_SIZE == 0, f"--scale must be a multiple of {BATCH_SIZE}")
    Metric = entities_of(mod).Metric
    client = client_for(mod)
    experiment_id = client.create_experiment("bench-log-batch")
    run_id: str = client.create_run(experiment_id, run_name="log-batch").info.run_id

    keys = [f"k{k}" for k in range(BATCH_KEYS)]
    steps = points // BATCH_KEYS
    steps_per_batch = BATCH_SIZE // BATCH_KEYS
    ts = now_ms()
    # Built up front so that only log_batch itself is timed.
    batches = [
        [
            Metric(key, (step * 0.001 + k) % 1.0, ts + step, step)
            for step in range(s0, s0 + steps_per_batch)
            for k, key in enumerate(keys)
        ]
        for s0 in range(0, steps, steps_per_batch)
    ]

    t0 = time.perf_counter()
    for batch in batches:
        client.log_batch(run_id, metrics=batch)
    seconds = time.perf_counter() - t0

    client.set_terminated(run_id)
    stored = check_history(client, run_id, keys, steps)
    return {
        "points": points,
        "batches": len(batches),
        "seconds": seconds,
        "points_per_s": points / seconds,
        "stored_points": stored,
    }


# ---------------------------------------------------------------------------- search_runs


def run_values(i: int) -> tuple[list[tuple[str, str]], list[tuple[str, float]]]:
    """Deterministic params and metrics of run i (the same for both libraries)."""
    rng = random.Random(i)
    params = [("p0", f"run{i}"), ("p1", f"v{i % SEARCH_P1_VALUES}")]
    params += [(f"p{j}", f"val{j}_{i % 7}") for j in range(2, SEARCH_PARAMS)]
    metrics = [(f"m{j}", rng.random()) for j in range(SEARCH_METRICS)]
    return params, metrics


def expected_top(n_runs: int) -> list[str]:
    """Names of the runs the search must return, in order (m2 is distinct with certainty)."""
    hits = []
    for i in range(n_runs):
        params, metrics = run_values(i)
        p, m = dict(params), dict(metrics)
        if m["m1"] > 0.5 and p["p1"] == "v1":
            hits.append((m["m2"], f"r{i}"))
    hits.sort(reverse=True)
    return [name for _, name in hits[:SEARCH_MAX_RESULTS]]


def log_run_via_api(mod: ModuleType, client: Any, experiment_id: str, i: int) -> str:
    ent = entities_of(mod)
    params, metrics = run_values(i)
    run_id: str = client.create_run(experiment_id, run_name=f"r{i}").info.run_id
    ts = now_ms()
    client.log_batch(
        run_id,
        metrics=[ent.Metric(k, v, ts, 0) for k, v in metrics],
        params=[ent.Param(k, v) for k, v in params],
    )
    client.set_terminated(run_id)
    return run_id


def sqlite_path(tracking_uri: str) -> str:
    prefix = "sqlite:///"
    check(tracking_uri.startswith(prefix), f"not a SQLite tracking URI: {tracking_uri}")
    return tracking_uri[len(prefix) :]


def populate_mlflow_bulk(db_path: str, template_run_id: str, first: int, count: int) -> None:
    """Insert runs first..first+count-1 straight into MLflow's SQLite tables.

    Creating 10,000 runs through MLflow's API takes about an hour here, so only the template
    run goes through the API (which also makes MLflow create its schema); the others copy the
    template's rows in `runs`, `tags`, `params`, `metrics` and `latest_metrics`, column for
    column, changing the run id, the name, the start time and the values. Copying the
    template's rows keeps every column MLflow fills (status, lifecycle_stage, artifact_uri,
    is_nan, ...) exactly as MLflow itself writes it.
    """
    conn = sqlite3.connect(db_path)
    try:

        def template(table: str) -> list[dict[str, Any]]:
            cur = conn.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (template_run_id,))
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
            check(bool(rows), f"template run has no rows in {table}")
            return rows

        run_t = template("runs")[0]
        tag_ts = template("tags")
        param_t = template("params")[0]
        metric_t = template("metrics")[0]
        latest_t = template("latest_metrics")[0]
        out: dict[str, list[dict[str, Any]]] = {
            t: [] for t in ("runs", "tags", "params", "metrics", "latest_metrics")
        }
        for i in range(first, first + count):
            run_id, name = uuid.uuid4().hex, f"r{i}"
            params, metrics = run_values(i)
            out["runs"].append(
                dict(
                    run_t,
                    run_uuid=run_id,
                    name=name,
                    start_time=run_t["start_time"] + i,
                    end_time=run_t["end_time"] + i,
                    artifact_uri=run_t["artifact_uri"].replace(template_run_id, run_id),
                )
            )
            for tag in tag_ts:
                value = name if tag["key"] == "mlflow.runName" else tag["value"]
                out["tags"].append(dict(tag, run_uuid=run_id, value=value))
            for key, value in params:
                out["params"].append(dict(param_t, run_uuid=run_id, key=key, value=value))
            for key, val in metrics:
                out["metrics"].append(dict(metric_t, run_uuid=run_id, key=key, value=val))
                out["latest_metrics"].append(dict(latest_t, run_uuid=run_id, key=key, value=val))
        with conn:
            for table, rows in out.items():
                cols = list(rows[0])
                names = ", ".join(f'"{c}"' for c in cols)
                marks = ", ".join("?" for _ in cols)
                sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
                conn.executemany(sql, [tuple(r[c] for c in cols) for r in rows])
    finally:
        conn.close()


def search_runs(mod: ModuleType, n_runs: int) -> Figures:
    """Median time of one filtered, ordered search over `n_runs` runs (client form)."""
    client = client_for(mod)
    experiment_id: str = client.create_experiment("bench-search")

    t0 = time.perf_counter()
    if mod.__name__ == "mlflow":
        template_id = log_run_via_api(mod, client, experiment_id, 0)
        db = sqlite_path(os.environ["MLFLOW_TRACKING_URI"])
        populate_mlflow_bulk(db, template_id, 1, n_runs - 1)
        populate = "1 run via the API, the rest bulk-inserted with sqlite3"
    else:
        for i in range(n_runs):
            log_run_via_api(mod, client, experiment_id, i)
        populate = "create_run + log_batch + set_terminated per run"
    populate_s = time.perf_counter() - t0

    want = expected_top(n_runs)

    def search() -> list[Any]:
        return list(
            client.search_runs(
                experiment_ids=[experiment_id],
                filter_string=SEARCH_FILTER,
                order_by=SEARCH_ORDER_BY,
                max_results=SEARCH_MAX_RESULTS,
            )
        )

    times = []
    for rep in range(SEARCH_WARMUPS + SEARCH_REPEATS):
        t0 = time.perf_counter()
        runs = search()
        dt = time.perf_counter() - t0
        if rep >= SEARCH_WARMUPS:
            times.append(dt)
        got = [r.info.run_name for r in runs]
        check(len(got) == len(want), f"search returned {len(got)} runs, expected {len(want)}")
        check(got == want, f"search returned other runs or order than expected: {got[:5]}...")
        first = runs[0].data
        check(first.params.get("p1") == "v1" and len(first.params) == SEARCH_PARAMS,
              f"run {got[0]} came back with params {first.params}")
        check(len(first.metrics) == SEARCH_METRICS,
              f"run {got[0]} came back with metrics {first.metrics}")

    return {
        "runs": n_runs,
        "returned": len(want),
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "times_ms": [t * 1e3 for t in times],
        "populate_s": populate_s,
        "populate": populate,
    }


# ---------------------------------------------------------------------------- import_time


def _wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def import_time(mod: ModuleType, repeats: int) -> Figures:
    """Median wall time of `python -c "import <lib>"` minus that of `python -c pass`."""
    imp = [sys.executable, "-c", f"import {mod.__name__}"]
    empty = [sys.executable, "-c", "pass"]
    _wall(imp)  # warm-up: byte-compiles on a first run and fills the OS file cache
    imports, bases = [], []
    for _ in range(repeats):  # interleaved, so a load spike hits both alike
        imports.append(_wall(imp))
        bases.append(_wall(empty))
    import_ms = (statistics.median(imports) - statistics.median(bases)) * 1e3
    return {
        "repeats": repeats,
        "import_ms": import_ms,
        "python_import_median_ms": statistics.median(imports) * 1e3,
        "python_pass_median_ms": statistics.median(bases) * 1e3,
    }


# ---------------------------------------------------------------------------- main

WORKLOADS: dict[str, Callable[[ModuleType, int], Figures]] = {
    "training_loop": training_loop,
    "log_batch": log_batch,
    "search_runs": search_runs,
    "import_time": import_time,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", choices=LIBS, required=True)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    ap.add_argument("--scale", type=int, required=True, help="size; its meaning depends on the workload")
    return ap.parse_args(argv)


def library_version(mod: ModuleType) -> str:
    version = getattr(mod, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version(mod.__name__)
    return str(version)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    mod = importlib.import_module(args.lib)
    result: Figures = {"lib": args.lib, "version": library_version(mod), "workload": args.workload}
    result.update(WORKLOADS[args.workload](mod, args.scale))
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
