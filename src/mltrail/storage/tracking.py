"""The tracking store contract: every backend (SQL, REST) implements it.

Stores implement a few primitives and derive the rest: ``log_metric``, ``log_param`` and
``set_tag`` are ``log_batch`` with one item.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mltrail.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    MetricColumns,
    MetricHistory,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from mltrail.errors import InvalidArgument, NotFound, NotImplementedByServer

if TYPE_CHECKING:
    from mltrail.storage.registry import RegistryStore


class WouldWait(Exception):
    """Raised inside ``TrackingStore.without_waiting`` by a write that would have to wait
    for another writer, before it changes anything. A signal for the caller, never shown to
    a user: the caller runs the work again where waiting is harmless."""


@dataclasses.dataclass(frozen=True)
class RunColumns:
    """The keys of each kind to read of a run (``None``: every key of that kind). A page read
    with columns also leaves out the runs' inputs and outputs (datasets, logged models)."""

    params: Sequence[str] | None = None
    metrics: Sequence[str] | None = None
    tags: Sequence[str] | None = None


class TrackingStore(abc.ABC):
    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Inside this block, the first write that would wait for another writer to let go
        of the database raises ``WouldWait`` instead, having changed nothing; later writes
        wait as usual. The server uses it to run a short write on its event loop, and to
        hand the write to a thread only when it would block. A store that cannot tell in
        advance whether a write would wait raises ``WouldWait`` at once, as this one does."""
        raise WouldWait
        yield  # pragma: no cover - makes this a generator

    # Experiments

    @abc.abstractmethod
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] = (),
    ) -> str:
        """Create an experiment and return its id."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment: ...

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]: ...

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None: ...

    @abc.abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # Runs

    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run: ...

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo: ...

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Log everything in one transaction, or nothing."""

    def log_metric_columns(
        self,
        run_id: str,
        columns: Sequence[MetricColumns],
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """``log_batch`` for points that arrive as columns (the server's log-batch): the same
        checks, limits and single transaction. A store may take them without building a
        ``Metric`` per point; this default builds them."""
        self.log_batch(run_id, [m for c in columns for m in c.metrics()], params, tags)

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None: ...

    @abc.abstractmethod
    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]: ...

    def get_metric_history_columns(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> MetricHistory:
        """The same page as ``get_metric_history``, as columns: the server writes its JSON
        from these, which a store can give without an entity per point."""
        page = self.get_metric_history(run_id, key, max_results, page_token)
        return MetricHistory(
            key,
            [m.step for m in page],
            [m.timestamp for m in page],
            [m.value for m in page],
            page.token,
        )

    def metric_extremes(
        self, run_ids: Sequence[str], keys: Sequence[str]
    ) -> dict[tuple[str, str], tuple[float, float]]:
        """The lowest and highest value of each (run, key) over its whole history, NaN
        ignored, for the UI's ``(min)`` and ``(max)`` columns; pairs without a value (no such
        run or key, or only NaN) are left out. This default reads each history; a store that
        can do it in one query should."""
        out: dict[tuple[str, str], tuple[float, float]] = {}
        for run_id in dict.fromkeys(run_ids):
            for key in dict.fromkeys(keys):
                try:
                    history = self.get_metric_history_columns(run_id, key)
                except (NotFound, InvalidArgument):
                    continue
                values = [v for v in history.values if not math.isnan(v)]
                if values:
                    out[run_id, key] = (min(values), max(values))
        return out

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]: ...

    def search_run_dicts(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        columns: RunColumns | None = None,
    ) -> PagedList[dict[str, Any]]:
        """The same page as ``search_runs``, each run in its REST shape (``Run.to_dict()``):
        the server answers with these, which a store can build without entities. With
        ``columns``, each run's data holds only those keys (the UI's runs table asks for the
        columns on screen: runs may carry thousands of keys); this default reads whole runs
        and picks the keys out, a store that can read only those should."""
        page = self.search_runs(
            experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )
        dicts = [run.to_dict() for run in page]
        if columns is not None:
            for run in dicts:
                data = run.get("data", {})
                for kind, keys in (("params", columns.params), ("metrics", columns.metrics),
                                   ("tags", columns.tags)):
                    if keys is not None and kind in data:
                        kept = set(keys)
                        data[kind] = [item for item in data[kind] if item["key"] in kept]
                        if not data[kind]:
                            del data[kind]  # as in to_dict: an empty list is left out
                for kind in ("inputs", "outputs"):
                    run.pop(kind, None)
        return PagedList(dicts, page.token)

    def run_keys(self, run_ids: Sequence[str], limit: int | None = None) -> dict[str, list[str]]:
        """The distinct keys of ``params``, ``metrics`` and ``tags`` over ``run_ids`` (runs
        not found are skipped), each list sorted; with ``limit``, the first ``limit`` of
        each. This default reads each run whole."""
        found: dict[str, set[str]] = {"params": set(), "metrics": set(), "tags": set()}
        for run_id in dict.fromkeys(run_ids):
            try:
                data = self.get_run(run_id).data
            except NotFound:
                continue
            found["params"].update(data.params)
            found["metrics"].update(data.metrics)
            found["tags"].update(data.tags)
        return {kind: sorted(keys)[:limit] for kind, keys in found.items()}

    def run_summaries(self, experiment_ids: Sequence[str]) -> dict[str, tuple[int, int | None]]:
        """Each experiment's count of active runs and its newest run's start time, for the
        UI's experiments list (experiments without runs are left out). This default pages
        through ``search_runs``; a store that can count in one query should."""
        out: dict[str, tuple[int, int | None]] = {}
        for experiment_id in experiment_ids:
            count, newest, token = 0, None, None
            while True:
                page = self.search_runs([experiment_id], max_results=1000, page_token=token)
                count += len(page)
                starts = [run.info.start_time for run in page if run.info.start_time is not None]
                if starts:
                    newest = max(starts + ([newest] if newest is not None else []))
                token = page.token
                if not token:
                    break
            if count:
                out[str(experiment_id)] = (count, newest)
        return out

    # Maintenance

    @abc.abstractmethod
    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        """Soft-deleted runs (deleted before ``older_than_ms`` when given), for ``gc``."""

    @abc.abstractmethod
    def purge_run(self, run_id: str) -> None:
        """Remove a soft-deleted run and everything it logged, for good."""

    @abc.abstractmethod
    def purge_experiment(self, experiment_id: str) -> None:
        """Remove a soft-deleted experiment (its runs must be purged first)."""

    # Derived verbs

    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=[param])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=[tag])

    def start_maintenance(self) -> None:
        """Start the store's background upkeep, for a long-lived process such as the server;
        ``close`` stops it. The default store has none."""

    def close(self) -> None:
        """Release connections; the default store holds none."""

    def registry_store(self) -> RegistryStore:
        """The model registry kept beside this store's runs (one per store, sharing its
        engine or HTTP session). A store without a registry says so."""
        raise NotImplementedByServer(f"{type(self).__name__} has no model registry")

    # Logged models (MLflow 3). Not abstract: a store without them says so when called.

    def _no_logged_models(self) -> NotImplementedByServer:
        return NotImplementedByServer(f"{type(self).__name__} does not support logged models")

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a ``PENDING`` model in an active experiment (a generated name if none)."""
        raise self._no_logged_models()

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        raise self._no_logged_models()

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | int | str
    ) -> LoggedModel:
        """Set the model's final status (``READY`` or ``FAILED``)."""
        raise self._no_logged_models()

    def delete_logged_model(self, model_id: str) -> None:
        """Soft-delete: searches and reads skip the model from then on."""
        raise self._no_logged_models()

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        raise self._no_logged_models()

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        raise self._no_logged_models()

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        raise self._no_logged_models()

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int = 100,
        order_by: Sequence[Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Active models of the experiments. ``datasets`` are ``{dataset_name,
        dataset_digest?}`` (metric clauses then count only metrics on them); ``order_by``
        items are ``{field_name, ascending?, dataset_name?, dataset_digest?}``."""
        raise self._no_logged_models()

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record ``models`` as outputs of the run (``log_model`` does, at a step)."""
        raise self._no_logged_models()

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        """Record ``models`` as inputs of the run (the ``models`` of ``runs/log-inputs``)."""
        raise self._no_logged_models()
