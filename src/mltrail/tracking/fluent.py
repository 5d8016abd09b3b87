"""The fluent API: module-level verbs acting on the active run.

All state (tracking URI, active experiment, the active-run stack) lives in one ``Session``
held in a ``ContextVar``, replaceable whole with ``use_session``. As in MLflow, the stack of
active runs is per thread. Nothing here writes to ``os.environ``.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from mltrail.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    InputTag,
    LifecycleStage,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.settings import Settings
from mltrail.storage.artifacts import join_artifact_uri
from mltrail.tracking.client import MltrailClient, now_ms, resolve_tracking_uri

log = logging.getLogger(__name__)

PARENT_RUN_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"
DEFAULT_EXPERIMENT_ID = "0"


class ActiveRun(Run):
    """The run ``start_run`` returns; as a context manager it ends the run on exit."""

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        session = get_session()
        if any(r.info.run_id == self.info.run_id for r in session.run_stack):
            try:
                end_run(RunStatus.to_string(status))
            except MltrailError as error:
                if exc_type is None:
                    raise
                # The block's own exception (KeyboardInterrupt too) is what the caller must see.
                log.warning("mltrail: ending run %s: %s", self.info.run_id, error)


class Session:
    """The fluent API's state: settings, tracking URI, active experiment, runs per thread."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._tracking_uri: str | None = None
        self._resolved_uri: str | None = None
        self._registry_uri: str | None = None
        self.experiment_id: str | None = None
        self._local = threading.local()
        self._clients: dict[str, MltrailClient] = {}
        self._lock = threading.Lock()

    @property
    def run_stack(self) -> list[ActiveRun]:
        stack: list[ActiveRun] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @property
    def last_run_id(self) -> str | None:
        return getattr(self._local, "last_run_id", None)

    @last_run_id.setter
    def last_run_id(self, run_id: str | None) -> None:
        self._local.last_run_id = run_id

    @property
    def tracking_uri(self) -> str | None:
        return self._tracking_uri

    @tracking_uri.setter
    def tracking_uri(self, uri: str | None) -> None:
        self._tracking_uri = uri
        self._resolved_uri = None

    def resolved_tracking_uri(self) -> str:
        # Resolved once: log_metric asks for it on every call.
        if self._resolved_uri is None:
            self._resolved_uri = resolve_tracking_uri(self._tracking_uri, self.settings)
        return self._resolved_uri

    @property
    def registry_uri(self) -> str | None:
        return self._registry_uri

    @registry_uri.setter
    def registry_uri(self, uri: str | None) -> None:
        self._registry_uri = resolve_tracking_uri(uri, self.settings) if uri else None

    def client(self) -> MltrailClient:
        uri = self._resolved_uri or self.resolved_tracking_uri()
        key = uri if self._registry_uri is None else f"{uri} {self._registry_uri}"
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = MltrailClient(
                        uri, self._registry_uri, settings=self.settings
                    )
        return client

    def end_all_runs(self) -> None:
        while self.run_stack:
            end_run()


_default_session: Session | None = None
_session_var: contextvars.ContextVar[Session] = contextvars.ContextVar("mltrail_session")


def get_session() -> Session:
    session = _session_var.get(None)
    if session is not None:
        return session
    global _default_session
    if _default_session is None:
        _default_session = Session()
        atexit.register(_end_runs_at_exit)
    return _default_session


@contextlib.contextmanager
def use_session(session: Session) -> Iterator[Session]:
    """Run a block with another session (tests, and programs tracking to two stores)."""
    token = _session_var.set(session)
    try:
        yield session
    finally:
        _session_var.reset(token)


def _end_runs_at_exit() -> None:
    if _default_session is not None:
        try:
            _default_session.end_all_runs()
        except MltrailError as exc:
            print(f"mltrail: ending the active run at exit failed: {exc}", file=sys.stderr)


# Tracking URI and experiments


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    text = os.fspath(uri)
    if "://" not in text and not text.startswith(("sqlite:", "postgresql:")):
        # A bare path to a database file.
        if text.endswith(".db"):
            text = "sqlite:///" + os.path.abspath(text)
    session = get_session()
    # Made absolute now, against the directory the caller is in, not at first use.
    session.tracking_uri = resolve_tracking_uri(text, session.settings) if text else None


def get_tracking_uri() -> str:
    return get_session().resolved_tracking_uri()


def set_registry_uri(uri: str | os.PathLike[str]) -> None:
    """Keep registered models in another store than runs (by default they share one)."""
    get_session().registry_uri = os.fspath(uri) or None


def get_registry_uri() -> str:
    return get_session().client().registry_uri


def is_tracking_uri_set() -> bool:
    session = get_session()
    return bool(session.tracking_uri or session.settings.tracking_uri)


def _client() -> MltrailClient:
    return get_session().client()


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment active, by name (created if missing) or by id."""
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidArgument("set_experiment takes exactly one of experiment_name or experiment_id")
    client = _client()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            new_id = client.create_experiment(experiment_name)
            found = client.get_experiment(new_id)
        experiment = found
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidArgument(
            f"Cannot set a deleted experiment '{experiment.name}' as the active experiment: "
            "restore it (`mltrail experiments restore`) or purge it (`mltrail gc`) first"
        )
    get_session().experiment_id = experiment.experiment_id
    return experiment


def experiment_id_in_force() -> str:
    """The experiment new runs and models go to: the one set, else MLTRAIL_EXPERIMENT_NAME
    or _ID, else the default experiment."""
    session = get_session()
    if session.experiment_id is not None:
        return session.experiment_id
    settings = session.settings
    if settings.experiment_name:
        return set_experiment(experiment_name=settings.experiment_name).experiment_id
    if settings.experiment_id:
        return str(settings.experiment_id)
    return DEFAULT_EXPERIMENT_ID


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def search_experiments(
    view_type: ViewType | int | str = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """Every matching experiment (all pages), or the first ``max_results``."""
    client = _client()
    found: list[Experiment] = []
    token = None
    while True:
        want = 1000 if max_results is None else min(1000, max_results - len(found))
        page = client.search_experiments(view_type, want, filter_string, order_by, token)
        found.extend(page)
        token = page.token
        if not token or (max_results is not None and len(found) >= max_results):
            return found


def set_experiment_tag(key: str, value: Any) -> None:
    _client().set_experiment_tag(experiment_id_in_force(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


# Runs


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run, or resume one by ``run_id``; use it as a context manager to end it."""
    session = get_session()
    stack = session.run_stack
    if stack and not nested:
        raise InvalidArgument(
            f"Run with UUID {stack[-1].info.run_id} is already active. To start a new run, "
            "end the current one with mltrail.end_run(); to start a nested run, call "
            "start_run(nested=True)"
        )
    client = session.client()
    parent = parent_run_id or (stack[-1].info.run_id if stack and nested else None)
    resume_id = run_id or (session.settings.run_id if not stack else None)
    if resume_id:
        run = _resume(client, resume_id, experiment_id, run_name, tags, description)
    else:
        run = _create(client, experiment_id, run_name, parent, tags, description)
    active = ActiveRun(run.info, run.data, run.inputs)
    stack.append(active)
    return active


def _resume(
    client: MltrailClient,
    run_id: str,
    experiment_id: str | None,
    run_name: str | None,
    tags: dict[str, Any] | None,
    description: str | None,
) -> Run:
    run = client.get_run(run_id)
    if experiment_id is not None and str(experiment_id) != run.info.experiment_id:
        raise InvalidArgument(
            f"Run {run_id} belongs to experiment {run.info.experiment_id}, "
            f"not to experiment {experiment_id}"
        )
    if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidArgument(f"Cannot resume run {run_id}: it is deleted")
    client.update_run(run_id, status="RUNNING", name=run_name)
    extra = dict(tags or {})
    if description is not None:
        extra[NOTE_TAG] = description
    if extra:
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in extra.items()])
    return client.get_run(run_id)


def _create(
    client: MltrailClient,
    experiment_id: str | None,
    run_name: str | None,
    parent: str | None,
    tags: dict[str, Any] | None,
    description: str | None,
) -> Run:
    # The context module reads git; it is imported when a run starts, not at import.
    from mltrail.tracking.context import run_context_tags

    session = get_session()
    all_tags: dict[str, Any] = run_context_tags(
        argv0=sys.argv[0] if sys.argv else None, cwd=os.getcwd(), user=session.settings.user
    )
    if parent:
        all_tags[PARENT_RUN_TAG] = parent
    if description is not None:
        all_tags[NOTE_TAG] = description
    all_tags.update(tags or {})
    experiment = str(experiment_id) if experiment_id is not None else experiment_id_in_force()
    return client.create_run(experiment, tags=all_tags, run_name=run_name)


def active_run() -> ActiveRun | None:
    stack = get_session().run_stack
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    session = get_session()
    current = active_run()
    if current is not None:
        return session.client().get_run(current.info.run_id)
    if session.last_run_id is None:
        return None
    return session.client().get_run(session.last_run_id)


def end_run(status: str = "FINISHED") -> None:
    session = get_session()
    stack = session.run_stack
    if not stack:
        return
    run = stack[-1]
    status = RunStatus.coerce(status)  # a bad status leaves the run active
    try:
        session.client().set_terminated(run.info.run_id, status)
    finally:
        stack.pop()
        session.last_run_id = run.info.run_id


def _run_id(run_id: str | None = None) -> str:
    """The run to log to: the one given, the active one, or a new one started for it."""
    if run_id:
        return run_id
    stack = get_session().run_stack
    if stack:
        return stack[-1].info.run_id
    return start_run().info.run_id


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return _client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


# Logging


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    get_session().client().log_metric(_run_id(run_id), key, value, timestamp, step, synchronous)


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    client = get_session().client()
    target = _run_id(run_id)
    stamp = now_ms() if timestamp is None else timestamp
    for key, value in metrics.items():
        client.log_metric(target, key, value, stamp, step, synchronous)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    return get_session().client().log_param(_run_id(), key, value, synchronous)


def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    client = get_session().client()
    target = _run_id(run_id)
    for key, value in params.items():
        client.log_param(target, key, value, synchronous)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    get_session().client().set_tag(_run_id(), key, value, synchronous)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    client = get_session().client()
    target = _run_id()
    for key, value in tags.items():
        client.set_tag(target, key, value, synchronous)


def delete_tag(key: str) -> None:
    _client().delete_tag(_run_id(), key)


def log_input(
    dataset: Dataset, context: str | None = None, tags: dict[str, str] | None = None
) -> None:
    input_tags = [InputTag(k, v) for k, v in (tags or {}).items()]
    if context is not None:
        input_tags.append(InputTag("mlflow.data.context", context))
    _client().log_inputs(_run_id(), [DatasetInput(dataset, tuple(input_tags))])


def flush() -> None:
    """Wait until everything logged so far is stored."""
    _client().flush()


# Artifacts


def get_artifact_uri(artifact_path: str | None = None) -> str:
    base = _client()._artifact_uri(_run_id())
    return join_artifact_uri(base, artifact_path) if artifact_path else base


def log_artifact(local_path: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    _client().log_artifact(_run_id(run_id), local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    _client().log_artifacts(_run_id(run_id), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_text(_run_id(run_id), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_dict(_run_id(run_id), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_figure(_run_id(run_id), figure, artifact_file)


def log_image(image: Any, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_image(_run_id(run_id), image, artifact_file)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_table(_run_id(run_id), data, artifact_file)


def load_table(artifact_file: str, run_ids: Sequence[str] | None = None) -> Any:
    """The tables logged under ``artifact_file`` by the given runs (or the active one), stacked."""
    import pandas as pd  # pip install 'mltrail[pandas]'

    client = _client()
    frames = []
    for run_id in run_ids or [_run_id()]:
        frame = client.load_table(run_id, artifact_file)
        frame["run_id"] = run_id
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def list_artifacts(path: str | None = None, run_id: str | None = None) -> list[FileInfo]:
    return _client().list_artifacts(_run_id(run_id), path)


def download_artifacts(
    artifact_path: str = "", run_id: str | None = None, dst_path: str | None = None
) -> str:
    return _client().download_artifacts(_run_id(run_id), artifact_path, dst_path)


# Search


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: ViewType | int | str = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs matching a filter, as a pandas DataFrame (MLflow's columns) or a list of Runs."""
    if output_format not in ("pandas", "list"):
        raise InvalidArgument(f"output_format must be 'pandas' or 'list', got {output_format!r}")
    client = _client()
    ids = _search_experiment_ids(client, experiment_ids, experiment_names, search_all_experiments)
    found: list[Run] = []
    token = None
    while len(found) < max_results:
        page = client.search_runs(
            ids, filter_string, run_view_type, min(50_000, max_results - len(found)), order_by, token
        )
        found.extend(page)
        token = page.token
        if not token:
            break
    if output_format == "list":
        return found
    return runs_to_frame(found)


def _search_experiment_ids(
    client: MltrailClient,
    experiment_ids: Sequence[str] | None,
    experiment_names: Sequence[str] | None,
    search_all: bool,
) -> list[str]:
    if experiment_ids and experiment_names:
        raise InvalidArgument("Give experiment_ids or experiment_names, not both")
    if experiment_ids:
        return [str(i) for i in experiment_ids]
    if experiment_names:
        ids = []
        for name in experiment_names:
            experiment = client.get_experiment_by_name(name)
            if experiment is not None:
                ids.append(experiment.experiment_id)
        return ids
    if search_all:
        return [e.experiment_id for e in search_experiments(view_type=ViewType.ALL)]
    return [experiment_id_in_force()]


def runs_to_frame(runs: Sequence[Run]) -> Any:
    """MLflow's search_runs frame: info columns, then ``metrics.*``, ``params.*``, ``tags.*``."""
    import pandas as pd  # pip install 'mltrail[pandas]'

    info_columns = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    param_keys = sorted({k for r in runs for k in r.data.params})
    tag_keys = sorted({k for r in runs for k in r.data.tags})
    columns: dict[str, list[Any]] = {name: [] for name in info_columns}
    for run in runs:
        info = run.info
        columns["run_id"].append(info.run_id)
        columns["experiment_id"].append(info.experiment_id)
        columns["status"].append(info.status)
        columns["artifact_uri"].append(info.artifact_uri)
        columns["start_time"].append(info.start_time)
        columns["end_time"].append(info.end_time)
    for key in metric_keys:
        columns[f"metrics.{key}"] = [r.data.metrics.get(key) for r in runs]
    for key in param_keys:
        columns[f"params.{key}"] = [r.data.params.get(key) for r in runs]
    for key in tag_keys:
        columns[f"tags.{key}"] = [r.data.tags.get(key) for r in runs]
    frame = pd.DataFrame(columns)
    for name in ("start_time", "end_time"):
        frame[name] = pd.to_datetime(frame[name], unit="ms", utc=True)
    for key in metric_keys:
        frame[f"metrics.{key}"] = frame[f"metrics.{key}"].astype("float64")
    return frame

