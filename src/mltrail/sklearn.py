"""``mltrail.sklearn``: save, log and load scikit-learn models (MLflow's ``mlflow.sklearn``).

The loader module that ``MLmodel`` files name for this flavor; see
``mltrail.models.flavors.sklearn`` for the formats and their safety.
"""

from mltrail.models.flavors.sklearn import (
    FLAVOR_NAME,
    SERIALIZATION_FORMATS,
    _load_pyfunc,
    load_model,
    log_model,
    save_model,
)

__all__ = ["FLAVOR_NAME", "SERIALIZATION_FORMATS", "_load_pyfunc", "load_model", "log_model", "save_model"]
