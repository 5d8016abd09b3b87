"""The run page: ``/runs/<run_id>``, what one run recorded and the files it wrote.

The page is rendered whole on the server: the overview (status, times, source, git commit,
parent and children), the description and tags (edited in place through the JSON API from the
browser), params and the latest metrics. Each metric gets a chart that ``static/charts.js``
draws from ``metrics/get-history-bulk-interval``: the server downsamples long histories keeping
each bucket's minimum and maximum, so a spike is never dropped, and a zoom fetches the detail of
the zoomed steps.

The artifacts browser is two htmx fragments: a folder's listing and a file's preview (text,
JSON, YAML, CSV as a table, images, ``MLmodel`` as flavors and signature). HTML and SVG are
never inlined: they load in an ``<iframe sandbox="">`` from ``/runs/<id>/artifact-frame``,
served with a strict content type and ``Content-Security-Policy: sandbox``, so their scripts
cannot run nor reach the page. While a run is RUNNING, its status and latest metrics are
re-fetched every 5 s (``/runs/<id>/live``) and its charts refresh.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from mltrail.entities import FileInfo, Run, ViewType
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.server.artifact_repos import repository_for
from mltrail.server.config import ServerConfig
from mltrail.server.streaming import checked_file_path, checked_path
from mltrail.server.ui.pages import render, url
from mltrail.storage.artifacts import ArtifactRepository
from mltrail.storage.tracking import TrackingStore

router = APIRouter()

NOTE_TAG = "mlflow.note.content"
PARENT_TAG = "mlflow.parentRunId"
SYSTEM_PREFIX = "mlflow."
MAX_CHILDREN = 200
PREVIEW_BYTES = 1_000_000
CSV_ROWS = 100
_TEXT = frozenset(
    """txt text log err out py pyi r sql sh bash md rst toml ini cfg conf properties js ts java
    scala c h cpp go rs rb pl lua xml css ipynb jsonl ndjson""".split()
)
_TEXT_NAMES = frozenset({"mlproject", "license", "readme", "requirements", "dockerfile"})
_IMAGES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
           "webp": "image/webp", "bmp": "image/bmp"}
_FRAMED = {"html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
           "svg": "image/svg+xml"}
# Served to the sandboxed frame: no script, no network, no plugin, no navigation of the page.
FRAME_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
             "font-src data:; frame-ancestors 'self'")


def when(ms: int | None) -> str:
    """A timestamp in milliseconds as local-free UTC text, for tables."""
    if ms is None:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def duration(start: int | None, end: int | None) -> str:
    if start is None or end is None or end < start:
        return ""
    seconds = (end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


def error_page(request: Request, exc: MltrailError, title: str) -> HTMLResponse:
    """A page saying what went wrong, with the error's own status (never a 500 for bad input)."""
    status = exc.http_status if exc.http_status < 500 else 500
    return render(request, "_run_error.html", title=title, section="experiments",
                  message=exc.message, status_code=status)


def quoted(text: str) -> str:
    """``text`` as a quoted string of the search grammar."""
    return "'" + text.replace("'", "''") + "'"


@dataclass
class Preview:
    """What the preview fragment shows for one file."""

    path: str
    kind: str  # text, table, image, frame, mlmodel, none, error
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    mlmodel: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def mlmodel_summary(data: bytes) -> dict[str, Any]:
    """An MLmodel file's flavors and signature, for display."""
    doc = yaml.safe_load(data.decode("utf-8", "replace"))
    if not isinstance(doc, dict):
        raise InvalidArgument("The MLmodel file is not a YAML mapping")
    flavors = doc.get("flavors") or {}
    signature = doc.get("signature") or {}

    def columns(part: str) -> list[dict[str, str]]:
        raw = signature.get(part) if isinstance(signature, dict) else None
        if not raw:
            return []
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return [{"name": "", "type": str(raw)}]
        if not isinstance(items, list):
            return [{"name": "", "type": json.dumps(items)}]
        out = []
        for item in items:
            if isinstance(item, dict):
                kind = item.get("type", "")
                if kind == "tensor":
                    spec = item.get("tensor-spec") or {}
                    kind = f"tensor {spec.get('dtype', '')} {spec.get('shape', '')}".strip()
                out.append({"name": str(item.get("name", "")), "type": str(kind)})
        return out

    return {
        "flavors": {str(name): _flat(value) for name, value in flavors.items()}
        if isinstance(flavors, dict) else {},
        "inputs": columns("inputs"),
        "outputs": columns("outputs"),
        "params": columns("params"),
        "model_id": doc.get("model_id") or doc.get("model_uuid") or "",
        "created": str(doc.get("utc_time_created", "")),
    }


def _flat(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v, default=str)
            for k, v in value.items()}


def _read_head(repository: ArtifactRepository, rel: str, limit: int) -> tuple[bytes, bool]:
    with repository.open_read(rel) as stream:
        data = stream.read(limit + 1)
    return data[:limit], len(data) > limit


def preview(repository: ArtifactRepository, rel: str) -> Preview:
    name = posixpath.basename(rel)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in _IMAGES:
        return Preview(rel, "image")
    if ext in _FRAMED:
        return Preview(rel, "frame")
    known = (name == "MLmodel" or ext in _TEXT or ext in ("json", "yaml", "yml", "csv", "tsv")
             or name.lower() in _TEXT_NAMES)
    if not known:
        return Preview(rel, "none", message="No preview for this type of file.")
    data, truncated = _read_head(repository, rel, PREVIEW_BYTES)
    text = data.decode("utf-8", "replace")
    if name == "MLmodel" and not truncated:
        try:
            return Preview(rel, "mlmodel", text=text, mlmodel=mlmodel_summary(data))
        except (yaml.YAMLError, InvalidArgument):
            return Preview(rel, "text", text=text)
    if ext == "json" and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    elif ext in ("yaml", "yml") and not truncated:
        try:
            text = yaml.safe_dump(yaml.safe_load(text), sort_keys=False, allow_unicode=True)
        except yaml.YAMLError:
            pass
    elif ext in ("csv", "tsv"):
        reader = csv.reader(io.StringIO(text), delimiter="\t" if ext == "tsv" else ",")
        rows: list[list[str]] = []
        for row in reader:
            if len(rows) > CSV_ROWS:
                break
            rows.append(row)
        more = truncated or len(rows) > CSV_ROWS
        return Preview(rel, "table", rows=rows[: CSV_ROWS + 1], truncated=more)
    return Preview(rel, "text", text=text, truncated=truncated)


def _run_and_repository(request: Request, run_id: str) -> tuple[Run, ArtifactRepository]:
    store: TrackingStore = request.app.state.store
    config: ServerConfig = request.app.state.config
    run = store.get_run(run_id)
    return run, repository_for(run.info.artifact_uri, config)


def download_url(request: Request, run_id: str, path: str) -> str:
    return url(request, "/get-artifact?" + urlencode({"path": path, "run_uuid": run_id}))


def live_values(run: Run) -> dict[str, Any]:
    return {
        "run": run,
        "metrics": sorted(run.data.metrics.items()),
        "running": run.info.status == "RUNNING",
        "ended": when(run.info.end_time),
        "took": duration(run.info.start_time, run.info.end_time),
    }


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> HTMLResponse:
    store: TrackingStore = request.app.state.store
    try:
        run = store.get_run(run_id)
        experiment = store.get_experiment(run.info.experiment_id)
        children = list(store.search_runs(
            [run.info.experiment_id], f"tags.`{PARENT_TAG}` = {quoted(run_id)}",
            ViewType.ALL, MAX_CHILDREN, ["attributes.start_time DESC"],
        ))
    except MltrailError as exc:
        return error_page(request, exc, "Run not found")
    tags = run.data.tags
    parent_id = tags.get(PARENT_TAG)
    parent_name = ""
    if parent_id:
        try:
            parent_name = store.get_run(parent_id).info.run_name
        except MltrailError:
            parent_name = ""
    user_tags = sorted((k, v) for k, v in tags.items() if not k.startswith(SYSTEM_PREFIX))
    system_tags = sorted((k, v) for k, v in tags.items() if k.startswith(SYSTEM_PREFIX))
    return render(
        request, "run.html", title=run.info.run_name or run_id, section="experiments",
        experiment=experiment, started=when(run.info.start_time),
        description=tags.get(NOTE_TAG, ""), user_tags=user_tags, system_tags=system_tags,
        params=sorted(run.data.params.items()), parent_id=parent_id, parent_name=parent_name,
        children=children, source=tags.get("mlflow.source.name", ""),
        commit=tags.get("mlflow.source.git.commit", ""),
        user=run.info.user_id or tags.get("mlflow.user", ""),
        **live_values(run),
    )


@router.get("/runs/{run_id}/live", response_class=HTMLResponse)
def run_live(request: Request, run_id: str) -> HTMLResponse:
    """The status and latest metrics, re-fetched by the page while the run is RUNNING."""
    store: TrackingStore = request.app.state.store
    try:
        run = store.get_run(run_id)
    except MltrailError as exc:
        return error_page(request, exc, "Run not found")
    return render(request, "_run_live.html", title=run_id, **live_values(run))


@router.get("/runs/{run_id}/artifacts", response_class=HTMLResponse)
def run_artifacts(request: Request, run_id: str, path: str = Query("")) -> HTMLResponse:
    """One folder of the run's artifacts, as a list (an htmx fragment)."""
    try:
        rel = checked_path(path)
        _, repository = _run_and_repository(request, run_id)
        entries: list[FileInfo] = sorted(
            repository.list_artifacts(rel or None), key=lambda f: (not f.is_dir, f.path)
        )
    except MltrailError as exc:
        return render(request, "_run_artifacts.html", title=run_id, error=exc.message,
                      entries=[], run_id=run_id, folder=path, parent=None,
                      status_code=exc.http_status if exc.http_status < 500 else 500)
    files = [
        {
            "path": entry.path,
            "name": posixpath.basename(entry.path.rstrip("/")),
            "is_dir": entry.is_dir,
            "size": entry.file_size,
            "download": "" if entry.is_dir else download_url(request, run_id, entry.path),
        }
        for entry in entries
    ]
    parent = posixpath.dirname(rel) if rel else None
    return render(request, "_run_artifacts.html", title=run_id, error="", entries=files,
                  run_id=run_id, folder=rel, parent=parent)


@router.get("/runs/{run_id}/preview", response_class=HTMLResponse)
def run_preview(request: Request, run_id: str, path: str = Query("")) -> HTMLResponse:
    """One file's preview (an htmx fragment)."""
    try:
        rel = checked_file_path(path)
        _, repository = _run_and_repository(request, run_id)
        shown = preview(repository, rel)
    except MltrailError as exc:
        return render(request, "_run_preview.html", title=run_id, run_id=run_id,
                      preview=Preview(path, "error", message=exc.message), download="",
                      frame="", status_code=exc.http_status if exc.http_status < 500 else 500)
    frame = url(request, f"/runs/{run_id}/artifact-frame?" + urlencode({"path": rel}))
    return render(request, "_run_preview.html", title=run_id, run_id=run_id, preview=shown,
                  download=download_url(request, run_id, rel), frame=frame)


@router.get("/runs/{run_id}/artifact-frame")
def artifact_frame(request: Request, run_id: str, path: str = Query("")) -> Response:
    """An HTML or SVG artifact for the sandboxed frame: its own strict type, and a CSP that
    sandboxes it even when opened on its own."""
    headers = {"Content-Security-Policy": FRAME_CSP, "X-Content-Type-Options": "nosniff",
               "Cache-Control": "no-store"}
    try:
        rel = checked_file_path(path)
        ext = rel.rsplit(".", 1)[-1].lower() if "." in posixpath.basename(rel) else ""
        media_type = _FRAMED.get(ext)
        if media_type is None:
            raise InvalidArgument(f"Only HTML and SVG artifacts are framed, not {rel!r}")
        _, repository = _run_and_repository(request, run_id)
        data, _ = _read_head(repository, rel, 10 * PREVIEW_BYTES)
    except MltrailError as exc:
        return Response(exc.message, status_code=exc.http_status if exc.http_status < 500
                        else 500, media_type="text/plain", headers=headers)
    return Response(data, media_type=media_type, headers=headers)
