"""The whole team setup with real parts: the server on PostgreSQL with its artifacts on an
S3-compatible server (moto), driven by mltrail's own client over HTTP."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mltrail import MltrailClient
from mltrail.entities import Metric, Param, RunTag
from mltrail.errors import InvalidArgument, NotFound
from mltrail.server.config import ServerConfig
from mltrail.settings import Settings


@pytest.fixture
def team_server(
    postgres_db_url: str,
    s3_bucket: tuple[str, str],
    server_factory: Callable[[ServerConfig], object],
) -> object:
    endpoint, bucket = s3_bucket
    config = ServerConfig(
        backend_store_uri=postgres_db_url,
        artifacts_destination=f"s3://{bucket}/mltrail",
        s3_endpoint_url=endpoint,
    )
    return server_factory(config)


def test_a_team_logs_searches_and_shares_files(team_server: object, tmp_path: Path) -> None:
    url: str = team_server.url  # type: ignore[attr-defined]
    client = MltrailClient(url, settings=Settings())
    experiment_id = client.create_experiment("team-e2e", tags={"team": "vision"})

    parent = client.create_run(experiment_id, run_name="sweep")
    children = []
    for lr in (0.1, 0.01):
        child = client.create_run(
            experiment_id, run_name=f"lr-{lr}", tags={"mlflow.parentRunId": parent.info.run_id}
        )
        run_id = child.info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (step + 1) + lr, 1_700_000_000_000 + step, step) for step in range(50)],
            params=[Param("lr", str(lr))],
            tags=[RunTag("kind", "child")],
        )
        client.log_metric(run_id, "nan_metric", math.nan)
        client.set_terminated(run_id)
        children.append(run_id)

    found = client.search_runs(
        [experiment_id],
        filter_string="params.lr = '0.01' and tags.kind = 'child'",
        order_by=["metrics.loss ASC"],
    )
    assert [r.info.run_id for r in found] == [children[1]]
    assert found[0].info.status == "FINISHED"
    history = client.get_metric_history(children[0], "loss")
    assert [m.step for m in history] == list(range(50))
    assert math.isnan(client.get_run(children[0]).data.metrics["nan_metric"])

    with pytest.raises(InvalidArgument, match="Changing param values is not allowed"):
        client.log_batch(children[0], params=[Param("lr", "0.5")])
    with pytest.raises(NotFound, match="not found"):
        client.get_run("0" * 32)

    # Files go through the server's proxy into the S3 bucket, and come back.
    report = tmp_path / "report.txt"
    report.write_text("accuracy 0.93\n")
    client.log_artifact(children[0], str(report), "reports")
    client.log_text(children[0], "hello", "notes/hello.txt")
    assert client.get_run(children[0]).info.artifact_uri.startswith("mlflow-artifacts:/")
    listed = [f.path for f in client.list_artifacts(children[0])]
    assert listed == ["notes", "reports"]
    local = client.download_artifacts(children[0], "reports/report.txt", str(tmp_path / "out"))
    assert Path(local).read_text() == "accuracy 0.93\n"

    # The REST view of the same run, as the official client sees it.
    listing = httpx.get(
        f"{url}/api/2.0/mlflow/artifacts/list", params={"run_id": children[0], "path": "reports"}
    ).json()
    assert listing["files"] == [{"path": "reports/report.txt", "is_dir": False, "file_size": 14}]
    client.close()


def test_bucket_holds_the_files_under_the_destination(
    team_server: object, s3_bucket: tuple[str, str]
) -> None:
    import boto3

    endpoint, bucket = s3_bucket
    url: str = team_server.url  # type: ignore[attr-defined]
    client = MltrailClient(url, settings=Settings())
    run = client.create_run("0")
    client.log_text(run.info.run_id, "x", "a/b.txt")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"mltrail/0/{run.info.run_id}/artifacts/a/b.txt"]
    client.close()


@pytest.mark.parametrize(
    "location",
    [
        "/etc",
        "file:///etc",
        "file:///tmp/../etc",
        "s3://bucket/a/../../b",
        "s3://bucket/x#frag",
        "http://example.invalid/x",
        "C:\\\\Windows",
    ],
)
def test_experiments_cannot_point_at_files_outside_the_destination(
    tracking_server: object, location: str
) -> None:
    url: str = tracking_server.url  # type: ignore[attr-defined]
    response = httpx.post(
        f"{url}/api/2.0/mlflow/experiments/create", json={"name": "evil", "artifact_location": location}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "artifact_location" in response.json()["message"]
    names = httpx.post(f"{url}/api/2.0/mlflow/experiments/search", json={"max_results": 10}).json()
    assert [e["name"] for e in names["experiments"]] == ["Default"]


def test_a_folder_inside_the_destination_and_object_stores_are_allowed(tracking_server: object) -> None:
    url: str = tracking_server.url  # type: ignore[attr-defined]
    destination = tracking_server.config.artifacts_destination  # type: ignore[attr-defined]
    for name, location in (("inside", f"{destination}/team"), ("bucket", "s3://bucket/prefix")):
        response = httpx.post(
            f"{url}/api/2.0/mlflow/experiments/create", json={"name": name, "artifact_location": location}
        )
        assert response.status_code == 200, response.text
