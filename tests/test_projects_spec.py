"""The MLproject file (mltrail.projects.spec): loading, validation, and resolved commands that
are run for real with bash, so that a parameter value can never become shell syntax."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mltrail.errors import InvalidArgument
from mltrail.projects.spec import (
    PARAMETER_TYPES,
    EntryPoint,
    Parameter,
    Project,
    load_project,
)

# A program that prints the arguments it received, as JSON.
ARGV_SCRIPT = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_argv(command: str, cwd: Path) -> list[str]:
    """Run ``command`` as the projects runner does (``bash -c``) and return the argv the
    Python program received."""
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, check=True
    )
    argv: list[str] = json.loads(done.stdout)
    return argv


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root / "show.py", ARGV_SCRIPT)
    return root


# Loading


def test_load_full_mlproject(project_dir: Path) -> None:
    write(project_dir / "python_env.yaml", "python: '3.11'\ndependencies: []\n")
    write(
        project_dir / "MLproject",
        """
        name: demo
        python_env: python_env.yaml
        entry_points:
          main:
            parameters:
              alpha: float
              l1_ratio: {type: float, default: 0.1}
              epochs: {type: int, default: 5}
              data: path
              out: {type: uri, default: "s3://bucket/out"}
              label: {default: hello}
              flag: {type: string, default: true}
            command: "python train.py --alpha {alpha} --l1 {l1_ratio}"
          other:
            command: python other.py
        """,
    )
    project = load_project(str(project_dir))
    assert project.name == "demo"
    assert project.directory == str(project_dir)
    assert project.env_type == "python_env"
    assert project.env_file == str(project_dir / "python_env.yaml")
    assert list(project.entry_points) == ["main", "other"]
    main = project.entry_points["main"]
    assert main.command == "python train.py --alpha {alpha} --l1 {l1_ratio}"
    assert main.parameters == {
        "alpha": Parameter("alpha", "float", None),
        "l1_ratio": Parameter("l1_ratio", "float", "0.1"),
        "epochs": Parameter("epochs", "int", "5"),
        "data": Parameter("data", "path", None),
        "out": Parameter("out", "uri", "s3://bucket/out"),
        "label": Parameter("label", "string", "hello"),
        "flag": Parameter("flag", "string", "True"),  # str() of YAML's true, as MLflow
    }
    assert project.entry_points["other"].parameters == {}
    assert PARAMETER_TYPES == ("float", "int", "string", "path", "uri")


def test_mlproject_name_matched_without_case(project_dir: Path) -> None:
    write(project_dir / "mlproject", "entry_points: {main: {command: echo hi}}\n")
    assert list(load_project(str(project_dir)).entry_points) == ["main"]


def test_empty_mlproject_declares_nothing(project_dir: Path) -> None:
    write(project_dir / "MLproject", "")
    project = load_project(str(project_dir))
    assert project.entry_points == {}
    assert project.env_type == "none"


def test_malformed_yaml_names_file_and_line(project_dir: Path) -> None:
    path = write(
        project_dir / "MLproject",
        """
        name: demo
        entry_points:
          main:
            command: "python x.py
            parameters: {a: float}
        """,
    )
    with pytest.raises(InvalidArgument) as info:
        load_project(str(project_dir))
    message = info.value.message
    assert str(path) in message
    assert "invalid YAML at line" in message
    line = int(message.split("at line ")[1].split(",")[0])
    assert 4 <= line <= 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "expected a mapping of keys"),
        ("entry_points: [main]\n", "'entry_points' must be a mapping"),
        ("entry_points: {main: python x.py}\n", "entry point 'main' must be a mapping"),
        ("entry_points: {main: {parameters: {a: float}}}\n", "entry point 'main' has no 'command'"),
        ("entry_points: {main: {command: 3}}\n", "'command' must be a non-empty string"),
        (
            "entry_points: {main: {command: x, parameters: {a: double}}}\n",
            "entry point 'main', parameter 'a': unknown type 'double'; expected one of "
            "float, int, string, path, uri",
        ),
        (
            "entry_points: {main: {command: x, parameters: {a: {type: float, default: abc}}}}\n",
            "Parameter 'a': expected a float, got 'abc'",
        ),
        (
            "entry_points: {main: {command: x, parameters: {a: {type: int, help: x}}}}\n",
            "parameter 'a': unknown key(s) 'help'",
        ),
        (
            "entry_points: {main: {command: x, cmd: y}}\n",
            "entry point 'main': unknown key(s) 'cmd'",
        ),
        ("name: x\nentrypoints: {}\n", "unknown key(s) 'entrypoints'"),
        ("databricks_spark_job: {python_file: a.py}\n", "not supported by mltrail"),
        ("python_env: p.yaml\nconda_env: c.yaml\n", "at most one environment"),
        ("python_env: missing.yaml\n", "'python_env' file 'missing.yaml' not found"),
        ("conda_env: ../outside.yaml\n", "outside the project folder"),
        ("docker_env: {volumes: [a]}\n", "docker_env needs an 'image'"),
        ("docker_env: {image: x, volumes: a}\n", "'volumes' must be a list of strings"),
        ("docker_env: {image: x, environment: [[A]]}\n", "'environment' must be a list"),
        ("docker_env: {image: x, ports: [80]}\n", "unknown key(s) 'ports'"),
        ("name: [x]\n", "'name' must be a string"),
    ],
)
def test_invalid_mlproject_is_a_clear_error(project_dir: Path, text: str, expected: str) -> None:
    (project_dir.parent / "outside.yaml").write_text("name: x\n")
    path = write(project_dir / "MLproject", text)
    with pytest.raises(InvalidArgument) as info:
        load_project(str(project_dir))
    assert expected in info.value.message
    if "Parameter 'a'" not in expected:
        assert str(path) in info.value.message


def test_docker_env(project_dir: Path) -> None:
    write(
        project_dir / "MLproject",
        """
        docker_env:
          image: python:3.11-slim
          volumes: ["/data:/data"]
          environment: [["NEW_VAR", "v"], "COPIED", ["N", 3]]
        entry_points: {main: {command: python show.py}}
        """,
    )
    project = load_project(str(project_dir))
    assert project.env_type == "docker_env"
    assert project.env_file is None
    assert project.docker_image == "python:3.11-slim"
    assert project.docker_volumes == ("/data:/data",)
    assert project.docker_environment == (("NEW_VAR", "v"), "COPIED", ("N", "3"))


@pytest.mark.parametrize(
    ("files", "env_type", "env_file"),
    [
        ({}, "none", None),
        ({"conda.yaml": "name: x\n"}, "conda_env", "conda.yaml"),
        ({"python_env.yaml": "python: '3.11'\n"}, "python_env", "python_env.yaml"),
        (
            {"python_env.yaml": "python: '3.11'\n", "conda.yaml": "name: x\n"},
            "python_env",
            "python_env.yaml",
        ),
    ],
)
def test_environment_without_a_key_follows_mlflows_defaults(
    project_dir: Path, files: dict[str, str], env_type: str, env_file: str | None
) -> None:
    for name, text in files.items():
        write(project_dir / name, text)
    for with_mlproject in (False, True):
        if with_mlproject:
            write(project_dir / "MLproject", "entry_points: {main: {command: echo}}\n")
        project = load_project(str(project_dir))
        assert project.env_type == env_type
        assert project.env_file == (str(project_dir / env_file) if env_file else None)


def test_missing_project_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_project(str(tmp_path / "nope"))


# Entry points without an MLproject


def test_files_run_as_entry_points(project_dir: Path) -> None:
    write(project_dir / "run me.sh", 'python show.py "$@"\n')
    project = load_project(str(project_dir))
    assert project.entry_points == {}
    py = project.entry_point("show.py")
    assert py.command == "python show.py"
    resolved = py.resolve({"alpha": "0.5", "name": "a b"})
    assert resolved.command == "python show.py --alpha 0.5 --name 'a b'"
    assert run_argv(resolved.command.replace("python", sys.executable, 1), project_dir) == [
        "--alpha",
        "0.5",
        "--name",
        "a b",
    ]
    sh = project.entry_point("run me.sh")
    assert sh.command == "bash 'run me.sh'"
    command = sh.resolve({"k": "v"}).command
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", command], cwd=project_dir, env=env, capture_output=True, text=True
    )
    assert json.loads(done.stdout) == ["--k", "v"]


def test_unknown_entry_point_lists_the_declared_ones(project_dir: Path) -> None:
    write(project_dir / "MLproject", "entry_points: {main: {command: a}, eval: {command: b}}\n")
    write(project_dir.parent / "outside.py", "print(1)\n")
    write(project_dir / "notes.txt", "x\n")
    project = load_project(str(project_dir))
    assert project.entry_point("main").command == "a"
    assert project.entry_point("../proj/show.py").command == "python ../proj/show.py"
    for name in ("train", "missing.py", "../outside.py", "/etc/passwd.py", "notes.txt"):
        with pytest.raises(InvalidArgument) as info:
            project.entry_point(name)
        assert f"Entry point {name!r} not found" in info.value.message
        assert "'main', 'eval'" in info.value.message


# Resolving commands


def main_entry(**parameters: Parameter) -> EntryPoint:
    return EntryPoint("main", "python show.py {alpha} --n {n}", dict(parameters))


def test_resolve_uses_defaults_converts_and_appends_extras_in_order() -> None:
    entry = main_entry(
        alpha=Parameter("alpha", "float", "0.5"), n=Parameter("n", "int", None)
    )
    resolved = entry.resolve({"n": " 7 ", "zeta": "z", "beta": "b c"})
    assert resolved.command == "python show.py 0.5 --n 7 --zeta z --beta 'b c'"
    assert resolved.parameters == {"alpha": "0.5", "n": "7", "zeta": "z", "beta": "b c"}
    assert list(resolved.parameters) == ["alpha", "n", "zeta", "beta"]
    # Python values (from mltrail.projects.run's parameters=) are written with str().
    assert entry.resolve({"n": 3, "alpha": 1.5}).command == "python show.py 1.5 --n 3"


def test_missing_required_parameters_are_named() -> None:
    entry = EntryPoint(
        "train",
        "python x.py {a} {b} {c}",
        {
            "a": Parameter("a", "string", None),
            "b": Parameter("b", "float", "1"),
            "c": Parameter("c", "path", None),
        },
    )
    with pytest.raises(InvalidArgument) as info:
        entry.resolve({"b": "2"})
    assert info.value.message == (
        "Entry point 'train': no value given for required parameter(s) 'a', 'c'"
    )


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("float", "0.5", True),
        ("float", "-1e-3", True),
        ("float", "3", True),
        ("float", ".5", True),
        ("float", "nan", True),
        ("float", "abc", False),
        ("float", "1,5", False),
        ("float", "", False),
        ("float", "1; rm -rf /", False),
        ("int", "42", True),
        ("int", "-3", True),
        ("int", "3.0", False),
        ("int", "1e3", False),
        ("int", "x", False),
    ],
)
def test_numbers_are_checked(kind: str, value: str, ok: bool) -> None:
    param = Parameter("alpha", kind)
    if ok:
        assert param.convert(value, None) == value.strip()
    else:
        article = "an" if kind == "int" else "a"
        with pytest.raises(InvalidArgument) as info:
            param.convert(value, None)
        assert info.value.message == (
            f"Parameter 'alpha': expected {article} {kind}, got {value!r}"
        )


def test_placeholder_of_an_undeclared_parameter_is_an_error() -> None:
    entry = EntryPoint("main", "python x.py {alpha} {beta}", {"alpha": Parameter("alpha")})
    with pytest.raises(InvalidArgument) as info:
        entry.resolve({"alpha": "1", "beta": "2"})  # given, but not declared: still an error
    assert info.value.message == (
        "Entry point 'main': the command uses {beta}, which is not a declared parameter "
        "(declared: 'alpha')"
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("python x.py {a", "the command template is malformed"),
        ("python x.py a}", "the command template is malformed"),
        ("python x.py {a:>5}", "has a format spec or conversion"),
        ("python x.py {a!r}", "has a format spec or conversion"),
        ("python x.py {}", "the command uses {}"),
    ],
)
def test_malformed_templates(command: str, expected: str) -> None:
    entry = EntryPoint("main", command, {"a": Parameter("a", "string", "x")})
    with pytest.raises(InvalidArgument, match="Entry point 'main'") as info:
        entry.resolve({})
    assert expected in info.value.message


def test_literal_braces(project_dir: Path) -> None:
    entry = EntryPoint(
        "main",
        f"{sys.executable} show.py '{{{{literal}}}}' {{a}}",
        {"a": Parameter("a", "string", "{x}")},
    )
    assert run_argv(entry.resolve({}).command, project_dir) == ["{literal}", "{x}"]


HOSTILE_VALUES = [
    "plain",
    "two words",
    "",
    "it's",
    'say "hi"',
    "a; touch {canary}",
    "$(touch {canary})",
    "`touch {canary}`",
    "${{HOME}}",
    "x && touch {canary} || touch {canary}",
    "line1\nline2\n",
    "tab\there",
    "back\\slash",
    "* ? [a-z]",
    "-n",
    "--flag=1",
    "| cat > {canary}",
    "'; touch {canary}; echo '",
    "ünïcødé ✓",
    "#not-a-comment",
    "~",
]


def test_values_reach_the_program_unchanged_and_run_nothing(
    project_dir: Path, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    values = [v.format(canary=canary) for v in HOSTILE_VALUES]
    declared = {f"p{i}": Parameter(f"p{i}") for i in range(len(values))}
    template = " ".join([sys.executable, "show.py", *(f"{{p{i}}}" for i in range(len(values)))])
    entry = EntryPoint("main", template, declared)
    given: dict[str, object] = {f"p{i}": v for i, v in enumerate(values)}
    # The same values again as undeclared parameters, with hostile names as well.
    extras = {f"x{i}": v for i, v in enumerate(values)}
    extras["name with; $(touch " + str(canary) + ")"] = "v"
    given.update(extras)
    resolved = entry.resolve(given)
    argv = run_argv(resolved.command, project_dir)
    expected = list(values)
    for key, value in extras.items():
        expected += [f"--{key}", value]
    assert argv == expected
    assert not canary.exists()
    assert resolved.parameters == {k: str(v) for k, v in given.items()}


def test_string_params_with_hostile_defaults_run_nothing(project_dir: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    write(
        project_dir / "MLproject",
        f"""
        entry_points:
          main:
            parameters:
              a: {{type: string, default: "$(touch {canary})"}}
              b: {{type: float, default: 0.5}}
            command: "{sys.executable} show.py {{a}} {{b}}"
        """,
    )
    resolved = load_project(str(project_dir)).entry_point("main").resolve({})
    assert run_argv(resolved.command, project_dir) == [f"$(touch {canary})", "0.5"]
    assert not canary.exists()


def test_empty_parameter_names_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="parameter names must be non-empty strings"):
        main_entry().resolve({"": "x"})


# path and uri parameters


def test_path_relative_to_the_callers_working_directory(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write(tmp_path / "work" / "data" / "train.csv", "a,b\n1,2\n")
    monkeypatch.chdir(tmp_path / "work")
    entry = EntryPoint(
        "main", f"{sys.executable} show.py {{data}}", {"data": Parameter("data", "path")}
    )
    storage = tmp_path / "storage"
    for value in ("data/train.csv", "./data/../data/train.csv", data.as_uri(), str(data)):
        resolved = entry.resolve({"data": value}, storage_dir=str(storage))
        assert resolved.parameters == {"data": str(data)}
        assert run_argv(resolved.command, project_dir) == [str(data)]
    assert not storage.exists()  # nothing was downloaded for local paths
    with pytest.raises(InvalidArgument) as info:
        entry.resolve({"data": "data/missing.csv"})
    assert info.value.message == (
        "Parameter 'data': no such file or folder 'data/missing.csv' "
        f"(looked for {str(tmp_path / 'work' / 'data' / 'missing.csv')!r})"
    )


def test_path_with_spaces_and_quotes_is_one_argument(project_dir: Path, tmp_path: Path) -> None:
    data = write(tmp_path / "it's a $(dir)" / "f.csv", "x\n")
    entry = EntryPoint(
        "main", f"{sys.executable} show.py {{data}}", {"data": Parameter("data", "path")}
    )
    assert run_argv(entry.resolve({"data": str(data)}).command, project_dir) == [str(data)]


def test_uri_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    param = Parameter("model", "uri")
    assert param.convert("s3://bucket/key", None) == "s3://bucket/key"
    assert param.convert("models:/m/1", None) == "models:/m/1"
    assert param.convert("runs/x", None) == str(tmp_path / "runs" / "x")
    with pytest.raises(InvalidArgument, match="Parameter 'model': expected a URI"):
        param.convert("", None)


def test_remote_path_is_downloaded_into_storage_dir(
    project_dir: Path,
    tmp_path: Path,
    s3_bucket: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3  # type: ignore[import-untyped]  # no stubs installed

    endpoint, bucket = s3_bucket
    monkeypatch.setenv("MLTRAIL_S3_ENDPOINT_URL", endpoint)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.put_object(Bucket=bucket, Key="inputs/train.csv", Body=b"a,b\n1,2\n")
    client.put_object(Bucket=bucket, Key="inputs/dir/x.txt", Body=b"x")
    client.close()
    entry = EntryPoint(
        "main",
        f"{sys.executable} show.py {{data}} {{folder}}",
        {"data": Parameter("data", "path"), "folder": Parameter("folder", "path")},
    )
    storage = tmp_path / "storage"
    uri = f"s3://{bucket}/inputs/train.csv"
    folder_uri = f"s3://{bucket}/inputs/dir"
    resolved = entry.resolve({"data": uri, "folder": folder_uri}, storage_dir=str(storage))
    data, folder = run_argv(resolved.command, project_dir)
    assert Path(data).read_bytes() == b"a,b\n1,2\n"
    assert Path(data).name == "train.csv"
    assert Path(data).is_relative_to(storage)
    assert (Path(folder) / "x.txt").read_bytes() == b"x"
    # The run's parameters record where the data came from, not the temporary copy.
    assert resolved.parameters == {"data": uri, "folder": folder_uri}
    # Without a storage folder (for logging) nothing is downloaded.
    assert entry.parameters["data"].convert(uri, None) == uri
    with pytest.raises(InvalidArgument) as info:
        entry.resolve(
            {"data": f"s3://{bucket}/inputs/missing.csv", "folder": folder_uri},
            storage_dir=str(storage),
        )
    assert info.value.message.startswith(
        f"Parameter 'data': could not download 's3://{bucket}/inputs/missing.csv'"
    )


def test_unsupported_remote_scheme(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as info:
        Parameter("data", "path").convert("nosuchscheme://x/y", str(tmp_path))
    assert "Parameter 'data': could not download 'nosuchscheme://x/y'" in info.value.message
    assert "scheme 'nosuchscheme' is not supported" in info.value.message


def test_project_is_a_frozen_value(project_dir: Path) -> None:
    project = load_project(str(project_dir))
    assert isinstance(project, Project)
    with pytest.raises(AttributeError):
        project.name = "x"  # type: ignore[misc]
