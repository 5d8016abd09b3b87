"""run_context_tags against real git repositories made in tmp_path."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from mltrail.tracking import context
from mltrail.tracking.context import (
    clear_git_cache,
    current_user,
    git_tags,
    run_context_tags,
    strip_url_credentials,
)

ORIGIN_WITH_TOKEN = "https://alice:s3cret-token@git.example.com/team/proj.git"
ORIGIN_CLEAN = "https://git.example.com/team/proj.git"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            *("-c", "user.name=Test Author", "-c", "user.email=author@example.com"),
            *("-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"),
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Git must not find a repository above tmp_path, nor read the developer's settings.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    clear_git_cache()
    yield
    clear_git_cache()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A work tree with one commit on ``main``: train.py and src/model.py."""
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('training')\n")
    (root / "src" / "model.py").write_text("MODEL = 1\n")
    git(root, "add", "train.py", "src/model.py")
    git(root, "commit", "-q", "-m", "first")
    return root


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def test_script_in_clean_repo_on_a_branch_with_a_credentialed_origin(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature/better-loss")
    git(repo, "remote", "add", "origin", ORIGIN_WITH_TOKEN)
    git(repo, "remote", "add", "upstream", "https://other.example.com/x.git")
    script = repo / "train.py"

    tags = run_context_tags(argv0=str(script), cwd="/", user="tester")

    assert tags == {
        "mlflow.source.name": str(script),
        "mlflow.source.type": "LOCAL",
        "mlflow.user": "tester",
        "mlflow.source.git.commit": head(repo),
        "mlflow.source.git.branch": "feature/better-loss",
        "mlflow.source.git.repoURL": ORIGIN_CLEAN,
        "mlflow.source.git.dirty": "false",
    }
    assert len(tags["mlflow.source.git.commit"]) == 40


def test_relative_script_in_a_subdirectory_resolves_against_cwd(repo: Path) -> None:
    tags = run_context_tags(argv0="src/model.py", cwd=str(repo), user="tester")

    assert tags == {
        "mlflow.source.name": str(repo / "src" / "model.py"),
        "mlflow.source.type": "LOCAL",
        "mlflow.user": "tester",
        "mlflow.source.git.commit": head(repo),
        "mlflow.source.git.branch": "main",
        "mlflow.source.git.dirty": "false",
    }


def test_modified_tracked_file_is_dirty(repo: Path) -> None:
    (repo / "src" / "model.py").write_text("MODEL = 2\n")

    tags = git_tags(str(repo))

    assert tags == {
        "mlflow.source.git.commit": head(repo),
        "mlflow.source.git.branch": "main",
        "mlflow.source.git.dirty": "true",
    }


def test_staged_change_is_dirty(repo: Path) -> None:
    (repo / "new.py").write_text("x = 1\n")
    git(repo, "add", "new.py")

    assert git_tags(str(repo))["mlflow.source.git.dirty"] == "true"


def test_untracked_files_do_not_make_the_tree_dirty(repo: Path) -> None:
    (repo / "notes.txt").write_text("scratch\n")
    (repo / "outputs").mkdir()
    (repo / "outputs" / "model.pkl").write_bytes(b"\x00")

    assert git_tags(str(repo))["mlflow.source.git.dirty"] == "false"


def test_detached_head_omits_the_branch(repo: Path) -> None:
    first = head(repo)
    (repo / "train.py").write_text("print('v2')\n")
    git(repo, "commit", "-q", "-am", "second")
    git(repo, "checkout", "-q", "--detach", first)

    assert git_tags(str(repo)) == {
        "mlflow.source.git.commit": first,
        "mlflow.source.git.dirty": "false",
    }


def test_ssh_origin_is_kept_as_is(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "git@git.example.com:team/proj.git")

    assert git_tags(str(repo))["mlflow.source.git.repoURL"] == "git@git.example.com:team/proj.git"


def test_repository_without_commits_gives_no_git_tags(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", ORIGIN_WITH_TOKEN)
    (root / "train.py").write_text("print('hi')\n")

    tags = run_context_tags(argv0=str(root / "train.py"), cwd=str(root), user="tester")

    assert tags == {
        "mlflow.source.name": str(root / "train.py"),
        "mlflow.source.type": "LOCAL",
        "mlflow.user": "tester",
    }


def test_directory_outside_any_repository_gives_no_git_tags(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "run.py").write_text("print('hi')\n")

    tags = run_context_tags(argv0="run.py", cwd=str(plain), user="tester")

    assert tags == {
        "mlflow.source.name": str(plain / "run.py"),
        "mlflow.source.type": "LOCAL",
        "mlflow.user": "tester",
    }


def test_no_git_binary_gives_no_git_tags(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))

    tags = run_context_tags(argv0=str(repo / "train.py"), cwd=str(repo), user="tester")

    assert tags == {
        "mlflow.source.name": str(repo / "train.py"),
        "mlflow.source.type": "LOCAL",
        "mlflow.user": "tester",
    }


def test_git_that_fails_or_hangs_gives_no_git_tags(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    fake_git = fake_bin / "git"
    fake_git.write_text("#!/bin/sh\necho 'fatal: broken' >&2\nexit 128\n")
    fake_git.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    assert git_tags(str(repo)) == {}

    # exec: the sleeping process is the one killed at the timeout, leaving no pipe open.
    fake_git.write_text(f"#!/bin/sh\nexec {sleep} 30\n")
    monkeypatch.setattr(context, "GIT_TIMEOUT_SECONDS", 0.3)
    started = time.monotonic()
    assert git_tags(str(repo)) == {}
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("argv0", [None, ""])
def test_interactive_interpreter_is_console_and_reads_git_from_cwd(
    repo: Path, argv0: str | None
) -> None:
    tags = run_context_tags(argv0=argv0, cwd=str(repo), user="tester")

    assert tags["mlflow.source.name"] == "<console>"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.git.commit"] == head(repo)


def test_python_dash_c_keeps_dash_c_and_reads_git_from_cwd(repo: Path) -> None:
    tags = run_context_tags(argv0="-c", cwd=str(repo), user="tester")

    assert tags["mlflow.source.name"] == "-c"
    assert tags["mlflow.source.git.commit"] == head(repo)


def test_argv0_that_is_not_a_file_is_kept_as_given(repo: Path) -> None:
    tags = run_context_tags(argv0="my-entry-point", cwd=str(repo), user="tester")

    assert tags["mlflow.source.name"] == "my-entry-point"
    assert tags["mlflow.source.git.commit"] == head(repo)


def test_jupyter_kernel_is_a_notebook_and_reads_git_from_cwd(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kernel's argv0 is the launcher in site-packages, outside the user's repository.
    site = tmp_path / "site-packages"
    site.mkdir()
    launcher = site / "ipykernel_launcher.py"
    launcher.write_text("")
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))

    tags = run_context_tags(argv0=str(launcher), cwd=str(repo), user="tester")

    assert tags == {
        "mlflow.source.name": str(launcher),
        "mlflow.source.type": "NOTEBOOK",
        "mlflow.user": "tester",
        "mlflow.source.git.commit": head(repo),
        "mlflow.source.git.branch": "main",
        "mlflow.source.git.dirty": "false",
    }


def test_slow_reads_are_kept_for_the_process_until_cleared(repo: Path) -> None:
    ticks = iter([0.0, 1.0])  # the read appears to take a second
    first = git_tags(str(repo), clock=lambda: next(ticks))
    (repo / "train.py").write_text("print('v2')\n")
    git(repo, "commit", "-q", "-am", "second")

    assert git_tags(str(repo)) == first

    clear_git_cache()
    assert git_tags(str(repo))["mlflow.source.git.commit"] == head(repo) != first[
        "mlflow.source.git.commit"
    ]


def test_fast_reads_are_repeated(repo: Path) -> None:
    first = git_tags(str(repo), clock=lambda: 0.0)
    (repo / "train.py").write_text("print('v2')\n")

    assert git_tags(str(repo), clock=lambda: 0.0) == {**first, "mlflow.source.git.dirty": "true"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host.example/org/repo.git", "https://host.example/org/repo.git"),
        ("https://ghp_abc123@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("http://u:p@host.example:8080/r.git?x=1#f", "http://host.example:8080/r.git?x=1#f"),
        ("HTTPS://u:p@host.example/r", "HTTPS://host.example/r"),
        ("https://u:p@ss@host.example/r", "https://host.example/r"),
        ("ssh://git:pw@host.example/org/r.git", "ssh://git@host.example/org/r.git"),
        ("ssh://:pw@host.example/r.git", "ssh://host.example/r.git"),
        ("ssh://git@host.example/org/r.git", "ssh://git@host.example/org/r.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://host.example/path@v1/r.git", "https://host.example/path@v1/r.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


def test_current_user_prefers_the_given_user() -> None:
    assert current_user("alice") == "alice"


@pytest.mark.parametrize("given", [None, ""])
def test_current_user_falls_back_to_the_login_name(given: str | None) -> None:
    assert current_user(given) == getpass.getuser()


@pytest.mark.parametrize("error", [OSError("no login name"), KeyError("uid not found: 1234")])
def test_current_user_is_unknown_when_the_login_name_cannot_be_found(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    # Containers running under a uid absent from /etc/passwd, with no USER/LOGNAME set.
    def no_login_name() -> str:
        raise error

    monkeypatch.setattr(getpass, "getuser", no_login_name)

    assert current_user(None) == "unknown"
    assert run_context_tags(argv0=None, cwd="/", user=None)["mlflow.user"] == "unknown"
