"""Request messages of MLflow's REST API, as pydantic models (and so in the OpenAPI spec).

Field names are the proto's snake_case; the lowerCamelCase JSON names are accepted too, as
protobuf's parser does. ``run_uuid`` is accepted wherever ``run_id`` is. Enums are accepted
as names or numbers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_snake


def _enum_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


EnumText = Annotated[str, BeforeValidator(_enum_text)]
MetricValue = Annotated[float | str, BeforeValidator(_no_bool)]
RunId = Annotated[str, Field(validation_alias=AliasChoices("run_id", "run_uuid"))]
OptionalRunId = Annotated[
    str | None, Field(default=None, validation_alias=AliasChoices("run_id", "run_uuid"))
]


class Message(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _accept_camel_case(cls, data: Any) -> Any:
        # A cheap test first: snake_case keys, what clients send, need no conversion.
        if isinstance(data, dict) and not all(isinstance(k, str) and k.islower() for k in data):
            return {to_snake(k) if isinstance(k, str) else k: v for k, v in data.items()}
        return data


class KeyValue(Message):
    key: str
    value: str | None = None


class MetricIn(Message):
    key: str
    value: MetricValue
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


# Experiments


class CreateExperiment(Message):
    name: str
    artifact_location: str | None = None
    tags: list[KeyValue] = []


class ExperimentId(Message):
    experiment_id: str


class GetExperimentByName(Message):
    experiment_name: str


class SearchExperiments(Message):
    max_results: int | None = None
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: EnumText | None = None


class UpdateExperiment(Message):
    experiment_id: str
    new_name: str


class SetExperimentTag(Message):
    experiment_id: str
    key: str
    value: str | None = None


class DeleteExperimentTag(Message):
    experiment_id: str
    key: str


# Runs


class CreateRun(Message):
    experiment_id: str | None = None
    user_id: str | None = None
    run_name: str | None = None
    start_time: int | None = None
    tags: list[KeyValue] = []


class UpdateRun(Message):
    run_id: RunId
    status: EnumText | None = None
    end_time: int | None = None
    run_name: str | None = None


class RunIdOnly(Message):
    run_id: RunId


class GetRun(Message):
    run_id: OptionalRunId


class LogMetric(MetricIn):
    run_id: RunId


class LogParam(Message):
    run_id: RunId
    key: str
    value: str | None = None


class SetTag(Message):
    run_id: RunId
    key: str
    value: str | None = None


class DeleteTag(Message):
    run_id: RunId
    key: str


class LogBatch(Message):
    run_id: RunId
    metrics: list[MetricIn] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class LogModel(Message):
    run_id: RunId
    model_json: str


class DatasetIn(Message):
    name: str
    digest: str
    source_type: str
    source: str
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None


class DatasetInputIn(Message):
    tags: list[KeyValue] = []
    dataset: DatasetIn


class ModelInputIn(Message):
    model_id: str


class LogInputs(Message):
    run_id: RunId
    datasets: list[DatasetInputIn] = []
    models: list[ModelInputIn] = []


class ModelOutputIn(Message):
    model_id: str
    step: int = 0


class LogOutputs(Message):
    run_id: RunId
    models: list[ModelOutputIn] = []


class SearchRuns(Message):
    experiment_ids: list[str] = []
    filter: str | None = None
    run_view_type: EnumText | None = None
    max_results: int | None = None
    order_by: list[str] = []
    page_token: str | None = None


class GetMetricHistory(Message):
    run_id: RunId
    metric_key: str
    page_token: str | None = None
    max_results: int | None = None


class GetMetricHistoryBulkInterval(Message):
    run_ids: list[str]
    metric_key: str
    start_step: int | None = None
    end_step: int | None = None
    max_results: int | None = None


class ListArtifacts(Message):
    run_id: OptionalRunId
    path: str | None = None
    page_token: str | None = None
