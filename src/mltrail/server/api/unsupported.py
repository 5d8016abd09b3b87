"""MLflow endpoints mltrail does not serve, answered with 501 and the reason.

MLflow 3 also serves GenAI features (tracing, assessments, evaluation datasets, scorers,
prompt optimisation, review queues, label schemas, issues), an AI gateway and workspaces.
The official client calls them only when those features are used; mltrail answers each
with ``501 NOT_IMPLEMENTED`` naming the feature, rather than a bare 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from mltrail.errors import NotImplementedByServer

# (API version, first path segment after /mlflow/, the feature it belongs to)
LEFT_OUT: tuple[tuple[str, str, str], ...] = (
    ("2.0", "traces", "GenAI tracing"),
    ("3.0", "traces", "GenAI tracing"),
    ("2.0", "unified-traces", "GenAI tracing"),
    ("2.0", "get-online-trace-details", "GenAI tracing"),
    ("3.0", "workspaces", "workspaces"),
    ("3.0", "issues", "GenAI issues"),
    ("3.0", "label-schemas", "GenAI label schemas"),
    ("3.0", "datasets", "GenAI evaluation datasets"),
    ("3.0", "scorers", "GenAI scorers"),
    ("3.0", "gateway", "the AI gateway"),
    ("3.0", "prompt-optimization", "prompt optimisation"),
    ("3.0", "review-queues", "GenAI review queues"),
    ("2.0", "artifacts/presigned-upload-url", "presigned URLs (object-store destinations only)"),
    ("2.0", "artifacts/presigned-download-url", "presigned URLs (object-store destinations only)"),
)
METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


def _refuse(feature: str) -> object:
    async def not_served(request: Request) -> None:
        raise NotImplementedByServer(
            f"{request.method} {request.url.path}: {feature} is not supported by mltrail"
        )

    return not_served


def router(prefix: str) -> APIRouter:
    """Routes answering 501 for every left-out feature, under ``prefix`` (the static prefix)."""
    api = APIRouter(include_in_schema=False)
    for base in ("api", "ajax-api"):
        for version, segment, feature in LEFT_OUT:
            root = f"{prefix}/{base}/{version}/mlflow/{segment}"
            endpoint = _refuse(feature)
            api.add_api_route(root, endpoint, methods=METHODS)  # type: ignore[arg-type]
            api.add_api_route(f"{root}/{{rest:path}}", endpoint, methods=METHODS)  # type: ignore[arg-type]
    return api
