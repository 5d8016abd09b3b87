"""Shared fixtures: the real parts (PostgreSQL, S3) live in their own plugin modules."""

pytest_plugins = [
    "fixtures_postgres",
    "fixtures_s3",
    "fixtures_server",
    "fixtures_mlflow",
    "fixtures_tracking",
    "fixtures_spark",
    "fixtures_browser",
]
