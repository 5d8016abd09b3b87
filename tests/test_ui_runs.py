"""The run page and the compare page, in a real browser against a real server.

One server for the module, seeded through the REST client: three finished runs with params,
metrics, tags and artifacts (text, CSV, JSON, an MLmodel, an HTML page that tries to reach its
parent), a child run, a RUNNING run, and a run whose name, param and tag are an XSS attempt.
Tests that change a run use a run of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from mltrail import MltrailClient
from mltrail.entities import Metric, Param, RunTag
from fixtures_server import SeededServer, start_server_in

XSS = "<img src=x onerror=alert(1)>"
MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mltrail.models.sklearn
    python_version: 3.11.4
  sklearn:
    sklearn_version: 1.5.0
signature:
  inputs: '[{"type": "double", "name": "sepal_length", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
"""
EVIL_HTML = """<html><head><title>report</title></head><body><h1>Report body</h1>
<script>try { parent.document.title = "pwned"; } catch (e) {}</script></body></html>"""


@dataclass
class Seeded(SeededServer):
    client: MltrailClient
    experiment_id: str
    alpha: str
    beta: str
    gamma: str
    child: str
    running: str

    def new_run(self, name: str) -> str:
        run = self.client.create_run(self.experiment_id, run_name=name)
        return run.info.run_id


def _log(client: MltrailClient, run_id: str, params: dict[str, str], loss_scale: float) -> None:
    base = 1_700_000_000_000
    metrics = [Metric("loss", loss_scale / (step + 1), base + step * 1000, step)
               for step in range(50)]
    metrics += [Metric("acc", 1 - loss_scale / (step + 2), base + step * 1000, step)
                for step in range(50)]
    client.log_batch(run_id, metrics=metrics,
                     params=[Param(k, v) for k, v in params.items()], synchronous=True)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    root: Path = tmp_path_factory.mktemp("ui_runs")
    server = start_server_in(root)
    client = MltrailClient(server.url)
    experiment_id = client.create_experiment("ui-runs")
    runs = {}
    for name, lr, scale in (("alpha", "0.1", 1.0), ("beta", "0.01", 2.0), (XSS, "0.001", 3.0)):
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        _log(client, run_id, {"lr": lr, "layers": "2", "optimizer": XSS if name == XSS else "adam"},
             scale)
        client.set_tag(run_id, "team", "vision", synchronous=True)
        client.set_tag(run_id, "mlflow.source.name", "train.py", synchronous=True)
        client.set_tag(run_id, "mlflow.source.git.commit", "abc1234", synchronous=True)
        client.set_terminated(run_id, "FINISHED")
        runs[name] = run_id
    alpha = runs["alpha"]
    client.set_tag(alpha, "remark", XSS, synchronous=True)
    client.log_text(alpha, "hello from the training log\nepoch 1 done\n", "notes.txt")
    client.log_text(alpha, "name,score\nada,0.9\nbob,0.7\n", "data/table.csv")
    client.log_text(alpha, '{"b": 1, "a": [1, 2]}', "config.json")
    client.log_text(alpha, EVIL_HTML, "report.html")
    client.log_text(alpha, MLMODEL, "model/MLmodel")
    child = client.create_run(
        experiment_id, run_name="alpha-child", tags={"mlflow.parentRunId": alpha}
    ).info.run_id
    running = client.create_run(experiment_id, run_name="live-run").info.run_id
    client.log_metric(running, "loss", 1.0, step=0, synchronous=True)
    yield Seeded(server, client, experiment_id, alpha, runs["beta"], runs[XSS], child, running)
    client.close()
    server.stop()


def _no_dialogs(page: Any) -> list[str]:
    dialogs: list[str] = []

    def record(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return dialogs


# -- the run page ----------------------------------------------------------------------------


def test_run_page_shows_overview_params_metrics_and_tags(seeded: Seeded, page: Any) -> None:
    page.goto(f"{seeded.url}/runs/{seeded.alpha}")
    expect(page.get_by_role("heading", name="alpha", exact=True)).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_have_text("FINISHED")
    expect(page.get_by_role("link", name="ui-runs").first).to_have_attribute(
        "href", f"/experiments/{seeded.experiment_id}"
    )
    overview = page.get_by_role("region", name="Overview")
    expect(overview.get_by_text("train.py")).to_be_visible()
    expect(overview.get_by_text("abc1234")).to_be_visible()
    params = page.get_by_test_id("params-table")
    expect(params.get_by_role("row", name="lr 0.1")).to_be_visible()
    metrics = page.get_by_test_id("metrics-table")
    expect(metrics.get_by_role("row", name="loss 0.02")).to_be_visible()
    tags = page.get_by_test_id("tags-table")
    expect(tags.get_by_role("row", name="team vision")).to_be_visible()
    # System tags hide behind the toggle.
    system = tags.get_by_role("cell", name="mlflow.source.name")
    expect(system).to_be_hidden()
    page.get_by_label("Show system tags").check()
    expect(system).to_be_visible()
    # The child run is listed and links back.
    page.get_by_role("link", name="alpha-child").click()
    expect(page.get_by_role("link", name="alpha", exact=True)).to_be_visible()


def test_description_edit_persists(seeded: Seeded, page: Any) -> None:
    run_id = seeded.new_run("described")
    page.goto(f"{seeded.url}/runs/{run_id}")
    page.get_by_label("Notes on this run").fill("Baseline with a <b>bold</b> idea")
    page.get_by_role("button", name="Save description").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    page.reload()
    expect(page.get_by_label("Notes on this run")).to_have_value("Baseline with a <b>bold</b> idea")
    assert seeded.client.get_run(run_id).data.tags["mlflow.note.content"].startswith("Baseline")


def test_add_and_remove_a_tag(seeded: Seeded, page: Any) -> None:
    run_id = seeded.new_run("tagged")
    page.goto(f"{seeded.url}/runs/{run_id}")
    page.get_by_label("Key").fill("stage")
    page.get_by_label("Value").fill("candidate")
    page.get_by_role("button", name="Add tag").click()
    tags = page.get_by_test_id("tags-table")
    expect(tags.get_by_role("row", name="stage candidate")).to_be_visible()
    page.get_by_role("button", name="Remove tag stage").click()
    expect(tags.get_by_role("row", name="stage candidate")).to_have_count(0)
    assert "stage" not in seeded.client.get_run(run_id).data.tags
    # The server's refusal is shown, and nothing is added.
    page.get_by_label("Key").fill(XSS)
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid tag key")
    expect(tags.get_by_role("cell", name=XSS)).to_have_count(0)


def test_metric_chart_draws_switches_axes_and_zooms(seeded: Seeded, page: Any) -> None:
    page.goto(f"{seeded.url}/runs/{seeded.alpha}")
    figure = page.locator('figure[data-metric="loss"]')
    figure.scroll_into_view_if_needed()  # charts load as they come into view
    expect(figure.locator("canvas")).to_have_count(1)
    legend = figure.locator(".u-legend")
    expect(legend).to_contain_text("alpha")
    expect(legend).to_contain_text("step")
    page.get_by_label("X axis").select_option("wall")
    expect(legend).to_contain_text("wall time")
    page.get_by_label("X axis").select_option("relative")
    expect(legend).to_contain_text("seconds since start")
    page.get_by_label("Log scale").check()
    expect(figure.locator("canvas")).to_have_count(1)
    page.get_by_label("Log scale").uncheck()
    page.get_by_label("Smoothing").fill("0.8")
    expect(page.locator("#smoothing-value")).to_have_text("0.8")
    # Back on steps, a drag-select fetches the zoomed range in detail.
    page.get_by_label("X axis").select_option("step")
    expect(legend).to_contain_text("step")
    over = figure.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    with page.expect_request(re.compile(r"get-history-bulk-interval.*start_step=")) as request:
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
    assert "loss" in request.value.url
    expect(figure.locator("canvas")).to_have_count(1)
    figure.get_by_role("button", name="Reset zoom").click()
    expect(figure.locator("canvas")).to_have_count(1)


def test_artifacts_browser_previews_text_csv_json_and_mlmodel(seeded: Seeded, page: Any) -> None:
    page.goto(f"{seeded.url}/runs/{seeded.alpha}")
    listing = page.get_by_test_id("artifact-list")
    expect(listing.get_by_role("button", name="notes.txt")).to_be_visible()
    expect(listing.get_by_role("link", name="Download notes.txt")).to_have_attribute(
        "href", re.compile(r"/get-artifact\?path=notes.txt&run_uuid=")
    )
    listing.get_by_role("button", name="notes.txt").click()
    expect(page.get_by_test_id("text-preview")).to_contain_text("hello from the training log")
    listing.get_by_role("button", name="config.json").click()
    expect(page.get_by_test_id("text-preview")).to_contain_text('"a": [\n    1,')
    listing.get_by_role("button", name="data/").click()
    page.get_by_role("button", name="table.csv").click()
    table = page.get_by_test_id("csv-table")
    expect(table.get_by_role("columnheader", name="score")).to_be_visible()
    expect(table.get_by_role("row", name="ada 0.9")).to_be_visible()
    page.get_by_role("button", name="Up").click()
    page.get_by_test_id("artifact-list").get_by_role("button", name="model/").click()
    page.get_by_role("button", name="MLmodel").click()
    mlmodel = page.get_by_test_id("mlmodel")
    expect(mlmodel.get_by_text("python_function", exact=True)).to_be_visible()
    expect(mlmodel.get_by_text("sklearn", exact=True)).to_be_visible()
    expect(mlmodel.get_by_role("row", name="sepal_length double")).to_be_visible()


def test_html_artifact_is_sandboxed(seeded: Seeded, page: Any) -> None:
    page.goto(f"{seeded.url}/runs/{seeded.alpha}")
    title = page.title()
    page.get_by_test_id("artifact-list").get_by_role("button", name="report.html").click()
    frame = page.locator("iframe.preview-frame")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe.preview-frame").get_by_role("heading")).to_have_text(
        "Report body"
    )
    assert page.title() == title == "alpha · mltrail"
    src = frame.get_attribute("src")
    response = httpx.get(f"{seeded.url}{src}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("sandbox")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_running_run_refreshes_on_its_own(seeded: Seeded, page: Any) -> None:
    page.goto(f"{seeded.url}/runs/{seeded.running}")
    expect(page.get_by_test_id("run-status")).to_have_text("RUNNING")
    seeded.client.log_metric(seeded.running, "throughput", 42.0, step=1, synchronous=True)
    seeded.client.set_terminated(seeded.running, "FINISHED")
    metrics = page.get_by_test_id("metrics-table")
    expect(metrics.get_by_role("row", name="throughput 42")).to_be_visible(timeout=9000)
    expect(page.get_by_test_id("run-status")).to_have_text("FINISHED")


def test_xss_in_names_params_and_tags_shows_as_text(seeded: Seeded, page: Any) -> None:
    dialogs = _no_dialogs(page)
    page.goto(f"{seeded.url}/runs/{seeded.gamma}")
    expect(page.get_by_role("heading", name=XSS)).to_be_visible()
    expect(page.get_by_test_id("params-table").get_by_role("cell", name=XSS)).to_be_visible()
    page.goto(f"{seeded.url}/runs/{seeded.alpha}")
    tags = page.get_by_test_id("tags-table")
    expect(tags.get_by_role("row", name=f"remark {XSS}")).to_be_visible()
    page.goto(f"{seeded.url}/compare?runs={seeded.alpha},{seeded.gamma}")
    expect(page.get_by_role("link", name=XSS)).to_be_visible()
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []
    body = httpx.get(f"{seeded.url}/runs/{seeded.gamma}").text
    assert XSS not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


# -- compare ---------------------------------------------------------------------------------


def test_compare_three_runs(seeded: Seeded, page: Any) -> None:
    page.goto(f"{seeded.url}/compare?runs={seeded.alpha},{seeded.beta},{seeded.gamma}")
    expect(page.get_by_role("heading", name="Compare 3 runs")).to_be_visible()
    table = page.locator("#compare-table")
    expect(table.get_by_role("columnheader", name="beta")).to_be_visible()
    lr_row = table.get_by_role("row", name=re.compile(r"param lr"))
    expect(lr_row).to_contain_text("0.01")
    layers = table.get_by_role("row", name=re.compile(r"param layers"))
    expect(layers).to_be_visible()
    page.get_by_label("Only differences").check()
    expect(layers).to_be_hidden()
    expect(lr_row).to_be_visible()
    page.get_by_label("Only differences").uncheck()
    expect(layers).to_be_visible()
    # Overlaid curves: a series per run in one chart.
    loss = page.locator('#compare-charts figure[data-metric="loss"]')
    expect(loss.locator("canvas")).to_have_count(1)
    for name in ("alpha", "beta", XSS):
        expect(loss.locator(".u-legend")).to_contain_text(name)
    # Unchecking a metric removes its chart; checking it again draws it again.
    acc = page.locator('#compare-charts figure[data-metric="acc"]')
    expect(acc.locator("canvas")).to_have_count(1)
    page.get_by_role("checkbox", name="acc").uncheck()
    expect(acc).to_have_count(0)
    page.get_by_role("checkbox", name="acc").check()
    expect(acc.locator("canvas")).to_have_count(1)
    # The scatter of one field against another.
    scatter = page.locator("#scatter")
    expect(scatter.locator("circle.dot")).to_have_count(3)
    page.get_by_label("X", exact=True).select_option("param: lr")
    page.get_by_label("Y", exact=True).select_option("metric: loss")
    expect(scatter.locator("svg")).to_have_attribute(
        "aria-label", "Scatter of metric: loss against param: lr, 3 runs")
    expect(scatter.locator("circle.dot title").first).to_contain_text("param: lr")
    # Runs sharing an x (every run has 2 layers) are all drawn.
    page.get_by_label("X", exact=True).select_option("param: layers")
    expect(scatter.locator("circle.dot")).to_have_count(3)
    # Parallel coordinates: an axis per varying field, a line per run.
    expect(page.locator("#parallel path.pc-line")).to_have_count(3)
    expect(page.locator("#parallel text.pc-label", has_text="param: lr")).to_have_count(1)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "at least 2 runs"),
        ("RUN", 400, "at least 2 runs"),
        ("many", 400, "at most 100 runs"),
        ("unknown", 404, "No run with id"),
    ],
)
def test_compare_refuses_bad_input(seeded: Seeded, query: str, status: int, message: str) -> None:
    runs = {
        "": "",
        "RUN": seeded.alpha,
        "many": ",".join(f"r{i}" for i in range(101)),
        "unknown": f"{seeded.alpha},deadbeef",
    }[query]
    response = httpx.get(f"{seeded.url}/compare", params={"runs": runs})
    assert response.status_code == status
    assert message in response.text
    assert 'class="error-box"' in response.text


def test_unknown_run_and_bad_artifact_paths(seeded: Seeded) -> None:
    response = httpx.get(f"{seeded.url}/runs/0123456789abcdef")
    assert response.status_code == 404
    assert "error-box" in response.text
    base = f"{seeded.url}/runs/{seeded.alpha}"
    assert httpx.get(f"{base}/preview", params={"path": "../etc/passwd"}).status_code == 400
    assert httpx.get(f"{base}/preview", params={"path": "missing.txt"}).status_code == 404
    framed = httpx.get(f"{base}/artifact-frame", params={"path": "notes.txt"})
    assert framed.status_code == 400
    assert framed.headers["content-type"].startswith("text/plain")


def test_live_fragment_polls_only_while_running(seeded: Seeded) -> None:
    run_id = seeded.new_run("polled")
    fragment = httpx.get(f"{seeded.url}/runs/{run_id}/live").text
    assert 'hx-trigger="every 5s"' in fragment
    seeded.client.set_terminated(run_id, "FINISHED")
    assert "hx-trigger" not in httpx.get(f"{seeded.url}/runs/{run_id}/live").text


def _png(width: int, height: int) -> bytes:
    """A small red PNG, written out by hand (no imaging library needed)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


EVIL_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">
<script>try { parent.document.title = "pwned"; } catch (e) {}</script>
<rect width="40" height="20" fill="green"/></svg>"""


def test_image_yaml_and_svg_previews(seeded: Seeded, page: Any, tmp_path: Path) -> None:
    run_id = seeded.new_run("previews")
    image = tmp_path / "confusion.png"
    image.write_bytes(_png(6, 4))
    seeded.client.log_artifact(run_id, str(image), "plots")
    seeded.client.log_text(run_id, "model:\n  depth: 3\n  kind: tree\n", "params.yaml")
    seeded.client.log_text(run_id, EVIL_SVG, "diagram.svg")
    page.goto(f"{seeded.url}/runs/{run_id}")
    title = page.title()
    listing = page.get_by_test_id("artifact-list")
    listing.get_by_role("button", name="params.yaml").click()
    expect(page.get_by_test_id("text-preview")).to_contain_text("depth: 3")
    listing.get_by_role("button", name="diagram.svg").click()
    frame = page.locator("iframe.preview-frame")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe.preview-frame").locator("rect")).to_be_attached()
    assert page.title() == title  # the SVG's script could not reach this page
    listing.get_by_role("button", name="plots/").click()
    page.get_by_test_id("artifact-list").get_by_role("button", name="confusion.png").click()
    shown = page.locator("#artifact-preview img.preview-image")
    expect(shown).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 6",
                           arg=shown.element_handle())


def test_hostile_artifact_names_show_as_text(seeded: Seeded, page: Any, tmp_path: Path) -> None:
    dialogs = _no_dialogs(page)
    run_id = seeded.new_run("hostile-files")
    hostile = tmp_path / '"><img src=x onerror=alert(1)>.txt'
    hostile.write_text("still text\n")
    seeded.client.log_artifact(run_id, str(hostile))
    page.goto(f"{seeded.url}/runs/{run_id}")
    button = page.get_by_test_id("artifact-list").get_by_role("button", name=hostile.name)
    expect(button).to_be_visible()
    button.click()
    expect(page.get_by_test_id("text-preview")).to_contain_text("still text")
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []
