"""The fsspec artifact repository against moto's real S3 server (see fixtures_s3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mltrail.entities.file_info import FileInfo
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.storage.artifacts import (
    ArtifactRepository,
    FsspecArtifactRepository,
    get_artifact_repository,
)

pytestmark = pytest.mark.s3


def make_tree(top: Path) -> Path:
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "a.txt").write_bytes(b"alpha")
    (top / "sub" / "b.txt").write_bytes(b"bravo!")
    (top / "sub" / "deeper" / "c.bin").write_bytes(bytes(range(256)))
    return top


def files_below(top: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(top)): path.read_bytes() for path in top.rglob("*") if path.is_file()
    }


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "source")


@pytest.fixture
def repo(s3_bucket: tuple[str, str]) -> ArtifactRepository:
    endpoint, bucket = s3_bucket
    return get_artifact_repository(
        f"s3://{bucket}/prefix/1/run/artifacts", s3_endpoint_url=endpoint
    )


@pytest.fixture
def s3_client(s3_bucket: tuple[str, str]):  # type: ignore[no-untyped-def]  # boto3 is untyped
    import boto3  # type: ignore[import-untyped]  # no stubs installed

    client = boto3.client("s3", endpoint_url=s3_bucket[0], region_name="us-east-1")
    yield client
    client.close()


def test_it_is_the_fsspec_repository(repo: ArtifactRepository) -> None:
    assert isinstance(repo, FsspecArtifactRepository)
    assert repo.list_artifacts() == []


def test_log_artifact_and_list(repo: ArtifactRepository, source: Path) -> None:
    repo.log_artifact(source / "a.txt")
    repo.log_artifact(str(source / "sub" / "b.txt"), "x/y/")
    assert repo.read_bytes("a.txt") == b"alpha"
    assert repo.read_bytes("x/y/b.txt") == b"bravo!"
    assert repo.list_artifacts() == [FileInfo("a.txt", False, 5), FileInfo("x", True, None)]
    assert repo.list_artifacts("x") == [FileInfo("x/y", True, None)]
    assert repo.list_artifacts("./x/y") == [FileInfo("x/y/b.txt", False, 6)]


def test_objects_land_under_the_prefix(
    repo: ArtifactRepository, source: Path, s3_bucket: tuple[str, str], s3_client: object
) -> None:
    repo.log_artifacts(source, "model")
    listed = s3_client.list_objects_v2(Bucket=s3_bucket[1])  # type: ignore[attr-defined]
    keys = sorted(item["Key"] for item in listed["Contents"])
    base = "prefix/1/run/artifacts/model/"
    assert keys == [base + "a.txt", base + "sub/b.txt", base + "sub/deeper/c.bin"]


def test_log_artifacts_keeps_structure(
    repo: ArtifactRepository, source: Path, tmp_path: Path
) -> None:
    repo.log_artifacts(source, "model")
    assert repo.list_artifacts("model") == [
        FileInfo("model/a.txt", False, 5),
        FileInfo("model/sub", True, None),
    ]
    assert repo.list_artifacts("model/sub") == [
        FileInfo("model/sub/b.txt", False, 6),
        FileInfo("model/sub/deeper", True, None),
    ]
    got = repo.download_artifacts("model", str(tmp_path / "dl"))
    assert got == str(tmp_path / "dl" / "model")
    assert files_below(Path(got)) == files_below(source)


def test_log_artifacts_to_root_and_download_root(
    repo: ArtifactRepository, source: Path, tmp_path: Path
) -> None:
    repo.log_artifacts(source)
    assert [info.path for info in repo.list_artifacts()] == ["a.txt", "sub"]
    got = repo.download_artifacts("", str(tmp_path / "dl"))
    assert got == str(tmp_path / "dl")
    assert files_below(Path(got)) == files_below(source)


def test_download_file(repo: ArtifactRepository, source: Path, tmp_path: Path) -> None:
    repo.log_artifacts(source)
    got = repo.download_artifacts("sub/deeper/c.bin", str(tmp_path / "dl"))
    assert got == str(tmp_path / "dl" / "sub" / "deeper" / "c.bin")
    assert Path(got).read_bytes() == bytes(range(256))
    default = Path(repo.download_artifacts("a.txt"))
    assert default.read_bytes() == b"alpha"


def test_log_bytes_overwrite_and_read(repo: ArtifactRepository) -> None:
    repo.log_bytes(b"one", "t/x.json")
    repo.log_bytes(b"two", "t/x.json")
    assert repo.read_bytes("t/x.json") == b"two"
    with pytest.raises(InvalidArgument, match="it names the artifact root, not a file"):
        repo.read_bytes("")


def test_listings_are_fresh_after_writes_by_others(
    repo: ArtifactRepository, s3_bucket: tuple[str, str], s3_client: object
) -> None:
    repo.log_bytes(b"x", "d/first.txt")
    assert repo.list_artifacts("d") == [FileInfo("d/first.txt", False, 1)]
    s3_client.put_object(  # type: ignore[attr-defined]
        Bucket=s3_bucket[1], Key="prefix/1/run/artifacts/d/second.txt", Body=b"yy"
    )
    assert repo.list_artifacts("d") == [
        FileInfo("d/first.txt", False, 1),
        FileInfo("d/second.txt", False, 2),
    ]
    s3_client.delete_object(  # type: ignore[attr-defined]
        Bucket=s3_bucket[1], Key="prefix/1/run/artifacts/d/first.txt"
    )
    assert repo.list_artifacts("d") == [FileInfo("d/second.txt", False, 2)]
    with pytest.raises(NotFound, match="No artifact at 'd/first.txt'"):
        repo.read_bytes("d/first.txt")


def test_listing_missing_or_file_is_empty(repo: ArtifactRepository) -> None:
    assert repo.list_artifacts("nope") == []
    repo.log_bytes(b"x", "f.txt")
    assert repo.list_artifacts("f.txt") == []


def test_missing_artifact_is_not_found(repo: ArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"No artifact at 'nope\.txt' in s3://"):
        repo.read_bytes("nope.txt")
    with pytest.raises(NotFound, match=r"No artifact at 'nope/dir' in s3://"):
        repo.download_artifacts("nope/dir", str(tmp_path / "dl"))
    with pytest.raises(NotFound, match="No artifact at s3://"):
        repo.download_artifacts("")


def test_read_of_a_directory(repo: ArtifactRepository) -> None:
    repo.log_bytes(b"x", "d/f")
    with pytest.raises(InvalidArgument, match="it is a directory, not a file"):
        repo.read_bytes("d")


def test_delete(repo: ArtifactRepository, source: Path) -> None:
    repo.log_artifacts(source)
    repo.log_bytes(b"keep", "sub2/k.txt")  # a sibling sharing the prefix "sub"
    repo.delete_artifacts("sub/deeper/c.bin")
    assert repo.list_artifacts("sub/deeper") == []
    repo.delete_artifacts("sub")
    assert [info.path for info in repo.list_artifacts()] == ["a.txt", "sub2"]
    assert repo.read_bytes("sub2/k.txt") == b"keep"
    repo.delete_artifacts("sub")  # missing is fine
    repo.delete_artifacts("never/was")
    repo.delete_artifacts()
    assert repo.list_artifacts() == []


def test_delete_at_a_bucket_root_keeps_the_bucket(
    s3_bucket: tuple[str, str], s3_client: object
) -> None:
    endpoint, bucket = s3_bucket
    repo = get_artifact_repository(f"s3://{bucket}", s3_endpoint_url=endpoint)
    repo.log_bytes(b"x", "a/b.txt")
    repo.log_bytes(b"y", "c.txt")
    assert [info.path for info in repo.list_artifacts()] == ["a", "c.txt"]
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    s3_client.head_bucket(Bucket=bucket)  # type: ignore[attr-defined]  # still there


def test_repositories_in_one_bucket_stay_apart(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    one = get_artifact_repository(f"s3://{bucket}/exp/run1", s3_endpoint_url=endpoint)
    two = get_artifact_repository(f"s3://{bucket}/exp/run10", s3_endpoint_url=endpoint)
    one.log_bytes(b"1", "f")
    two.log_bytes(b"10", "f")
    one.delete_artifacts()
    assert one.list_artifacts() == []
    assert two.read_bytes("f") == b"10"


def test_crafted_object_keys_cannot_escape_a_download(
    repo: ArtifactRepository, s3_bucket: tuple[str, str], s3_client: object, tmp_path: Path
) -> None:
    s3_client.put_object(  # type: ignore[attr-defined]
        Bucket=s3_bucket[1], Key="prefix/1/run/artifacts/m/../../../../escaped.txt", Body=b"!"
    )
    dst = tmp_path / "deep" / "dl"
    with pytest.raises(InvalidArgument, match=r"^Invalid stored object name .*'\.\.' segments"):
        repo.download_artifacts("m", str(dst))
    assert not any(tmp_path.rglob("escaped.txt"))


TRAVERSALS: list[tuple[str, str]] = [
    ("../x", "'..' segments are not allowed"),
    ("a/../../x", "'..' segments are not allowed"),
    ("..\\x", "backslashes are not allowed"),
    ("%2e%2e/x", "percent-encoded characters are not allowed"),
    ("%252e%252e%252f", "percent-encoded characters are not allowed"),
    ("..%2fx", "percent-encoded characters are not allowed"),
    ("..;/x", r"';', '\?' and '#'"),
    ("x;/../../y", r"';', '\?' and '#'"),
    ("x#/../..", r"';', '\?' and '#'"),
    ("/etc/passwd", "absolute paths are not allowed"),
    ("C:\\x", "absolute paths are not allowed"),
    ("file:///etc/passwd", "URL schemes are not allowed"),
    ("s3://b/k", "URL schemes are not allowed"),
    ("a/\x00b", "control characters"),
]


@pytest.mark.parametrize(("bad", "reason"), TRAVERSALS, ids=[repr(p) for p, _ in TRAVERSALS])
def test_traversal_is_refused(
    repo: ArtifactRepository,
    source: Path,
    tmp_path: Path,
    s3_bucket: tuple[str, str],
    s3_client: object,
    bad: str,
    reason: str,
) -> None:
    repo.log_bytes(b"inside", "x")
    pattern = rf"^Invalid artifact path .*: {reason}"
    with pytest.raises(InvalidArgument, match=pattern):
        repo.log_artifact(source / "a.txt", bad)
    with pytest.raises(InvalidArgument, match=pattern):
        repo.log_artifacts(source, bad)
    with pytest.raises(InvalidArgument, match=pattern):
        repo.log_bytes(b"evil", bad)
    with pytest.raises(InvalidArgument, match=pattern):
        repo.list_artifacts(bad)
    with pytest.raises(InvalidArgument, match=pattern):
        repo.download_artifacts(bad, str(tmp_path / "dl"))
    with pytest.raises(InvalidArgument, match=pattern):
        repo.read_bytes(bad)
    with pytest.raises(InvalidArgument, match=pattern):
        repo.delete_artifacts(bad)
    listed = s3_client.list_objects_v2(Bucket=s3_bucket[1])  # type: ignore[attr-defined]
    assert [item["Key"] for item in listed["Contents"]] == ["prefix/1/run/artifacts/x"]
    assert not (tmp_path / "dl").exists()


def test_backend_errors_are_translated(s3_endpoint: str, tmp_path: Path) -> None:
    repo = get_artifact_repository(
        "s3://mltrail-no-such-bucket-here/p", s3_endpoint_url=s3_endpoint
    )
    expected = (
        r"Could not (write|upload) 'f\.txt' in s3://mltrail-no-such-bucket-here/p: the bucket"
    )
    with pytest.raises(MltrailError, match=expected) as info:
        repo.log_bytes(b"x", "f.txt")
    assert not isinstance(info.value, NotFound)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    local = tmp_path / "f.txt"
    local.write_bytes(b"x")
    with pytest.raises(MltrailError, match=expected):
        repo.log_artifact(local)
    with pytest.raises(MltrailError, match="Could not upload s3://mltrail-no-such-bucket-here/p"):
        repo.log_artifacts(tmp_path)
    assert repo.list_artifacts() == []
    with pytest.raises(NotFound, match=r"No artifact at 'f\.txt'"):
        repo.read_bytes("f.txt")


def test_unreachable_endpoint_is_an_mltrail_error(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(
        f"s3://bucket-{os.getpid()}/p",
        storage_options={
            "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"},
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
            "key": "testing",
            "secret": "s3cr3t-value",
        },
    )
    with pytest.raises(MltrailError, match=r"Could not read 'f' in s3://bucket-") as info:
        repo.read_bytes("f")
    assert "s3cr3t-value" not in str(info.value)


def test_password_is_redacted_from_messages() -> None:
    repo = FsspecArtifactRepository("sftp://user:hunter2@127.0.0.1:9/srv/artifacts")
    assert "hunter2" not in repr(repo)
    assert repr(repo) == "FsspecArtifactRepository('sftp://user:***@127.0.0.1:9/srv/artifacts')"
