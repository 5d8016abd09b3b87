"""``RestStore``: the tracking store of a server that speaks MLflow's REST API.

Used for ``http(s)://host[:port][/prefix]`` tracking URIs, against an mltrail server or an
MLflow one. Each method is one request to ``/api/2.0/mlflow/...`` (the metric history may
take several pages); the transport, credentials, retries and error translation live in
``HttpSession``.

MLflow's REST API has no purge: ``purge_run``, ``purge_experiment`` and ``deleted_run_ids``
raise ``NotImplementedByServer``; ``mltrail gc`` runs against the backend database instead.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from mltrail.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from mltrail.errors import MltrailError, NotFound, NotImplementedByServer
from mltrail.settings import Settings
from mltrail.storage.http_session import HttpSession, ParamValue
from mltrail.storage.rest_registry import RestRegistryStore
from mltrail.storage.tracking import TrackingStore

__all__ = ["API_PREFIX", "HISTORY_PAGE_SIZE", "RestStore"]

API_PREFIX = "/api/2.0/mlflow"
# Page size when a server pages a full metric history that was asked for without a limit.
HISTORY_PAGE_SIZE = 25000


def _token(payload: dict[str, Any]) -> str | None:
    token = payload.get("next_page_token")
    return token if isinstance(token, str) and token else None


def _list(payload: dict[str, Any], field: str) -> list[Any]:
    value = payload.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MltrailError(f"Invalid server response: {field!r} is not a JSON array")
    return value


class RestStore(TrackingStore):
    """The tracking store behind ``base_url``.

    ``client`` injects the HTTP transport (the store then leaves closing it to the caller);
    by default the store opens one kept-alive connection pool on first use. ``sleep`` is
    what waits between retries.
    """

    def __init__(
        self,
        base_url: str,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = HttpSession(base_url, settings, client=client, sleep=sleep)
        self._registry = RestRegistryStore(self._http)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def __repr__(self) -> str:
        return f"RestStore({self._http.display_base!r})"

    def _get(self, endpoint: str, params: dict[str, ParamValue]) -> dict[str, Any]:
        return self._http.call("GET", f"{API_PREFIX}/{endpoint}", params=params)

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", endpoint, body)

    def _send(self, method: str, endpoint: str, body: dict[str, Any] | None) -> dict[str, Any]:
        # Unset fields are left out, as MLflow's client does: the server applies defaults.
        clean = None if body is None else {k: v for k, v in body.items() if v is not None}
        return self._http.call(method, f"{API_PREFIX}/{endpoint}", body=clean)

    # Experiments

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] = (),
    ) -> str:
        payload = self._post(
            "experiments/create",
            {
                "name": name,
                "artifact_location": artifact_location or None,
                "tags": [t.to_dict() for t in tags] or None,
            },
        )
        experiment_id = payload.get("experiment_id")
        if experiment_id is None:
            raise MltrailError("Invalid server response: experiments/create gave no experiment_id")
        return str(experiment_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        payload = self._get("experiments/get", {"experiment_id": str(experiment_id)})
        return Experiment.from_dict(payload.get("experiment") or {})

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            payload = self._get("experiments/get-by-name", {"experiment_name": name})
        except NotFound as exc:
            # Only the server's own "no such experiment": a missing endpoint (a wrong URL
            # prefix, say) must not pass for a missing experiment.
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return Experiment.from_dict(payload.get("experiment") or {})

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        payload = self._post(
            "experiments/search",
            {
                "view_type": ViewType.coerce(view_type).name,
                "max_results": max_results,
                "filter": filter_string or None,
                "order_by": list(order_by) if order_by else None,
                "page_token": page_token or None,
            },
        )
        found = [Experiment.from_dict(e) for e in _list(payload, "experiments")]
        return PagedList(found, _token(payload))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._post(
            "experiments/update", {"experiment_id": str(experiment_id), "new_name": new_name}
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._post("experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id: str) -> None:
        self._post("experiments/restore", {"experiment_id": str(experiment_id)})

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        self._post(
            "experiments/set-experiment-tag",
            {"experiment_id": str(experiment_id), "key": tag.key, "value": tag.value},
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._post(
            "experiments/delete-experiment-tag", {"experiment_id": str(experiment_id), "key": key}
        )

    # Runs

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        payload = self._post(
            "runs/create",
            {
                "experiment_id": str(experiment_id),
                "user_id": user_id,
                "start_time": start_time,
                "tags": [t.to_dict() for t in tags] or None,
                "run_name": run_name,
            },
        )
        return Run.from_dict(payload.get("run") or {})

    def get_run(self, run_id: str) -> Run:
        return Run.from_dict(self._get("runs/get", {"run_id": run_id}).get("run") or {})

    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        payload = self._post(
            "runs/update",
            {"run_id": run_id, "status": status, "end_time": end_time, "run_name": run_name},
        )
        return RunInfo.from_dict(payload.get("run_info") or {})

    def delete_run(self, run_id: str) -> None:
        self._post("runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._post("runs/restore", {"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        if not (metrics or params or tags):
            return
        self._post(
            "runs/log-batch",
            {
                "run_id": run_id,
                # run_id on a metric names its run for the store; the wire has it once.
                "metrics": [_wire_metric(m) for m in metrics],
                "params": [p.to_dict() for p in params],
                "tags": [t.to_dict() for t in tags],
            },
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        self._post("runs/delete-tag", {"run_id": run_id, "key": key})

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        if datasets:
            self._post(
                "runs/log-inputs",
                {"run_id": run_id, "datasets": [d.to_dict() for d in datasets]},
            )

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """One page when ``max_results`` is given; otherwise every point, following the
        server's page tokens if it pages on its own."""
        params: dict[str, ParamValue] = {"run_id": run_id, "metric_key": key}
        if max_results is not None:
            params["max_results"] = max_results
        if page_token:
            params["page_token"] = page_token
        payload = self._get("metrics/get-history", params)
        points = [Metric.from_dict(m) for m in _list(payload, "metrics")]
        token = _token(payload)
        if max_results is not None:
            return PagedList(points, token)
        while token is not None:
            payload = self._get(
                "metrics/get-history",
                {**params, "max_results": HISTORY_PAGE_SIZE, "page_token": token},
            )
            points.extend(Metric.from_dict(m) for m in _list(payload, "metrics"))
            token = _token(payload)
        return PagedList(points, None)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        payload = self._post(
            "runs/search",
            {
                "experiment_ids": [str(i) for i in experiment_ids],
                "filter": filter_string or None,
                "run_view_type": ViewType.coerce(run_view_type).name,
                "max_results": max_results,
                "order_by": list(order_by) if order_by else None,
                "page_token": page_token or None,
            },
        )
        runs = [Run.from_dict(r) for r in _list(payload, "runs")]
        return PagedList(runs, _token(payload))

    # Logged models (MLflow 3): /logged-models/*, and a run's model inputs and outputs

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        payload = self._post(
            "logged-models",
            {
                "experiment_id": str(experiment_id),
                "name": name,
                "source_run_id": source_run_id,
                "model_type": model_type,
                "tags": _pairs(tags),
                "params": _pairs(params),
            },
        )
        return _logged_model(payload)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        # allow_deleted is mltrail's; MLflow's server ignores a query field it does not know.
        params: dict[str, ParamValue] = {"allow_deleted": "true"} if allow_deleted else {}
        return _logged_model(self._get(f"logged-models/{_segment(model_id)}", params))

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | int | str
    ) -> LoggedModel:
        payload = self._send(
            "PATCH",
            f"logged-models/{_segment(model_id)}",
            {"model_id": model_id, "status": LoggedModelStatus.coerce(status).wire_name},
        )
        return _logged_model(payload)

    def delete_logged_model(self, model_id: str) -> None:
        self._send("DELETE", f"logged-models/{_segment(model_id)}", None)

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        if tags:
            self._send(
                "PATCH",
                f"logged-models/{_segment(model_id)}/tags",
                {"model_id": model_id, "tags": _pairs(tags)},
            )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._send("DELETE", f"logged-models/{_segment(model_id)}/tags/{_segment(key)}", None)

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        if params:
            self._post(
                f"logged-models/{_segment(model_id)}/params",
                {"model_id": model_id, "params": _pairs(params)},
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
        payload = self._post(
            "logged-models/search",
            {
                "experiment_ids": [str(i) for i in experiment_ids],
                "filter": filter_string or None,
                "datasets": [dict(d) for d in datasets] if datasets else None,
                "max_results": max_results,
                "order_by": [dict(o) for o in order_by] if order_by else None,
                "page_token": page_token or None,
            },
        )
        models = [LoggedModel.from_dict(m) for m in _list(payload, "models")]
        return PagedList(models, _token(payload))

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        if models:
            self._post("runs/outputs", {"run_id": run_id, "models": [m.to_dict() for m in models]})

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        if models:
            self._post(
                "runs/log-inputs", {"run_id": run_id, "models": [m.to_dict() for m in models]}
            )

    # Maintenance: not in MLflow's REST API

    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        raise self._no_gc("listing deleted runs for gc")

    def purge_run(self, run_id: str) -> None:
        raise self._no_gc(f"purging run {run_id}")

    def purge_experiment(self, experiment_id: str) -> None:
        raise self._no_gc(f"purging experiment {experiment_id}")

    def _no_gc(self, what: str) -> NotImplementedByServer:
        return NotImplementedByServer(
            f"The tracking server at {self._http.display_base} offers no REST call for {what}: "
            "run `mltrail gc --tracking-uri <the server's backend database URI>` (sqlite:/// "
            "or postgresql://) on a machine that can reach that database instead"
        )

    def registry_store(self) -> RestRegistryStore:
        """The server's model registry, over this store's HTTP session."""
        return self._registry

    def close(self) -> None:
        self._http.close()


def _wire_metric(metric: Metric) -> dict[str, Any]:
    out = metric.to_dict()
    out.pop("run_id", None)
    return out


def _pairs(items: Mapping[str, str] | None) -> list[dict[str, str]] | None:
    return [{"key": k, "value": v} for k, v in items.items()] if items else None


def _segment(text: str) -> str:
    """``text`` in a URL path, as MLflow's client puts it there: percent-encoded, except '/'
    (mltrail's server takes a key with '/' across segments; MLflow's finds no route)."""
    return urllib.parse.quote(text, safe="/")


def _logged_model(payload: dict[str, Any]) -> LoggedModel:
    model = payload.get("model")
    if not isinstance(model, dict):
        raise MltrailError("Invalid server response: no 'model' object")
    return LoggedModel.from_dict(model)
