"""MLflow's name for the root error, so ``from mltrail.exceptions import MlflowException``
works in scripts moved from MLflow."""

from mltrail.errors import MltrailError

MlflowException = MltrailError

__all__ = ["MlflowException", "MltrailError"]
