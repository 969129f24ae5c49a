"""The Model page in Debian's Chromium against a real stack: a LeNet-5 trained by the worker, an image
uploaded, picked from the test set and drawn with the mouse; the top class equals the API's answer and
every layer shows its channels at their size."""
from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import REPO, screenshot
from tests.browser.test_dashboard import api
from tests.e2e.api import LENET5

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DOCS_SCREENSHOT = REPO / "docs" / "model-page.png"


@pytest.fixture(scope="module")
def trained_lenet(stack, small_fashion_mnist) -> dict:
    with open(small_fashion_mnist, "rb") as upload:
        dataset = api(stack, "POST", "/datasets", files={"file": upload})
    network = api(stack, "POST", "/networks", json=LENET5)
    job = api(stack, "POST", "/jobs", json={"kind": "train", "network_id": network["id"], "dataset_id": dataset["id"],
                                           "params": {"epochs": 1, "batch_size": 64, "seed": 0}})
    for _ in range(600):
        job = api(stack, "GET", f"/jobs/{job['id']}")
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert job["status"] == "succeeded", job
    return {"model_id": job["model_id"], "dataset": dataset, "network": network, "job": job}


def api_top_class(stack, model_id: int, path) -> int:
    with open(path, "rb") as image:
        response = stack.session.post(f"{stack.base_url}/api/v1/models/{model_id}/predict", files={"file": image},
                                      timeout=30)
    response.raise_for_status()
    return response.json()["predictions"][0]["top"][0]["class_index"]


def expect_layer_grids(page, network: dict):
    for layer in network["summary"]["layers"]:
        shape = layer["output_shape"]
        canvases = page.locator(f'.layer-maps[data-layer="{layer["name"]}"] .tile-grid canvas')
        expect(canvases).to_have_count(shape[0] if len(shape) == 3 else 1)
        width, height = canvases.first.evaluate("(c) => [c.width, c.height]")
        assert (height, width) == ((shape[1], shape[2]) if len(shape) == 3 else (1, shape[0])), layer["name"]
        heading = page.locator(f'.layer-maps[data-layer="{layer["name"]}"] h3')
        expect(heading).to_contain_text(f'({", ".join(map(str, shape))})')
        expect(page.locator(f'.layer-maps[data-layer="{layer["name"]}"] .explain')).to_have_text(layer["explain"])


def test_upload_pick_and_draw(page, stack, trained_lenet, small_fashion_mnist, tmp_path):
    model_id = trained_lenet["model_id"]
    with np.load(small_fashion_mnist, allow_pickle=False) as archive:
        image = archive["x_test"].reshape(-1, 28, 28)[7]
    path = tmp_path / "coat.png"
    Image.fromarray(image).save(path)

    refused = []  # what the Content-Security-Policy blocked (scripts, images), as Chromium reports it
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"/models/{model_id}")
    expect(page.locator("#model-headline")).to_contain_text("lenet5 trained on")
    page.set_input_files("#image-file", str(path))
    top = page.locator("#top-bars .bar-row")
    expect(top).to_have_count(5)
    assert int(top.first.get_attribute("data-class-index")) == api_top_class(stack, model_id, path)
    expect(page.locator("#input-label")).to_have_text("Uploaded: coat.png")
    expect(page.locator("#filters canvas")).to_have_count(6)
    expect_layer_grids(page, trained_lenet["network"])
    first = page.locator('.layer-maps[data-layer="conv2d_1"] h3')
    expect(first).to_contain_text("conv2d_1 (conv2d) (6, 28, 28)")
    expect(page.locator('.layer-maps[data-layer="maxpool2d_1"] h3')).to_contain_text("(6, 14, 14)")
    page.locator("#model-headline").scroll_into_view_if_needed()
    screenshot(page, "model-page")
    page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)

    class_names = trained_lenet["dataset"]["class_names"]
    page.fill("#test-index", "3")
    page.click("#test-load")
    with np.load(small_fashion_mnist, allow_pickle=False) as archive:
        label = int(archive["y_test"][3])
    expect(page.locator("#input-label")).to_have_text(f"Test image #3, true class: {class_names[label]}")
    expect(page.locator("#top-bars .bar-row")).to_have_count(5)

    box = page.locator("#draw-canvas").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    for x, y in ((140, 240), (60, 240), (220, 240)):
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()
    page.click("#draw-run")
    expect(page.locator("#input-label")).to_have_text("Your drawing")
    seen = page.locator("#input-seen").evaluate(
        "(c) => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data).filter((v, i) => i % 4 === 0 && v > 128).length")
    assert seen > 20, "the drawing reached the network"
    expect_layer_grids(page, trained_lenet["network"])
    assert refused == [], refused


def test_confusion_matrix_cells_show_their_misclassified_images(page, stack, trained_lenet, small_fashion_mnist):
    job = trained_lenet["job"]
    cell = job["result"]["misclassified"][0]
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#model-page-link a")).to_have_attribute("href", f"/models/{job['model_id']}")
    target = page.locator(f'#confusion td.has-examples[data-true-class="{cell["true"]}"]'
                          f'[data-predicted-class="{cell["predicted"]}"]')
    expect(target).to_have_count(1)
    expect(page.locator("#confusion td.has-examples")).to_have_count(len(job["result"]["misclassified"]))
    target.click()
    images = page.locator("#misclassified img")
    expect(images).to_have_count(len(cell["indices"]))
    names = trained_lenet["dataset"]["class_names"]
    expect(page.locator("#misclassified h3")).to_contain_text(f'{names[cell["true"]]} predicted as {names[cell["predicted"]]}')
    page.wait_for_function("() => [...document.querySelectorAll('#misclassified img')].every((i) => i.complete && i.naturalWidth === 28)")
    with np.load(small_fashion_mnist, allow_pickle=False) as archive:
        assert all(int(archive["y_test"][index]) == cell["true"] for index in cell["indices"])
    screenshot(page, "job-misclassified")
