"""Project environments: python_env.yaml built with real uv into a cache (once per content,
concurrent runs building once), conda and docker refused clearly where they are missing, and
the ``docker run`` argv a docker project gets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import mltrail
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.models.envs import READY_MARKER
from mltrail.projects.envs import DOCKER_WORKDIR, ProjectEnv, prepare_project_env
from mltrail.projects.spec import Project, load_project

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _project(directory: Path, python_env: dict[str, object], requirements: str = "") -> Project:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLproject").write_text(
        "name: tiny\npython_env: python_env.yaml\n"
        "entry_points:\n  main:\n    command: python -c 'print(1)'\n"
    )
    (directory / "python_env.yaml").write_text(yaml.safe_dump(python_env))
    if requirements:
        (directory / "requirements.txt").write_text(requirements)
    return load_project(str(directory))


BASE_ENV: dict[str, object] = {
    "python": PYTHON,
    "build_dependencies": ["pip"],
    "dependencies": ["-r requirements.txt", "tomli==2.0.1"],
}


@pytest.fixture(scope="module")
def env_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("envs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLTRAIL_ENV_ROOT", str(root))
        yield root


@pytest.fixture(scope="module")
def built(
    env_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Project, ProjectEnv, list[str]]:
    project = _project(tmp_path_factory.mktemp("p") / "proj", BASE_ENV, "six==1.16.0\n")
    lines: list[str] = []
    env = prepare_project_env(project, None, progress=lines.append)
    return project, env, lines


def _in_env(env: ProjectEnv, command: str, project_dir: str) -> subprocess.CompletedProcess[str]:
    child_env = {**os.environ, **env.env_vars}
    return subprocess.run(
        env.wrap(command, project_dir=project_dir, child_env=child_env),
        cwd=project_dir, env=child_env, capture_output=True, text=True, timeout=120,
    )


def test_a_python_env_is_built_with_its_dependencies_and_mltrail(
    built: tuple[Project, ProjectEnv, list[str]], env_root: Path
) -> None:
    project, env, lines = built
    assert env.manager == "uv"  # MLflow's virtualenv default, built with uv
    assert env.env_dir is not None and env.env_dir.startswith(str(env_root))
    assert env.python == os.path.join(env.env_dir, "bin", "python")
    assert len(lines) == 2
    assert lines[0].startswith("Creating environment ")
    # two requirements from the file and the yaml, and the build dependency
    assert lines[0].endswith(f"with Python {PYTHON} and 3 packages (uv)")
    assert lines[1].startswith("done in ")
    done = _in_env(
        env,
        "python -c 'import sys, six, tomli, mltrail; "
        "print(sys.prefix, six.__version__, tomli.__version__, mltrail.__version__)'"
        " && command -v pip && echo $VIRTUAL_ENV",
        project.directory,
    )
    assert done.returncode == 0, done.stderr
    prefix, six_version, tomli_version, mltrail_version, pip, virtual_env = done.stdout.split()
    assert (prefix, six_version, tomli_version) == (env.env_dir, "1.16.0", "2.0.1")
    assert mltrail_version == mltrail.__version__
    assert pip == os.path.join(env.env_dir, "bin", "pip")  # console scripts are the env's
    assert virtual_env == env.env_dir


def test_a_second_prepare_uses_the_cache_and_builds_nothing(
    built: tuple[Project, ProjectEnv, list[str]]
) -> None:
    project, env, _ = built
    assert env.env_dir is not None
    marker = os.path.join(env.env_dir, READY_MARKER)
    before = os.stat(marker).st_mtime_ns
    lines: list[str] = []
    again = prepare_project_env(project, "virtualenv", progress=lines.append)
    assert again.env_dir == env.env_dir and again.python == env.python
    assert again.manager == "virtualenv"
    assert len(lines) == 1 and lines[0].startswith("Using environment ")
    assert lines[0].endswith("(cached)")
    assert os.stat(marker).st_mtime_ns == before
    # the same files in another folder share the environment (keyed by content, not path)
    other = Path(project.directory).parent / "copy"
    shutil.copytree(project.directory, other)
    assert prepare_project_env(load_project(str(other)), None).env_dir == env.env_dir


def test_editing_the_requirements_file_builds_a_new_env_once_under_concurrency(
    built: tuple[Project, ProjectEnv, list[str]], env_root: Path, tmp_path: Path
) -> None:
    project, env, _ = built
    edited = tmp_path / "proj"
    shutil.copytree(project.directory, edited)
    (edited / "requirements.txt").write_text("six==1.15.0\n")
    script = textwrap.dedent(
        """
        import sys
        from mltrail.projects.envs import prepare_project_env
        from mltrail.projects.spec import load_project
        env = prepare_project_env(load_project(sys.argv[1]), None, progress=print)
        print("ENV", env.env_dir)
        """
    )
    child_env = {**os.environ, "MLTRAIL_ENV_ROOT": str(env_root)}
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(edited)], env=child_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        outputs.append(out.splitlines())
    dirs = {line.split(" ", 1)[1] for out in outputs for line in out if line.startswith("ENV ")}
    assert len(dirs) == 1
    new_dir = dirs.pop()
    assert new_dir != env.env_dir
    creating = [line for out in outputs for line in out if line.startswith("Creating")]
    assert len(creating) == 1  # one built it; the other waited and used it
    cached = [line for out in outputs for line in out if line.endswith("(cached)")]
    assert len(cached) == 1
    done = subprocess.run([os.path.join(new_dir, "bin", "python"), "-c",
                           "import six; print(six.__version__)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "1.15.0"


def test_editing_python_env_yaml_builds_a_new_env(
    built: tuple[Project, ProjectEnv, list[str]], tmp_path: Path
) -> None:
    project, env, _ = built
    changed = _project(
        tmp_path / "proj",
        {**BASE_ENV, "dependencies": ["-r requirements.txt", "tomli==2.0.0"]},
        "six==1.16.0\n",
    )
    lines: list[str] = []
    other = prepare_project_env(changed, None, progress=lines.append)
    assert other.env_dir != env.env_dir
    assert lines[0].startswith("Creating environment ")
    done = _in_env(other, "python -c 'import tomli; print(tomli.__version__)'", str(tmp_path))
    assert done.stdout.strip() == "2.0.0", done.stderr


def test_a_dependency_that_does_not_exist_fails_clearly_and_leaves_nothing(
    env_root: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "bad", {"python": PYTHON,
                                          "dependencies": ["no-such-package-xyz==1"]})
    before = sorted(p.name for p in env_root.iterdir() if p.is_dir())
    with pytest.raises(MltrailError, match="install the dependencies of .*python_env.yaml") as e:
        prepare_project_env(project, None)
    assert "no-such-package-xyz" in str(e.value)
    assert sorted(p.name for p in env_root.iterdir() if p.is_dir()) == before
    # and a second attempt tries again rather than using a half-built environment
    with pytest.raises(MltrailError, match="no-such-package-xyz"):
        prepare_project_env(project, None)


def test_a_python_that_is_not_installed_is_named_with_the_way_out(
    env_root: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "old", {"python": "3.2.1"})
    before = sorted(p.name for p in env_root.iterdir() if p.is_dir())
    with pytest.raises(MltrailError, match=r"Python 3\.2 installed.*--env-manager local"):
        prepare_project_env(project, "uv")
    assert sorted(p.name for p in env_root.iterdir() if p.is_dir()) == before


@pytest.mark.parametrize(
    ("python_env", "requirements", "message"),
    [
        ({"python": PYTHON, "pip": ["six"]}, "", "unknown key 'pip'"),
        ({"python": 3.1}, "", "python must be a string"),
        ({"python": "eleven"}, "", "Invalid Python version 'eleven'"),
        ({"dependencies": "six"}, "", "dependencies must be a list of strings"),
        ({"dependencies": ["-r missing.txt"]}, "", "missing.txt does not exist"),
    ],
)
def test_a_bad_python_env_file_is_refused_before_building(
    python_env: dict[str, object], requirements: str, message: str, tmp_path: Path, env_root: Path
) -> None:
    project = _project(tmp_path / "p", python_env, requirements)
    with pytest.raises(InvalidArgument, match=message):
        prepare_project_env(project, None)


def test_a_conda_yaml_can_run_with_uv(env_root: Path, tmp_path: Path) -> None:
    (tmp_path / "conda.yaml").write_text(
        f"name: c\ndependencies:\n  - python={PYTHON}\n  - pip\n  - pip:\n    - six==1.16.0\n"
    )
    (tmp_path / "train.py").write_text("print(1)\n")
    project = load_project(str(tmp_path))
    assert project.env_type == "conda_env"
    env = prepare_project_env(project, "uv")
    done = _in_env(env, "python -c 'import six, pip, mltrail; print(six.__version__)'",
                   str(tmp_path))
    assert done.stdout.strip() == "1.16.0", done.stderr


def test_the_default_managers_follow_mlflow(tmp_path: Path, env_root: Path) -> None:
    (tmp_path / "train.py").write_text("print(1)\n")
    plain = load_project(str(tmp_path))
    assert plain.env_type == "none"
    local = prepare_project_env(plain, None)
    assert (local.manager, local.python) == ("local", sys.executable)
    assert local.wrap("python train.py", project_dir=str(tmp_path), child_env={}) == [
        "bash", "-c", "python train.py"]
    done = _in_env(local, "python -c 'import sys; print(sys.executable)'", str(tmp_path))
    assert os.path.realpath(done.stdout.strip()) == os.path.realpath(sys.executable)
    python_env = _project(tmp_path / "py", {"python": PYTHON})
    with pytest.raises(InvalidArgument, match="python_env project runs with --env-manager uv"):
        prepare_project_env(python_env, "conda")
    with pytest.raises(InvalidArgument, match="needs a docker_env"):
        prepare_project_env(python_env, "docker")
    with pytest.raises(InvalidArgument, match="env_manager: expected one of .* got 'pyenv'"):
        prepare_project_env(python_env, "pyenv")
    assert prepare_project_env(python_env, "local").manager == "local"


@pytest.mark.skipif(shutil.which("conda") is not None, reason="conda is installed here")
def test_conda_missing_is_a_clear_error(tmp_path: Path, env_root: Path) -> None:
    (tmp_path / "conda.yaml").write_text("name: c\ndependencies:\n  - python=3.11\n")
    (tmp_path / "MLproject").write_text(
        "name: c\nconda_env: conda.yaml\nentry_points:\n  main:\n    command: python -V\n"
    )
    project = load_project(str(tmp_path))
    with pytest.raises(MltrailError, match="conda.yaml needs conda, which is not on PATH") as e:
        prepare_project_env(project, None)
    assert "--env-manager uv" in str(e.value) and "--env-manager local" in str(e.value)


@pytest.mark.skipif(shutil.which("conda") is None, reason="conda is not on PATH: Debian and PyPI here carry no working conda")
def test_a_conda_env_is_built_once(tmp_path: Path, env_root: Path) -> None:
    (tmp_path / "conda.yaml").write_text(
        f"name: c\ndependencies:\n  - python={PYTHON}\n  - pip\n  - pip:\n    - six==1.16.0\n"
    )
    (tmp_path / "MLproject").write_text(
        "name: c\nconda_env: conda.yaml\nentry_points:\n  main:\n    command: python -V\n"
    )
    project = load_project(str(tmp_path))
    env = prepare_project_env(project, None)
    assert env.manager == "conda"
    done = _in_env(env, "python -c 'import six, mltrail; print(six.__version__)'",
                   str(tmp_path))
    assert done.stdout.strip() == "1.16.0", done.stderr
    lines: list[str] = []
    assert prepare_project_env(project, None, progress=lines.append).env_dir == env.env_dir
    assert lines == [line for line in lines if line.endswith("(cached)")] and len(lines) == 1


def _docker_project(directory: Path) -> Project:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLproject").write_text(textwrap.dedent(
        """
        name: d
        docker_env:
          image: python:3.11-slim
          volumes: ["/data/in:/data/in"]
          environment: [["STAGE", "test"], "HOME"]
        entry_points:
          main:
            command: python train.py
        """
    ))
    return load_project(str(directory))


def test_docker_without_an_engine_or_a_cli_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _docker_project(tmp_path / "d")
    docker = shutil.which("docker")
    if docker is not None:
        reachable = subprocess.run([docker, "info"], capture_output=True, timeout=60)
        if reachable.returncode == 0:
            pytest.skip("a Docker engine is reachable here")
        with pytest.raises(MltrailError, match=r"needs a Docker engine, and none is reachable"):
            prepare_project_env(project, None)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MltrailError, match=r"image 'python:3.11-slim'.*needs the docker CLI"):
        prepare_project_env(project, None)
    monkeypatch.delenv("HOME")
    with pytest.raises(InvalidArgument, match="copies HOME .* but HOME is not set"):
        prepare_project_env(project, None)


def test_the_docker_command_mounts_the_project_and_passes_the_run(tmp_path: Path) -> None:
    project = _docker_project(tmp_path / "d")
    env = ProjectEnv("docker", None, {}, image=project.docker_image,
                     volumes=project.docker_volumes, environment=project.docker_environment)
    store = tmp_path / "store"
    child_env = {
        "PATH": "/usr/bin", "HOME": "/home/me",
        "MLFLOW_RUN_ID": "abc", "MLFLOW_EXPERIMENT_ID": "3",
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mltrail.db",
        "MLFLOW_TRACKING_TOKEN": "s3cret",
    }
    command = "python train.py --alpha '0.5; rm -rf /'"
    argv = env.wrap(command, project_dir=project.directory, child_env=child_env)
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[-4:] == ["python:3.11-slim", "bash", "-c", command]
    pairs = list(zip(argv, argv[1:]))
    assert ("-v", f"{project.directory}:{DOCKER_WORKDIR}") in pairs
    assert ("-w", DOCKER_WORKDIR) in pairs
    assert ("-v", "/data/in:/data/in") in pairs
    assert ("-v", f"{store}:/mlflow/tmp/mlruns") in pairs
    assert ("-e", "MLFLOW_RUN_ID=abc") in pairs and ("-e", "MLFLOW_EXPERIMENT_ID=3") in pairs
    assert ("-e", "MLFLOW_TRACKING_URI=sqlite:////mlflow/tmp/mlruns/mltrail.db") in pairs
    assert ("-e", "MLFLOW_TRACKING_TOKEN") in pairs  # by name: docker copies it
    assert "s3cret" not in " ".join(argv)
    assert ("-e", "STAGE=test") in pairs and ("-e", "HOME") in pairs
    assert not any(a.startswith("PATH") for a in argv)  # only what the run needs passes
    assert "--network" not in argv
    served = env.wrap("true", project_dir=project.directory,
                      child_env={**child_env, "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
    assert served[3:5] == ["--network", "host"]  # the container reaches this machine's server
    assert ("-e", "MLFLOW_TRACKING_URI=http://127.0.0.1:5000") in list(zip(served, served[1:]))
    remote = env.wrap("true", project_dir=project.directory,
                      child_env={**child_env, "MLFLOW_TRACKING_URI": "https://mlflow.example"})
    assert "--network" not in remote
    without_home = {k: v for k, v in child_env.items() if k != "HOME"}
    with pytest.raises(InvalidArgument, match="HOME is not set"):
        env.wrap("true", project_dir=project.directory, child_env=without_home)
