"""mltrail's entities under MLflow's names: frozen dataclasses, no I/O."""

from mltrail.entities.dataset import Dataset, DatasetInput, InputTag
from mltrail.entities.experiment import Experiment, ExperimentTag
from mltrail.entities.file_info import FileInfo
from mltrail.entities.lifecycle import LifecycleStage, RunStatus, ViewType
from mltrail.entities.logged_model import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
)
from mltrail.entities.metric import Metric, MetricColumns, MetricHistory, Param, RunTag
from mltrail.entities.paged import PagedList
from mltrail.entities.run import Run, RunData, RunInfo, RunInputs, RunOutputs

__all__ = [
    "Dataset",
    "DatasetInput",
    "Experiment",
    "ExperimentTag",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelOutput",
    "LoggedModelStatus",
    "Metric",
    "MetricColumns",
    "MetricHistory",
    "PagedList",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]
