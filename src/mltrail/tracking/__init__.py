"""The tracking client, the fluent API's session, and the background batcher."""

from mltrail.tracking.client import MlflowClient, MltrailClient

__all__ = ["MlflowClient", "MltrailClient"]
