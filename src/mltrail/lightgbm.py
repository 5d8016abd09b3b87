"""``mltrail.lightgbm``: save, log and load LightGBM models (MLflow's ``mlflow.lightgbm``).

The loader module that ``MLmodel`` files name for this flavor; see
``mltrail.models.flavors.lightgbm`` for the formats and their safety.
"""

from mltrail.models.flavors.lightgbm import (
    FLAVOR_NAME,
    SERIALIZATION_FORMATS,
    _load_pyfunc,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMATS",
    "_load_pyfunc",
    "load_model",
    "log_model",
    "save_model",
]
