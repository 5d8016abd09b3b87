"""The model registry's pages, in a real browser against a real server: the models list and
its search, a model's versions and aliases (set, moved and deleted through the UI), a version's
page with its MLmodel; and over httpx, the statuses for unknown names and the escaping."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from mltrail import MltrailClient
from fixtures_server import SeededServer, start_server_in

XSS = "<img src=x onerror=alert(1)>"
MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mltrail.models.sklearn
  sklearn:
    sklearn_version: 1.5.0
signature:
  inputs: '[{"type": "double", "name": "petal_width", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
"""


@dataclass
class Registry(SeededServer):
    client: MltrailClient
    run_id: str


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root: Path = tmp_path_factory.mktemp("ui_models")
    server = start_server_in(root)
    client = MltrailClient(server.url)
    experiment_id = client.create_experiment("ui-models")
    run = client.create_run(experiment_id, run_name="trainer")
    run_id = run.info.run_id
    client.log_text(run_id, MLMODEL, "model/MLmodel")
    source = f"{run.info.artifact_uri}/model"
    client.create_registered_model("iris-classifier", tags={"team": XSS},
                                   description=f"Classifies irises {XSS}")
    for _ in range(3):
        client.create_model_version("iris-classifier", source, run_id=run_id)
    client.set_registered_model_alias("iris-classifier", "champion", 1)
    client.create_registered_model("fraud-detector")
    client.create_model_version("fraud-detector", source, run_id=run_id)
    client.create_registered_model("churn-model")
    yield Registry(server, client, run_id)
    client.close()
    server.stop()


def test_models_list_and_search(registry: Registry, page: Any) -> None:
    page.goto(f"{registry.url}/models")
    table = page.get_by_test_id("models-table")
    for name in ("iris-classifier", "fraud-detector", "churn-model"):
        expect(table.get_by_role("link", name=name, exact=True)).to_be_visible()
    iris = table.get_by_role("row", name="iris-classifier")
    expect(iris).to_contain_text("@champion → v1")
    expect(iris.get_by_role("link", name="v3")).to_be_visible()
    page.get_by_label("Search by name").fill("FRAUD")
    expect(table.get_by_role("link", name="iris-classifier")).to_have_count(0)
    table = page.get_by_test_id("models-table")
    expect(table.get_by_role("link", name="fraud-detector")).to_be_visible()
    page.get_by_label("Search by name").fill("no-such-model")
    expect(page.get_by_text("No model's name contains")).to_be_visible()
    page.get_by_label("Search by name").fill("")
    table = page.get_by_test_id("models-table")
    expect(table.get_by_role("link", name="churn-model")).to_be_visible()
    page.get_by_test_id("models-table").get_by_role("link", name="iris-classifier").click()
    expect(page.get_by_role("heading", name="iris-classifier")).to_be_visible()


def test_model_page_lists_versions_and_moves_an_alias(registry: Registry, page: Any) -> None:
    page.goto(f"{registry.url}/models/iris-classifier")
    versions = page.get_by_test_id("versions-table")
    expect(versions.get_by_role("row")).to_have_count(4)
    expect(versions.locator('tr[data-version="1"]')).to_contain_text("@champion")
    expect(versions.locator('tr[data-version="1"]').get_by_role("link", name=registry.run_id[:12])
           ).to_have_attribute("href", f"/runs/{registry.run_id}")
    expect(page.get_by_text(f"Classifies irises {XSS}")).to_be_visible()
    # Moving champion to version 3.
    page.get_by_label("Alias", exact=True).fill("champion")
    page.get_by_label("Version", exact=True).select_option("3")
    page.get_by_role("button", name="Set alias").click()
    versions = page.get_by_test_id("versions-table")
    expect(versions.locator('tr[data-version="3"]')).to_contain_text("@champion")
    expect(versions.locator('tr[data-version="1"]')).not_to_contain_text("@champion")
    assert registry.client.get_model_version_by_alias("iris-classifier", "champion").version == 3
    # A new alias, then deleted.
    page.get_by_label("Alias", exact=True).fill("challenger")
    page.get_by_label("Version", exact=True).select_option("2")
    page.get_by_role("button", name="Set alias").click()
    expect(page.get_by_test_id("versions-table").locator('tr[data-version="2"]')).to_contain_text(
        "@challenger"
    )
    page.get_by_role("button", name="Delete alias challenger").click()
    expect(page.get_by_test_id("versions-table").locator('tr[data-version="2"]')
           ).not_to_contain_text("@challenger")
    expect(page.get_by_test_id("aliases")).to_contain_text("@champion")


def test_reserved_alias_error_is_flashed(registry: Registry, page: Any) -> None:
    page.goto(f"{registry.url}/models/fraud-detector")
    page.get_by_label("Alias", exact=True).fill("latest")
    page.get_by_role("button", name="Set alias").click()
    expect(page.get_by_role("alert")).to_contain_text("latest")
    expect(page.get_by_text("No aliases.")).to_be_visible()


def test_version_page_shows_source_run_and_mlmodel(registry: Registry, page: Any) -> None:
    page.goto(f"{registry.url}/models/iris-classifier")
    page.get_by_role("link", name="Version 2", exact=True).click()
    expect(page.get_by_role("heading", name="iris-classifier version 2")).to_be_visible()
    expect(page.get_by_role("link", name=registry.run_id)).to_have_attribute(
        "href", f"/runs/{registry.run_id}"
    )
    mlmodel = page.get_by_test_id("mlmodel")
    expect(mlmodel.get_by_text("python_function", exact=True)).to_be_visible()
    expect(mlmodel.get_by_text("sklearn", exact=True)).to_be_visible()
    expect(mlmodel.get_by_role("row", name="petal_width double")).to_be_visible()
    page.get_by_role("link", name=registry.run_id).click()
    expect(page.get_by_role("heading", name="trainer")).to_be_visible()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/models/no-such-model", 404),
        ("/models/iris-classifier/versions/99", 404),
        ("/models/no-such-model/versions/1", 404),
        ("/models/iris-classifier/versions/abc", 400),
    ],
)
def test_unknown_models_and_versions(registry: Registry, path: str, status: int) -> None:
    response = httpx.get(f"{registry.url}{path}")
    assert response.status_code == status
    assert 'class="error-box"' in response.text


def test_user_strings_are_escaped(registry: Registry) -> None:
    body = httpx.get(f"{registry.url}/models/iris-classifier").text
    assert XSS not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    fragment = httpx.get(f"{registry.url}/models", params={"q": XSS},
                         headers={"HX-Request": "true", "HX-Target": "models-table"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert XSS not in fragment.text
    assert "contains “&lt;img src=x onerror=alert(1)&gt;”" in fragment.text
