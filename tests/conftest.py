"""Shared fixtures: the real parts (PostgreSQL, S3) live in their own plugin modules."""

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "fixtures_postgres",
    "fixtures_s3",
    "fixtures_server",
    "fixtures_mlflow",
    "fixtures_tracking",
    "fixtures_spark",
    "fixtures_browser",
]


_TRACKING_VARIABLES = ("MLFLOW_", "MLTRAIL_")


@pytest.fixture(autouse=True)
def _tracking_environment_restored() -> Iterator[None]:
    """Put the MLFLOW_* and MLTRAIL_* variables back as they were after every test: the
    official client writes some of them itself (set_tracking_uri, set_registry_uri), and a
    value left behind would point later tests at a server that has stopped."""
    before = {k: v for k, v in os.environ.items() if k.startswith(_TRACKING_VARIABLES)}
    yield
    for key in [k for k in os.environ if k.startswith(_TRACKING_VARIABLES)]:
        if key not in before:
            del os.environ[key]
    os.environ.update(before)
