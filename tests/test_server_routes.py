"""The route table against the endpoints an installed MLflow client declares.

Every endpoint of MLflow's tracking, registry and artifact services is either served by
mltrail or listed as deliberately left out, and a left-out one answers 501 with its reason.
"""

from __future__ import annotations

import re

import httpx
import pytest

from mltrail.server.api.unsupported import LEFT_OUT

descriptors = pytest.importorskip(
    "mlflow.protos.databricks_pb2", reason="mlflow-skinny (a test dependency) is not installed"
)

# The proto's path lacks a slash ("/api/2.0mlflow/..."), so MLflow itself cannot serve it.
BROKEN_IN_MLFLOW = {("POST", "/api/2.0mlflow/experiments/search-datasets")}


def _declared() -> set[tuple[str, str]]:
    from mlflow.protos import mlflow_artifacts_pb2, model_registry_pb2, service_pb2

    found = set()
    for module in (service_pb2, model_registry_pb2, mlflow_artifacts_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions().Extensions[descriptors.rpc]
                for endpoint in options.endpoints:
                    found.add((endpoint.method, f"/api/{endpoint.since.major}.0{endpoint.path}"))
    return found - BROKEN_IN_MLFLOW


def _concrete(path: str) -> str:
    """Path parameters of any spelling filled with a value."""
    return re.sub(r"\{[^}]*\}|<[^>]*>", "x", path)


# MLflow's own answer where the artifact destination has no presigned or multipart uploads.
ARTIFACT_501 = ("/api/2.0/mlflow-artifacts/mpu/", "/api/2.0/mlflow-artifacts/presigned/")


def _left_out(path: str) -> str | None:
    if path.startswith(ARTIFACT_501):
        return "multipart and presigned uploads (local and fsspec destinations)"
    for version, segment, feature in LEFT_OUT:
        if path.startswith(f"/api/{version}/mlflow/{segment}"):
            return feature
    return None


def _call(url: str, method: str, path: str) -> httpx.Response:
    body = None if method == "GET" else {}
    return httpx.request(method, url + _concrete(path), json=body, timeout=30)


def test_every_mlflow_endpoint_is_served_or_left_out_on_purpose(tracking_server: object) -> None:
    url = tracking_server.url  # type: ignore[attr-defined]
    declared = _declared()
    assert len(declared) > 150  # the walk really read MLflow's descriptors
    problems = []
    served = 0
    for method, path in sorted(declared):
        for mount in (path, path.replace("/api/", "/ajax-api/", 1)):
            response = _call(url, method, mount)
            routed = response.status_code not in (404, 405) or (
                response.headers.get("content-type", "").startswith("application/json")
                and response.json().get("error_code") != "ENDPOINT_NOT_FOUND"
            )
            if _left_out(path) is not None:
                if response.status_code != 501:
                    problems.append(f"{method} {mount}: left out, but answered {response.status_code}")
            elif not routed or response.status_code == 501:
                problems.append(f"{method} {mount}: not served ({response.status_code})")
            elif response.status_code >= 500:
                problems.append(f"{method} {mount}: failed with {response.status_code}")
            else:
                served += 1
    assert problems == []
    assert served >= 80  # both mounts of about forty endpoints
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/3.0/mlflow/traces"),
        ("GET", "/api/2.0/mlflow/traces/abc/info"),
        ("POST", "/api/3.0/mlflow/gateway/endpoints/create"),
        ("GET", "/api/3.0/mlflow/scorers/list"),
        ("POST", "/api/3.0/mlflow/prompt-optimization/jobs"),
        ("GET", "/ajax-api/3.0/mlflow/workspaces"),
    ],
)
def test_left_out_endpoints_answer_501_with_the_feature(
    tracking_server: object, method: str, path: str
) -> None:
    url = tracking_server.url  # type: ignore[attr-defined]
    response = httpx.request(method, url + path, json={})
    assert response.status_code == 501
    body = response.json()
    assert body["error_code"] == "NOT_IMPLEMENTED"
    assert "not supported by mltrail" in body["message"]


def test_unknown_paths_are_404_with_the_envelope(tracking_server: object) -> None:
    url = tracking_server.url  # type: ignore[attr-defined]
    response = httpx.get(url + "/api/2.0/mlflow/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"
