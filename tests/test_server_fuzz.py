"""schemathesis over the server's OpenAPI description: no generated request gets a 500."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import HealthCheck, settings

from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (a test dependency)")

_root = tempfile.mkdtemp(prefix="mltrail-fuzz-")
app = create_app(
    ServerConfig(
        backend_store_uri=f"sqlite:///{_root}/fuzz.db", artifacts_destination=f"{_root}/artifacts"
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    # 501 is MLflow's own answer for multipart uploads to a destination that lacks them.
    assert response.status_code < 500 or response.status_code == 501, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert set(body) >= {"error_code", "message"}, body
