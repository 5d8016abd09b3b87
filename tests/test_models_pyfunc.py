"""Custom models through pyfunc: a PythonModel with artifacts and params, a plain function,
a loader module of your own saved with its code, and signatures checked at predict time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import mltrail
from mltrail.errors import InvalidArgument
from mltrail.pyfunc import PythonModel, PythonModelContext
from mltrail.tracking.fluent import Session


class Scaler(PythonModel):
    """Multiplies the input by a factor read from an artifact, plus an optional offset."""

    def load_context(self, context: PythonModelContext) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())
        self.config = context.model_config

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        offset = (params or {}).get("offset", 0.0)
        return model_input["x"] * self.factor + offset


def test_a_python_model_loads_its_artifacts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "factor.txt").write_text("3")
    mltrail.pyfunc.save_model(
        str(tmp_path / "m"),
        python_model=Scaler(),
        artifacts={"factor": str(tmp_path / "factor.txt")},
        model_config={"unit": "cm"},
    )
    (tmp_path / "factor.txt").write_text("100")  # the model keeps its own copy

    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert list(model.predict(frame)) == [3.0, 6.0]
    # As in MLflow, a model whose signature declares no params gets none (with a warning).
    assert list(model.predict(frame, params={"offset": 1.0})) == [3.0, 6.0]
    assert "offset" in caplog.text
    inner = model.unwrap_python_model()
    assert isinstance(inner, Scaler) and inner.config == {"unit": "cm"}
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["python_function"]
    assert conf["loader_module"] == "mltrail.pyfunc"
    assert conf["artifacts"]["factor"]["path"] == os.path.join("artifacts", "factor", "factor.txt")


def test_a_plain_function_is_a_model(tmp_path: Path) -> None:
    mltrail.pyfunc.save_model(str(tmp_path / "m"), python_model=lambda frame: frame.sum(axis=1))
    frame = pd.DataFrame({"a": [1, 2], "b": [10, 20]})
    assert list(mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(frame)) == [11, 22]


def test_a_python_model_with_a_signature_checks_its_input(tmp_path: Path) -> None:
    from mltrail.models.signature import infer_signature

    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 1.0]})
    (tmp_path / "factor.txt").write_text("2")
    mltrail.pyfunc.save_model(
        str(tmp_path / "m"),
        python_model=Scaler(),
        artifacts={"factor": str(tmp_path / "factor.txt")},
        signature=infer_signature(frame, params={"offset": 0.0}),
    )
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))

    assert list(model.predict(pd.DataFrame({"x": [1, 2], "y": [0, 0]}))) == [2.0, 4.0]  # ints widen
    assert list(model.predict(frame, params={"offset": 1.0})) == [3.0, 5.0]
    with pytest.raises(InvalidArgument, match="'y'"):
        model.predict(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InvalidArgument, match="offset"):
        model.predict(frame, params={"offset": "far"})


def test_an_input_example_gives_the_signature_and_is_saved(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    (tmp_path / "factor.txt").write_text("2")
    mltrail.pyfunc.save_model(
        str(tmp_path / "m"),
        python_model=Scaler(),
        artifacts={"factor": str(tmp_path / "factor.txt")},
        input_example=frame,
    )
    meta = mltrail.pyfunc.load_model(str(tmp_path / "m")).metadata
    assert meta.signature is not None and meta.signature.inputs is not None
    assert meta.signature.inputs.input_names() == ["x"]
    assert meta.signature.outputs is not None  # from scoring the example
    assert meta.saved_input_example_info is not None
    assert (tmp_path / "m" / meta.saved_input_example_info["artifact_path"]).is_file()


def test_a_loader_module_of_your_own_travels_with_the_model(tmp_path: Path) -> None:
    """Journey 5: ``log_model("model", loader_module="utils", code_path=["."])``, loaded in
    a fresh process where ``utils`` exists only inside the model."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "utils.py").write_text(
        textwrap.dedent(
            """
            import os

            class Doubler:
                def predict(self, frame):
                    return frame * 2

            def _load_pyfunc(path):
                assert os.path.isdir(path)
                return Doubler()
            """
        )
    )
    (project / "train.py").write_text(
        textwrap.dedent(
            f"""
            import mltrail
            mltrail.set_tracking_uri("sqlite:///{tmp_path / 'store.db'}")
            with mltrail.start_run() as run:
                mltrail.pyfunc.log_model("model", loader_module="utils", code_path=["."])
            print(run.info.run_id)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    (project / "utils.py").unlink()

    load = textwrap.dedent(
        f"""
        import pandas as pd, mltrail
        mltrail.set_tracking_uri("sqlite:///{tmp_path / 'store.db'}")
        model = mltrail.pyfunc.load_model("runs:/{run_id}/model")
        print(model.predict(pd.DataFrame({{"a": [1, 2]}}))["a"].tolist())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", load], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "[2,4]" or done.stdout.strip().endswith("[2, 4]")


def test_custom_models_refuse_unclear_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="exactly one of python_model or loader_module"):
        mltrail.pyfunc.save_model(str(tmp_path / "a"))
    with pytest.raises(InvalidArgument, match="PythonModel instance or a function"):
        mltrail.pyfunc.save_model(str(tmp_path / "b"), python_model=42)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="artifact name"):
        mltrail.pyfunc.save_model(
            str(tmp_path / "c"), python_model=Scaler(), artifacts={"../x": str(tmp_path)}
        )
    with pytest.raises(InvalidArgument, match="code_paths or code_path"):
        mltrail.pyfunc.save_model(
            str(tmp_path / "d"), loader_module="m", code_paths=["."], code_path=["."]
        )
    assert sorted(os.listdir(tmp_path)) == []


def test_log_model_of_a_python_model_in_a_run(session: Session, tmp_path: Path) -> None:
    (tmp_path / "factor.txt").write_text("5")
    with mltrail.start_run() as run:
        info = mltrail.pyfunc.log_model(
            name="scaler", python_model=Scaler(), artifacts={"factor": str(tmp_path / "factor.txt")}
        )
    model = mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/scaler")
    assert list(model.predict(pd.DataFrame({"x": [1.0]}))) == [5.0]
    assert mltrail.pyfunc.load_model(info.model_uri).metadata.model_id == info.model_id


def test_numpy_input_reaches_a_model_without_signature_unchanged(tmp_path: Path) -> None:
    mltrail.pyfunc.save_model(str(tmp_path / "m"), python_model=lambda a: a.shape)
    assert mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(np.zeros((3, 4))) == (3, 4)


def test_a_third_party_flavor_plugs_in_through_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution declaring ``[mltrail.flavor] tinyflavor = tiny_flavor``."""
    from mltrail.models.flavors import flavor_module

    (tmp_path / "tiny_flavor.py").write_text(
        "def _load_pyfunc(path):\n    return None\n\nNAME = 'tiny'\n"
    )
    dist = tmp_path / "tiny_flavor-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-flavor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mltrail.flavor]\ntinyflavor = tiny_flavor\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    assert flavor_module("tinyflavor").NAME == "tiny"
    assert flavor_module("sklearn").__name__ == "mltrail.models.flavors.sklearn"
    with pytest.raises(InvalidArgument, match="Unknown flavor 'nope'.*mltrail.flavor"):
        flavor_module("nope")
