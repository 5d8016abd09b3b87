"""The compare page: ``/compare?runs=id1,id2,...``, 2 to 100 runs side by side.

The server renders the table (a column per run, a row per param and metric, each row marked
when every run has the same value so the page can hide it) and the parallel-coordinates plot
as SVG: both need nothing but the runs, and SVG drawn here is escaped like every other text.
The overlaid metric curves and the scatter are drawn in the browser by ``static/charts.js``:
the curves from ``metrics/get-history-bulk-interval`` (one request per metric for all the
runs, downsampled on the server), the scatter from the values embedded in the page as JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from mltrail.entities import Run
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.server.ui.pages import render
from mltrail.server.ui.run_page import error_page
from mltrail.storage.tracking import TrackingStore

router = APIRouter()

MIN_RUNS = 2
MAX_RUNS = 100
MAX_AXES = 12
COLORS = ("#2457c5", "#d1495b", "#1c7c4a", "#e08e0b", "#7b3fa0", "#00798c", "#a15c00",
          "#5f6b7a", "#c2185b", "#3d9970")  # the same palette as charts.js


@dataclass
class Row:
    kind: str  # "param" or "metric"
    key: str
    values: list[str]
    same: bool


@dataclass
class Axis:
    label: str
    x: float
    low: str
    high: str


def run_ids(raw: str) -> list[str]:
    """The ids in ``runs=a,b,c``, in order, once each; 2 to 100 of them."""
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if len(ids) < MIN_RUNS:
        raise InvalidArgument(f"Pick at least {MIN_RUNS} runs to compare (got {len(ids)}).")
    if len(ids) > MAX_RUNS:
        raise InvalidArgument(f"Compare at most {MAX_RUNS} runs at once (got {len(ids)}).")
    return ids


def number(value: str | float | None) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def metric_text(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def fields(runs: list[Run]) -> dict[str, list[float | None]]:
    """Every param and metric that is a number wherever it is set, as a column per field."""
    out: dict[str, list[float | None]] = {}
    for key in sorted({k for run in runs for k in run.data.params}):
        raw = [run.data.params.get(key) for run in runs]
        values = [number(v) for v in raw]
        if any(v is not None for v in values) and all(
            (r is None) == (v is None) for r, v in zip(raw, values, strict=True)
        ):
            out[f"param: {key}"] = values
    for key in sorted({k for run in runs for k in run.data.metrics}):
        out[f"metric: {key}"] = [number(run.data.metrics.get(key)) for run in runs]
    return out


def table_rows(runs: list[Run]) -> list[Row]:
    rows = []
    for key in sorted({k for run in runs for k in run.data.params}):
        values = [run.data.params.get(key, "") for run in runs]
        rows.append(Row("param", key, values, len(set(values)) == 1))
    for key in sorted({k for run in runs for k in run.data.metrics}):
        texts = [metric_text(run.data.metrics.get(key)) for run in runs]
        rows.append(Row("metric", key, texts, len(set(texts)) == 1))
    return rows


def parallel(runs: list[Run], columns: dict[str, list[float | None]]) -> dict[str, Any]:
    """The geometry of the parallel-coordinates plot: an axis per field that varies, a path
    per run (a gap where a run lacks a value), each axis scaled to its own range."""
    varying = {
        name: values for name, values in columns.items()
        if len({v for v in values if v is not None}) > 1
    }
    names = list(varying)[:MAX_AXES]
    top, height, gap, margin = 30.0, 240.0, 150.0, 90.0
    axes = []
    lines = []
    scaled: list[list[float | None]] = []
    for index, name in enumerate(names):
        present = [v for v in varying[name] if v is not None]
        low, high = min(present), max(present)
        axes.append(Axis(name, margin + index * gap, f"{low:.4g}", f"{high:.4g}"))
        scaled.append([
            None if v is None else top + height * (1 - (v - low) / (high - low))
            for v in varying[name]
        ])
    for run_index, run in enumerate(runs):
        path, pen_down = [], False
        for axis_index, axis in enumerate(axes):
            y = scaled[axis_index][run_index]
            if y is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{axis.x:.1f},{y:.1f}")
            pen_down = True
        lines.append({"d": " ".join(path), "color": COLORS[run_index % len(COLORS)],
                      "name": run.info.run_name or run.info.run_id})
    width = margin * 2 + gap * max(len(axes) - 1, 0)
    return {"axes": axes, "lines": lines, "width": width, "height": top + height + 40,
            "top": top, "bottom": top + height}


@router.get("/compare", response_class=HTMLResponse)
def compare(request: Request, runs: str = Query("")) -> HTMLResponse:
    store: TrackingStore = request.app.state.store
    try:
        ids = run_ids(runs)
        found = []
        for run_id in ids:
            try:
                found.append(store.get_run(run_id))
            except NotFound:
                raise NotFound(f"No run with id {run_id!r}.") from None
    except MltrailError as exc:
        return error_page(request, exc, "Cannot compare these runs")
    columns = fields(found)
    data = {
        "runs": [{"id": r.info.run_id, "name": r.info.run_name or r.info.run_id} for r in found],
        "fields": columns,
    }
    metric_keys = sorted({k for run in found for k in run.data.metrics})
    experiments = {r.info.experiment_id for r in found}
    plot = parallel(found, columns)
    # The scatter opens on two fields that differ between the runs, when there are two.
    preferred = [axis.label for axis in plot["axes"]] + list(columns)
    scatter_x = preferred[0] if preferred else ""
    scatter_y = next((name for name in preferred if name != scatter_x), scatter_x)
    return render(
        request, "compare.html", title=f"Compare {len(found)} runs", section="experiments",
        runs=found, rows=table_rows(found), data=data, metric_keys=metric_keys,
        field_names=list(columns), parallel=plot, colors=COLORS,
        scatter_x=scatter_x, scatter_y=scatter_y,
        experiment_id=next(iter(experiments)) if len(experiments) == 1 else None,
    )
