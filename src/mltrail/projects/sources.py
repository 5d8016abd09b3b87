"""Where a project comes from: a local folder, or a git repository fetched into a cache.

``fetch_project(uri, version)`` returns the folder to run and what the run's tags record:

| uri                                      | what runs                                           |
|------------------------------------------|-----------------------------------------------------|
| a local folder (path or ``file://``)     | the folder itself, in place                         |
| the same with ``version``                | a checkout of that commit of the folder's git repo  |
| a bare git repository (path, file://)    | a checkout (of ``version``, else its HEAD)           |
| ``https://``, ``http://``, ``ssh://``,   | a checkout (of ``version``, else the remote's HEAD) |
| ``git://``, ``user@host:path``           |                                                     |

``version`` is a branch, a tag or a commit (full or abbreviated sha); it is refused for a
folder that is not in a git repository. ``uri#sub/dir`` runs the project in a subfolder of
the repository; the subfolder must stay inside it (no ``..``, no absolute path, no symlink
out). MLflow also takes ``.zip`` archives; mltrail does not yet.

The cache (``project_cache_root()``: ``MLTRAIL_PROJECT_CACHE``, else
``<XDG_CACHE_HOME or ~/.cache>/mltrail/projects``) holds, per repository URL, a bare copy of
its branches and tags, fetched again at every call so that new commits are seen, and one
clean checkout per commit, made once. MLflow instead clones into a new temporary folder for
every run; the cache makes a second run of a large repository cost one ``git fetch``. A
checkout is shared by the runs of its commit; it is never cleaned, so a run should not rely
on files an earlier run left there. Each URL has a lock (``flock``): processes that fetch the
same URL at once wait for each other rather than share a half-written cache.

git runs with prompts turned off (``GIT_TERMINAL_PROMPT=0``, ssh in batch mode) and a time
limit, so a URL that cannot be fetched (no such repository, a refused connection, missing
credentials) fails at once with ``InvalidArgument`` naming the URL and git's own message,
before anything runs. Credentials in ``https://user:token@host`` URLs are used by git but
kept out of messages, ``source_name`` and ``repo_url``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping

from mltrail.errors import InvalidArgument, MltrailError
from mltrail.tracking.context import strip_url_credentials

__all__ = [
    "GIT_TIMEOUT_SECONDS",
    "FetchedProject",
    "fetch_project",
    "project_cache_root",
]

# The longest a git command may take (a clone of a large repository over a slow link);
# a stalled transfer is cut sooner by http.lowSpeedTime.
GIT_TIMEOUT_SECONDS = 900
_LOW_SPEED = ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60"]

_GIT_SCHEMES = ("http", "https", "ssh", "git", "git+ssh", "ssh+git")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)://")
# scp-like syntax: [user@]host:path (the path not starting with //).
_SCP = re.compile(r"^(?:[A-Za-z0-9._~%+-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*:(?!//)\S")
_HEAD_REF = "refs/mltrail/HEAD"


def project_cache_root(environ: Mapping[str, str] | None = None) -> str:
    """Where fetched git projects are kept: ``MLTRAIL_PROJECT_CACHE``, else
    ``<XDG_CACHE_HOME or ~/.cache>/mltrail/projects``."""
    env = os.environ if environ is None else environ
    chosen = env.get("MLTRAIL_PROJECT_CACHE")
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "mltrail", "projects")


@dataclasses.dataclass(frozen=True)
class FetchedProject:
    """A project ready to run, and where it came from."""

    directory: str  # the project folder to run (subdirectory applied), absolute
    source_name: str  # for mlflow.source.name
    git_commit: str | None  # full sha when the project is in a git repository
    repo_url: str | None  # for mlflow.source.git.repoURL: the remote, or the local repository
    is_git: bool


def fetch_project(
    uri: str, version: str | None = None, cache_root: str | None = None
) -> FetchedProject:
    """The project at ``uri`` (at ``version``), fetched if it is a git URL."""
    if not isinstance(uri, str) or not uri.strip().strip("'\""):
        raise InvalidArgument(f"Invalid project URI {uri!r}: expected a folder or a git URL")
    if version is not None:
        if not isinstance(version, str) or not version.strip():
            raise InvalidArgument(f"Invalid version {version!r}: expected a branch, tag or commit")
        if version.startswith("-") or any(c.isspace() or ord(c) < 32 for c in version):
            raise InvalidArgument(
                f"Invalid version {version!r}: a branch, tag or commit has no leading '-', "
                "spaces or control characters"
            )
    cleaned = uri.strip().strip("'\"")  # as MLflow, quotes around the whole URI are dropped
    base, _, fragment = cleaned.partition("#")
    subdirectory = _subdirectory(cleaned, fragment)
    local = _local_folder(base)
    if local is not None:
        return _fetch_local(cleaned, local, subdirectory, version, cache_root)
    if not _is_git_url(base):
        raise InvalidArgument(
            f"Project URI {_safe(cleaned)!r}: not a local folder, nor a git URL (https://, "
            "ssh://, git://, user@host:path or file://)"
        )
    root = cache_root or project_cache_root()
    checkout, commit = _checkout(base, version, root)
    directory = _inside(checkout, subdirectory, cleaned)
    return FetchedProject(
        directory=directory,
        source_name=_safe(cleaned),
        git_commit=commit,
        repo_url=_safe(base),
        is_git=True,
    )


# What the URI names


def _safe(url: str) -> str:
    return strip_url_credentials(url)


def _subdirectory(uri: str, fragment: str) -> str:
    if not fragment:
        return ""
    normal = posixpath.normpath(fragment.replace("\\", "/"))
    if fragment.startswith("/") or normal == ".." or normal.startswith("../"):
        raise InvalidArgument(
            f"Project URI {_safe(uri)!r}: the subdirectory {fragment!r} must be a relative path "
            "inside the repository (no '..', not absolute)"
        )
    return "" if normal == "." else normal


def _local_folder(base: str) -> str | None:
    """The absolute local path ``base`` names (a path or a ``file:`` URI on this host), or None
    when it is a remote URL. A local path that does not exist is an error."""
    match = _SCHEME.match(base)
    if match is not None and match.group(1).lower() == "file":
        parts = urllib.parse.urlsplit(base)
        if parts.netloc not in ("", "localhost"):
            raise InvalidArgument(
                f"Project URI {base!r}: file:// URLs must name this host (file:///path)"
            )
        path = os.path.abspath(urllib.parse.unquote(parts.path))
    elif match is not None or (_SCP.match(base) and not os.path.exists(base)):
        return None
    elif base.startswith("file:"):
        path = os.path.abspath(urllib.parse.unquote(base[len("file:") :]))
    else:
        path = os.path.abspath(os.path.expanduser(base))
    if not os.path.isdir(path):
        what = "is not a folder" if os.path.exists(path) else "does not exist"
        raise InvalidArgument(f"Project URI {base!r}: the folder {path!r} {what}")
    return path


def _is_git_url(base: str) -> bool:
    match = _SCHEME.match(base)
    if match is not None:
        return match.group(1).lower() in _GIT_SCHEMES
    return bool(_SCP.match(base)) and not base.startswith("-")


def _inside(root: str, subdirectory: str, uri: str) -> str:
    directory = os.path.join(root, *subdirectory.split("/")) if subdirectory else root
    real_root = os.path.realpath(root)
    real = os.path.realpath(directory)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise InvalidArgument(
            f"Project URI {_safe(uri)!r}: the subdirectory {subdirectory!r} leads outside the "
            "repository"
        )
    if not os.path.isdir(directory):
        raise InvalidArgument(
            f"Project URI {_safe(uri)!r}: no subdirectory {subdirectory!r} in the project"
        )
    return directory


# Local folders


def _fetch_local(
    uri: str, path: str, subdirectory: str, version: str | None, cache_root: str | None
) -> FetchedProject:
    bare = _git_out(path, "rev-parse", "--is-bare-repository") == "true"
    toplevel = None if bare else _git_out(path, "rev-parse", "--show-toplevel")
    if version is None and not bare:
        directory = _inside(path, subdirectory, uri)
        if toplevel is None:
            return FetchedProject(directory, directory, None, None, is_git=False)
        commit = _git_out(path, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        return FetchedProject(
            directory=directory,
            source_name=_local_source_name(toplevel, directory),
            git_commit=commit,
            repo_url=_local_repo_url(toplevel),
            is_git=True,
        )
    if toplevel is None and not bare:
        raise InvalidArgument(
            f"Project URI {uri!r}: a version ({version!r}) needs a git repository, and "
            f"{path!r} is not in one"
        )
    repository = path if bare else str(toplevel)
    # A folder inside the work tree keeps its place in the checkout.
    # git prints the work tree's real path: compare real paths (symlinked /tmp and the like).
    inner = "" if bare else os.path.relpath(os.path.realpath(path), repository)
    inner = inner.replace(os.sep, "/")
    inner = "" if inner == "." else inner
    sub = "/".join(part for part in (inner, subdirectory) if part)
    checkout, commit = _checkout(repository, version, cache_root or project_cache_root())
    directory = _inside(checkout, sub, uri)
    source = f"file://{repository}" + (f"#{sub}" if sub else "")
    return FetchedProject(
        directory=directory,
        source_name=source,
        git_commit=commit,
        repo_url=repository if bare else _local_repo_url(repository),
        is_git=True,
    )


def _local_source_name(toplevel: str, directory: str) -> str:
    # As MLflow: file://<work tree>, with #<subfolder> when the project is below its root.
    rel = os.path.relpath(os.path.realpath(directory), os.path.realpath(toplevel))
    return f"file://{toplevel}" + ("" if rel == "." else "#" + rel.replace(os.sep, "/"))


def _local_repo_url(toplevel: str) -> str:
    remote = _git_out(toplevel, "config", "--get", "remote.origin.url")
    return _safe(remote) if remote else toplevel


# Git repositories, through the cache


def _checkout(url: str, version: str | None, cache_root: str) -> tuple[str, str]:
    """A clean checkout of ``url`` at ``version`` in the cache, and its commit."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]
    home = os.path.join(os.path.abspath(cache_root), key)
    with _locked(home + ".lock"):
        mirror = _refresh_mirror(url, home)
        commit = _resolve(url, mirror, version)
        target = os.path.join(home, "checkouts", commit)
        if not os.path.isdir(target):
            _make_checkout(url, mirror, commit, target)
    return target, commit


def _refresh_mirror(url: str, home: str) -> str:
    mirror = os.path.join(home, "repo.git")
    ready = os.path.join(home, "url")
    if not os.path.isfile(ready):
        shutil.rmtree(home, ignore_errors=True)
        os.makedirs(home)
        _git(url, None, "init", "--quiet", "--bare", mirror)
        _git(url, mirror, "remote", "add", "origin", url)
    try:
        _git(
            url,
            mirror,
            *_LOW_SPEED,
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            "--no-tags",
            "origin",
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
            f"+HEAD:{_HEAD_REF}",
        )
    except BaseException:
        if not os.path.isfile(ready):
            shutil.rmtree(home, ignore_errors=True)  # a first fetch that failed leaves nothing
        raise
    if not os.path.isfile(ready):
        with open(ready, "w", encoding="utf-8") as f:
            f.write(_safe(url) + "\n")
    return mirror


def _resolve(url: str, mirror: str, version: str | None) -> str:
    wanted = _HEAD_REF if version is None else version
    commit = _git_out(mirror, "rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}")
    if commit is None and version is not None and re.fullmatch(r"[0-9a-fA-F]{40}", version):
        # A commit on no branch or tag: ask for it by name (servers that allow it answer).
        with contextlib.suppress(InvalidArgument):
            _git(url, mirror, *_LOW_SPEED, "fetch", "--quiet", "--no-tags", "origin", version)
        commit = _git_out(mirror, "rev-parse", "--verify", "--quiet", f"{version}^{{commit}}")
    if commit is None:
        if version is None:
            raise InvalidArgument(f"Git repository {_safe(url)!r} has no commits to run")
        raise InvalidArgument(
            f"Git repository {_safe(url)!r} has no branch, tag or commit {version!r}"
        )
    return commit


def _make_checkout(url: str, mirror: str, commit: str, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".checkout-", dir=os.path.dirname(target))
    work = os.path.join(staging, "work")
    try:
        _git(url, None, "clone", "--quiet", "--no-checkout", "--", mirror, work)
        _git(url, work, "checkout", "--quiet", "--detach", commit)
        # The checkout's origin is the real repository: relative submodule URLs resolve
        # against it, and a project that reads its own remote sees it.
        _git(url, work, "remote", "set-url", "origin", url)
        if os.path.isfile(os.path.join(work, ".gitmodules")):
            _git(url, work, *_LOW_SPEED, "submodule", "update", "--quiet", "--init", "--recursive")
        os.rename(work, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# Running git


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never ask for a password on the terminal
    env["GCM_INTERACTIVE"] = "never"  # nor through Git Credential Manager's windows
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=30"
    return env


def _git(url: str, cwd: str | None, *args: str) -> str:
    """Run git (in ``cwd``); a failure is an ``InvalidArgument`` naming ``url``."""
    command = ["git", *(["-C", cwd] if cwd else []), *args]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except FileNotFoundError:
        raise MltrailError(
            f"Fetching the project {_safe(url)!r} needs git, which is not on PATH: install git"
        ) from None
    except subprocess.TimeoutExpired:
        raise InvalidArgument(
            f"Could not fetch the project {_safe(url)!r}: git did not finish within "
            f"{GIT_TIMEOUT_SECONDS} s"
        ) from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-8:]
        message = "\n".join(detail).replace(url, _safe(url)) or f"git exited {done.returncode}"
        raise InvalidArgument(f"Could not fetch the project {_safe(url)!r}: {message}")
    return done.stdout


def _git_out(cwd: str, *args: str) -> str | None:
    """git's stripped output in ``cwd``, or None when it fails (not a repository, ...)."""
    try:
        done = subprocess.run(
            ["git", "-C", cwd, *args],
            capture_output=True,
            text=True,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None
