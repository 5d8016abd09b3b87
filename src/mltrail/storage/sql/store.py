"""``SqlTrackingStore``: the tracking store on SQLAlchemy, embedded or behind the server.

Each method is one transaction. SQL errors are translated here, at the boundary: an
integrity error becomes ``AlreadyExists`` or ``InvalidArgument``, and no SQL text ever
reaches the caller.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mltrail.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LifecycleStage,
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
from mltrail.entities.validation import validate_max_results
from mltrail.errors import InvalidArgument, TemporarilyUnavailable
from mltrail.storage.sql import experiments, logged_models, run_rows, runs, schema, search, writes
from mltrail.storage.sql.engine import (
    WRITE,
    WalCheckpoints,
    checkpoint_in_background,
    no_wait,
    translated_errors,
)
from mltrail.storage.tracking import RunColumns, TrackingStore, WouldWait

if TYPE_CHECKING:
    from mltrail.storage.sql.registry import SqlRegistryStore

log = logging.getLogger(__name__)
T = TypeVar("T")

_LOCK_RETRIES = 5


class SqlTrackingStore(TrackingStore):
    def __init__(
        self,
        engine: Engine,
        artifact_root: str,
        *,
        truncate_long_values: bool = False,
        run_name_factory: Callable[[], str] | None = None,
    ) -> None:
        self.engine = engine
        self.artifact_root = artifact_root.rstrip("/")
        self.truncate_long_values = truncate_long_values
        if run_name_factory is None:
            from mltrail.entities.names import generate_run_name

            run_name_factory = generate_run_name
        self._run_name_factory = run_name_factory
        self._checkpoints: WalCheckpoints | None = None
        self._registry: SqlRegistryStore | None = None
        self._registry_lock = threading.Lock()

    # Transactions

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._translated(), self.engine.connect().execution_options(**WRITE) as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        # SQLite says at once whether the write lock is free. PostgreSQL does not (a write can
        # wait for a row lock, and every statement is a network round trip), so a caller that
        # must not block runs its PostgreSQL writes where blocking is harmless.
        if self.engine.dialect.name != "sqlite":
            raise WouldWait
        with no_wait():
            yield

    def _retrying(self, work: Callable[[Connection], T]) -> T:
        """Run a write, retrying while another writer holds the database past the timeout."""
        for attempt in range(_LOCK_RETRIES):
            try:
                with self._write() as conn:
                    return work(conn)
            except TemporarilyUnavailable:
                if attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        return translated_errors("tracking database")

    # Experiments

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] = (),
    ) -> str:
        return self._retrying(
            lambda c: experiments.create(c, name, artifact_location, self.artifact_root, tags)
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as conn:
            return experiments.get(conn, str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            return experiments.get_by_name(conn, name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        limit = validate_max_results(max_results)
        view = ViewType.coerce(view_type)
        with self._read() as conn:
            return experiments.search(conn, view, limit, filter_string, order_by, page_token)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._retrying(lambda c: experiments.rename(c, str(experiment_id), new_name))

    def delete_experiment(self, experiment_id: str) -> None:
        if str(experiment_id) == "0":
            raise InvalidArgument("The Default experiment (id 0) cannot be deleted")
        self._retrying(
            lambda c: experiments.set_stage(c, str(experiment_id), LifecycleStage.DELETED)
        )

    def restore_experiment(self, experiment_id: str) -> None:
        self._retrying(lambda c: experiments.set_stage(c, str(experiment_id), LifecycleStage.ACTIVE))

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        self._retrying(lambda c: experiments.set_tag(c, str(experiment_id), tag))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._retrying(lambda c: experiments.delete_tag(c, str(experiment_id), key))

    # Runs

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        return self._retrying(
            lambda c: runs.create(
                c, str(experiment_id), user_id, start_time, tags, run_name, self._run_name_factory
            )
        )

    def get_run(self, run_id: str) -> Run:
        with self._read() as conn:
            return runs.get(conn, run_id)

    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        return self._retrying(lambda c: runs.update(c, run_id, status, end_time, run_name))

    def delete_run(self, run_id: str) -> None:
        now = int(time.time() * 1000)
        self._retrying(lambda c: runs.set_stage(c, run_id, LifecycleStage.DELETED, now))

    def restore_run(self, run_id: str) -> None:
        self._retrying(lambda c: runs.set_stage(c, run_id, LifecycleStage.ACTIVE, None))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        if not (metrics or params or tags):
            return
        self._retrying(
            lambda c: writes.log_batch(
                c, run_id, metrics, params, tags, truncate=self.truncate_long_values
            )
        )

    def log_metric_columns(
        self,
        run_id: str,
        columns: Sequence[MetricColumns],
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        if not (columns or params or tags):
            return
        self._retrying(
            lambda c: writes.log_batch(
                c, run_id, columns, params, tags, truncate=self.truncate_long_values
            )
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        self._retrying(lambda c: runs.delete_tag(c, run_id, key))

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        if datasets:
            self._retrying(lambda c: writes.log_inputs(c, run_id, datasets))

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        page = self.get_metric_history_columns(run_id, key, max_results, page_token)
        return PagedList(page.metrics(run_id), page.token)

    def get_metric_history_columns(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> MetricHistory:
        limit = None if max_results is None else validate_max_results(max_results, 2**31 - 1)
        with self._read() as conn:
            return writes.metric_history(conn, run_id, key, limit, page_token)

    def metric_extremes(
        self, run_ids: Sequence[str], keys: Sequence[str]
    ) -> dict[tuple[str, str], tuple[float, float]]:
        if not run_ids or not keys:
            return {}
        with self._read() as conn:
            return writes.metric_extremes(conn, run_ids, keys)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        limit = validate_max_results(max_results)
        view = ViewType.coerce(run_view_type)
        ids = [str(i) for i in experiment_ids]
        with self._read() as conn:
            return search.search(conn, ids, filter_string, view, limit, order_by, page_token)

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
        limit = validate_max_results(max_results)
        view = ViewType.coerce(run_view_type)
        ids = [str(i) for i in experiment_ids]
        with self._read() as conn:
            return search.search_dicts(
                conn, ids, filter_string, view, limit, order_by, page_token, columns
            )

    def run_keys(self, run_ids: Sequence[str], limit: int | None = None) -> dict[str, list[str]]:
        with self._read() as conn:
            return run_rows.keys_of(conn, list(dict.fromkeys(run_ids)), limit)

    def run_summaries(self, experiment_ids: Sequence[str]) -> dict[str, tuple[int, int | None]]:
        ids = [int(i) for i in experiment_ids if str(i).isdigit()]
        runs_table = schema.runs
        query = (
            sa.select(
                runs_table.c.experiment_id,
                sa.func.count(),
                sa.func.max(runs_table.c.start_time),
            )
            .where(
                runs_table.c.experiment_id.in_(ids),
                runs_table.c.lifecycle_stage == LifecycleStage.ACTIVE,
            )
            .group_by(runs_table.c.experiment_id)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {str(row[0]): (int(row[1]), row[2]) for row in rows}

    # Model registry

    def registry_store(self) -> SqlRegistryStore:
        """The model registry in this store's database, sharing its engine (its module is
        imported on first use: most processes that log runs never touch the registry)."""
        with self._registry_lock:
            if self._registry is None:
                from mltrail.storage.sql.registry import SqlRegistryStore

                self._registry = SqlRegistryStore(self.engine, self)
            return self._registry

    # Maintenance

    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        with self._read() as conn:
            return runs.deleted_ids(conn, older_than_ms)

    def purge_run(self, run_id: str) -> None:
        def work(conn: Connection) -> None:
            run = runs.get(conn, run_id)
            if run.info.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidArgument(f"Run {run_id} must be deleted before it is purged")
            runs.purge(conn, run_id)

        self._retrying(work)

    def purge_experiment(self, experiment_id: str) -> None:
        def work(conn: Connection) -> None:
            experiment = experiments.get(conn, str(experiment_id))
            if experiment.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidArgument(
                    f"Experiment {experiment_id} must be deleted before it is purged"
                )
            left = conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.runs)
                .where(schema.runs.c.experiment_id == int(experiment_id))
            ).scalar_one()
            if left:
                raise InvalidArgument(
                    f"Experiment {experiment_id} still has {left} runs; purge them first"
                )
            experiments.purge(conn, str(experiment_id))

        self._retrying(work)

    def experiment_ids_deleted(self) -> list[str]:
        found = self.search_experiments(ViewType.DELETED_ONLY, max_results=50000)
        return [e.experiment_id for e in found]

    def start_maintenance(self) -> None:
        if self._checkpoints is None:
            self._checkpoints = checkpoint_in_background(self.engine)

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        self.engine.dispose()

    # Logged models

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        return self._retrying(
            lambda c: logged_models.create(
                c,
                str(experiment_id),
                name,
                source_run_id,
                tags,
                params,
                model_type,
                now=experiments.now_ms(),
                truncate=self.truncate_long_values,
                generate_name=self._run_name_factory,
            )
        )

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with self._read() as conn:
            return logged_models.get(conn, model_id, allow_deleted)

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | int | str
    ) -> LoggedModel:
        return self._retrying(
            lambda c: logged_models.finalize(c, model_id, status, now=experiments.now_ms())
        )

    def delete_logged_model(self, model_id: str) -> None:
        self._retrying(lambda c: logged_models.delete(c, model_id, now=experiments.now_ms()))

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        self._retrying(lambda c: logged_models.set_tags(c, model_id, tags))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._retrying(lambda c: logged_models.delete_tag(c, model_id, key))

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        self._retrying(
            lambda c: logged_models.log_params(
                c, model_id, params, truncate=self.truncate_long_values
            )
        )

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int = 100,
        order_by: Sequence[Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        limit = validate_max_results(max_results)
        ids = [str(i) for i in experiment_ids]
        with self._read() as conn:
            return logged_models.search(
                conn, ids, filter_string, datasets, limit, order_by, page_token
            )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        if models:
            self._retrying(lambda c: logged_models.log_outputs(c, run_id, models))

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        if models:
            self._retrying(lambda c: logged_models.log_inputs(c, run_id, models))
