"""The fluent artifact verbs, on a local artifact root and on moto's real S3 server:
files, trees, text, dicts, figures, images, tables, and paths that try to get out."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fixtures_tracking import close_session

import mltrail as mlflow
from mltrail.entities import FileInfo
from mltrail.errors import InvalidArgument, NotFound
from mltrail.settings import Settings
from mltrail.storage.uri import close_all
from mltrail.tracking.fluent import ActiveRun, Session, use_session

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Place:
    """Where the run's artifacts live, and how to see everything the backend holds."""

    kind: str
    run: ActiveRun
    root: str  # the run's artifact URI
    tmp: Path
    bucket: str | None = None
    endpoint: str | None = None

    def read(self, path: str) -> bytes:
        local = mlflow.download_artifacts(path, dst_path=str(self.tmp / "read"))
        return Path(local).read_bytes()

    def everything(self) -> list[str]:
        """Every file the backend holds, as a full location."""
        if self.kind == "local":
            return sorted(str(p) for p in self.tmp.rglob("*") if p.is_file())
        import boto3  # type: ignore[import-untyped]  # no stubs installed

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        try:
            listing = client.list_objects_v2(Bucket=self.bucket)
        finally:
            client.close()
        return sorted(f"s3://{self.bucket}/{o['Key']}" for o in listing.get("Contents", []))


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    uri = f"sqlite:///{tmp_path / 't.db'}"
    if request.param == "local":
        settings = Settings(tracking_uri=uri)
        bucket = endpoint = None
    else:
        endpoint, bucket = request.getfixturevalue("s3_bucket")
        settings = Settings(tracking_uri=uri, s3_endpoint_url=endpoint)
    with use_session(Session(settings)) as bound:
        try:
            if bucket is not None:
                experiment_id = mlflow.create_experiment("s3", artifact_location=f"s3://{bucket}/exp")
                mlflow.set_experiment(experiment_id=experiment_id)
            run = mlflow.start_run()
            yield Place(request.param, run, run.info.artifact_uri, tmp_path, bucket, endpoint)
        finally:
            close_session(bound)
    close_all()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    top = tmp_path / "source" / "data"
    (top / "sub").mkdir(parents=True)
    (top / "a.txt").write_text("alpha")
    (top / "sub" / "b.txt").write_text("bravo")
    return top


def paths(infos: list[FileInfo]) -> list[str]:
    return [info.path for info in infos]


def test_the_run_lives_where_its_experiment_says(place: Place) -> None:
    if place.kind == "s3":
        assert place.root == f"s3://{place.bucket}/exp/{place.run.info.run_id}/artifacts"
    else:
        assert place.root == (place.tmp / "mlartifacts" / "0" / place.run.info.run_id / "artifacts").as_uri()
    assert mlflow.get_artifact_uri() == place.root
    assert mlflow.get_artifact_uri("plots/a.png") == f"{place.root}/plots/a.png"


def test_log_artifact_of_a_file(place: Place, tree: Path) -> None:
    mlflow.log_artifact(str(tree / "a.txt"))
    mlflow.log_artifact(str(tree / "sub" / "b.txt"), "deep/er")
    assert paths(mlflow.list_artifacts()) == ["a.txt", "deep"]
    assert paths(mlflow.list_artifacts("deep/er")) == ["deep/er/b.txt"]
    assert place.read("a.txt") == b"alpha"
    assert place.read("deep/er/b.txt") == b"bravo"


def test_log_artifact_of_a_directory(place: Place, tree: Path) -> None:
    mlflow.log_artifact(str(tree))
    mlflow.log_artifact(str(tree), "nested")
    assert paths(mlflow.list_artifacts()) == ["data", "nested"]
    assert paths(mlflow.list_artifacts("data")) == ["data/a.txt", "data/sub"]
    assert place.read("data/sub/b.txt") == b"bravo"
    assert place.read("nested/data/a.txt") == b"alpha"


def test_log_artifacts(place: Place, tree: Path) -> None:
    mlflow.log_artifacts(str(tree))
    mlflow.log_artifacts(str(tree), "copy")
    assert paths(mlflow.list_artifacts()) == ["a.txt", "copy", "sub"]
    assert paths(mlflow.list_artifacts("copy/sub")) == ["copy/sub/b.txt"]
    assert place.read("copy/sub/b.txt") == b"bravo"


def test_list_artifacts(place: Place, tree: Path) -> None:
    assert mlflow.list_artifacts() == []
    mlflow.log_artifacts(str(tree))
    listing = mlflow.list_artifacts()
    assert listing == [FileInfo("a.txt", False, 5), FileInfo("sub", True, None)]
    assert mlflow.list_artifacts("nothing-here") == []
    assert mlflow.list_artifacts(run_id=place.run.info.run_id) == listing


def test_download_artifacts(place: Place, tree: Path, tmp_path: Path) -> None:
    mlflow.log_artifacts(str(tree), "data")
    target = Path(mlflow.download_artifacts("data", dst_path=str(tmp_path / "out")))
    assert target == tmp_path / "out" / "data"
    assert (target / "a.txt").read_text() == "alpha"
    assert (target / "sub" / "b.txt").read_text() == "bravo"
    single = Path(mlflow.download_artifacts("data/sub/b.txt"))
    assert single.read_text() == "bravo"
    assert single.parts[-3:] == ("data", "sub", "b.txt")
    with pytest.raises(NotFound, match="No artifact at 'missing.txt'"):
        mlflow.download_artifacts("missing.txt")


def test_log_text(place: Place) -> None:
    mlflow.log_text("héllo\nworld", "notes/readme.txt")
    mlflow.log_text("top", "top.md")
    assert place.read("notes/readme.txt").decode("utf-8") == "héllo\nworld"
    assert place.read("top.md") == b"top"


@pytest.mark.parametrize("name", ["config.yaml", "config.yml", "conf/config.YAML"])
def test_log_dict_as_yaml(place: Place, name: str) -> None:
    config = {"model": {"depth": 3, "layers": ["a", "b"]}, "lr": 0.1}
    mlflow.log_dict(config, name)
    text = place.read(name).decode()
    assert yaml.safe_load(text) == config
    assert not text.lstrip().startswith("{")  # block style, not JSON


@pytest.mark.parametrize("name", ["config.json", "config.txt"])
def test_log_dict_as_json(place: Place, name: str) -> None:
    config = {"model": {"depth": 3}, "lr": 0.1, "tags": ["x"]}
    mlflow.log_dict(config, name)
    assert json.loads(place.read(name)) == config


def test_log_figure_matplotlib_png(place: Place) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1), dpi=50)
    figure.subplots().plot([1, 2, 3], [3, 1, 2])
    mlflow.log_figure(figure, "plots/curve.png")
    data = place.read("plots/curve.png")
    assert data.startswith(PNG_SIGNATURE)
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (100, 50)


def test_log_figure_matplotlib_svg(place: Place) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure()
    figure.subplots().bar(["a", "b"], [1, 2])
    mlflow.log_figure(figure, "bars.svg")
    assert b"<svg" in place.read("bars.svg")


def test_log_figure_refuses_a_format_it_cannot_write(place: Place) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure()
    figure.subplots().plot([1, 2])
    with pytest.raises(InvalidArgument, match="log_figure cannot write 'plot.nope'"):
        mlflow.log_figure(figure, "plot.nope")
    assert mlflow.list_artifacts() == []


def test_log_figure_plotly_html(place: Place) -> None:
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 1, 2], name="loss-curve"))
    mlflow.log_figure(figure, "plots/interactive.html")
    html = place.read("plots/interactive.html").decode()
    assert html.lstrip().lower().startswith(("<html", "<!doctype html"))
    assert html.rstrip().endswith("</html>")
    assert "loss-curve" in html
    assert "plotly" in html.lower()


def test_log_figure_refuses_other_objects(place: Place) -> None:
    with pytest.raises(InvalidArgument, match="matplotlib or plotly figure, not dict"):
        mlflow.log_figure({"not": "a figure"}, "x.png")
    assert mlflow.list_artifacts() == []


def read_png(place: Place, name: str) -> object:
    from PIL import Image

    data = place.read(name)
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_log_image_from_a_uint8_array(place: Place) -> None:
    import numpy as np

    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[1, 2] = [255, 128, 7]
    mlflow.log_image(pixels, "images/rgb.png")
    image = read_png(place, "images/rgb.png")
    assert image.size == (6, 4)  # type: ignore[attr-defined]
    assert image.mode == "RGB"  # type: ignore[attr-defined]
    assert np.array_equal(np.asarray(image), pixels)


def test_log_image_from_a_float_array(place: Place) -> None:
    import numpy as np

    pixels = np.full((5, 3), 0.5)
    pixels[0, 0] = 1.0
    pixels[4, 2] = 0.0
    mlflow.log_image(pixels, "gray.png")
    image = read_png(place, "gray.png")
    assert image.size == (3, 5)  # type: ignore[attr-defined]
    assert image.mode == "L"  # type: ignore[attr-defined]
    values = np.asarray(image)
    assert (values[0, 0], values[2, 1], values[4, 2]) == (255, 128, 0)


def test_log_image_from_a_pil_image(place: Place) -> None:
    from PIL import Image

    original = Image.new("RGBA", (7, 2), (10, 20, 30, 40))
    mlflow.log_image(original, "pil.png")
    image = read_png(place, "pil.png")
    assert image.size == (7, 2)  # type: ignore[attr-defined]
    assert image.getpixel((6, 1)) == (10, 20, 30, 40)  # type: ignore[attr-defined]


BAD_PIXELS = [
    ([1, 2, 3], r"got \(3,\)"),
    ([[[0, 0]]], r"got \(1, 1, 2\)"),
    ([[1.5, 0.0]], r"float pixel values must lie in \[0, 1\]"),
    ([[300, 0]], r"integer pixel values must lie in \[0, 255\]"),
    ([["a", "b"]], "unsupported pixel type"),
]


def test_log_image_refuses_bad_arrays(place: Place) -> None:
    for pixels, message in BAD_PIXELS:
        with pytest.raises(InvalidArgument, match=message):
            mlflow.log_image(pixels, "bad.png")
    assert mlflow.list_artifacts() == []


def test_log_image_refuses_an_unknown_extension(place: Place) -> None:
    import numpy as np

    with pytest.raises(InvalidArgument, match="image.nope"):
        mlflow.log_image(np.zeros((2, 2), dtype=np.uint8), "image.nope")
    assert mlflow.list_artifacts() == []


def test_log_table_and_load_table(place: Place) -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "c"], "p": [0.5, 0.25, 1.0]})
    mlflow.log_table(frame, "tables/preds.json")
    mlflow.log_table({"k": [1, 2], "ok": [True, False]}, "from_dict.json")
    payload = json.loads(place.read("tables/preds.json"))
    assert payload["columns"] == ["x", "label", "p"]
    assert payload["data"] == [[1, "a", 0.5], [2, "b", 0.25], [3, "c", 1.0]]
    loaded = mlflow.load_table("tables/preds.json")
    run_id = place.run.info.run_id
    pd.testing.assert_frame_equal(loaded.drop(columns=["run_id"]), frame)
    assert list(loaded["run_id"]) == [run_id] * 3
    from_dict = mlflow.load_table("from_dict.json", run_ids=[run_id])
    assert list(from_dict["k"]) == [1, 2]
    assert list(from_dict["ok"]) == [True, False]


def test_load_table_stacks_several_runs(place: Place) -> None:
    first = place.run.info.run_id
    mlflow.log_table({"v": [1]}, "t.json")
    mlflow.end_run()
    with mlflow.start_run(experiment_id=place.run.info.experiment_id) as second:
        mlflow.log_table({"v": [2, 3]}, "t.json")
    stacked = mlflow.load_table("t.json", run_ids=[first, second.info.run_id])
    assert list(stacked["v"]) == [1, 2, 3]
    assert list(stacked["run_id"]) == [first, second.info.run_id, second.info.run_id]


def test_log_table_refuses_other_formats_and_data(place: Place) -> None:
    with pytest.raises(InvalidArgument, match="must end in .json, got 'preds.csv'"):
        mlflow.log_table({"a": [1]}, "preds.csv")
    with pytest.raises(InvalidArgument, match="DataFrame or a dict of columns, not list"):
        mlflow.log_table([1, 2], "t.json")
    assert mlflow.list_artifacts() == []


def test_the_verbs_take_an_explicit_run_id(place: Place, tree: Path) -> None:
    other = place.run.info.run_id
    mlflow.end_run()
    with mlflow.start_run(experiment_id=place.run.info.experiment_id):
        mlflow.log_text("to the other run", "t.txt", run_id=other)
        mlflow.log_artifact(str(tree / "a.txt"), run_id=other)
        assert mlflow.list_artifacts() == []
    assert paths(mlflow.list_artifacts(run_id=other)) == ["a.txt", "t.txt"]


# Paths that try to leave the run's artifact root

BAD_FILE_NAMES = [
    ("../escape.txt", "'..' segments are not allowed"),
    ("a/../../escape.txt", "'..' segments are not allowed"),
    ("..", "'..' segments are not allowed"),
    ("notes/..", "'..' segments are not allowed"),
    ("/tmp/escape.txt", "absolute paths are not allowed"),
    ("C:/escape.txt", "absolute paths are not allowed"),
    ("s3://other-bucket/escape.txt", "URL schemes are not allowed"),
    ("", "names the artifact root, not a file"),
    (".", "names the artifact root, not a file"),
    ("notes/", "names a directory, not a file"),
]


@pytest.mark.parametrize(("name", "message"), BAD_FILE_NAMES)
def test_bad_artifact_files_are_refused_by_every_verb(
    place: Place, name: str, message: str
) -> None:
    import numpy as np

    before = place.everything()
    with pytest.raises(InvalidArgument, match=message):
        mlflow.log_text("escaped", name)
    with pytest.raises(InvalidArgument, match=message):
        mlflow.log_dict({"escaped": True}, name)
    with pytest.raises(InvalidArgument, match=message):
        mlflow.log_table({"escaped": [1]}, name)
    with pytest.raises(InvalidArgument, match=message):
        mlflow.log_image(np.zeros((2, 2), dtype=np.uint8), name)
    assert place.everything() == before
    assert mlflow.list_artifacts() == []


BAD_DIRECTORIES = [
    ("..", "'..' segments are not allowed"),
    ("../up", "'..' segments are not allowed"),
    ("ok/../../up", "'..' segments are not allowed"),
    ("/abs", "absolute paths are not allowed"),
    ("%2e%2e/up", "percent-encoded characters are not allowed"),
]


@pytest.mark.parametrize(("directory", "message"), BAD_DIRECTORIES)
def test_bad_artifact_paths_are_refused_by_every_verb(
    place: Place, tree: Path, directory: str, message: str
) -> None:
    before = place.everything()
    with pytest.raises(InvalidArgument, match=message):
        mlflow.log_artifact(str(tree / "a.txt"), directory)
    with pytest.raises(InvalidArgument, match=message):
        mlflow.log_artifact(str(tree), directory)
    with pytest.raises(InvalidArgument, match=message):
        mlflow.log_artifacts(str(tree), directory)
    with pytest.raises(InvalidArgument, match=message):
        mlflow.list_artifacts(directory)
    with pytest.raises(InvalidArgument, match=message):
        mlflow.download_artifacts(directory, dst_path=str(place.tmp / "dl"))
    with pytest.raises(InvalidArgument, match=message):
        mlflow.get_artifact_uri(directory)
    assert place.everything() == before
    assert mlflow.list_artifacts() == []
    assert not (place.tmp / "up").exists()


def test_nothing_lands_beside_the_run(place: Place, tree: Path) -> None:
    mlflow.log_text("inside", "a/b/c.txt")
    mlflow.log_artifacts(str(tree), "data")
    written = [f for f in place.everything() if not f.startswith(str(place.tmp / "source"))]
    if place.kind == "local":
        written = [f for f in written if not f.startswith(str(place.tmp / "t.db"))]
        prefix = str(place.tmp / "mlartifacts" / "0" / place.run.info.run_id / "artifacts") + os.sep
    else:
        prefix = place.root + "/"
    assert written and all(f.startswith(prefix) for f in written), written
    assert sorted(f[len(prefix) :].replace(os.sep, "/") for f in written) == [
        "a/b/c.txt",
        "data/a.txt",
        "data/sub/b.txt",
    ]


def test_a_missing_local_file_is_refused(place: Place, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not an existing regular file"):
        mlflow.log_artifact(str(tmp_path / "missing.bin"))
    with pytest.raises(InvalidArgument, match="not an existing directory"):
        mlflow.log_artifacts(str(tmp_path / "missing-dir"))
