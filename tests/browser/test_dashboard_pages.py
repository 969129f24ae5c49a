"""The dashboard's pages as the server sends them: every page renders, and everything it loads is served
by the API itself (nothing from the internet), including the pinned Chart.js build."""
from __future__ import annotations

import json
import re

import pytest

from services.api.app import create_app
from shared.config import load_settings
from shared.db.migrate import upgrade_to_head
from shared.jobs import DEFAULT_OPTIMIZER, TrainParams
from tests.browser.conftest import REPO
from tests.support.accounts import signed_in_client
from tests.support.fixtures import env  # noqa: F401

PAGES = ["/", "/jobs/1", "/compare", "/compare?jobs=1,2", "/new", "/models", "/models/1"]


@pytest.fixture
def client(env):
    settings = load_settings()
    upgrade_to_head(settings.database_url)
    return signed_in_client(create_app(settings))


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_and_loads_only_local_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets, "the page loads no scripts or stylesheets"
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the API"
        assert client.get(asset).status_code == 200, f"{asset} is missing"
    assert "http://" not in html and "https://" not in html


def test_served_chart_js_is_the_pinned_version(client):
    pinned = json.loads((REPO / "package.json").read_text())["dependencies"]["chart.js"]
    served = client.get("/dashboard/static/vendor/chart.umd.min.js").get_data(as_text=True)
    assert f"Chart.js v{pinned}" in served[:200]
    assert "Released under the MIT License" in served[:200]


def test_new_job_page_offers_the_bundled_examples_in_their_own_key_order(client):
    html = client.get("/new").get_data(as_text=True)
    embedded = re.search(r'<script type="application/json" id="example-definitions">(.*?)</script>', html, re.S)
    examples = json.loads(embedded.group(1))
    assert "lenet5" in examples
    on_disk = json.loads((REPO / "examples" / "lenet5.json").read_text())
    assert list(examples["lenet5"]) == list(on_disk)
    assert examples["lenet5"]["layers"] == on_disk["layers"]


def test_new_job_form_starts_from_the_job_defaults(client):
    html = client.get("/new").get_data(as_text=True)
    values = dict(re.findall(r'<input type="number" name="(\w+)" value="([^"]*)"', html))
    defaults = TrainParams()
    assert float(values["batch_size"]) == defaults.batch_size
    assert float(values["lr"]) == DEFAULT_OPTIMIZER["lr"]
    assert float(values["momentum"]) == DEFAULT_OPTIMIZER["momentum"]
    assert float(values["validation_split"]) == defaults.validation_split
    assert float(values["seed"]) == defaults.seed


def test_unknown_job_page_is_still_a_page(client):
    # The page itself is served; the browser learns from the API that the job does not exist.
    assert client.get("/jobs/999999").status_code == 200
    assert client.get("/jobs/not-a-number").status_code == 404


def test_jobs_table_has_a_test_accuracy_column_and_the_picker_shows_parameters(client):
    assert '<th class="num">Test acc.</th>' in client.get("/").get_data(as_text=True)
    assert "<th>Parameters</th>" in client.get("/compare").get_data(as_text=True)
