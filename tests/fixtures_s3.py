"""pytest plugin: moto's real S3 server, in process, on a free 127.0.0.1 port.

``s3_endpoint`` (session) starts the server and sets dummy AWS credentials for the session,
restoring the previous environment afterwards. ``s3_bucket`` (function) creates a fresh
bucket and yields ``(endpoint, bucket_name)``. Both skip, with the reason, when moto, boto3
or s3fs are not installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Variables that would point boto at something other than the dummy account above.
_AWS_ENV_CLEARED = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a running moto S3 server, e.g. ``http://127.0.0.1:41234``."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    pytest.importorskip("boto3", reason="boto3 is not installed")
    pytest.importorskip("s3fs", reason="s3fs is not installed")
    with pytest.MonkeyPatch.context() as patch:
        for name in _AWS_ENV_CLEARED:
            patch.delenv(name, raising=False)
        for name, value in _AWS_ENV.items():
            patch.setenv(name, value)
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Iterator[tuple[str, str]]:
    """A new, empty bucket on the moto server: ``(endpoint, bucket_name)``."""
    import boto3  # type: ignore[import-untyped]  # no stubs installed

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    name = f"mltrail-test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    try:
        yield s3_endpoint, name
    finally:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys})
        client.delete_bucket(Bucket=name)
        client.close()
