"""The registry's pure parts: the search grammars of registered models and model versions,
and the checks on a model version's source (no database)."""

from __future__ import annotations

import pytest

from mltrail.entities.model_source import SourceReferences, check_source, references
from mltrail.entities.registry_search import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from mltrail.entities.search import Comparison, OrderBy
from mltrail.errors import InvalidArgument

RUN = "0123456789abcdef0123456789abcdef"
RUN_ROOT = f"file:///srv/artifacts/1/{RUN}/artifacts"
MODEL = "m-" + "ab" * 16


# Grammars


def test_registered_model_filters_parse() -> None:
    assert parse_registered_model_filter(
        "name IN ('a', 'b') AND tags.`my key` ILIKE '%x%' AND name NOT IN ('c')"
    ) == (
        Comparison("attribute", "name", "IN", ("a", "b")),
        Comparison("tag", "my key", "ILIKE", "%x%"),
        Comparison("attribute", "name", "NOT IN", ("c",)),
    )
    assert parse_registered_model_filter("  ") == ()


def test_registered_model_orderings_parse_with_the_timestamp_alias() -> None:
    assert parse_registered_model_order_by(["timestamp DESC", "name"]) == (
        OrderBy("attribute", "creation_timestamp", ascending=False),
        OrderBy("attribute", "name"),
    )
    assert parse_registered_model_order_by("last_updated_timestamp ASC") == (
        OrderBy("attribute", "last_updated_timestamp"),
    )
    with pytest.raises(InvalidArgument, match="more than once"):
        parse_registered_model_order_by(["timestamp", "creation_timestamp DESC"])


def test_timestamps_order_but_do_not_filter_registered_models() -> None:
    with pytest.raises(InvalidArgument, match="expected one of name"):
        parse_registered_model_filter("creation_timestamp > 5")


def test_model_version_filters_parse() -> None:
    assert parse_model_version_filter(
        "version_number >= 2 AND run_id IN ('r') AND source_path LIKE 's3://%'"
    ) == (
        Comparison("attribute", "version_number", ">=", 2.0),
        Comparison("attribute", "run_id", "IN", ("r",)),
        Comparison("attribute", "source_path", "LIKE", "s3://%"),
    )
    with pytest.raises(InvalidArgument, match="comparator LIKE is not supported"):
        parse_model_version_filter("version_number LIKE '1'")
    with pytest.raises(InvalidArgument, match="whole number"):
        parse_model_version_filter("version_number < 2.5")


def test_model_version_orderings_parse() -> None:
    assert parse_model_version_order_by(["version_number DESC", "timestamp"]) == (
        OrderBy("attribute", "version_number", ascending=False),
        OrderBy("attribute", "creation_timestamp"),
    )
    with pytest.raises(InvalidArgument, match="cannot be ordered by tag keys"):
        parse_model_version_order_by(["tags.k"])


# Sources


def test_references_name_what_the_store_looks_up() -> None:
    assert references(f"runs:/{RUN}/model") == SourceReferences(run_id=RUN)
    assert references(f"models:/{MODEL}") == SourceReferences(model_id=MODEL)
    assert references("models:/my model/3") == SourceReferences(registered=("my model", 3))
    assert references("s3://b/k") == SourceReferences()
    with pytest.raises(InvalidArgument, match="runs:/<run_id>/<path>"):
        references("runs:model")


def _check(source: str, **kwargs: object) -> str:
    values: dict[str, object] = {"run_id": RUN, "run_artifact_uri": RUN_ROOT}
    values.update(kwargs)
    return check_source(source, **values)  # type: ignore[arg-type]


def test_run_sources_resolve_under_the_run() -> None:
    assert _check(f"runs:/{RUN}/model/") == f"{RUN_ROOT}/model"
    assert _check(f"runs:/{RUN}") == RUN_ROOT
    assert _check(f"{RUN_ROOT}/a/b") == f"{RUN_ROOT}/a/b"
    assert _check(f"/srv/artifacts/1/{RUN}/artifacts/a") == f"/srv/artifacts/1/{RUN}/artifacts/a"
    with pytest.raises(InvalidArgument, match="local path must lie inside"):
        _check(f"/srv/artifacts/1/{RUN}/artifactsX/a")  # a sibling sharing the prefix


def test_the_store_root_admits_local_paths_only_without_a_run() -> None:
    root = "file:///srv/artifacts"
    assert check_source(
        "/srv/artifacts/5/x", run_id=None, run_artifact_uri=None, store_artifact_root=root
    ) == "/srv/artifacts/5/x"
    with pytest.raises(InvalidArgument, match="give run_id"):
        _check("/srv/artifacts/5/x", store_artifact_root=root)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "api.localhost",
        "127.0.0.1",
        "127.1",
        "0x7f000001",
        "0177.0.0.1",
        "0.0.0.0",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "[::1]",
        "[fe80::1]",
        "[::ffff:127.0.0.1]",
        "metadata.google.internal",
    ],
)
def test_http_sources_to_internal_hosts_are_refused(host: str) -> None:
    with pytest.raises(InvalidArgument, match="internal"):
        _check(f"http://{host}/model")


def test_http_sources_to_public_hosts_are_accepted() -> None:
    assert _check("https://models.example.com/m.tar.gz") == "https://models.example.com/m.tar.gz"
    with pytest.raises(InvalidArgument, match="credentials"):
        _check("https://user:pw@models.example.com/m")


def test_mlflow_artifacts_sources_are_compared_segment_by_segment() -> None:
    root = f"mlflow-artifacts:/1/{RUN}/artifacts"
    assert _check(f"{root}/model", run_artifact_uri=root) == f"{root}/model"
    with pytest.raises(InvalidArgument, match="under the artifact root"):
        _check(f"mlflow-artifacts:/1/{RUN}/artifacts-other/model", run_artifact_uri=root)
    assert check_source("mlflow-artifacts:/x/y", run_id=None, run_artifact_uri=None) == (
        "mlflow-artifacts:/x/y"
    )


def test_encoding_that_never_settles_is_refused() -> None:
    source = "s3://b/%" + "25" * 12 + "2e"  # "." encoded thirteen times over
    with pytest.raises(InvalidArgument, match="still URL-encoded"):
        _check(source)
