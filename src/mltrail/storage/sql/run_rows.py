"""The rows behind a page of runs: info, latest metrics, params, tags, inputs and outputs.

A page of a thousand runs holds tens of thousands of rows, so they are read in a few
set-based queries (one per table per few hundred runs) on the driver's own cursor: plain
tuples, no SQL compiled per call and no result wrapping. Both ``runs.load`` (entities) and
the search projection (REST dicts) are built from a ``RunRows``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from mltrail.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
)
from mltrail.errors import InvalidArgument
from mltrail.storage.sql import schema
from mltrail.storage.sql.engine import driver_cursor
from mltrail.storage.tracking import RunColumns

_R = schema.runs
# In RunInfo's field order, so that a row is RunInfo's arguments (experiment_id aside).
INFO_COLUMNS = (
    _R.c.run_uuid,
    _R.c.experiment_id,
    _R.c.name,
    _R.c.user_id,
    _R.c.status,
    _R.c.start_time,
    _R.c.end_time,
    _R.c.artifact_uri,
    _R.c.lifecycle_stage,
)
_INFO_SQL = ", ".join(c.name for c in INFO_COLUMNS)
_CHUNK = 500  # ids per IN (...) list, well under every SQLite build's bound-parameter limit
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}

_LINKS_USED = (
    "SELECT EXISTS (SELECT 1 FROM run_inputs), EXISTS (SELECT 1 FROM run_model_inputs),"
    " EXISTS (SELECT 1 FROM run_model_outputs)"
)

Info = tuple[Any, ...]  # the INFO_COLUMNS of one run
MetricRow = tuple[str, str, float, bool, int, int]  # run id, key, value, is_nan, timestamp, step
ItemRow = tuple[str, str, str]  # run id, key, value


@dataclasses.dataclass
class RunRows:
    """A page of runs as rows. ``infos`` keeps the order asked for (absent runs left out);
    the other maps are keyed by run id, each run's rows (which start with its id) in key
    order."""

    infos: list[Info]
    metrics: dict[str, list[MetricRow]]
    params: dict[str, list[ItemRow]]
    tags: dict[str, list[ItemRow]]
    datasets: dict[str, list[DatasetInput]]
    model_inputs: dict[str, list[LoggedModelInput]]
    model_outputs: dict[str, list[LoggedModelOutput]]


class _Reader:
    """Runs ``SELECT ... WHERE <alias>.run_uuid IN <ids>`` statements for a set of ids: one
    array parameter on PostgreSQL, lists of placeholders in chunks elsewhere."""

    def __init__(self, conn: Connection, cursor: Any, run_ids: Sequence[str]) -> None:
        self.cursor = cursor
        self.array = conn.dialect.name == "postgresql"
        mark = _MARKS.get(conn.dialect.paramstyle)
        if mark is None:
            raise InvalidArgument(
                f"Unsupported database driver parameter style {conn.dialect.paramstyle!r}"
            )
        self.mark = mark
        if self.array:
            self.chunks: list[Sequence[str]] = [list(run_ids)] if run_ids else []
        else:
            self.chunks = [run_ids[i : i + _CHUNK] for i in range(0, len(run_ids), _CHUNK)]

    def rows(
        self, select: str, column: str, tail: str = "", keys: Sequence[str] | None = None
    ) -> Iterable[Any]:
        """Rows of ``{select} WHERE {column} <in the ids> {tail}``, chunk after chunk; with
        ``keys``, only rows whose ``key`` is one of them."""
        for chunk in self.chunks:
            if self.array:
                where, args = f"{column} = ANY({self.mark})", [chunk]
                if keys is not None:
                    where, args = f"{where} AND key = ANY({self.mark})", [chunk, list(keys)]
            else:
                where, args = f"{column} IN ({', '.join([self.mark] * len(chunk))})", [*chunk]
                if keys is not None:
                    where += f" AND key IN ({', '.join([self.mark] * len(keys))})"
                    args += keys
            self.cursor.execute(f"{select} WHERE {where} {tail}", args)
            yield from self.cursor.fetchall()


def _grouped(rows: Iterable[Any]) -> dict[str, list[Any]]:
    """Rows ``(run_id, ...)`` as ``{run_id: [row, ...]}``, keeping their order."""
    out: dict[str, list[Any]] = {}
    for row in rows:
        items = out.get(row[0])
        if items is None:
            out[row[0]] = items = []
        items.append(row)
    return out


# More keys than this are read whole and picked out here; with a chunk of ids they stay
# under 999 bound parameters, the oldest SQLite builds' limit.
_MAX_PROJECTED_KEYS = 400


def fetch(
    conn: Connection,
    run_ids: Sequence[str],
    infos: Sequence[Info] | None = None,
    projection: RunColumns | None = None,
) -> RunRows:
    """Every row of ``run_ids`` (with ``projection``, only the rows of its keys, and no
    datasets or logged-model links); ``infos``, when the caller has read them already, are
    kept (and their runs are those read)."""
    if not run_ids:
        return RunRows([], {}, {}, {}, {}, {}, {})
    with driver_cursor(conn) as cursor:
        reader = _Reader(conn, cursor, run_ids)
        if infos is None:
            found = {
                row[0]: row for row in reader.rows(f"SELECT {_INFO_SQL} FROM runs", "run_uuid")
            }
            infos = [found[r] for r in run_ids if r in found]
        wanted = projection or RunColumns()

        def items(select: str, keys: Sequence[str] | None) -> dict[str, list[Any]]:
            if keys is not None and not keys:
                return {}
            # The unique index's (or primary key's) order: no sort.
            tail = "ORDER BY run_uuid, key"
            if keys is None or len(keys) <= _MAX_PROJECTED_KEYS:
                return _grouped(reader.rows(select, "run_uuid", tail, keys))
            kept = set(keys)
            return _grouped(row for row in reader.rows(select, "run_uuid", tail) if row[1] in kept)

        metrics = items(
            "SELECT run_uuid, key, value, is_nan, timestamp, step FROM metric_series",
            wanted.metrics,
        )
        params = items("SELECT run_uuid, key, value FROM params", wanted.params)
        tags = items("SELECT run_uuid, key, value FROM tags", wanted.tags)
        if projection is not None:
            return RunRows(list(infos), metrics, params, tags, {}, {}, {})
        # Most stores never log datasets or models: one probe spares three lookups then.
        cursor.execute(_LINKS_USED)
        inputs_used, model_inputs_used, model_outputs_used = cursor.fetchone()
        datasets = _datasets(reader) if inputs_used else {}
        model_inputs: dict[str, list[LoggedModelInput]] = {}
        if model_inputs_used:
            for run_id, model_id in reader.rows(
                "SELECT run_uuid, model_id FROM run_model_inputs", "run_uuid", "ORDER BY model_id"
            ):
                model_inputs.setdefault(run_id, []).append(LoggedModelInput(model_id))
        model_outputs: dict[str, list[LoggedModelOutput]] = {}
        if model_outputs_used:
            for run_id, model_id, step in reader.rows(
                "SELECT run_uuid, model_id, step FROM run_model_outputs",
                "run_uuid",
                "ORDER BY step, model_id",
            ):
                model_outputs.setdefault(run_id, []).append(LoggedModelOutput(model_id, step))
    return RunRows(list(infos), metrics, params, tags, datasets, model_inputs, model_outputs)


def _datasets(reader: _Reader) -> dict[str, list[DatasetInput]]:
    pairs = list(
        reader.rows(
            "SELECT ri.run_uuid, ds.dataset_id, ds.name, ds.digest, ds.source_type, ds.source,"
            " ds.schema, ds.profile"
            " FROM run_inputs ri JOIN datasets ds ON ds.dataset_id = ri.dataset_id",
            "ri.run_uuid",
        )
    )
    if not pairs:
        return {}
    tags: dict[tuple[str, str], list[InputTag]] = {}
    for run_id, dataset_id, key, value in reader.rows(
        "SELECT run_uuid, dataset_id, key, value FROM input_tags", "run_uuid", "ORDER BY key"
    ):
        tags.setdefault((run_id, dataset_id), []).append(InputTag(key, value))
    out: dict[str, list[DatasetInput]] = {}
    for run_id, dataset_id, name, digest, source_type, source, schema_, profile in pairs:
        dataset = Dataset(name, digest, source_type, source, schema_, profile)
        out.setdefault(run_id, []).append(
            DatasetInput(dataset, tuple(tags.get((run_id, dataset_id), ())))
        )
    return out


def _wire_float(value: float, is_nan: bool) -> float | str:
    """A metric value as MLflow's JSON writes it: NaN and the infinities as strings."""
    if is_nan:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return value


def to_dicts(rows: RunRows) -> list[dict[str, Any]]:
    """The REST shape of each run, ``Run.to_dict()``'s, built straight from the rows (a page
    of a thousand runs is tens of thousands of dicts: no entities in between)."""
    inf = math.inf
    metrics_of, params_of, tags_of = rows.metrics.get, rows.params.get, rows.tags.get
    datasets_of = rows.datasets.get
    model_inputs_of, model_outputs_of = rows.model_inputs.get, rows.model_outputs.get
    out = []
    for run_id, experiment_id, name, user_id, status, start, end, uri, stage in rows.infos:
        info: dict[str, Any] = {
            "run_id": run_id,
            "run_uuid": run_id,
            "run_name": name,
            "experiment_id": str(experiment_id),
            "user_id": user_id,
            "status": status,
            "artifact_uri": uri,
            "lifecycle_stage": stage,
        }
        if start is not None:
            info["start_time"] = start
        if end is not None:
            info["end_time"] = end
        data: dict[str, Any] = {}
        metrics = metrics_of(run_id)
        if metrics:
            data["metrics"] = [
                {
                    "key": key,
                    "value": value
                    if -inf < value < inf and not is_nan
                    else _wire_float(value, is_nan),
                    "timestamp": timestamp,
                    "step": step,
                }
                for _, key, value, is_nan, timestamp, step in metrics
            ]
        params = params_of(run_id)
        if params:
            data["params"] = [{"key": key, "value": value} for _, key, value in params]
        tags = tags_of(run_id)
        if tags:
            data["tags"] = [{"key": key, "value": value} for _, key, value in tags]
        inputs: dict[str, Any] = {}
        datasets = datasets_of(run_id)
        if datasets:
            inputs["dataset_inputs"] = [d.to_dict() for d in datasets]
        model_inputs = model_inputs_of(run_id)
        if model_inputs:
            inputs["model_inputs"] = [m.to_dict() for m in model_inputs]
        outputs: dict[str, Any] = {}
        model_outputs = model_outputs_of(run_id)
        if model_outputs:
            outputs["model_outputs"] = [m.to_dict() for m in model_outputs]
        out.append({"info": info, "data": data, "inputs": inputs, "outputs": outputs})
    return out


_KEY_TABLES = {"params": "params", "metrics": "metric_series", "tags": "tags"}


def keys_of(
    conn: Connection, run_ids: Sequence[str], limit: int | None = None
) -> dict[str, list[str]]:
    """The distinct keys of each kind (params, metrics, tags) over ``run_ids``, sorted; with
    ``limit``, the first ``limit`` of each kind. Those are among each run's own first
    ``limit``, so only that many index entries per run are read, however wide the runs."""
    out: dict[str, list[str]] = {kind: [] for kind in _KEY_TABLES}
    if not run_ids:
        return out
    with driver_cursor(conn) as cursor:
        reader = _Reader(conn, cursor, run_ids)
        for kind, table in _KEY_TABLES.items():
            found: set[str] = set()
            if limit is None:
                found.update(row[0] for row in reader.rows(f"SELECT DISTINCT key FROM {table}",
                                                           "run_uuid"))
            else:
                for chunk in reader.chunks:
                    firsts = " UNION ALL ".join(
                        f"SELECT key FROM (SELECT key FROM {table} WHERE run_uuid = {reader.mark}"
                        f" ORDER BY key LIMIT {int(limit)}) AS k{i}"
                        for i in range(len(chunk))
                    )
                    cursor.execute(firsts, list(chunk))
                    found.update(row[0] for row in cursor.fetchall())
            out[kind] = sorted(found)[:limit]
    return out
