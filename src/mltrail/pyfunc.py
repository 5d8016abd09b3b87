"""``mltrail.pyfunc``: load any model behind one ``predict``, and write custom models
(MLflow's ``mlflow.pyfunc``). Also the loader module of custom models' ``MLmodel`` files."""

from mltrail.models.pyfunc import (
    PyFuncModel,
    PythonModel,
    PythonModelContext,
    _load_pyfunc,
    get_model_dependencies,
    load_model,
    log_model,
    save_model,
)
from mltrail.models.spark import spark_udf

__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "_load_pyfunc",
    "get_model_dependencies",
    "load_model",
    "log_model",
    "save_model",
    "spark_udf",
]
