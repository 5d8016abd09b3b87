"""The local artifact repository, the path gate and the scheme registry, on real directories."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mltrail.entities.file_info import FileInfo
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.storage.artifacts import (
    ArtifactRepository,
    FsspecArtifactRepository,
    LocalArtifactRepository,
    get_artifact_repository,
    join_artifact_uri,
    register_artifact_repository,
    safe_relative_path,
)
from mltrail.storage.artifacts import registry as registry_module

# -- helpers ------------------------------------------------------------------------------


def snapshot(top: Path) -> dict[str, bytes | None]:
    """Every path below ``top`` (without following symlinks) with file contents."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), top)] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, top)
            found[rel] = None if os.path.islink(path) else Path(path).read_bytes()
    return found


def make_tree(top: Path) -> Path:
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "empty").mkdir()
    (top / "a.txt").write_bytes(b"alpha")
    (top / "sub" / "b.txt").write_bytes(b"bravo!")
    (top / "sub" / "deeper" / "c.bin").write_bytes(bytes(range(256)))
    return top


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Where the repository lives: two levels below tmp_path, so '..' has somewhere to go."""
    return tmp_path / "mlartifacts" / "run"


@pytest.fixture
def repo(store: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(store.as_uri())


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "source")


# -- safe_relative_path -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (None, ""),
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a", "a"),
        ("./a/b", "a/b"),
        ("a//b", "a/b"),
        ("a/b/", "a/b"),
        ("a/./b", "a/b"),
        ("ckpt/epoch:3", "ckpt/epoch:3"),
        ("100%.txt", "100%.txt"),
        ("...", "..."),
        ("a..b/c", "a..b/c"),
        ("spaces are fine.txt", "spaces are fine.txt"),
        ("ünïcode/файл.txt", "ünïcode/файл.txt"),
    ],
)
def test_safe_relative_path_normalises(raw: str | None, clean: str) -> None:
    assert safe_relative_path(raw) == clean


# (path, the reason the message must give)
TRAVERSALS: list[tuple[str, str]] = [
    ("../x", "'..' segments are not allowed"),
    ("a/../../x", "'..' segments are not allowed"),
    ("..", "'..' segments are not allowed"),
    ("..\\x", "backslashes are not allowed"),
    ("%2e%2e/x", "percent-encoded characters are not allowed"),
    ("%252e%252e%252f", "percent-encoded characters are not allowed"),
    ("..%2fx", "percent-encoded characters are not allowed"),
    ("..;/x", r"';', '\?' and '#'"),
    ("x;/../../y", r"';', '\?' and '#'"),
    ("a?b=../..", r"';', '\?' and '#'"),
    ("x#/../..", r"';', '\?' and '#'"),
    ("/etc/passwd", "absolute paths are not allowed"),
    ("C:\\x", "absolute paths are not allowed"),
    ("C:/x", "absolute paths are not allowed"),
    ("\\\\server\\share", "absolute paths are not allowed"),
    ("file:///etc/passwd", "URL schemes are not allowed"),
    ("s3://b/k", "URL schemes are not allowed"),
    ("http:evil", "URL schemes are not allowed"),
    ("a/https://evil/x", "URL schemes are not allowed"),
    ("a/\x00b", "control characters"),
    ("a/\nb", "control characters"),
    ("a/\x7fb", "control characters"),
]
TRAVERSAL_IDS = [repr(path) for path, _ in TRAVERSALS]


@pytest.mark.parametrize(("bad", "reason"), TRAVERSALS, ids=TRAVERSAL_IDS)
def test_safe_relative_path_refuses(bad: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=rf"^Invalid artifact path .*: {reason}"):
        safe_relative_path(bad)


def test_safe_relative_path_names_the_field() -> None:
    with pytest.raises(InvalidArgument, match=r"^Invalid dst '\.\./x': '\.\.' segments"):
        safe_relative_path("../x", field="dst")


def test_safe_relative_path_refuses_non_strings() -> None:
    with pytest.raises(InvalidArgument, match="expected a string"):
        safe_relative_path(b"a")  # type: ignore[arg-type]


def test_join_artifact_uri() -> None:
    assert join_artifact_uri("s3://b/p", "a//b/") == "s3://b/p/a/b"
    assert join_artifact_uri("s3://b/p/", "x") == "s3://b/p/x"
    assert join_artifact_uri("file:///", "x") == "file:///x"
    assert join_artifact_uri("s3://b/p", "") == "s3://b/p"
    with pytest.raises(InvalidArgument, match="'..' segments are not allowed"):
        join_artifact_uri("s3://b/p", "../q")


# -- construction -------------------------------------------------------------------------


def test_construction_is_pure(store: Path) -> None:
    repo = LocalArtifactRepository(store.as_uri())
    assert repo.root == str(store)
    assert not store.exists()
    assert repo.list_artifacts() == []


def test_plain_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = LocalArtifactRepository("./mlartifacts/1")
    assert relative.root == str(tmp_path / "mlartifacts" / "1")
    assert LocalArtifactRepository(str(tmp_path / "x")).root == str(tmp_path / "x")
    spaced = tmp_path / "with space"
    assert LocalArtifactRepository(spaced.as_uri()).root == str(spaced)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("file://otherhost/x", "no host"),
        ("file:///x?y=1", "no query or fragment"),
        ("file://", "names no path"),
    ],
)
def test_bad_file_uris(uri: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        LocalArtifactRepository(uri)


# -- round trips --------------------------------------------------------------------------


def test_log_artifact_root_and_nested(repo: LocalArtifactRepository, source: Path) -> None:
    repo.log_artifact(source / "a.txt")
    repo.log_artifact(str(source / "sub" / "b.txt"), "x/y")
    assert repo.read_bytes("a.txt") == b"alpha"
    assert repo.read_bytes("x/y/b.txt") == b"bravo!"
    assert repo.list_artifacts() == [FileInfo("a.txt", False, 5), FileInfo("x", True, None)]
    assert repo.list_artifacts("x") == [FileInfo("x/y", True, None)]
    assert repo.list_artifacts("x/y/") == [FileInfo("x/y/b.txt", False, 6)]


def test_log_artifact_overwrites(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    local = tmp_path / "f.txt"
    local.write_bytes(b"one")
    repo.log_artifact(local)
    local.write_bytes(b"two!")
    repo.log_artifact(local)
    assert repo.read_bytes("f.txt") == b"two!"


def test_log_artifacts_keeps_structure(
    repo: LocalArtifactRepository, source: Path, store: Path
) -> None:
    repo.log_artifacts(source, "model")
    assert snapshot(store / "model") == snapshot(source)
    assert repo.list_artifacts("model") == [
        FileInfo("model/a.txt", False, 5),
        FileInfo("model/empty", True, None),
        FileInfo("model/sub", True, None),
    ]
    assert repo.list_artifacts("model/sub") == [
        FileInfo("model/sub/b.txt", False, 6),
        FileInfo("model/sub/deeper", True, None),
    ]
    assert repo.list_artifacts("model/empty") == []


def test_log_artifacts_to_root_then_merge(
    repo: LocalArtifactRepository, source: Path, tmp_path: Path, store: Path
) -> None:
    repo.log_artifacts(source)
    assert snapshot(store) == snapshot(source)
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    (other / "sub" / "b.txt").write_bytes(b"replaced")
    (other / "sub" / "new.txt").write_bytes(b"new")
    repo.log_artifacts(other)
    assert repo.read_bytes("sub/b.txt") == b"replaced"
    assert repo.read_bytes("sub/new.txt") == b"new"
    assert repo.read_bytes("sub/deeper/c.bin") == bytes(range(256))
    assert repo.read_bytes("a.txt") == b"alpha"


def test_log_bytes_and_read(repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b'{"a": 1}', "dicts/d.json")
    repo.log_bytes(b"text", "t.txt")
    assert repo.read_bytes("dicts/d.json") == b'{"a": 1}'
    assert repo.read_bytes("./t.txt") == b"text"
    with pytest.raises(InvalidArgument, match="it names the artifact root, not a file"):
        repo.log_bytes(b"x", "")
    with pytest.raises(InvalidArgument, match="expected bytes, got str"):
        repo.log_bytes("x", "s.txt")  # type: ignore[arg-type]


def test_listing_missing_or_file_is_empty(repo: LocalArtifactRepository) -> None:
    assert repo.list_artifacts("nope") == []
    repo.log_bytes(b"x", "f.txt")
    assert repo.list_artifacts("f.txt") == []
    assert repo.list_artifacts("nope/deeper") == []


def test_download_file(repo: LocalArtifactRepository, source: Path, tmp_path: Path) -> None:
    repo.log_artifacts(source)
    dst = tmp_path / "dl"
    got = repo.download_artifacts("sub/b.txt", str(dst))
    assert got == str(dst / "sub" / "b.txt")
    assert Path(got).read_bytes() == b"bravo!"


def test_download_dir_and_root(
    repo: LocalArtifactRepository, source: Path, tmp_path: Path
) -> None:
    repo.log_artifacts(source)
    got = repo.download_artifacts("sub", str(tmp_path / "dl"))
    assert got == str(tmp_path / "dl" / "sub")
    assert snapshot(Path(got)) == snapshot(source / "sub")
    whole = repo.download_artifacts("", str(tmp_path / "dl2"))
    assert whole == str(tmp_path / "dl2")
    assert snapshot(Path(whole)) == snapshot(source)


def test_download_defaults_to_a_fresh_temp_dir(
    repo: LocalArtifactRepository, source: Path
) -> None:
    repo.log_artifacts(source)
    first = Path(repo.download_artifacts("a.txt"))
    second = Path(repo.download_artifacts("a.txt"))
    try:
        assert first.read_bytes() == b"alpha"
        assert first.parent != second.parent
        assert first.parent.stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(first.parent)
        shutil.rmtree(second.parent)


def test_missing_artifact_is_not_found(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"No artifact at 'nope\.txt'"):
        repo.download_artifacts("nope.txt", str(tmp_path / "dl"))
    with pytest.raises(NotFound, match=r"No artifact at 'nope\.txt'"):
        repo.read_bytes("nope.txt")
    with pytest.raises(NotFound, match="No artifact at ''"):
        repo.download_artifacts("")


def test_read_of_a_directory(repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b"x", "d/f")
    with pytest.raises(InvalidArgument, match="it is a directory, not a file"):
        repo.read_bytes("d")


def test_delete(repo: LocalArtifactRepository, source: Path, store: Path) -> None:
    repo.log_artifacts(source)
    repo.delete_artifacts("sub/deeper/c.bin")
    assert repo.list_artifacts("sub/deeper") == []
    repo.delete_artifacts("sub")
    assert [info.path for info in repo.list_artifacts()] == ["a.txt", "empty"]
    repo.delete_artifacts("sub")  # missing is fine
    repo.delete_artifacts("never/was")
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    assert os.listdir(store) == []


def test_modes_follow_the_umask(repo: LocalArtifactRepository, source: Path, store: Path) -> None:
    old = os.umask(0o027)
    try:
        repo.log_bytes(b"x", "one/f.txt")
        repo.log_artifacts(source, "tree")
    finally:
        os.umask(old)
    assert (store / "one" / "f.txt").stat().st_mode & 0o777 == 0o640
    assert (store / "one").stat().st_mode & 0o777 == 0o750
    assert (store / "tree").stat().st_mode & 0o777 == 0o750
    assert (store / "tree" / "sub" / "b.txt").stat().st_mode & 0o777 == 0o640


def test_local_source_must_exist(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not an existing regular file"):
        repo.log_artifact(tmp_path / "missing.txt")
    with pytest.raises(InvalidArgument, match="not an existing directory"):
        repo.log_artifacts(tmp_path / "missing")


def test_type_clashes_are_refused_before_writing(
    repo: LocalArtifactRepository, source: Path, store: Path
) -> None:
    repo.log_bytes(b"x", "f")
    repo.log_bytes(b"y", "d/inner")
    before = snapshot(store)
    with pytest.raises(InvalidArgument, match="a directory already exists there"):
        repo.log_bytes(b"z", "d")
    with pytest.raises(InvalidArgument, match="'f' is a file, not a directory"):
        repo.log_bytes(b"z", "f/g")
    with pytest.raises(InvalidArgument, match="it is a file, not a directory"):
        repo.log_artifacts(source, "f")
    clash = source / "d"
    clash.write_bytes(b"a file where the store has a directory")
    with pytest.raises(InvalidArgument, match="a directory already exists there"):
        repo.log_artifacts(source)
    assert snapshot(store) == before


def test_a_bad_name_in_a_tree_refuses_the_whole_tree(
    repo: LocalArtifactRepository, source: Path, store: Path
) -> None:
    (source / "sub" / "x%2e%2e").write_bytes(b"sneaky")
    with pytest.raises(InvalidArgument, match="percent-encoded characters are not allowed"):
        repo.log_artifacts(source, "model")
    assert not store.exists()


def test_source_symlink_loop_is_refused(repo: LocalArtifactRepository, source: Path) -> None:
    (source / "sub" / "loop").symlink_to(source)
    with pytest.raises(InvalidArgument, match="symlink loop"):
        repo.log_artifacts(source)


# -- atomicity ----------------------------------------------------------------------------


def copy_that_dies_after(calls: int) -> Callable[[str, str], str]:
    """A ``shutil.copyfile`` that writes half of the ``calls``-th file and then fails."""
    real_copyfile = shutil.copyfile
    seen = {"n": 0}

    def copyfile(src: str, dst: str, *, follow_symlinks: bool = True) -> str:
        seen["n"] += 1
        if seen["n"] < calls:
            return real_copyfile(src, dst)
        data = Path(src).read_bytes()
        with open(dst, "wb") as out:
            out.write(data[: max(1, len(data) // 2)])
        raise OSError(28, "No space left on device")

    return copyfile


def test_failed_log_artifact_leaves_nothing(
    repo: LocalArtifactRepository, source: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.log_bytes(b"old content", "keep/b.txt")
    before = snapshot(store)
    monkeypatch.setattr(shutil, "copyfile", copy_that_dies_after(1))
    with pytest.raises(MltrailError, match="Could not write 'keep/b.txt'.*No space left") as info:
        repo.log_artifact(source / "sub" / "b.txt", "keep")
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(MltrailError, match="Could not write 'new/dirs/b.txt'"):
        repo.log_artifact(source / "sub" / "b.txt", "new/dirs")
    assert snapshot(store) == before  # old file intact; no temp file, no new directories


def test_failed_log_artifacts_into_new_dir_leaves_nothing(
    repo: LocalArtifactRepository, source: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.log_bytes(b"x", "other.txt")
    before = snapshot(store)
    monkeypatch.setattr(shutil, "copyfile", copy_that_dies_after(3))  # the last of 3 files
    with pytest.raises(MltrailError, match="Could not write 'model/v1'.*No space left"):
        repo.log_artifacts(source, "model/v1")
    assert snapshot(store) == before


def test_failed_log_artifacts_into_existing_dir_changes_nothing(
    repo: LocalArtifactRepository, source: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.log_bytes(b"old", "a.txt")
    repo.log_bytes(b"old b", "sub/b.txt")
    before = snapshot(store)
    monkeypatch.setattr(shutil, "copyfile", copy_that_dies_after(2))
    with pytest.raises(MltrailError, match="Could not write .*No space left"):
        repo.log_artifacts(source)
    assert snapshot(store) == before


def test_failed_log_artifacts_into_missing_root_leaves_no_root(
    repo: LocalArtifactRepository, source: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "copyfile", copy_that_dies_after(1))
    with pytest.raises(MltrailError, match="No space left"):
        repo.log_artifacts(source)
    assert not store.exists()


def test_source_vanishing_midway_leaves_nothing(
    repo: LocalArtifactRepository, source: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tree is walked first, then copied; a file deleted in between fails the copy.
    real_copyfile = shutil.copyfile

    def copy_then_delete_the_rest(src: str, dst: str, *, follow_symlinks: bool = True) -> str:
        (source / "sub" / "deeper" / "c.bin").unlink(missing_ok=True)
        return real_copyfile(src, dst)

    monkeypatch.setattr(shutil, "copyfile", copy_then_delete_the_rest)
    with pytest.raises(MltrailError, match="No such file or directory"):
        repo.log_artifacts(source, "model")
    assert not store.exists()


def test_a_concurrent_writer_creating_the_directory_is_merged_with(
    repo: LocalArtifactRepository, source: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer creates model/ (with a file) while this call is still staging its copy.
    real_copyfile = shutil.copyfile

    def copy_while_another_writer_logs(src: str, dst: str, *, follow_symlinks: bool = True) -> str:
        if not (store / "model").exists():
            (store / "model").mkdir()
            (store / "model" / "theirs.txt").write_bytes(b"theirs")
        return real_copyfile(src, dst)

    monkeypatch.setattr(shutil, "copyfile", copy_while_another_writer_logs)
    repo.log_artifacts(source, "model")
    assert repo.read_bytes("model/theirs.txt") == b"theirs"
    assert repo.read_bytes("model/sub/deeper/c.bin") == bytes(range(256))
    assert [info.path for info in repo.list_artifacts("model")] == [
        "model/a.txt",
        "model/empty",
        "model/sub",
        "model/theirs.txt",
    ]


def test_a_directory_appearing_just_before_the_rename_is_merged_with(
    repo: LocalArtifactRepository, source: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race the fallback exists for: model/ is created between the check and the rename.
    real_rename = os.rename

    def rename_after_another_writer(src: str, dst: str) -> None:
        if dst == str(store / "model") and not os.path.exists(dst):
            os.mkdir(dst)
            (store / "model" / "theirs.txt").write_bytes(b"theirs")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename_after_another_writer)
    repo.log_artifacts(source, "model")
    monkeypatch.undo()
    assert repo.read_bytes("model/theirs.txt") == b"theirs"
    assert repo.read_bytes("model/a.txt") == b"alpha"
    assert [name for name in os.listdir(store) if name.startswith(".mltrail-tmp-")] == []


def test_staging_is_never_listed(repo: LocalArtifactRepository, store: Path) -> None:
    repo.log_bytes(b"x", "f")
    (store / ".mltrail-tmp-leftover").mkdir()
    assert repo.list_artifacts() == [FileInfo("f", False, 1)]


# -- traversal ----------------------------------------------------------------------------


def call_with_path(
    repo: LocalArtifactRepository, method: str, path: str, local: Path, dst: Path
) -> None:
    if method == "log_artifact":
        repo.log_artifact(local / "a.txt", path)
    elif method == "log_artifacts":
        repo.log_artifacts(local, path)
    elif method == "log_bytes":
        repo.log_bytes(b"evil", path)
    elif method == "list_artifacts":
        repo.list_artifacts(path)
    elif method == "download_artifacts":
        repo.download_artifacts(path, str(dst))
    elif method == "read_bytes":
        repo.read_bytes(path)
    else:
        assert method == "delete_artifacts"
        repo.delete_artifacts(path)


METHODS = [
    "log_artifact",
    "log_artifacts",
    "log_bytes",
    "list_artifacts",
    "download_artifacts",
    "read_bytes",
    "delete_artifacts",
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("bad", "reason"), TRAVERSALS, ids=TRAVERSAL_IDS)
def test_every_method_refuses_traversal(
    repo: LocalArtifactRepository,
    source: Path,
    tmp_path: Path,
    method: str,
    bad: str,
    reason: str,
) -> None:
    repo.log_bytes(b"inside", "x")
    before = snapshot(tmp_path)
    with pytest.raises(InvalidArgument, match=rf"^Invalid artifact path .*: {reason}"):
        call_with_path(repo, method, bad, source, tmp_path / "dl")
    assert snapshot(tmp_path) == before


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_bytes(b"top secret")
    return secret


@pytest.fixture
def planted(repo: LocalArtifactRepository, store: Path, outside: Path) -> LocalArtifactRepository:
    """A store holding ``ok.txt`` and ``evil``, a symlink to a directory outside the store."""
    repo.log_bytes(b"fine", "ok.txt")
    (store / "evil").symlink_to(outside, target_is_directory=True)
    (store / "evil.txt").symlink_to(outside / "secret.txt")
    return repo


SYMLINK_ESCAPES = "leads outside the artifact root"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("list_artifacts", "evil"),
        ("list_artifacts", ""),  # the root holds an escaping link: listing it would stat it
        ("download_artifacts", "evil"),
        ("download_artifacts", "evil/secret.txt"),
        ("download_artifacts", "evil.txt"),
        ("download_artifacts", ""),
        ("read_bytes", "evil/secret.txt"),
        ("read_bytes", "evil.txt"),
        ("log_bytes", "evil/new.txt"),
        ("log_bytes", "evil.txt"),
        ("log_artifact", "evil"),
        ("log_artifacts", "evil"),
        ("log_artifacts", "evil/deeper"),
        ("delete_artifacts", "evil"),
        ("delete_artifacts", "evil/secret.txt"),
        ("delete_artifacts", "evil.txt"),
    ],
)
def test_symlink_escape_is_refused(
    planted: LocalArtifactRepository,
    source: Path,
    outside: Path,
    tmp_path: Path,
    method: str,
    path: str,
) -> None:
    before = snapshot(outside)
    with pytest.raises(InvalidArgument, match=SYMLINK_ESCAPES):
        call_with_path(planted, method, path, source, tmp_path / "dl")
    assert snapshot(outside) == before
    assert not (tmp_path / "dl" / "evil").exists()
    assert not (tmp_path / "dl" / "evil.txt").exists()


def test_symlink_deep_in_a_downloaded_tree_is_refused(
    repo: LocalArtifactRepository, store: Path, outside: Path, tmp_path: Path
) -> None:
    repo.log_bytes(b"fine", "model/ok.txt")
    (store / "model" / "data").symlink_to(outside)
    with pytest.raises(InvalidArgument, match=rf"'model/data': .*{SYMLINK_ESCAPES}"):
        repo.download_artifacts("model", str(tmp_path / "dl"))
    assert not (tmp_path / "dl" / "model" / "data").exists()


def test_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    repo = LocalArtifactRepository(str(tmp_path / "alias"))
    repo.log_bytes(b"x", "f.txt")
    assert (real / "f.txt").read_bytes() == b"x"
    assert repo.list_artifacts() == [FileInfo("f.txt", False, 1)]


def test_symlinks_that_stay_inside_are_followed(
    repo: LocalArtifactRepository, store: Path, tmp_path: Path
) -> None:
    repo.log_bytes(b"data", "v1/model.bin")
    (store / "latest").symlink_to(store / "v1")
    assert repo.read_bytes("latest/model.bin") == b"data"
    assert repo.list_artifacts("latest") == [FileInfo("latest/model.bin", False, 4)]
    got = repo.download_artifacts("latest", str(tmp_path / "dl"))
    assert (Path(got) / "model.bin").read_bytes() == b"data"
    repo.delete_artifacts("latest")  # removes the link, not what it points to
    assert repo.read_bytes("v1/model.bin") == b"data"


def test_deleting_a_parent_of_an_escaping_link_spares_the_target(
    planted: LocalArtifactRepository, outside: Path
) -> None:
    before = snapshot(outside)
    planted.delete_artifacts()
    assert snapshot(outside) == before
    assert planted.list_artifacts() == []


# -- registry -----------------------------------------------------------------------------


def test_registry_builtins(tmp_path: Path) -> None:
    assert isinstance(get_artifact_repository(str(tmp_path)), LocalArtifactRepository)
    assert isinstance(get_artifact_repository(tmp_path.as_uri()), LocalArtifactRepository)
    assert isinstance(get_artifact_repository("relative/dir"), LocalArtifactRepository)
    s3 = get_artifact_repository("s3://bucket/p", s3_endpoint_url="http://127.0.0.1:9")
    assert isinstance(s3, FsspecArtifactRepository)
    assert s3.storage_options == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}
    gs = get_artifact_repository("gs://bucket/p", s3_endpoint_url="http://127.0.0.1:9")
    assert isinstance(gs, FsspecArtifactRepository)
    assert gs.storage_options == {}
    plain_s3 = get_artifact_repository("S3://bucket/p")
    assert isinstance(plain_s3, FsspecArtifactRepository)
    assert plain_s3.storage_options == {}


def test_registry_refuses_unknown_schemes_and_bad_endpoints() -> None:
    with pytest.raises(InvalidArgument, match=r"no tracking URI was given"):
        get_artifact_repository("mlflow-artifacts:/1/abc/artifacts")
    with pytest.raises(InvalidArgument, match="scheme 'ftp' is not supported"):
        get_artifact_repository("ftp://host/x")
    with pytest.raises(InvalidArgument, match="must start with http:// or https://"):
        get_artifact_repository("s3://b/p", s3_endpoint_url="127.0.0.1:9000")
    with pytest.raises(InvalidArgument, match="expected a non-empty string"):
        get_artifact_repository("")


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(registry_module._FACTORIES)
    yield
    registry_module._FACTORIES.clear()
    registry_module._FACTORIES.update(saved)


@pytest.mark.usefixtures("clean_registry")
def test_register_a_scheme(tmp_path: Path) -> None:
    def factory(uri: str) -> ArtifactRepository:
        return LocalArtifactRepository(str(tmp_path / uri.split("://", 1)[1]))

    register_artifact_repository("Memo", factory)
    repo = get_artifact_repository("memo://run1")
    repo.log_bytes(b"x", "f")
    assert (tmp_path / "run1" / "f").read_bytes() == b"x"
    with pytest.raises(InvalidArgument, match="Invalid URI scheme 'no scheme'"):
        register_artifact_repository("no scheme", factory)

    def junk(uri: str) -> object:
        return object()

    register_artifact_repository("junk", junk)  # type: ignore[arg-type]
    with pytest.raises(MltrailError, match="returned object, not an ArtifactRepository"):
        get_artifact_repository("junk://x")


@pytest.mark.usefixtures("clean_registry")
def test_entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real installed-distribution layout on sys.path, found through importlib.metadata."""
    (tmp_path / "mltrail_demo_plugin.py").write_text(
        textwrap.dedent(
            """
            from mltrail.storage.artifacts import LocalArtifactRepository

            def make(uri):
                return LocalArtifactRepository(uri.split("://", 1)[1])
            """
        )
    )
    dist_info = tmp_path / "mltrail_demo_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mltrail-demo-plugin\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[mltrail.artifact_repository]\ndemo = mltrail_demo_plugin:make\n"
        "broken = mltrail_demo_plugin_missing:make\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mltrail_demo_plugin", raising=False)
    store = tmp_path / "store"
    repo = get_artifact_repository(f"demo://{store}")
    assert isinstance(repo, LocalArtifactRepository)
    assert repo.root == str(store)
    with pytest.raises(MltrailError, match="Could not load the artifact repository plugin"):
        get_artifact_repository("broken://x")


def test_fsspec_repository_checks_its_scheme_and_driver() -> None:
    with pytest.raises(InvalidArgument, match="scheme 'ftp' is not one of s3, gs"):
        FsspecArtifactRepository("ftp://host/x")
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here, so the missing-driver message cannot show")
    repo = FsspecArtifactRepository("gs://bucket/prefix")
    with pytest.raises(MltrailError, match=r"fsspec driver .*pip install 'mltrail\[gcs\]'"):
        repo.list_artifacts()


def test_import_and_construction_do_not_import_fsspec() -> None:
    code = textwrap.dedent(
        """
        import sys
        from mltrail.storage.artifacts import get_artifact_repository
        get_artifact_repository("s3://bucket/prefix", s3_endpoint_url="http://127.0.0.1:9")
        get_artifact_repository("/tmp/nowhere-mltrail")
        assert "fsspec" not in sys.modules, "fsspec imported"
        assert "boto3" not in sys.modules, "boto3 imported"
        """
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not os.path.exists("/tmp/nowhere-mltrail")
