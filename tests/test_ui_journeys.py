"""The UI as a new user meets it: the README's demo, then ``mltrail ui``, in a real browser.

The module does what ``scripts/run`` does, in a fresh folder with no tracking settings: the
quickstart (journey 1: a param, a metric logged three times, two files), the demo's six
training runs, a scikit-learn model logged and registered from the command line. Then it
starts ``mltrail ui`` there, as a subprocess on a free port, and each test walks one flow of
issue 7 as a person would: find the run and its curves and files, compare the best runs,
promote the model.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from fixtures_server import free_port, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLTRAIL_", "MLFLOW_"))}


def _python(folder: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=folder, env=_env(), capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass(frozen=True)
class Demo:
    folder: Path
    url: str
    model_run: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("readme_demo")
    _python(folder, str(ROOT / "examples/quickstart/tracking.py"))
    _python(folder, str(ROOT / "examples/demo/train.py"))
    model_run = _python(folder, str(ROOT / "examples/sklearn_logistic_regression/train.py")
                        ).split()[-1]
    cli = ("-m", "mltrail.cli.main")
    _python(folder, *cli, "registry", "register", "-m", f"runs:/{model_run}/model",
            "-n", "demo-classifier")
    _python(folder, *cli, "registry", "register", "-m", f"runs:/{model_run}/model",
            "-n", "demo-classifier")
    port = free_port()
    log = folder / "ui.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, *cli, "ui", "--port", str(port)], cwd=folder, env=_env(),
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", server, START_TIMEOUT_S, "mltrail ui", log.read_text)
        yield Demo(folder, url, model_run)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_journey_1_the_quickstart_run_its_curve_and_files(demo: Demo, page: Any) -> None:
    page.goto(demo.url + "/")
    # The page says which store it shows, so a user in the wrong folder sees it at once.
    expect(page.locator("header")).to_contain_text("mltrail.db")
    default = page.get_by_role("link", name="Default", exact=True)
    expect(default).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^demo\b"))).to_contain_text("6")
    default.click()
    runs = page.get_by_test_id("runs")
    expect(runs.locator("tr.run")).to_have_count(2)  # the quickstart's and the model's
    # Default columns: the first page's metrics and params, with no picking.
    expect(runs.locator("thead")).to_contain_text("foo")
    expect(runs.locator("thead")).to_contain_text("param1")
    page.locator(f'tr.run:not([data-run-id="{demo.model_run}"]) td.run-name a').click()
    expect(page.get_by_test_id("params-table")).to_contain_text("param1")
    chart = page.locator('#run-charts figure[data-metric="foo"] .chart-plot')
    expect(chart).to_have_attribute("data-drawn", "3")  # the three points of foo
    artifacts = page.locator("#artifact-list")
    artifacts.get_by_role("button", name="summary.csv").click()
    expect(page.locator("#artifact-preview table")).to_contain_text("logged 3 times")
    artifacts.get_by_role("button", name="test.txt").click()
    expect(page.locator("#artifact-preview pre")).to_contain_text("hello world!")


def test_demo_runs_sorted_by_a_metric_then_the_best_two_compared(demo: Demo, page: Any) -> None:
    page.goto(demo.url + "/")
    page.get_by_role("link", name="demo", exact=True).click()
    runs = page.get_by_test_id("runs")
    expect(runs.locator("tr.run")).to_have_count(6)
    header = runs.locator("thead a", has_text="val_loss")
    header.click()  # descending
    expect(runs.locator("thead th[aria-sort='descending']")).to_contain_text("val_loss")
    runs.locator("thead a", has_text="val_loss").click()  # ascending: the best first
    expect(runs.locator("thead th[aria-sort='ascending']")).to_contain_text("val_loss")
    rows = runs.locator("tr.run")
    best = [rows.nth(i).locator("td.run-name a").inner_text() for i in range(2)]
    for i in range(2):
        rows.nth(i).locator("input.run-select").check()
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/compare\?runs="))
    table = page.locator("#compare-table")
    for name in best:
        expect(table).to_contain_text(name)
    expect(page.locator("#compare-charts .chart-plot[data-drawn]").first).to_be_attached()


def test_the_model_is_found_promoted_and_traced_to_its_run(demo: Demo, page: Any) -> None:
    page.goto(demo.url + "/")
    page.get_by_role("link", name="Models").click()
    page.get_by_role("link", name="demo-classifier").click()
    versions = page.get_by_test_id("versions-table")
    expect(versions.locator("tbody tr")).to_have_count(2)
    page.locator("#alias-name").fill("champion")
    page.locator("#alias-version").select_option("1")
    page.locator("#set-alias").click()
    expect(versions.locator('tr[data-version="1"]')).to_contain_text("@champion")
    page.locator("#alias-name").fill("champion")  # moved to the newer version
    page.locator("#alias-version").select_option("2")
    page.locator("#set-alias").click()
    expect(versions.locator('tr[data-version="2"]')).to_contain_text("@champion")
    expect(versions.locator('tr[data-version="1"]')).not_to_contain_text("@champion")
    versions.get_by_role("link", name="Version 2").click()
    expect(page.locator("main")).to_contain_text("sklearn")  # the MLmodel's flavors
    page.get_by_role("link", name=demo.model_run).click()
    expect(page.get_by_test_id("run-name")).to_be_visible()
    expect(page.locator("#run-charts")).to_contain_text("score")


def test_a_narrow_window_scrolls_tables_not_the_page(demo: Demo, page: Any) -> None:
    page.set_viewport_size({"width": 400, "height": 800})
    page.goto(demo.url + "/")
    page.get_by_role("link", name="demo", exact=True).click()
    expect(page.get_by_test_id("runs").locator("tr.run")).to_have_count(6)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1  # the runs table scrolls inside its frame
    wrap_scrolls = page.evaluate(
        "(() => { const w = document.querySelector('.table-wrap');"
        " return w.scrollWidth > w.clientWidth; })()"
    )
    assert wrap_scrolls


def test_the_runs_table_works_by_keyboard(demo: Demo, page: Any) -> None:
    page.goto(demo.url + "/")
    page.get_by_role("link", name="demo", exact=True).focus()
    page.keyboard.press("Enter")
    runs = page.get_by_test_id("runs")
    expect(runs.locator("tr.run")).to_have_count(6)
    page.locator("#runs-filter-text").focus()
    page.keyboard.type("metrics.val_loss < 0")
    page.keyboard.press("Enter")
    expect(page.locator(".empty")).to_contain_text("No run matches")
    page.locator("#runs-filter-text").fill("")
    page.keyboard.type("params.learning_rate = ")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("runs-error")).to_be_visible()  # the parse error, in place
    page.locator("#runs-filter-text").fill("")
    page.keyboard.press("Enter")
    expect(runs.locator("tr.run")).to_have_count(6)
    first_box = runs.locator("input.run-select").first
    first_box.focus()
    page.keyboard.press("Space")
    expect(first_box).to_be_checked()
    expect(page.locator("#runs-selected")).to_contain_text("1")
