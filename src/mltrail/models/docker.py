"""A Docker image that serves one model: its build context, and building it.

``generate_dockerfile(model_uri, output_dir)`` writes a self-contained build context::

    output_dir/
      Dockerfile          python:<the model's major.minor>-slim, a non-root user, the model's
                          requirements, mltrail, and ``mltrail models serve`` on port 8080
      .dockerignore       everything but what the Dockerfile copies stays out of the build
      requirements.txt    model/requirements.txt as saved, its mltrail line replaced by the
                          mltrail the image serves with
      wheels/             a wheel of this mltrail, when it is installed from a source tree
      model/              the model's files, fetched once: the image never downloads it

The image keeps MLflow's layout, so deployments of MLflow's images keep working: the model at
``/opt/ml/model``, the scoring protocol (``POST /invocations``, ``GET /ping``) on port 8080.
``build_docker`` writes the context to a temporary directory and runs ``docker build``.

MLServer images (``enable_mlserver``) are not supported: a warning says so and the plain
mltrail image is built, which answers the ``/invocations`` and ``/ping`` calls an MLServer
image of an MLflow model also answers, but not the V2 inference protocol.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import warnings

import yaml

from mltrail._version import __version__
from mltrail.errors import AlreadyExists, InvalidArgument, MltrailError
from mltrail.models.environment import (
    PYTHON_ENV_FILE,
    REQUIREMENTS_FILE,
    read_requirements,
    requirement_name,
)
from mltrail.models.envs import SCORING_EXTRAS
from mltrail.models.format import MLMODEL_FILE, Model
from mltrail.models.pyfunc import local_model_path
from mltrail.registry.uris import is_local

__all__ = [
    "DEFAULT_IMAGE_NAME",
    "MLSERVER_NOT_SUPPORTED",
    "MODEL_PATH",
    "PORT",
    "build_docker",
    "generate_dockerfile",
]

MODEL_PATH = "/opt/ml/model"
PORT = 8080
PORT_ENV = "MLTRAIL_SCORING_PORT"
UID = 10001  # the user the server runs as, not root
DEFAULT_IMAGE_NAME = "mltrail-pyfunc-servable"
MLSERVER_NOT_SUPPORTED = (
    "MLServer images are not supported: building the plain mltrail scoring image instead. It "
    f"serves POST /invocations and GET /ping on port {PORT}, as an MLServer image of an MLflow "
    "model also does, but not MLServer's V2 inference protocol (/v2/models/...)."
)

_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")
_FILE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")
_DOCKERIGNORE = """\
# Only what the Dockerfile copies goes into the build.
*
!requirements.txt
!model
!wheels
**/__pycache__
"""


def generate_dockerfile(
    model_uri: str,
    output_dir: str,
    *,
    base_image: str | None = None,
    install_java: bool = False,
    mltrail_requirement: str | None = None,
    enable_mlserver: bool = False,
) -> str:
    """Write the build context of an image serving ``model_uri`` into ``output_dir`` (which
    must not exist, or be empty) and return its absolute path. Nothing is written when the
    model cannot be fetched or read.

    ``base_image`` needs ``python`` with pip on its PATH and ``useradd`` (default:
    ``python:<major.minor>-slim`` for the model's Python). ``mltrail_requirement`` is how the
    image gets mltrail: a pip requirement (give it the ``server,models`` extras) or a ``.whl``
    file (default: a wheel built from this mltrail's source tree when it is installed from
    one, else ``mltrail[server,models]==<this version>``).
    """
    if enable_mlserver:
        warnings.warn(MLSERVER_NOT_SUPPORTED, UserWarning, stacklevel=2)
    if base_image is not None and not _IMAGE.match(base_image):
        raise InvalidArgument(
            f"Invalid base image {base_image!r}: expected a name like python:3.11-slim"
        )
    if mltrail_requirement is not None and (
        not mltrail_requirement.strip() or any(c in mltrail_requirement for c in "\r\n")
    ):
        raise InvalidArgument(
            "Invalid mltrail requirement: expected one pip requirement or a wheel file"
        )
    target = os.path.abspath(output_dir)
    empty = os.path.isdir(target) and not os.path.islink(target) and not os.listdir(target)
    if os.path.lexists(target) and not empty:
        raise AlreadyExists(
            f"The output directory {output_dir!r} exists and is not an empty folder: choose a "
            "new one, or remove it first"
        )
    with tempfile.TemporaryDirectory(prefix="mltrail-docker-") as scratch:
        source = _fetch_model(model_uri, scratch)
        image = base_image or _default_image(source)
        try:
            _write_context(source, target, image, install_java, mltrail_requirement)
        except OSError as exc:
            raise MltrailError(
                f"Cannot write the build context to {output_dir!r}: {exc.strerror or exc}"
            ) from exc
    return target


def _write_context(
    source: str, target: str, image: str, install_java: bool, mltrail_requirement: str | None
) -> None:
    """Fill a hidden folder beside ``target``, then rename it into place: a failure leaves
    nothing behind."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".mltrail-docker-", dir=parent)
    try:
        _copy_tree(source, os.path.join(staging, "model"))
        install, how = _mltrail_install(staging, mltrail_requirement)
        _write(staging, "requirements.txt", _image_requirements(source, install))
        wheels = install.startswith("./wheels/")
        _write(staging, "Dockerfile", _dockerfile(image, install_java, how, wheels=wheels))
        _write(staging, ".dockerignore", _DOCKERIGNORE)
        os.chmod(staging, 0o755)
        if os.path.isdir(target):
            os.rmdir(target)  # empty, checked above
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_docker(
    model_uri: str,
    name: str = DEFAULT_IMAGE_NAME,
    *,
    base_image: str | None = None,
    install_java: bool = False,
    mltrail_requirement: str | None = None,
    enable_mlserver: bool = False,
    docker: str = "docker",
) -> None:
    """Build the image ``name`` serving ``model_uri`` with ``docker build``, its output
    streamed to this process's. Fails before doing anything else when no Docker engine is
    reachable; nothing is left behind but the image."""
    if enable_mlserver:
        warnings.warn(MLSERVER_NOT_SUPPORTED, UserWarning, stacklevel=2)
    if not name.strip() or any(c.isspace() for c in name):
        raise InvalidArgument(f"Invalid image name {name!r}")
    executable = _docker_engine(docker, model_uri, name)
    with tempfile.TemporaryDirectory(prefix="mltrail-docker-build-") as scratch:
        context = generate_dockerfile(
            model_uri,
            os.path.join(scratch, "context"),
            base_image=base_image,
            install_java=install_java,
            mltrail_requirement=mltrail_requirement,
        )
        done = subprocess.run([executable, "build", "-t", name, context], check=False)
    if done.returncode != 0:
        raise MltrailError(
            f"docker build failed (exit status {done.returncode}); its output is above"
        )


# --- the model ---------------------------------------------------------------------------


def _fetch_model(model_uri: str, scratch: str) -> str:
    """The model's directory: a local one as it is, any other downloaded into ``scratch``."""
    if is_local(model_uri):
        path = local_model_path(model_uri)
    else:
        path = local_model_path(model_uri, os.path.join(scratch, "download"))
    if not os.path.isdir(path):
        raise InvalidArgument(f"{model_uri!r} is not a model directory")
    Model.load(path)  # a clear error for a folder without a readable MLmodel
    return path


def _default_image(path: str) -> str:
    version = ""
    env_file = os.path.join(path, PYTHON_ENV_FILE)
    if os.path.isfile(env_file):
        with open(env_file, encoding="utf-8") as f:
            try:
                content = yaml.safe_load(f)
            except yaml.YAMLError as exc:
                raise InvalidArgument(f"Invalid {PYTHON_ENV_FILE} in the model: {exc}") from exc
        if isinstance(content, dict):
            version = str(content.get("python") or "")
    if not version:
        version = str(Model.load(path).pyfunc_conf.get("python_version") or "")
    match = _VERSION.match(version)
    if match is None:
        raise InvalidArgument(
            f"The model does not say which Python it needs (no python in {PYTHON_ENV_FILE}, no "
            f"python_version in {MLMODEL_FILE}): pass a base image, e.g. python:3.11-slim"
        )
    major, minor = int(match.group(1)), int(match.group(2))
    if (major, minor) < (3, 10):
        raise InvalidArgument(
            f"The model was saved with Python {major}.{minor}, and mltrail needs 3.10 or later: "
            "pass a newer base image (e.g. python:3.10-slim) if the model loads there"
        )
    return f"python:{major}.{minor}-slim"


def _copy_tree(source: str, destination: str) -> None:
    """Copy the model: files readable by everyone, symbolic links within the model kept as
    relative links, and any link leading out of it (or nowhere) refused."""
    root = os.path.realpath(source)
    os.mkdir(destination, 0o755)
    for current, dirs, files in os.walk(root):
        out = os.path.join(destination, os.path.relpath(current, root))
        for name in [*dirs, *files]:
            path, copy = os.path.join(current, name), os.path.join(out, name)
            shown = os.path.relpath(path, root)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if os.path.commonpath([root, real]) != root or not os.path.exists(real):
                    raise InvalidArgument(
                        f"The model's {shown!r} is a symbolic link to {real!r}, outside the "
                        "model directory (or missing): copy what it points to into the model"
                    )
                os.symlink(os.path.relpath(real, current), copy)
            elif os.path.isdir(path):
                os.mkdir(copy, 0o755)
            elif os.path.isfile(path):
                shutil.copyfile(path, copy)
                executable = os.stat(path).st_mode & stat.S_IXUSR
                os.chmod(copy, 0o755 if executable else 0o644)
            else:
                raise InvalidArgument(f"The model's {shown!r} is not a regular file or folder")


def _image_requirements(model: str, mltrail_line: str) -> str:
    path = os.path.join(model, REQUIREMENTS_FILE)
    if not os.path.isfile(path):
        raise InvalidArgument(
            f"The model has no {REQUIREMENTS_FILE}: the image cannot know which packages it "
            "needs; write one into the model directory"
        )
    lines = [
        "# The model's requirements as saved (model/requirements.txt), except its mltrail line:",
        "# the image serves with the mltrail below.",
    ]
    for line in read_requirements(path):
        option, _, value = line.partition(" ")
        if option in _FILE_OPTIONS and value.strip() and not os.path.isabs(value.strip()):
            line = f"{option} model/{value.strip()}"  # relative to the model's folder
        elif requirement_name(line) == "mltrail":
            continue
        lines.append(line)
    lines.append(mltrail_line)
    return "\n".join(lines) + "\n"


# --- mltrail in the image ----------------------------------------------------------------


def _mltrail_install(context: str, requirement: str | None) -> tuple[str, str]:
    """The requirements line that installs mltrail in the image, and a comment saying how."""
    wheels = os.path.join(context, "wheels")
    if requirement is not None and requirement.endswith(".whl") and os.path.isfile(requirement):
        return _copy_wheel(requirement, wheels), f"from the wheel {os.path.basename(requirement)}"
    if requirement is not None:
        return requirement.strip(), "as asked"
    installed = _installed_wheel_or_tree()
    if installed is not None and installed.endswith(".whl"):
        return _copy_wheel(installed, wheels), "from the wheel this mltrail was installed from"
    if installed is not None:
        wheel = _build_wheel(installed, wheels)
        return f"./wheels/{wheel}[{SCORING_EXTRAS}]", "from a wheel built from its source tree"
    return f"mltrail[{SCORING_EXTRAS}]=={__version__}", "from the package index"


def _copy_wheel(path: str, wheels: str) -> str:
    os.makedirs(wheels, exist_ok=True)
    shutil.copyfile(path, os.path.join(wheels, os.path.basename(path)))
    return f"./wheels/{os.path.basename(path)}[{SCORING_EXTRAS}]"


def _installed_wheel_or_tree() -> str | None:
    """The source tree (or the local wheel file) this mltrail was installed from, if any."""
    try:
        direct = importlib.metadata.distribution("mltrail").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        direct = None
    if direct:
        info = json.loads(direct)
        url = urllib.parse.urlsplit(str(info.get("url", "")))
        if url.scheme == "file":
            path = urllib.request.url2pathname(url.path)
            if "dir_info" in info and os.path.isfile(os.path.join(path, "pyproject.toml")):
                return path
            if path.endswith(".whl") and os.path.isfile(path):
                return path
        return None
    # Not installed at all: imported from a checkout on sys.path.
    tree = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    pyproject = os.path.join(tree, "pyproject.toml")
    if os.path.isfile(pyproject):
        with open(pyproject, encoding="utf-8") as f:
            if re.search(r'^name\s*=\s*"mltrail"', f.read(), re.MULTILINE):
                return tree
    return None


def _uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    try:
        module = importlib.import_module("uv")
    except ImportError:
        return None
    binary = module.find_uv_bin()
    return str(binary) if binary else None


def _build_wheel(tree: str, wheels: str) -> str:
    """Build a wheel of the source tree ``tree`` into ``wheels``; its file name."""
    with tempfile.TemporaryDirectory(prefix="mltrail-wheel-") as out:
        uv = _uv()
        if uv is not None:
            command = [uv, "build", "--wheel", "--out-dir", out, tree]
        elif importlib.util.find_spec("pip") is not None:
            command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", out, tree]
        else:
            raise MltrailError(
                f"mltrail is installed from the source tree {tree}, which no package index "
                "serves; building a wheel of it for the image needs uv or pip: install one, or "
                "give the mltrail requirement to install (--mltrail-requirement)"
            )
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        built = [n for n in os.listdir(out) if n.startswith("mltrail-") and n.endswith(".whl")]
        if done.returncode != 0 or len(built) != 1:
            output = (done.stderr or done.stdout).strip()[-2000:]
            raise MltrailError(f"Building a wheel of mltrail from {tree} failed:\n{output}")
        os.makedirs(wheels, exist_ok=True)
        shutil.copyfile(os.path.join(out, built[0]), os.path.join(wheels, built[0]))
        os.chmod(os.path.join(wheels, built[0]), 0o644)
    return built[0]


# --- the files ---------------------------------------------------------------------------


def _write(directory: str, name: str, text: str) -> None:
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o644)


def _dockerfile(image: str, install_java: bool, how: str, *, wheels: bool) -> str:
    health = (
        "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + "
        f"os.environ.get('{PORT_ENV}', '{PORT}') + '/ping', timeout=4)"
    )
    serve = ["mltrail", "models", "serve", "-m", MODEL_PATH, "-h", "0.0.0.0", "-p", str(PORT)]
    java = (
        "\n# A Java runtime, for models that need one. Debian's package follows the base image's\n"
        "# release, so its version is not pinned (a pin would break with the next point release).\n"
        "# hadolint ignore=DL3008\n"
        "RUN apt-get update \\\n"
        "    && apt-get install -y --no-install-recommends default-jre-headless \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
        "ENV JAVA_HOME=/usr/lib/jvm/default-java\n"
    ) if install_java else ""
    copy_wheels = "COPY wheels/ ./wheels/\n" if wheels else ""
    return f"""\
# An image serving one model with mltrail {__version__}: POST /invocations, GET /ping.
#   docker build -t NAME .   then   docker run -p {PORT}:{PORT} NAME
# Arguments after the image name are added to the command, e.g. docker run NAME -w 4
FROM {image}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_ROOT_USER_ACTION=ignore
{java}
RUN groupadd --gid {UID} mltrail \\
    && useradd --create-home --no-log-init --uid {UID} --gid {UID} mltrail

# The model's requirements, pinned as saved, and mltrail ({how}).
WORKDIR /opt/mltrail
COPY requirements.txt ./
{copy_wheels}RUN python -m pip install --no-cache-dir -r requirements.txt

# The model, read-only for the user the server runs as.
COPY model/ {MODEL_PATH}/

# By number, so that a cluster can check it is not root (Kubernetes runAsNonRoot).
USER {UID}:{UID}
WORKDIR /home/mltrail
# The port the health check calls; to serve on another, set it and add -p PORT to docker run.
ENV {PORT_ENV}={PORT}
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\
    CMD {json.dumps(["python", "-c", health])}
ENTRYPOINT {json.dumps(serve)}
"""


def _docker_engine(docker: str, model_uri: str, name: str) -> str:
    """The docker executable, once a Docker engine has answered it."""
    hint = (
        "To build the image elsewhere, write its build context with `mltrail models "
        f"generate-dockerfile -m {shlex.quote(model_uri)} -d DIR` and run `docker build -t "
        f"{shlex.quote(name)} DIR` where Docker runs."
    )
    executable = shutil.which(docker)
    if executable is None:
        raise MltrailError(f"No Docker engine: {docker!r} is not on the PATH. {hint}")
    try:
        done = subprocess.run(
            [executable, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=60, check=False,
        )
    except subprocess.TimeoutExpired:
        raise MltrailError(f"No Docker engine answered `docker info` within 60 s. {hint}") from None
    except OSError as exc:
        raise MltrailError(f"Cannot run {executable!r}: {exc.strerror or exc}. {hint}") from exc
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        detail = f": {said[-1]}" if said else ""
        raise MltrailError(f"No Docker engine is reachable (`docker info` failed{detail}). {hint}")
    return executable
