"""``mltrail.xgboost``: save, log and load XGBoost models (MLflow's ``mlflow.xgboost``).

The loader module that ``MLmodel`` files name for this flavor; see
``mltrail.models.flavors.xgboost`` for the formats.
"""

from mltrail.models.flavors.xgboost import (
    FLAVOR_NAME,
    MODEL_FORMATS,
    _load_pyfunc,
    load_model,
    log_model,
    save_model,
)

__all__ = ["FLAVOR_NAME", "MODEL_FORMATS", "_load_pyfunc", "load_model", "log_model", "save_model"]
