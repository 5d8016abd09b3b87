"""One router per REST resource, mounted under /api/2.0/mlflow and /ajax-api/2.0/mlflow."""
