"""The UI suite: each library's web UI in headless Chromium, on the same data.

`bench/run.py --suite ui` imports this module. Each library's server runs as in the server
suite (bench/servers.py: a fresh SQLite store, 2 workers) and gets the same data:

- an experiment of N runs, each with 20 params, 10 metrics and 5 tags (bench/workloads.py's
  `run_values`, FINISHED);
- another experiment with one run whose metric `loss` has P points (a noisy curve with a
  spike every 100,000 steps);

then Playwright (the main interpreter's, driving Debian's Chromium, as the tests do) opens
pages and times, from the navigation's start, until the page shows what a user came for:

  ui_runs_table   the experiment's runs table: the newest run's name on screen
                  (MLflow: ``#/experiments/<id>/runs``; mltrail: ``/experiments/<id>``)
  ui_metric_chart the run's chart of `loss` drawn (MLflow: the run's "Model metrics" tab,
                  a Plotly line path; mltrail: the run page's uPlot chart)
  ui_compare      the 100 newest runs compared: the table with the last of them and the
                  first visualization drawn (MLflow: the parallel coordinates plot;
                  mltrail: the first metric's overlaid chart)

Each page is timed `REPEATS` times in one browser context after a first visit (a returning
user: the browser has the page's scripts cached), and `COLD_REPEATS` times in a fresh
context each (a first visit: nothing cached). Pages load from ``about:blank`` each time, so
MLflow's single-page app starts anew, as when a link is opened.

MLflow's store is filled as bench/workloads.py's search_runs fills it: the first run goes
through the REST API (so the rows have every column as MLflow writes them) and the others
are copied from it with sqlite3, because MLflow's server takes minutes per thousand runs.
mltrail's store is filled through its REST API.
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import servers
import workloads

Figures = dict[str, Any]

NAMES = ("ui_runs_table", "ui_metric_chart", "ui_compare")
CHROMIUM = "/usr/lib/chromium/chromium"
VIEWPORT = {"width": 1400, "height": 900}
REPEATS = 5
COLD_REPEATS = 3
PAGE_TIMEOUT_MS = 120_000
COMPARED = 100
POPULATE_THREADS = 4
HISTORY_BATCH = 1_000  # MLflow's cap on metrics in one log-batch request
METRIC_KEY = "loss"
# MLflow 3 opens an experiment on its GenAI overview unless the experiment says it is for
# model training.
KIND_TAG = {"key": "mlflow.experimentKind", "value": "custom_model_development"}


class BenchError(RuntimeError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


# ---------------------------------------------------------------------------- the data


def history_value(step: int) -> float:
    """The `loss` curve: decaying, noisy, with a spike every 100,000 steps."""
    if step and step % 100_000 == 0:
        return 50.0
    return 1.0 / math.sqrt(1 + step / 1000) + ((step * 7919) % 1000) / 20_000


def create_experiment(api: servers.Api, name: str) -> str:
    exp: str = api.post("/experiments/create", {"name": name, "tags": [KIND_TAG]})[
        "experiment_id"]
    return exp


def log_run(api: servers.Api, experiment_id: str, i: int, start_ms: int) -> str:
    """Run i of the table, through the REST API, as a training script logs it."""
    params, metrics = workloads.run_values(i)
    run_id: str = api.post("/runs/create", {
        "experiment_id": experiment_id, "run_name": f"r{i}", "start_time": start_ms,
    })["run"]["info"]["run_id"]
    api.post("/runs/log-batch", {
        "run_id": run_id,
        "params": [{"key": k, "value": v} for k, v in params],
        "metrics": [{"key": k, "value": v, "timestamp": start_ms, "step": 0}
                    for k, v in metrics],
        "tags": [{"key": f"t{j}", "value": f"tag{j}_{i % 3}"} for j in range(5)],
    })
    api.post("/runs/update", {"run_id": run_id, "status": "FINISHED",
                              "end_time": start_ms + 1000})
    return run_id


def populate_runs(lib: str, url: str, db: Path, experiment_id: str, n_runs: int) -> None:
    start = servers.now_ms() - n_runs
    with servers.Api(url) as api:
        template = log_run(api, experiment_id, 0, start)
    if lib == "mlflow":
        workloads.populate_mlflow_bulk(str(db), template, 1, n_runs - 1)
        return
    servers.spread(url, range(1, n_runs), POPULATE_THREADS,
                   lambda api, i: log_run(api, experiment_id, i, start + i))


def populate_history(lib: str, url: str, db: Path, points: int) -> tuple[str, str]:
    """A run with `points` points of `loss`: (experiment id, run id)."""
    t0 = servers.now_ms() - points
    with servers.Api(url) as api:
        exp = create_experiment(api, "bench-ui-history")
        run_id: str = api.post("/runs/create", {
            "experiment_id": exp, "run_name": "long-history", "start_time": t0,
        })["run"]["info"]["run_id"]
        if lib == "mlflow":
            api.post("/runs/log-batch", {"run_id": run_id, "metrics": [
                {"key": METRIC_KEY, "value": history_value(0), "timestamp": t0, "step": 0}]})
            copy_history_mlflow(db, run_id, points, t0)
        else:
            for first in range(0, points, HISTORY_BATCH):
                api.post("/runs/log-batch", {"run_id": run_id, "metrics": [
                    {"key": METRIC_KEY, "value": history_value(s), "timestamp": t0 + s,
                     "step": s}
                    for s in range(first, min(first + HISTORY_BATCH, points))]})
        api.post("/runs/update", {"run_id": run_id, "status": "FINISHED",
                                  "end_time": t0 + points})
    return exp, run_id


def copy_history_mlflow(db: Path, run_id: str, points: int, t0: int) -> None:
    """Points 1.. of the run's `loss`, copied from point 0 as MLflow wrote it."""
    conn = sqlite3.connect(db)
    try:
        cur = conn.execute("SELECT * FROM metrics WHERE run_uuid = ?", (run_id,))
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        check(len(rows) == 1, f"expected MLflow's first point of {METRIC_KEY}, got {rows}")
        first = rows[0]
        names = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join("?" for _ in cols)
        with conn:
            conn.executemany(
                f"INSERT INTO metrics ({names}) VALUES ({marks})",
                (tuple(dict(first, step=s, value=history_value(s), timestamp=t0 + s)[c]
                       for c in cols) for s in range(1, points)),
            )
            last = points - 1
            conn.execute(
                "UPDATE latest_metrics SET value = ?, timestamp = ?, step = ? "
                "WHERE run_uuid = ? AND key = ?",
                (history_value(last), t0 + last, last, run_id, METRIC_KEY),
            )
    finally:
        conn.close()


# ---------------------------------------------------------------------------- the pages


class Page:
    """What to open for one library, and what to wait for."""

    def __init__(self, lib: str, base: str) -> None:
        self.lib, self.base = lib, base

    def runs_table(self, experiment_id: str) -> str:
        if self.lib == "mlflow":
            return f"{self.base}/#/experiments/{experiment_id}/runs"
        return f"{self.base}/experiments/{experiment_id}"

    def run_chart(self, experiment_id: str, run_id: str) -> str:
        if self.lib == "mlflow":
            return f"{self.base}/#/experiments/{experiment_id}/runs/{run_id}/model-metrics"
        return f"{self.base}/runs/{run_id}"

    def compare(self, experiment_id: str, run_ids: Sequence[str]) -> str:
        if self.lib == "mlflow":
            return (f"{self.base}/#/compare-runs?runs={json.dumps(list(run_ids))}"
                    f"&experiments={json.dumps([experiment_id])}")
        return f"{self.base}/compare?runs={','.join(run_ids)}"

    def wait_table(self, page: Any, newest: str) -> None:
        page.get_by_role("link", name=newest, exact=True).first.wait_for(
            state="visible", timeout=PAGE_TIMEOUT_MS)

    def wait_chart(self, page: Any) -> int:
        """Wait for the chart; return the points it draws."""
        if self.lib == "mlflow":
            line = page.locator('[data-testid="experiment-view-compare-runs-card"]',
                                has_text=METRIC_KEY).locator("path.js-line").first
            line.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
            return int(str(line.get_attribute("d") or "").count("L")) + 1
        plot = page.locator(f'#run-charts figure[data-metric="{METRIC_KEY}"] '
                            ".chart-plot[data-drawn]")
        plot.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
        return int(plot.get_attribute("data-drawn") or 0)

    def wait_compare(self, page: Any, last_name: str) -> None:
        if self.lib == "mlflow":
            table = page.locator(".mlflow-compare-run-table").first
            drawn = page.locator(".pcp-plot .parcoords").first
        else:
            table = page.locator("#compare-table")
            drawn = page.locator("#compare-charts .chart-plot[data-drawn]").first
        table.get_by_text(last_name, exact=True).first.wait_for(
            state="attached", timeout=PAGE_TIMEOUT_MS)
        drawn.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)


def timed(page: Any, url: str, wait: Callable[[Any], Any]) -> tuple[float, Any]:
    """Open `url` from about:blank; the seconds until `wait` returns, and what it returned."""
    page.goto("about:blank")
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
    out = wait(page)
    return time.perf_counter() - t0, out


def measure(browser: Any, url: str, wait: Callable[[Any], Any]) -> Figures:
    """Warm (one context, after a first visit) and cold (a fresh context each) timings."""
    errors: list[str] = []

    def new_page(context: Any) -> Any:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = new_page(context)
        first_s, out = timed(page, url, wait)
        warm = [timed(page, url, wait)[0] for _ in range(REPEATS)]
    finally:
        context.close()
    cold = []
    for _ in range(COLD_REPEATS):
        context = browser.new_context(viewport=VIEWPORT)
        try:
            cold.append(timed(new_page(context), url, wait)[0])
        finally:
            context.close()
    figures: Figures = {
        "warm_ms": statistics.median(warm) * 1e3, "warm_min_ms": min(warm) * 1e3,
        "cold_ms": statistics.median(cold) * 1e3, "first_visit_ms": first_s * 1e3,
        "warm_all_ms": [round(t * 1e3) for t in warm],
    }
    if isinstance(out, int):
        figures["points_drawn"] = out
    if errors:
        figures["page_errors"] = len(errors)
        figures["first_page_error"] = errors[0][:300]
    return figures


# ---------------------------------------------------------------------------- the suite


def _failure(exc: BaseException) -> Figures:
    return {"error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc))[-3000:]}


def bench_lib(spec: servers.ServerSpec, names: Sequence[str], runs: int, points: int,
              browser: Any) -> dict[str, Figures]:
    """Every chosen workload for one library, on one server."""
    out: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-ui-{spec.lib}-") as tmp:
        workdir = Path(tmp)
        server = servers.Server(spec, workdir, workers=servers.WORKERS)
        db = workdir / "store.db"
        try:
            server.start()
            server.settle()
            page = Page(spec.lib, server.url)
            if {"ui_runs_table", "ui_compare"} & set(names):
                with servers.Api(server.url) as api:
                    exp = create_experiment(api, "bench-ui")
                t0 = time.perf_counter()
                populate_runs(spec.lib, server.url, db, exp, runs)
                common = {"runs": runs, "populate_s": time.perf_counter() - t0}
                with servers.Api(server.url) as api:
                    newest = api.post("/runs/search",
                                      {"experiment_ids": [exp], "max_results": COMPARED})
                compared = [(r["info"]["run_id"], r["info"]["run_name"]) for r in newest["runs"]]
                check(len(compared) == min(COMPARED, runs), f"runs/search found {len(compared)}")
            if "ui_runs_table" in names:
                out["ui_runs_table"] = _run(lambda: measure(
                    browser, page.runs_table(exp),
                    lambda p: page.wait_table(p, compared[0][1])), common)
            if "ui_compare" in names:
                ids = [run_id for run_id, _ in compared]
                out["ui_compare"] = _run(lambda: measure(
                    browser, page.compare(exp, ids),
                    lambda p: page.wait_compare(p, compared[-1][1])),
                    {**common, "compared": len(ids)})
            if "ui_metric_chart" in names:
                t0 = time.perf_counter()
                hist_exp, run_id = populate_history(spec.lib, server.url, db, points)
                hist_s = time.perf_counter() - t0
                out["ui_metric_chart"] = _run(lambda: measure(
                    browser, page.run_chart(hist_exp, run_id), page.wait_chart),
                    {"points": points, "populate_s": hist_s})
        except Exception as exc:
            for name in names:
                out.setdefault(name, _failure(exc))
        finally:
            server.stop()
            findings = server.log_findings()
            for figures in out.values():
                figures.update(findings)
    return out


def _run(work: Callable[[], Figures], extra: Figures) -> Figures:
    try:
        return {**extra, **work()}
    except Exception as exc:
        return {**extra, **_failure(exc)}


def run_suite(specs: Sequence[servers.ServerSpec], scales: dict[str, dict[str, int]],
              names: Sequence[str]) -> dict[str, dict[str, Figures]]:
    """{workload: {lib: figures}}; `scales` gives each workload's scale per library (the
    runs in the table for ui_runs_table and ui_compare, the points for ui_metric_chart)."""
    results: dict[str, dict[str, Figures]] = {name: {} for name in names}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        for name in names:
            for spec in specs:
                results[name][spec.lib] = _failure(exc)
        return results
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for spec in specs:
                runs = scales.get("ui_runs_table", scales.get("ui_compare", {})).get(
                    spec.lib, 10_000)
                points = scales.get("ui_metric_chart", {}).get(spec.lib, 1_000_000)
                for name, figures in bench_lib(spec, names, runs, points, browser).items():
                    results[name][spec.lib] = figures
        finally:
            browser.close()
    return results
