"""The model registry's pages, in a real browser against a real server: the models list, its
search and its paging; a model's versions and aliases (set, moved and deleted through the UI),
its description and tags edited in place, renamed and deleted; a version's page with its MLmodel,
its description, tags, stage, aliases and deletion; and over httpx, the statuses for unknown
names and the escaping. Tests that change the registry work on models of their own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from mltrail import MltrailClient
from mltrail.errors import NotFound
from mltrail.settings import Settings
from mltrail.storage.uri import open_tracking_store
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
    source: str

    def model(self, name: str, versions: int = 0, **kwargs: Any) -> str:
        """A new model of the test's own, with ``versions`` versions."""
        self.client.create_registered_model(name, **kwargs)
        for _ in range(versions):
            self.client.create_model_version(name, self.source, run_id=self.run_id)
        return name


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
    yield Registry(server, client, run_id, source)
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


# Changing a model


def test_edit_model_description(registry: Registry, page: Any) -> None:
    name = registry.model("described")
    page.goto(f"{registry.url}/models/{name}")
    description = page.get_by_test_id("description")
    expect(description).to_contain_text("No description.")
    page.get_by_role("button", name="Edit description").click()
    page.get_by_label("Description of this model").fill(f"Scores churn {XSS}\nweekly")
    page.get_by_role("button", name="Save description").click()
    expect(page.get_by_test_id("description")).to_contain_text(f"Scores churn {XSS}")
    page.reload()
    expect(page.get_by_test_id("description")).to_contain_text(f"Scores churn {XSS}")
    assert registry.client.get_registered_model(name).description == f"Scores churn {XSS}\nweekly"
    # A cancelled edit changes nothing.
    page.get_by_role("button", name="Edit description").click()
    page.get_by_label("Description of this model").fill("dropped")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Edit description")).to_be_focused()
    expect(page.get_by_test_id("description")).to_contain_text("Scores churn")
    assert registry.client.get_registered_model(name).description == f"Scores churn {XSS}\nweekly"


def test_add_and_remove_a_model_tag(registry: Registry, page: Any) -> None:
    name = registry.model("tagged")
    page.goto(f"{registry.url}/models/{name}")
    page.get_by_label("Tag key").fill(XSS)
    page.get_by_label("Tag value").fill(f"value {XSS}")
    page.get_by_label("Tag value").press("Enter")
    tags = page.get_by_test_id("tags-table")
    expect(tags.get_by_role("row", name=f"{XSS} value {XSS}")).to_be_visible()
    assert registry.client.get_registered_model(name).tags == {XSS: f"value {XSS}"}
    page.get_by_role("button", name=f"Remove tag {XSS}").click()
    expect(page.get_by_test_id("tags-table")).to_contain_text("No tags.")
    assert registry.client.get_registered_model(name).tags == {}
    # A tag needs a key: nothing is sent.
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("alert")).to_contain_text("A tag needs a key.")


def test_rename_a_model(registry: Registry, page: Any) -> None:
    name = registry.model("to-rename", versions=1, tags={"team": "a"})
    registry.client.set_registered_model_alias(name, "prod", 1)
    page.goto(f"{registry.url}/models/{name}")
    page.get_by_label("New name").fill("renamed model")
    page.get_by_role("button", name="Rename model").click()
    expect(page.get_by_test_id("model-name")).to_have_text("renamed model")
    assert page.url == f"{registry.url}/models/renamed%20model"
    expect(page.get_by_test_id("aliases")).to_contain_text("@prod")
    expect(page.get_by_test_id("versions-table").get_by_role("row")).to_have_count(2)
    old = httpx.get(f"{registry.url}/models/{name}")
    assert old.status_code == 404
    assert "not found" in old.text


def test_rename_to_a_taken_name_shows_the_error(registry: Registry, page: Any) -> None:
    name = registry.model("keeps-its-name")
    registry.model("already-taken")
    page.goto(f"{registry.url}/models/{name}")
    page.get_by_label("New name").fill("already-taken")
    page.get_by_role("button", name="Rename model").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists")
    expect(page.get_by_test_id("model-name")).to_have_text(name)
    assert page.url == f"{registry.url}/models/{name}"
    assert registry.client.get_registered_model(name).name == name


def test_delete_a_model(registry: Registry, page: Any) -> None:
    name = registry.model("to-delete", versions=2)
    page.goto(f"{registry.url}/models/{name}")
    # Dismissing the confirmation keeps the model.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete model").click()
    expect(page.get_by_test_id("model-name")).to_have_text(name)
    assert registry.client.get_registered_model(name).name == name
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete model").click()
    expect(page.get_by_role("heading", name="Registered models")).to_be_visible()
    expect(page.get_by_test_id("models-table").get_by_role("link", name="iris-classifier",
                                                            exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    with pytest.raises(NotFound):
        registry.client.get_registered_model(name)


# Changing a version


def test_edit_a_version_description_and_tags(registry: Registry, page: Any) -> None:
    name = registry.model("versioned", versions=1)
    page.goto(f"{registry.url}/models/{name}/versions/1")
    page.get_by_role("button", name="Edit description").click()
    page.get_by_label("Description of this version").fill(f"Trained on May data {XSS}")
    page.get_by_role("button", name="Save description").click()
    expect(page.get_by_test_id("description")).to_contain_text(f"Trained on May data {XSS}")
    page.get_by_label("Tag key").fill("validated")
    page.get_by_label("Tag value").fill("yes " + "x" * 60)
    page.get_by_role("button", name="Add tag").click()
    tags = page.get_by_test_id("tags-table")
    expect(tags.get_by_role("row", name="validated yes")).to_be_visible()
    page.get_by_label("Tag key").fill(XSS)
    page.get_by_label("Tag value").fill(XSS)
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_test_id("tags-table").get_by_role("row")).to_have_count(3)
    version = registry.client.get_model_version(name, 1)
    assert version.description == f"Trained on May data {XSS}"
    assert version.tags == {"validated": "yes " + "x" * 60, XSS: XSS}
    # The model's versions table shows the tags as badges (long ones cut) and the description.
    page.get_by_role("link", name=name, exact=True).click()
    row = page.get_by_test_id("versions-table").locator('tr[data-version="1"]')
    xss_badge = row.locator(".badge.tag").first
    expect(xss_badge).to_have_text(f"{XSS}={XSS}"[:39] + "…")
    expect(xss_badge).to_have_attribute("title", f"{XSS}={XSS}")
    expect(row).to_contain_text(f"Trained on May data {XSS}")
    long_badge = row.locator(".badge.tag", has_text="validated=")
    expect(long_badge).to_have_attribute("title", "validated=yes " + "x" * 60)
    expect(long_badge).to_have_text("validated=yes " + "x" * 25 + "…")
    # Removing one tag on the version page.
    page.get_by_role("link", name="Version 1", exact=True).click()
    page.get_by_role("button", name="Remove tag validated").click()
    expect(page.get_by_test_id("tags-table").get_by_role("row")).to_have_count(2)
    assert registry.client.get_model_version(name, 1).tags == {XSS: XSS}


def test_transition_stages_archiving_the_others(registry: Registry, page: Any) -> None:
    name = registry.model("staged", versions=2)
    with pytest.warns(FutureWarning):  # stages are deprecated, and still served
        registry.client.transition_model_version_stage(name, 1, "Production")
    page.goto(f"{registry.url}/models/{name}/versions/2")
    expect(page.get_by_test_id("stage")).to_have_text("None")
    page.get_by_label("New stage").select_option("Staging")
    page.get_by_role("button", name="Transition stage").click()
    expect(page.get_by_test_id("stage")).to_have_text("Staging")
    archive = page.get_by_label("Archive existing versions in this stage")
    page.get_by_label("New stage").select_option("None")
    expect(archive).to_be_disabled()
    page.get_by_label("New stage").select_option("Production")
    archive.check()
    page.get_by_role("button", name="Transition stage").click()
    expect(page.get_by_test_id("stage")).to_have_text("Production")
    page.get_by_role("link", name=name, exact=True).click()
    versions = page.get_by_test_id("versions-table")
    stage = 'tr[data-version="{}"] [data-testid="stage"]'
    expect(versions.locator(stage.format(1))).to_have_text("Archived")
    expect(versions.locator(stage.format(2))).to_have_text("Production")


def test_set_and_delete_an_alias_on_a_version(registry: Registry, page: Any) -> None:
    name = registry.model("aliased", versions=2)
    page.goto(f"{registry.url}/models/{name}/versions/2")
    expect(page.get_by_text("No aliases.")).to_be_visible()
    page.get_by_label("Alias", exact=True).fill("champion")
    page.get_by_role("button", name="Set alias").click()
    expect(page.get_by_test_id("aliases")).to_contain_text("@champion")
    assert registry.client.get_model_version_by_alias(name, "champion").version == 2
    page.get_by_label("Alias", exact=True).fill("latest")
    page.get_by_role("button", name="Set alias").click()
    expect(page.get_by_role("alert")).to_contain_text("latest")
    expect(page.get_by_test_id("aliases").get_by_role("listitem")).to_have_count(1)
    page.get_by_role("button", name="Delete alias champion").click()
    expect(page.get_by_text("No aliases.")).to_be_visible()


def test_delete_a_version(registry: Registry, page: Any) -> None:
    name = registry.model("pruned", versions=2)
    page.goto(f"{registry.url}/models/{name}/versions/2")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete version 2").click()
    expect(page.get_by_test_id("model-name")).to_have_text(name)
    versions = page.get_by_test_id("versions-table")
    expect(versions.get_by_role("row")).to_have_count(2)
    expect(versions.locator('tr[data-version="1"]')).to_be_visible()
    assert httpx.get(f"{registry.url}/models/{name}/versions/2").status_code == 404


def test_version_page_shows_the_serve_command(registry: Registry) -> None:
    body = httpx.get(f"{registry.url}/models/iris-classifier/versions/2").text
    assert ('<code data-testid="serve-command">mltrail models serve -m '
            "models:/iris-classifier/2</code>") in body
    registry.model(f"odd {XSS}", versions=1)
    response = httpx.get(f"{registry.url}/models/odd {XSS}/versions/1")
    assert response.status_code == 200
    assert XSS not in response.text
    # Quoted for the shell, escaped for the page.
    assert ("mltrail models serve -m &#39;models:/odd &lt;img src=x onerror=alert(1)&gt;/1&#39;"
            in response.text)


def test_user_strings_in_the_list_and_tables_are_escaped(registry: Registry) -> None:
    name = registry.model(f"xss {XSS}", versions=1, tags={XSS: XSS}, description=XSS)
    registry.client.set_model_version_tag(name, 1, XSS, XSS)
    registry.client.update_model_version(name, 1, XSS)
    for path in ("/models", f"/models/{name}", f"/models/{name}/versions/1"):
        response = httpx.get(f"{registry.url}{path}")
        assert response.status_code == 200, path
        assert XSS not in response.text, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in response.text, path


def test_a_bad_page_token_says_so(registry: Registry) -> None:
    response = httpx.get(f"{registry.url}/models", params={"page_token": "not-a-token"})
    assert response.status_code == 400
    assert 'class="error-box"' in response.text
    fragment = httpx.get(f"{registry.url}/models", params={"page_token": "not-a-token"},
                         headers={"HX-Request": "true", "HX-Target": "models-body"})
    assert fragment.status_code == 400
    assert "<html" not in fragment.text
    assert 'id="models-more" class="runs-more" hx-swap-oob="true"' in fragment.text
    assert 'class="error-box"' in fragment.text


# Paging (last: it adds 105 models to the module's store)


def test_models_list_pages_with_load_more(registry: Registry, page: Any) -> None:
    store = open_tracking_store(registry.server.config.backend_store_uri, Settings.from_env())
    models = store.registry_store()
    for number in range(105):
        models.create_registered_model(f"bulk-{number:03d}")
    page.goto(f"{registry.url}/models?q=bulk")
    table = page.get_by_test_id("models-table")
    expect(table.locator("tbody tr")).to_have_count(100)
    expect(page.get_by_test_id("models-count")).to_have_text("100 models shown, more to load")
    page.get_by_role("button", name="Load more").click()
    expect(table.locator("tbody tr")).to_have_count(105)
    expect(page.get_by_test_id("models-count")).to_have_text("105 models shown")
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    # Newest first: the first model made is on the second page.
    expect(table.get_by_role("link", name="bulk-000", exact=True)).to_be_visible()
    expect(table.locator("tbody tr").first).to_contain_text("bulk-104")
