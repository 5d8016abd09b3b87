"""mltrail: track experiments, with MLflow's API. ``import mltrail as mlflow`` works.

Only the fluent API, the client and the errors load at import; databases, dataframes and
plotting libraries load when first used.
"""

from typing import TYPE_CHECKING

from mltrail._version import __version__
from mltrail.errors import MltrailError
from mltrail.tracking.client import MlflowClient, MltrailClient
from mltrail.tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    delete_tag,
    download_artifacts,
    end_run,
    flush,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_parent_run,
    get_run,
    get_registry_uri,
    get_tracking_uri,
    is_tracking_uri_set,
    last_active_run,
    list_artifacts,
    load_table,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_table,
    log_text,
    search_experiments,
    search_runs,
    set_experiment,
    set_experiment_tag,
    set_experiment_tags,
    set_registry_uri,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)

if TYPE_CHECKING:
    from mltrail.registry.register import register_model

__all__ = [
    "ActiveRun",
    "MlflowClient",
    "MltrailClient",
    "MltrailError",
    "__version__",
    "active_run",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "download_artifacts",
    "end_run",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_run",
    "get_registry_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "list_artifacts",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "register_model",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_registry_uri",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]

# Flavor and model modules load on first use, as ``mltrail.sklearn`` after ``import mltrail``.
_LAZY_SUBMODULES = ("lightgbm", "models", "projects", "pyfunc", "sklearn", "xgboost")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name == "register_model":
        from mltrail.registry.register import register_model

        return register_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
