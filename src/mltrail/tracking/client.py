"""``MltrailClient``: the explicit API, with the methods of MLflow's ``MlflowClient``.

The client speaks to one tracking store (chosen by URI) and to the artifact repository of
each run. ``log_metric``, ``log_param`` and ``set_tag`` queue to a background batcher unless
``synchronous=True`` (or ``MLTRAIL_ASYNC_LOGGING=false``); every read flushes it first, so a
client always reads what it wrote.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from mltrail.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.entities.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
    validate_key,
    validate_metric,
    validate_metric_value,
    validate_param,
    validate_step,
    validate_tag,
    validate_timestamp,
)
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.settings import Settings
from mltrail.storage.artifacts import (
    ArtifactRepository,
    get_artifact_repository,
    safe_relative_path,
)
from mltrail.storage.tracking import TrackingStore
from mltrail.storage.uri import open_tracking_store
from mltrail.tracking import artifact_files
from mltrail.tracking.batcher import METRIC, PARAM, TAG, Batcher
from mltrail.tracking.registry_methods import RegistryMethods


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def resolve_tracking_uri(uri: str | None, settings: Settings) -> str:
    """The tracking URI in force; a relative SQLite path is made absolute once, here."""
    chosen = uri or settings.effective_tracking_uri
    if chosen.startswith("sqlite:///") and not chosen.startswith("sqlite:////"):
        relative = chosen[len("sqlite:///") :]
        if relative and relative != ":memory:" and not relative.startswith("/"):
            chosen = "sqlite:///" + os.path.abspath(relative)
    return chosen


class MltrailClient(RegistryMethods):
    def __init__(
        self,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        self._settings = settings or Settings.from_env()
        self._tracking_uri = resolve_tracking_uri(tracking_uri, self._settings)
        chosen_registry = registry_uri or self._settings.registry_uri
        self._registry_uri = (
            resolve_tracking_uri(chosen_registry, self._settings)
            if chosen_registry
            else self._tracking_uri
        )
        self._store: TrackingStore | None = None
        self._batcher: Batcher | None = None
        self._batcher_lock = threading.Lock()
        self._artifact_uris: dict[str, str] = {}
        self._registry = None

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    @property
    def store(self) -> TrackingStore:
        if self._store is None:
            self._store = open_tracking_store(self._tracking_uri, self._settings)
        return self._store

    @property
    def _queue(self) -> Batcher:
        batcher = self._batcher
        if batcher is None:
            # Threads sharing the client may log first at once: they must share one queue.
            with self._batcher_lock:
                if self._batcher is None:
                    self._batcher = Batcher(self._send_batch)
                batcher = self._batcher
        return batcher

    def _send_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        self.store.log_batch(run_id, metrics, params, tags)

    def _is_async(self, synchronous: bool | None) -> bool:
        if synchronous is None:
            return self._settings.async_logging
        return not synchronous

    def flush(self) -> None:
        """Send everything queued; raise an error a background batch met."""
        if self._batcher is not None:
            self._batcher.flush()

    # Experiments

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> str:
        experiment_tags = [ExperimentTag(k, str(v)) for k, v in (tags or {}).items()]
        return self.store.create_experiment(name, artifact_location, experiment_tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType | int | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        return self.store.search_experiments(
            ViewType.coerce(view_type), max_results, filter_string, order_by, page_token
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(str(experiment_id), new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self.flush()
        self.store.delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(str(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(str(experiment_id), ExperimentTag(key, str(value)))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.store.delete_experiment_tag(str(experiment_id), key)

    # Runs

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        run_tags = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        user = self._settings.user or (tags or {}).get("mlflow.user") or "unknown"
        start = now_ms() if start_time is None else validate_timestamp(start_time, "start_time")
        run = self.store.create_run(str(experiment_id), str(user), start, run_tags, run_name)
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run

    def get_run(self, run_id: str) -> Run:
        self.flush()
        return self.store.get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        parent_id = self.get_run(run_id).data.tags.get("mlflow.parentRunId")
        return None if parent_id is None else self.get_run(parent_id)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self.store.update_run_info(
            run_id, status=None if status is None else RunStatus.coerce(status), run_name=name
        )

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> RunInfo:
        """End a run: flush what is queued for it, then record the status and end time.

        The run ends even when a queued batch failed; that error is raised afterwards.
        """
        error: BaseException | None = None
        try:
            self.flush()
        except BaseException as exc:  # noqa: BLE001 - re-raised once the run is ended
            error = exc
        info = self.store.update_run_info(
            run_id,
            status=RunStatus.coerce(status or "FINISHED"),
            end_time=now_ms() if end_time is None else validate_timestamp(end_time, "end_time"),
        )
        if error is not None:
            raise error
        return info

    def delete_run(self, run_id: str) -> None:
        self.flush()
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType | int | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        self.flush()
        ids = [experiment_ids] if isinstance(experiment_ids, (str, int)) else list(experiment_ids)
        return self.store.search_runs(
            [str(i) for i in ids],
            filter_string or None,
            ViewType.coerce(run_view_type),
            max_results,
            order_by,
            page_token,
        )

    # Logging

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        key = validate_key(key, "metric key")
        metric = Metric(
            key,
            validate_metric_value(key, value),
            now_ms() if timestamp is None else validate_timestamp(timestamp),
            0 if step is None else validate_step(step),
        )
        if self._is_async(synchronous):
            self._queue.add(run_id, METRIC, metric)
        else:
            self.flush()
            self.store.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        checked_key, text = validate_param(key, value, truncate=self._settings.truncate_long_values)
        param = Param(checked_key, text)
        if self._is_async(synchronous):
            self._queue.add(run_id, PARAM, param)
        else:
            self.flush()
            self.store.log_batch(run_id, params=[param])
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        checked_key, text = validate_tag(key, value, truncate=self._settings.truncate_long_values)
        tag = RunTag(checked_key, text)
        if self._is_async(synchronous):
            self._queue.add(run_id, TAG, tag)
        else:
            self.flush()
            self.store.log_batch(run_id, tags=[tag])

    def delete_tag(self, run_id: str, key: str) -> None:
        self.flush()
        self.store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log many items; sent at once, split into batches of MLflow's sizes.

        Unlike the single-item verbs, ``log_batch`` is synchronous unless asked otherwise:
        callers who batch themselves want to know it landed.
        """
        if synchronous is False:
            for kind, items in ((METRIC, metrics), (PARAM, params), (TAG, tags)):
                for item in items:
                    self._queue.add(run_id, kind, item)
            return
        self.flush()
        metrics, params, tags = list(metrics), list(params), list(tags)
        if (
            len(metrics) <= MAX_METRICS_PER_BATCH
            and len(params) <= MAX_PARAMS_PER_BATCH
            and len(tags) <= MAX_TAGS_PER_BATCH
            and len(metrics) + len(params) + len(tags) <= MAX_ENTITIES_PER_BATCH
        ):
            self.store.log_batch(run_id, metrics, params, tags)
            return
        # Several transactions: check every item first, so a bad one stores nothing.
        self._check_batch(run_id, metrics, params, tags)
        for start in range(0, len(params), MAX_PARAMS_PER_BATCH):
            self.store.log_batch(run_id, params=params[start : start + MAX_PARAMS_PER_BATCH])
        for start in range(0, len(tags), MAX_TAGS_PER_BATCH):
            self.store.log_batch(run_id, tags=tags[start : start + MAX_TAGS_PER_BATCH])
        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.store.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH])

    def _check_batch(
        self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        truncate = self._settings.truncate_long_values
        for metric in metrics:
            validate_metric(metric.key, metric.value, metric.timestamp, metric.step)
        for tag in tags:
            validate_tag(tag.key, tag.value, truncate=truncate)
        stored = self.store.get_run(run_id).data.params
        wanted: dict[str, str] = {}
        for param in params:
            key, value = validate_param(param.key, param.value, truncate=truncate)
            old = wanted.setdefault(key, stored.get(key, value))
            if old != value:
                raise InvalidArgument(
                    f"Changing param values is not allowed. Param with key='{key}' has value "
                    f"'{old}' for run ID='{run_id}'; the batch also gives it '{value}'."
                )

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self.flush()
        self.store.log_inputs(run_id, datasets)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.flush()
        return list(self.store.get_metric_history(run_id, key))

    # Artifacts

    def _artifact_uri(self, run_id: str) -> str:
        uri = self._artifact_uris.get(run_id)
        if uri is None:
            uri = self._artifact_uris[run_id] = self.store.get_run(run_id).info.artifact_uri
        return uri

    def artifact_repository(self, run_id: str) -> ArtifactRepository:
        return self.artifact_repository_for_uri(self._artifact_uri(run_id))

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        path = os.fspath(local_path)
        repo = self.artifact_repository(run_id)
        if os.path.isdir(path):
            name = os.path.basename(os.path.normpath(path))
            target = posixpath.join(artifact_path, name) if artifact_path else name
            repo.log_artifacts(path, target)
        else:
            repo.log_artifact(path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self.artifact_repository(run_id).log_artifacts(os.fspath(local_dir), artifact_path)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self.artifact_repository(run_id).list_artifacts(path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        return self.artifact_repository(run_id).download_artifacts(path, dst_path)

    def _log_written(self, run_id: str, artifact_file: str, write: Any, *args: Any) -> None:
        # Checked before anything is written: the name must be a file below the root.
        rel = safe_relative_path(artifact_file, "artifact file")
        if not rel:
            raise InvalidArgument(
                f"Invalid artifact file {artifact_file!r}: it names the artifact root, not a file"
            )
        if artifact_file.endswith("/"):
            raise InvalidArgument(
                f"Invalid artifact file {artifact_file!r}: it names a directory, not a file"
            )
        directory, _ = posixpath.split(rel)
        with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:
            path = write(tmp, *args, rel)
            self.artifact_repository(run_id).log_artifact(path, directory or None)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._log_written(run_id, artifact_file, artifact_files.write_text, text)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        self._log_written(run_id, artifact_file, artifact_files.write_dict, dictionary)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        self._log_written(run_id, artifact_file, artifact_files.write_figure, figure)

    def log_image(self, run_id: str, image: Any, artifact_file: str) -> None:
        self._log_written(run_id, artifact_file, artifact_files.write_image, image)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        self._log_written(run_id, artifact_file, artifact_files.write_table, data)

    def load_table(self, run_id: str, artifact_file: str) -> Any:
        with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:
            return artifact_files.read_table(self.download_artifacts(run_id, artifact_file, tmp))

    # Logged models (MLflow 3): a model's own record, its files apart from the run's

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A new ``PENDING`` model; its files go to ``artifact_location`` before it is
        finalized."""
        self.flush()
        return self.store.create_logged_model(
            str(experiment_id),
            name,
            source_run_id,
            {str(k): str(v) for k, v in (tags or {}).items()},
            {str(k): str(v) for k, v in (params or {}).items()},
            model_type,
        )

    @contextmanager
    def finalizing_logged_model(self, model_id: str) -> Iterator[None]:
        """Around the upload of a logged model's files: the model is finalized ``READY`` when
        the block succeeds, ``FAILED`` when it raises (and the block's error is raised)."""
        try:
            yield
        except BaseException:
            try:
                self.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
            except MltrailError:
                pass  # the original error says more
            raise
        self.finalize_logged_model(model_id, LoggedModelStatus.READY)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self.store.get_logged_model(model_id)

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | int | str
    ) -> LoggedModel:
        return self.store.finalize_logged_model(model_id, status)

    def delete_logged_model(self, model_id: str) -> None:
        self.store.delete_logged_model(model_id)

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, Any]) -> None:
        self.store.set_logged_model_tags(model_id, {str(k): str(v) for k, v in tags.items()})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.store.delete_logged_model_tag(model_id, key)

    def log_model_params(self, model_id: str, params: Mapping[str, Any]) -> None:
        self.store.log_logged_model_params(
            model_id, {str(k): str(v) for k, v in params.items()}
        )

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        return self.store.search_logged_models(
            [str(i) for i in experiment_ids],
            filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )

    def link_model_to_run(self, run_id: str, model_id: str, step: int = 0) -> None:
        """Record the model as an output of the run (``log_model`` does)."""
        self.flush()
        self.store.log_outputs(run_id, [LoggedModelOutput(model_id, step)])

    def artifact_repository_for_uri(self, artifact_uri: str) -> ArtifactRepository:
        """The repository of any artifact URI (a run's, a logged model's), with this client's
        S3 endpoint, tracking server and credentials."""
        return get_artifact_repository(
            artifact_uri,
            s3_endpoint_url=self._settings.s3_endpoint_url,
            tracking_uri=self._tracking_uri,
            settings=self._settings,
        )

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()


MlflowClient = MltrailClient
