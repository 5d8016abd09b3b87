"""The experiments list (``/``) and an experiment's runs table (``/experiments/<id>``).

The list is one ``search_experiments`` and one grouped count of runs (``run_summaries``). The
runs table is fast at 10,000 runs because it never asks for more than a page: one
``search_run_dicts`` of ``PAGE_SIZE`` runs per request that reads only the columns on screen
(``RunColumns``: runs with thousands of keys cost what narrow ones do), those the user chose
(``?cols=params.alpha,metrics.rmse,metrics.rmse@min``); a URL without ``cols`` shows the first
metrics and params of the first page's runs (up to 8 of each, ``run_keys``), ``cols=`` none. A metric's
``@min`` and ``@max`` over its whole history cost one more query, for the page's runs and those
keys only (``TrackingStore.metric_extremes``). The rest of the view lives in the URL too
(filter, ``order``, ``view``), so a view is a link. "Load more" appends the next page through
htmx with the page token; nothing counts all runs. The column picker fetches its choices when
first opened (``/experiments/<id>/columns``): every key of the first page's runs; a store-wide
key scan would cost what paging avoids.

``/experiments/<id>/runs`` is the table as a fragment, for htmx: a filter change, the next page
and the live refresh while runs are RUNNING. A filter that does not parse answers 400 with the
message, which the page shows in place above the table it keeps.
"""

from __future__ import annotations

import dataclasses
import math
import posixpath
import time
from datetime import datetime, timezone
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from mltrail.entities import Experiment, LifecycleStage, ViewType
from mltrail.errors import InvalidArgument, NotFound
from mltrail.server.ui.pages import TEMPLATES, render, url
from mltrail.storage.tracking import RunColumns, TrackingStore

router = APIRouter()


def ms_utc(ms: int) -> str:
    """A time in milliseconds since the epoch, in UTC (the page's script shows it local)."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


TEMPLATES.env.filters["ms_utc"] = ms_utc

PAGE_SIZE = 100
MAX_REFRESH_ROWS = 1000  # a live refresh reloads the rows on screen, up to this many
EXPERIMENTS_SHOWN = 1000
PARENT_TAG = "mlflow.parentRunId"
SOURCE_TAG = "mlflow.source.name"
COMMIT_TAG = "mlflow.source.git.commit"
SYSTEM_TAGS = (PARENT_TAG, SOURCE_TAG, COMMIT_TAG)  # read for the built-in columns
VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
KINDS = {"params": "param", "metrics": "metric", "tags": "tag"}

# The fixed columns: (label, order_by identifier or None when the store cannot sort by it).
BUILTIN_COLUMNS = (
    ("Run", "attributes.run_name"),
    ("Status", "attributes.status"),
    ("Started", "attributes.start_time"),
    ("Duration", None),
    ("User", "attributes.user_id"),
    ("Source", f"tags.`{SOURCE_TAG}`"),
    ("Commit", f"tags.`{COMMIT_TAG}`"),
)


def _store(request: Request) -> TrackingStore:
    store: TrackingStore = request.app.state.store
    return store


def _view(value: str | None) -> str:
    return value if value in VIEWS else "active"


# ------------------------------------------------------------------------ experiments list


@dataclasses.dataclass(frozen=True)
class ExperimentRow:
    experiment: Experiment
    runs: int
    last_activity: int | None

    @property
    def deleted(self) -> bool:
        return self.experiment.lifecycle_stage == LifecycleStage.DELETED


def _like_filter(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    return "name LIKE '%{}%'".format(text.replace("'", "''"))


def _tracking_uri(request: Request) -> str:
    return str(request.base_url).rstrip("/") + url(request, "")


@router.get("/", response_class=HTMLResponse)
def experiments_list(request: Request, q: str = "", view: str = "active") -> HTMLResponse:
    store = _store(request)
    view = _view(view)
    error = None
    found: Sequence[Experiment] = []
    more = False
    try:
        page = store.search_experiments(
            VIEWS[view], EXPERIMENTS_SHOWN, _like_filter(q), ["last_update_time DESC"]
        )
        found, more = list(page), bool(page.token)
    except InvalidArgument as exc:
        error = exc.message
    summaries = store.run_summaries([e.experiment_id for e in found]) if found else {}
    rows = []
    for experiment in found:
        count, newest = summaries.get(experiment.experiment_id, (0, None))
        times = [t for t in (newest, experiment.last_update_time) if t is not None]
        rows.append(ExperimentRow(experiment, count, max(times) if times else None))
    return render(
        request,
        "experiments.html",
        title="Experiments",
        section="experiments",
        status_code=400 if error else 200,
        rows=rows,
        more=more,
        q=q,
        view=view,
        error=error,
        empty_store=not summaries and not q and view == "active",
        tracking_uri=_tracking_uri(request),
    )


# ------------------------------------------------------------------------------ runs table


@dataclasses.dataclass(frozen=True)
class Column:
    """A chosen column: ``params.alpha``, ``metrics.rmse`` (its latest value), ``metrics.rmse@min``
    or ``metrics.rmse@max`` (over its whole history) or ``tags.team``. Keys cannot hold ``@``
    (the key rules allow letters, digits and ``_-. /:``), so the suffix is unambiguous."""

    entity: str
    key: str
    extreme: str = ""  # "", "min" or "max"; metrics only

    @property
    def name(self) -> str:
        return f"{self.entity}.{self.key}" + (f"@{self.extreme}" if self.extreme else "")

    @property
    def label(self) -> str:
        return self.key + (f" ({self.extreme})" if self.extreme else "")

    @property
    def order_key(self) -> str | None:
        """The search grammar's identifier to sort by; ``None`` for min and max, which the
        grammar cannot sort by."""
        if self.extreme:
            return None
        return f"{self.entity}.`{self.key.replace('`', '')}`"

    @property
    def numeric(self) -> bool:
        return self.entity == "metrics"


EXTREMES = ("min", "max")
DEFAULT_COLUMNS_PER_KIND = 8  # metrics and params shown when the URL names no columns


def parse_columns(text: str) -> list[Column]:
    columns: list[Column] = []
    for part in text.split(","):
        entity, _, key = part.strip().partition(".")
        extreme = ""
        if entity == "metrics":
            stem, at, suffix = key.rpartition("@")
            if at and suffix in EXTREMES:
                key, extreme = stem, suffix
        column = Column(entity, key, extreme)
        if entity in KINDS and key and column not in columns:
            columns.append(column)
    return columns


@dataclasses.dataclass
class RunRow:
    run_id: str
    name: str
    status: str
    start: int | None
    end: int | None
    user: str
    source: str
    source_full: str
    commit: str
    parent: str | None
    values: list[tuple[str, str, bool]]  # (shown, full, numeric) per chosen column
    depth: int = 0
    has_children: bool = False
    parent_on_page: bool = False

    @property
    def duration(self) -> str:
        if self.start is None:
            return ""
        end = self.end if self.end is not None else (
            int(time.time() * 1000) if self.status == "RUNNING" else None
        )
        return "" if end is None else format_duration(end - self.start)


def format_duration(ms: int) -> str:
    seconds = max(ms, 0) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def _metric_text(value: Any) -> tuple[str, str]:
    if isinstance(value, str):  # NaN and the infinities arrive spelled out
        return value, value
    number = float(value)
    if math.isfinite(number) and number == int(number) and abs(number) < 1e15:
        return str(int(number)), repr(number)
    return f"{number:.6g}", repr(number)


Extremes = dict[tuple[str, str], tuple[float, float]]


def _row(run: dict[str, Any], columns: Sequence[Column], extremes: Extremes) -> RunRow:
    info, data = run["info"], run.get("data", {})
    tags = {t["key"]: t["value"] for t in data.get("tags", ())}
    params = {p["key"]: p["value"] for p in data.get("params", ())}
    metrics = {m["key"]: m["value"] for m in data.get("metrics", ())}
    values: list[tuple[str, str, bool]] = []
    for column in columns:
        if column.extreme:
            bounds = extremes.get((info["run_id"], column.key))
            if bounds is not None:
                shown, full = _metric_text(bounds[0 if column.extreme == "min" else 1])
                values.append((shown, full, True))
            else:
                values.append(("", "", True))
        elif column.entity == "metrics":
            if column.key in metrics:
                shown, full = _metric_text(metrics[column.key])
                values.append((shown, full, True))
            else:
                values.append(("", "", True))
        else:
            text = (params if column.entity == "params" else tags).get(column.key, "")
            values.append((text, text, False))
    source = tags.get(SOURCE_TAG, "")
    return RunRow(
        run_id=info["run_id"],
        name=info.get("run_name") or info["run_id"],
        status=info.get("status", ""),
        start=info.get("start_time"),
        end=info.get("end_time"),
        user=info.get("user_id", ""),
        source=posixpath.basename(source.replace("\\", "/").rstrip("/")) or source,
        source_full=source,
        commit=tags.get(COMMIT_TAG, "")[:7],
        parent=tags.get(PARENT_TAG) or None,
        values=values,
    )


def group_nested(rows: Sequence[RunRow]) -> list[RunRow]:
    """The rows with each child placed under its parent when both are on the page, in the
    page's order otherwise; children keep their relative order, nesting to any depth."""
    on_page = {row.run_id for row in rows}
    children: dict[str, list[RunRow]] = {}
    roots: list[RunRow] = []
    for row in rows:
        if row.parent and row.parent in on_page and row.parent != row.run_id:
            row.parent_on_page = True
            children.setdefault(row.parent, []).append(row)
        else:
            roots.append(row)
    out: list[RunRow] = []
    seen: set[str] = set()

    def place(row: RunRow, depth: int) -> None:
        if row.run_id in seen:
            return
        seen.add(row.run_id)
        row.depth = depth
        row.has_children = row.run_id in children
        out.append(row)
        for child in children.get(row.run_id, ()):
            place(child, depth + 1)

    for root in roots:
        place(root, 0)
    for row in rows:  # a cycle of parents: show what is left, flat
        if row.run_id not in seen:
            row.parent_on_page = False
            place(row, 0)
    return out


@dataclasses.dataclass(frozen=True)
class View:
    """What the URL asks of the runs table.

    ``explicit``: the URL names its columns (``cols``, maybe empty: then none). Without it the
    table shows default columns, the metrics and params seen on the first page; links keep
    the choice as it was made (no ``cols``, so the next first page picks its own defaults),
    while the fragments that extend or refresh the table on screen get its columns as
    ``dcols``, so their rows line up with its header. ``resolved``: ``cols`` holds the
    columns to render (explicit, from ``dcols`` or filled in from a first page)."""

    filter: str
    order: str
    cols: list[Column]
    view: str
    explicit: bool = True
    resolved: bool = True

    def query(self, **changes: str) -> str:
        """The query string of this view with ``changes``; empty values are left out, but an
        explicit empty ``cols`` is kept (it means no columns, not the defaults)."""
        columns = ",".join(c.name for c in self.cols)
        values = {
            "filter": self.filter,
            "order": self.order,
            "cols": columns if self.explicit else "",
            "view": self.view if self.view != "active" else "",
        }
        values.update(changes)
        kept = {k: v for k, v in values.items() if v or (k == "cols" and self.explicit)}
        return ("?" + urlencode(kept)) if kept else ""

    def table_query(self, **changes: str) -> str:
        """The query of a fragment that extends or refreshes the table on screen: the same
        columns, even when they are the defaults of the page it extends."""
        if not self.explicit:
            changes = {**changes, "dcols": ",".join(c.name for c in self.cols)}
        return self.query(**changes)

    def with_defaults(self, keys: dict[str, list[str]]) -> View:
        """This view, its columns filled in from a first page's keys unless already known."""
        if self.resolved:
            return self
        columns = [
            Column(entity, key)
            for entity in ("metrics", "params")
            for key in keys[entity][:DEFAULT_COLUMNS_PER_KIND]
        ]
        return dataclasses.replace(self, cols=columns, resolved=True)

    def sort_link(self, identifier: str) -> tuple[str, str]:
        """The query that sorts by ``identifier`` (toggling when it is the current sort) and
        the header's ``aria-sort`` value."""
        current, _, direction = self.order.rpartition(" ")
        if current == identifier:
            flipped = "ASC" if direction.upper() == "DESC" else "DESC"
            state = "ascending" if direction.upper() == "ASC" else "descending"
            return self.query(order=f"{identifier} {flipped}"), state
        return self.query(order=f"{identifier} DESC"), "none"


def _experiment(request: Request, experiment_id: str) -> Experiment | None:
    try:
        return _store(request).get_experiment(experiment_id)
    except (NotFound, InvalidArgument):
        return None


def _read_view(
    filter: str = "",
    order: str = "",
    cols: str | None = None,
    view: str = "active",
    dcols: str | None = None,
) -> View:
    """The table's view from the query string (a dependency of both table routes)."""
    chosen = cols if cols is not None else dcols
    return View(
        filter.strip(),
        order.strip(),
        parse_columns(chosen or ""),
        _view(view),
        explicit=cols is not None,
        resolved=chosen is not None,
    )


TableView = Annotated[View, Depends(_read_view)]


def _projection(view: View) -> RunColumns:
    """What the table reads of each run: the chosen columns' keys and the tags behind the
    built-in columns, never a run's other keys (runs may carry thousands)."""
    keys: dict[str, list[str]] = {"params": [], "metrics": [], "tags": list(SYSTEM_TAGS)}
    for column in view.cols:
        keys[column.entity].append(column.key)
    return RunColumns(**{kind: list(dict.fromkeys(found)) for kind, found in keys.items()})


def _search(
    request: Request, experiment_id: str, view: View, page_token: str | None, size: int,
    columns: RunColumns,
) -> tuple[list[dict[str, Any]], str | None]:
    page = _store(request).search_run_dicts(
        [experiment_id],
        filter_string=view.filter or None,
        run_view_type=VIEWS[view.view],
        max_results=size,
        order_by=[view.order] if view.order else None,
        page_token=page_token or None,
        columns=columns,
    )
    return list(page), page.token


def _table_page(
    request: Request, experiment_id: str, view: View, page_token: str | None, size: int
) -> tuple[list[dict[str, Any]], str | None, View]:
    """A page of the table, and the view with its columns resolved. A first page without
    chosen columns shows the first metrics and params of its runs: those keys are found
    first (``run_keys``, a few index entries per run), then the page is read with them."""
    if not view.resolved:
        bare = RunColumns(params=[], metrics=[], tags=list(SYSTEM_TAGS))
        runs, token = _search(request, experiment_id, view, page_token, size, bare)
        keys = _store(request).run_keys(
            [run["info"]["run_id"] for run in runs], DEFAULT_COLUMNS_PER_KIND
        )
        view = view.with_defaults(keys)
        if not view.cols:
            return runs, token, view
    runs, token = _search(request, experiment_id, view, page_token, size, _projection(view))
    return runs, token, view


def _table_values(
    request: Request, experiment: Experiment, view: View, runs: Sequence[dict[str, Any]],
    token: str | None, *, loaded_before: int = 0,
) -> dict[str, Any]:
    extreme_keys = list(dict.fromkeys(c.key for c in view.cols if c.extreme))
    extremes: Extremes = {}
    if extreme_keys and runs:
        extremes = _store(request).metric_extremes(
            [run["info"]["run_id"] for run in runs], extreme_keys
        )
    rows = group_nested([_row(run, view.cols, extremes) for run in runs])
    base = url(request, f"/experiments/{experiment.experiment_id}")
    return {
        "experiment": experiment,
        "v": view,
        "rows": rows,
        "token": token,
        "loaded": loaded_before + len(rows),
        "running": any(row.status == "RUNNING" for row in rows),
        "builtins": BUILTIN_COLUMNS,
        "page_url": base,
        "fragment_url": f"{base}/runs",
        "columns_url": f"{base}/columns",
    }


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def runs_page(request: Request, experiment_id: str, v: TableView) -> HTMLResponse:
    experiment = _experiment(request, experiment_id)
    if experiment is None:
        return render(
            request, "runs.html", title="Experiment not found", section="experiments",
            status_code=404, experiment=None, experiment_id=experiment_id,
        )
    error = None
    runs: list[dict[str, Any]] = []
    token = None
    try:
        runs, token, v = _table_page(request, experiment.experiment_id, v, None, PAGE_SIZE)
    except InvalidArgument as exc:
        error = exc.message
    return render(
        request,
        "runs.html",
        title=experiment.name,
        section="experiments",
        status_code=400 if error else 200,
        error=error,
        **_table_values(request, experiment, v, runs, token),
    )


@router.get("/experiments/{experiment_id}/columns", response_class=HTMLResponse)
def column_picker(request: Request, experiment_id: str, v: TableView) -> HTMLResponse:
    """The column picker's choices, fetched when it is first opened: every key of the runs
    on the table's first page (a page of wide runs holds thousands, which the table itself
    never reads)."""
    experiment = _experiment(request, experiment_id)
    if experiment is None:
        return render(
            request, "_runs_message.html", title="Not found", status_code=404,
            message=f"No experiment with id {experiment_id}.",
        )
    bare = RunColumns(params=[], metrics=[], tags=[])
    try:
        runs, _ = _search(request, experiment.experiment_id, v, None, PAGE_SIZE, bare)
    except InvalidArgument as exc:
        return render(
            request, "_runs_message.html", title="Bad request", status_code=400,
            message=exc.message,
        )
    keys = _store(request).run_keys([run["info"]["run_id"] for run in runs])
    keys["tags"] = [key for key in keys["tags"] if not key.startswith("mlflow.")]
    for column in v.cols:  # a shared link's columns stay offered even where this page lacks them
        if column.key not in keys[column.entity]:
            keys[column.entity] = sorted([*keys[column.entity], column.key])
    return render(
        request, "_col_picker.html", title=experiment.name, v=v, keys=keys,
        chosen={c.name for c in v.cols}, runs_read=len(runs),
    )


@router.get("/experiments/{experiment_id}/runs", response_class=HTMLResponse)
def runs_fragment(
    request: Request,
    experiment_id: str,
    v: TableView,
    page_token: str = "",
    n: int = PAGE_SIZE,
    loaded: int = 0,
    refresh: bool = False,
) -> HTMLResponse:
    """The table (or, with ``page_token``, the next page's rows) as an htmx fragment. ``n``
    lets the live refresh reload every row on screen, not just the first page."""
    experiment = _experiment(request, experiment_id)
    if experiment is None:
        return render(
            request, "_runs_message.html", title="Not found", status_code=404,
            message=f"No experiment with id {experiment_id}.",
        )
    size = PAGE_SIZE if page_token else min(max(n, PAGE_SIZE), MAX_REFRESH_ROWS)
    try:
        # A new first page (a filter changed) without chosen columns gets its own defaults.
        runs, token, v = _table_page(request, experiment.experiment_id, v, page_token, size)
    except InvalidArgument as exc:
        return render(
            request, "_runs_message.html", title="Bad request", status_code=400,
            message=exc.message,
        )
    values = _table_values(request, experiment, v, runs, token, loaded_before=max(loaded, 0))
    response = render(
        request, "_runs_table.html", title=experiment.name, append=bool(page_token), **values
    )
    if not page_token and not refresh:
        response.headers["HX-Push-Url"] = values["page_url"] + v.query()
    return response
