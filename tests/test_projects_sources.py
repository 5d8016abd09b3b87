"""Project sources (mltrail.projects.sources): local folders, and real git repositories built
with the git CLI and fetched by path and file:// URL, at branches, tags and commits."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
from pathlib import Path

import pytest

from mltrail.errors import InvalidArgument
from mltrail.projects.sources import FetchedProject, fetch_project, project_cache_root


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    # The user's own git configuration stays out of the tests.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("MLTRAIL_PROJECT_CACHE", str(tmp_path / "cache"))


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit_file(repo: Path, name: str, text: str, message: str = "change") -> str:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A repository: main (v1 tagged, then v2), a branch 'feature', a project in sub/."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_file(repo, "MLproject", "name: one\n")
    commit_file(repo, "sub/MLproject", "name: sub\n", "sub project")
    git(repo, "tag", "v1")
    git(repo, "checkout", "-q", "-b", "feature")
    commit_file(repo, "version.txt", "feature\n")
    git(repo, "checkout", "-q", "main")
    commit_file(repo, "version.txt", "main 2\n")
    return repo


def read(fetched: FetchedProject, name: str) -> str:
    return (Path(fetched.directory) / name).read_text(encoding="utf-8")


def cache_root(tmp_path: Path) -> Path:
    return tmp_path / "cache"


# Local folders


def test_local_folder_outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "plain"
    (project / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    fetched = fetch_project("plain")
    assert fetched == FetchedProject(
        directory=str(project), source_name=str(project), git_commit=None, repo_url=None,
        is_git=False,
    )
    assert fetch_project(f"{project.as_uri()}#sub").directory == str(project / "sub")
    with pytest.raises(InvalidArgument) as info:
        fetch_project("plain", version="main")
    assert info.value.message == (
        f"Project URI 'plain': a version ('main') needs a git repository, and {str(project)!r} "
        "is not in one"
    )
    assert not cache_root(tmp_path).exists()


def test_local_work_tree_runs_in_place(upstream: Path, tmp_path: Path) -> None:
    head = git(upstream, "rev-parse", "HEAD")
    (upstream / "untracked.txt").write_text("edits stay visible\n")
    for uri in (str(upstream), upstream.as_uri(), f"'{upstream}'"):
        fetched = fetch_project(uri)
        assert fetched == FetchedProject(
            directory=str(upstream), source_name=f"file://{upstream}", git_commit=head,
            repo_url=str(upstream), is_git=True,
        )
        assert read(fetched, "untracked.txt") == "edits stay visible\n"
    for uri in (f"{upstream}#sub", f"{upstream.as_uri()}#sub", str(upstream / "sub")):
        fetched = fetch_project(uri)
        assert fetched.directory == str(upstream / "sub")
        assert fetched.source_name == f"file://{upstream}#sub"
        assert fetched.git_commit == head
    assert not cache_root(tmp_path).exists()  # in place: nothing copied


def test_local_work_tree_repo_url_is_origin_without_credentials(upstream: Path) -> None:
    git(upstream, "remote", "add", "origin", "https://user:s3cret@example.com/team/repo.git")
    fetched = fetch_project(str(upstream))
    assert fetched.repo_url == "https://example.com/team/repo.git"


# Git repositories through the cache


@pytest.mark.parametrize("how", ["file-url", "path"])
def test_versions_branch_tag_and_commit(upstream: Path, tmp_path: Path, how: str) -> None:
    uri = upstream.as_uri() if how == "file-url" else str(upstream)
    v1 = git(upstream, "rev-parse", "v1")
    feature = git(upstream, "rev-parse", "feature")
    main = git(upstream, "rev-parse", "main")
    first = git(upstream, "rev-list", "--max-parents=0", "HEAD")

    fetched = fetch_project(uri, version="main")
    assert fetched.git_commit == main
    assert read(fetched, "version.txt") == "main 2\n"
    assert Path(fetched.directory).is_relative_to(cache_root(tmp_path))
    assert fetched.is_git
    assert fetched.repo_url == str(upstream)
    assert fetched.source_name == f"file://{upstream}"

    fetched = fetch_project(uri, version="feature")
    assert (fetched.git_commit, read(fetched, "version.txt")) == (feature, "feature\n")

    fetched = fetch_project(f"{uri}#sub", version="v1")
    assert fetched.git_commit == v1
    assert read(fetched, "MLproject") == "name: sub\n"
    assert fetched.directory.endswith(os.path.join(v1, "sub"))
    assert fetched.source_name == f"file://{upstream}#sub"
    assert not (Path(fetched.directory).parent / "version.txt").exists()

    for version in (first, first[:8]):
        fetched = fetch_project(uri, version=version)
        assert fetched.git_commit == first
        assert read(fetched, "MLproject") == "name: one\n"
        assert not (Path(fetched.directory) / "sub").exists()
        # The checkout is clean, detached at the commit.
        assert git(Path(fetched.directory), "rev-parse", "HEAD") == first
        assert git(Path(fetched.directory), "status", "--porcelain") == ""

    with pytest.raises(InvalidArgument) as info:
        fetch_project(uri, version="no-such-branch")
    assert info.value.message == (
        f"Git repository {str(upstream)!r} has no branch, tag or commit 'no-such-branch'"
    )


def test_a_folder_inside_the_work_tree_keeps_its_place_at_a_version(upstream: Path) -> None:
    v1 = git(upstream, "rev-parse", "v1")
    fetched = fetch_project(str(upstream / "sub"), version="v1")
    assert fetched.git_commit == v1
    assert read(fetched, "MLproject") == "name: sub\n"
    assert fetched.source_name == f"file://{upstream}#sub"


def test_a_symlinked_path_into_the_work_tree(upstream: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(upstream)
    fetched = fetch_project(str(link / "sub"), version="v1")
    assert read(fetched, "MLproject") == "name: sub\n"
    assert fetched.source_name == f"file://{upstream}#sub"
    in_place = fetch_project(str(link / "sub"))
    assert in_place.source_name == f"file://{upstream}#sub"
    assert in_place.directory == str(link / "sub")


def test_new_upstream_commits_are_fetched(upstream: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(upstream), str(bare))
    url = bare.as_uri()
    before = fetch_project(url)  # no version: the remote's HEAD (main)
    assert before.git_commit == git(upstream, "rev-parse", "main")
    assert before.repo_url == str(bare)
    assert before.source_name == url
    assert read(before, "version.txt") == "main 2\n"

    # A new commit is pushed; the next fetch sees it, for HEAD and for the branch.
    new = commit_file(upstream, "version.txt", "main 3\n")
    git(upstream, "push", "-q", str(bare), "main")
    git(upstream, "tag", "v3")
    git(upstream, "push", "-q", str(bare), "v3")
    for version in (None, "main", "v3"):
        after = fetch_project(url, version=version)
        assert after.git_commit == new
        assert read(after, "version.txt") == "main 3\n"
    # The earlier commit's checkout is still there, untouched.
    assert read(before, "version.txt") == "main 2\n"
    again = fetch_project(url, version=before.git_commit)
    assert again.directory == before.directory

    # A branch deleted upstream is gone from the cache too.
    git(bare, "branch", "-D", "feature")
    with pytest.raises(InvalidArgument, match="has no branch, tag or commit 'feature'"):
        fetch_project(url, version="feature")
    assert not list(cache_root(tmp_path).glob("*/checkouts/.checkout-*"))


def test_bare_repository_path_is_fetched(upstream: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(upstream), str(bare))
    fetched = fetch_project(str(bare))
    assert fetched.git_commit == git(upstream, "rev-parse", "main")
    assert read(fetched, "version.txt") == "main 2\n"


def test_concurrent_fetches_of_one_url_share_a_sound_cache(upstream: Path, tmp_path: Path) -> None:
    url = upstream.as_uri()
    wanted = ["main", "feature", "v1", "main", "feature", "v1", "main", "main"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        results = list(pool.map(lambda v: fetch_project(url, version=v), wanted))
    expected = {"main": "main 2\n", "feature": "feature\n"}
    for version, fetched in zip(wanted, results, strict=True):
        assert fetched.git_commit == git(upstream, "rev-parse", version)
        assert git(Path(fetched.directory), "status", "--porcelain") == ""
        if version in expected:
            assert read(fetched, "version.txt") == expected[version]
    assert len({r.directory for r in results if r.git_commit == results[0].git_commit}) == 1
    homes = [p for p in cache_root(tmp_path).iterdir() if p.is_dir()]
    assert len(homes) == 1
    assert sorted(p.name for p in (homes[0] / "checkouts").iterdir()) == sorted(
        {r.git_commit or "" for r in results}
    )


# What cannot be fetched


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///nonexistent", "Project URI 'file:///nonexistent': the folder '/nonexistent' "
         "does not exist"),
        ("https://127.0.0.1:9/x.git", "Could not fetch the project 'https://127.0.0.1:9/x.git': "),
        ("https://user:s3cret@127.0.0.1:9/x.git", "Could not fetch the project "
         "'https://127.0.0.1:9/x.git': "),
        ("ssh://git@127.0.0.1:9/x.git", "Could not fetch the project "
         "'ssh://git@127.0.0.1:9/x.git': "),
        ("s3://bucket/project", "Project URI 's3://bucket/project': not a local folder, nor a git "
         "URL"),
        ("file://otherhost/srv/repo", "Project URI 'file://otherhost/srv/repo': file:// URLs "
         "must name this host"),
        ("", "Invalid project URI ''"),
    ],
)
def test_unfetchable_uris(uri: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as info:
        fetch_project(uri)
    assert info.value.message.startswith(expected)
    assert "s3cret" not in info.value.message
    # A failed first fetch leaves no half-made cache entry behind.
    cache = cache_root(tmp_path)
    assert not cache.exists() or not [p for p in cache.iterdir() if p.is_dir()]


def test_missing_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument) as info:
        fetch_project("no/such/folder")
    assert info.value.message == (
        f"Project URI 'no/such/folder': the folder {str(tmp_path / 'no/such/folder')!r} "
        "does not exist"
    )


def test_subdirectory_must_stay_inside(upstream: Path, tmp_path: Path) -> None:
    (upstream / "escape").symlink_to(tmp_path)
    for fragment in ("../escape", "sub/../../x", "/etc"):
        for version in (None, "main"):
            with pytest.raises(InvalidArgument) as info:
                fetch_project(f"{upstream}#{fragment}", version=version)
            assert "must be a relative path inside the repository" in info.value.message
    with pytest.raises(InvalidArgument, match="leads outside the repository"):
        fetch_project(f"{upstream}#escape")
    with pytest.raises(InvalidArgument, match="no subdirectory 'missing' in the project"):
        fetch_project(f"{upstream.as_uri()}#missing", version="main")


def test_hostile_versions_and_urls_run_nothing(
    upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = tmp_path / "canary"
    monkeypatch.chdir(tmp_path)
    for version in (f"--upload-pack=touch {canary}", "main; touch x", "a\nb"):
        with pytest.raises(InvalidArgument, match="Invalid version"):
            fetch_project(upstream.as_uri(), version=version)
    for uri in (f"--upload-pack=touch {canary}", f"-oProxyCommand=touch {canary}:x"):
        with pytest.raises(InvalidArgument):
            fetch_project(uri)
    assert not canary.exists()


def test_scp_like_urls_are_git_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mltrail.projects.sources import _is_git_url

    monkeypatch.chdir(tmp_path)
    assert _is_git_url("git@github.com:org/repo.git")
    assert _is_git_url("github.com:org/repo")
    assert not _is_git_url("-oProxyCommand=x@host:path")
    assert not _is_git_url("plain/folder")


def test_cache_root_from_the_environment(tmp_path: Path) -> None:
    home = os.path.expanduser("~")
    assert project_cache_root({"MLTRAIL_PROJECT_CACHE": str(tmp_path / "c")}) == str(
        tmp_path / "c"
    )
    assert project_cache_root({"XDG_CACHE_HOME": "/x/cache"}) == "/x/cache/mltrail/projects"
    assert project_cache_root({}) == os.path.join(home, ".cache", "mltrail", "projects")


def test_explicit_cache_root_wins(upstream: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-cache"
    fetched = fetch_project(upstream.as_uri(), version="main", cache_root=str(other))
    assert Path(fetched.directory).is_relative_to(other)
    assert not cache_root(tmp_path).exists()
