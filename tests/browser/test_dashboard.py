"""The dashboard in a real headless Chromium against a real stack (API under gunicorn, Redis, a Celery
worker training with the NumPy engine): a person submits a job from the New job page, watches it
train, reads its layers and its confusion matrix, compares runs and cancels one."""
from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import expect

from shared.db.models import Dataset
from shared.db.session import session_scope
from tests.browser.conftest import REPO, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUNDLED = REPO / "data" / "fashion-mnist-small.npz"
FINISH_TIMEOUT_MS = 180_000


def api(stack, method: str, path: str, **kwargs):
    response = stack.session.request(method, f"{stack.base_url}/api/v1{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def submit_api_job(stack, dataset_file, **params) -> int:
    """A job sent over REST, as a script would: the dashboard must show it like any other."""
    with open(dataset_file, "rb") as upload:
        dataset = api(stack, "POST", "/datasets", files={"file": upload})
    network = api(stack, "POST", "/networks", json=dict(
        name="small_cnn", input_shape=[1, 28, 28], layers=[
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"},
            {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]))
    job = api(stack, "POST", "/jobs", json={"kind": "train", "network_id": network["id"],
                                           "dataset_id": dataset["id"], "params": params})
    return job["id"]


def expect_status(page, status: str, timeout: float = FINISH_TIMEOUT_MS):
    expect(page.locator("#job-status .status")).to_have_text(status, timeout=timeout)


def test_submit_from_new_job_page_watch_it_train_and_read_the_results(page, stack):
    page.goto("/new")
    # The bundled LeNet-5 is loaded and checked by the engine before anything is stored.
    status = page.locator("#definition-status")
    expect(status).to_contain_text("Valid: 12 layers · 61,706 parameters", timeout=30_000)
    expect(page.locator("#definition-summary tr.layer")).to_have_count(12)

    # A mistake is pointed at its layer, and a click selects that layer's field in the editor.
    editor = page.locator("#definition")
    lenet = editor.input_value()
    broken = lenet.replace('"filters": 16, "kernel_size": 5', '"filters": 16, "kernel_size": 50')
    assert broken != lenet
    editor.fill(broken)
    error = page.locator("#definition-errors li")
    expect(error).to_contain_text("layers[3] conv2d_2: kernel_size: kernel 50 is larger than the padded input 14x14")
    expect(error.locator(".where")).to_have_text("line 8")
    expect(page.locator("#submit-job")).to_be_disabled()
    error.click()
    selected = page.evaluate("() => { const box = document.getElementById('definition');"
                             " return box.value.slice(box.selectionStart, box.selectionEnd); }")
    assert selected == "50"
    screenshot(page, "new-job-error")
    editor.fill(lenet)
    expect(status).to_contain_text("Valid: 12 layers", timeout=30_000)

    # Upload the bundled Fashion-MNIST subset through the page.
    page.set_input_files("#dataset-file", str(BUNDLED))
    page.click("#upload-dataset")
    expect(page.locator("#upload-status")).to_contain_text("6,000 samples", timeout=60_000)
    expect(page.locator("#dataset-info")).to_contain_text("6,000 training samples, 1,000 test samples")
    expect(page.locator("#dataset-info img").first).to_be_visible()
    expect(page.locator("#compatibility .message")).to_have_count(0)

    page.fill("input[name=epochs]", "3")
    page.fill("input[name=batch_size]", "16")
    page.fill("input[name=lr]", "0.01")
    page.fill("input[name=workers]", "1")
    page.fill("input[name=erase]", "0.25")
    page.fill("input[name=label_smoothing]", "0.1")
    page.check("input[name=test_time_flip]")
    screenshot(page, "new-job")
    page.click("#submit-job")

    page.wait_for_url(re.compile(r"/jobs/\d+$"), timeout=30_000)
    job_id = int(page.url.rsplit("/", 1)[1])
    params = api(stack, "GET", f"/jobs/{job_id}")["params"]
    assert (params["augment"]["erase"], params["label_smoothing"], params["test_time_flip"]) == (0.25, 0.1, True)

    # The progress bar moves and the curve gets points: both seen part-way through the job, then full.
    progress = page.locator("#job-progress .progress")
    loss_chart = page.locator("#loss-chart")
    points_while_running = page.wait_for_function("""() => {
        const bar = document.querySelector('#job-progress .progress');
        const value = bar && Number(bar.getAttribute('aria-valuenow'));
        const points = Number(document.getElementById('loss-chart').dataset.points || 0);
        const running = document.querySelector('#job-status .status')?.textContent === 'running';
        return running && value > 0 && value < 100 && points > 0 && points;
    }""", timeout=FINISH_TIMEOUT_MS).json_value()
    screenshot(page, "job-running")

    expect_status(page, "succeeded")
    expect(progress).to_have_attribute("aria-valuenow", "100")
    metrics = api(stack, "GET", f"/jobs/{job_id}/metrics?limit=10000")["metrics"]
    expect(loss_chart).to_have_attribute("data-points", str(len(metrics)))
    assert len(metrics) > points_while_running
    validation_points = page.evaluate("() => Chart.getChart('loss-chart').data.datasets[1].data.length")
    assert validation_points == 3  # one per epoch
    expect(page.locator("#learning-rate")).to_be_hidden()  # a constant rate needs no curve
    processes = page.locator("#job-stats .stat").filter(has_text="Processes")
    expect(processes.locator(".value")).to_have_text("1")  # the job asked for one worker process

    # Evaluation: accuracy, per-class scores, the confusion matrix over the 1,000 test images.
    job = api(stack, "GET", f"/jobs/{job_id}")
    evaluation = page.locator("#evaluation")
    expect(evaluation).to_be_visible()
    expect(evaluation).to_contain_text(f"{job['result']['accuracy'] * 100:.2f}%")
    assert job["result"]["accuracy"] > 0.5, "LeNet-5 should learn Fashion-MNIST well past chance in 3 epochs"
    expect(page.locator("#per-class tbody tr")).to_have_count(10)
    cells = page.locator("#confusion tbody td")
    expect(cells).to_have_count(100)
    counts = [int(text) for text in cells.all_inner_texts()]
    assert sum(counts) == 1000
    assert counts == [count for row in job["result"]["confusion_matrix"] for count in row]
    download = page.locator("#model-link a")
    href = download.get_attribute("href")
    assert href == f"/api/v1/models/{job['model_id']}/download"
    model = page.request.get(href)
    assert model.ok and model.body()[:2] == b"PK"  # an .npz is a zip archive

    # The layer table, opened, with one layer's arithmetic on demand.
    page.click("#network > summary")
    rows = page.locator("#layer-table tr.layer")
    expect(rows).to_have_count(12)
    expect(rows.nth(0)).to_contain_text("conv2d_1")
    expect(rows.nth(0)).to_contain_text("6×28×28")
    expect(page.locator("#layer-table .total-params")).to_have_text("61,706")
    arithmetic = page.locator("#layer-table tr.explain").nth(0)
    expect(arithmetic).to_be_hidden()
    rows.nth(0).get_by_role("button", name="Arithmetic of conv2d_1").click()
    expect(arithmetic).to_contain_text("params = (F*F*D_in + 1) * K = (5*5*1 + 1) * 6 = 156")
    expect(rows.nth(0).locator("td.receptive")).to_have_text("5x5, jump 1")
    expect(rows.nth(3).locator("td.receptive")).to_have_text("14x14, jump 2")
    # each conv and pooling layer links to the Learn page with its own settings
    expect(page.locator("#layer-table a.learn-link")).to_have_count(4)
    learn = rows.nth(0).locator("a.learn-link").get_attribute("href")
    assert "kind=conv2d" in learn and "kernel=5" in learn and "padding=2" in learn
    dense_share = rows.nth(7).locator(".share.params .pct")
    expect(dense_share).to_have_text("78.0%")  # dense_1 holds 48,120 of 61,706 parameters
    screenshot(page, "job-finished")

    # The Jobs page shows the finished job's test accuracy, as the Job page writes it.
    page.goto("/")
    expect(page.locator(f"#jobs tr[data-job-id='{job_id}'] .test-accuracy")).to_have_text(
        f"{job['result']['accuracy'] * 100:.2f}%")


def test_cancel_a_running_job_from_the_jobs_page(page, stack, small_fashion_mnist):
    job_id = submit_api_job(stack, small_fashion_mnist, epochs=200, batch_size=8, workers=1)
    page.goto("/")
    row = page.locator(f"#jobs tr[data-job-id='{job_id}']")
    expect(row.locator(".status")).to_have_text("running", timeout=FINISH_TIMEOUT_MS)
    page.wait_for_function(f"""() => {{
        const bar = document.querySelector("#jobs tr[data-job-id='{job_id}'] .progress");
        return bar && Number(bar.getAttribute('aria-valuenow')) > 0;
    }}""", timeout=FINISH_TIMEOUT_MS)
    expect(row.locator(".loss")).not_to_have_text("–")
    expect(row.locator(".progress-caption")).to_contain_text("ETA")
    screenshot(page, "jobs-running")
    row.get_by_role("button", name="Cancel").click()
    expect(row.locator(".status")).to_have_text("cancelled", timeout=60_000)
    expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    assert api(stack, "GET", f"/jobs/{job_id}")["status"] == "cancelled"

    # The status filter shows only the jobs in that state.
    page.locator("#status-filter label", has_text="Running").click()
    expect(row).to_have_count(0)
    assert "status=running" in page.url
    page.locator("#status-filter label", has_text="Cancelled").click()
    expect(row).to_have_count(1)
    page.locator("#status-filter label", has_text="All").click()
    expect(page.locator("#jobs tbody tr")).not_to_have_count(0)
    # Nothing runs now: the list keeps being polled, and the API answers 304 Not Modified.
    with page.expect_response(lambda response: "/api/v1/jobs?" in response.url and response.status == 304,
                              timeout=15_000):
        pass
    screenshot(page, "jobs")
    # The job's page says who submitted it and who cancelled it.
    page.goto(f"/jobs/{job_id}")
    expect(page.locator("#job-headline")).to_contain_text("by tester · cancelled by tester")


def test_compare_two_runs_on_the_same_axes(page, stack, small_fashion_mnist):
    first = submit_api_job(stack, small_fashion_mnist, epochs=2, batch_size=32, workers=1)
    second = submit_api_job(stack, small_fashion_mnist, epochs=2, batch_size=64, workers=1,
                            optimizer={"type": "adam", "lr": 0.002})
    page.goto("/")
    for job_id in (first, second):
        page.locator(f"#jobs tr[data-job-id='{job_id}'] input[type=checkbox]").check()
    page.click("#compare-selected")
    page.wait_for_url(re.compile(rf"/compare\?jobs={first},{second}$"))
    # The job picker tells the runs apart by their parameters.
    expect(page.locator(f"#picker-rows tr[data-job-id='{second}'] .job-params")).to_contain_text(
        "2 epochs · batch 64 · adam lr 0.002", timeout=30_000)
    expect(page.locator(f"#picker-rows tr[data-job-id='{first}'] .job-params")).to_contain_text(
        "2 epochs · batch 32 · sgd lr 0.05")
    table_rows = page.locator("#compare-table tbody tr")
    expect(table_rows).to_have_count(2, timeout=30_000)
    for job_id in (first, second):
        expect(page.locator("#compare-table")).to_contain_text(f"#{job_id}")
    expect(table_rows.nth(1).locator(".status")).to_have_text("succeeded", timeout=FINISH_TIMEOUT_MS)
    expect(table_rows.nth(0).locator(".status")).to_have_text("succeeded", timeout=FINISH_TIMEOUT_MS)
    # Both runs' validation points sit at whole epochs 1 and 2 on the shared x axis.
    page.wait_for_function("""() => {
        const curves = Chart.getChart('compare-loss').data.datasets;
        return curves.length === 4 && curves[1].data.length === 2 && curves[3].data.length === 2;
    }""", timeout=60_000)
    epochs = page.evaluate("() => Chart.getChart('compare-loss').data.datasets"
                           ".filter((curve) => curve.label.endsWith('validation'))"
                           ".map((curve) => curve.data.map((point) => point.x))")
    assert epochs == [[1, 2], [1, 2]]
    expect(table_rows.nth(1)).to_contain_text("adam lr 0.002")
    screenshot(page, "compare")


def test_failed_job_shows_its_error(page, stack, small_fashion_mnist):
    # A dataset whose stored arrays were damaged after upload: the worker cannot read it.
    with open(small_fashion_mnist, "rb") as upload:
        dataset = api(stack, "POST", "/datasets", files={"file": upload})
    with session_scope(stack.database_url) as session:
        folder = stack.artifact_dir / session.get(Dataset, dataset["id"]).path
    np.save(folder / "x_train.npy", np.zeros((3, 1, 28, 28), dtype=np.uint8))
    networks = api(stack, "GET", "/networks")["items"]
    job = api(stack, "POST", "/jobs", json={"kind": "train", "network_id": networks[0]["id"],
                                           "dataset_id": dataset["id"], "params": {"epochs": 1}})
    page.goto(f"/jobs/{job['id']}")
    expect_status(page, "failed")
    error = page.locator("#job-error")
    expect(error).to_be_visible()
    assert api(stack, "GET", f"/jobs/{job['id']}")["error"] in error.inner_text()
    expect(page.locator("#evaluation")).to_be_hidden()
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    screenshot(page, "job-failed")


def test_new_job_from_a_saved_network_with_refused_upload_and_parameter_errors(page, stack, small_fashion_mnist,
                                                                               tmp_path):
    network = api(stack, "POST", "/networks", json={
        "name": "saved_for_reuse", "input_shape": [1, 28, 28],
        "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]})
    networks_before = len(api(stack, "GET", "/networks?limit=500")["items"])
    page.goto("/new")
    expect(page.locator(f"#network-source option[value='saved:{network['id']}']")).to_have_count(1)
    page.select_option("#network-source", f"saved:{network['id']}")
    expect(page.locator("#definition")).to_have_value(re.compile('"name": "saved_for_reuse"'))
    expect(page.locator("#definition-status")).to_contain_text("Valid: 2 layers · 7,850 parameters", timeout=30_000)

    # A file that is not a dataset is refused with the API's reason, and nothing is selected.
    not_a_dataset = tmp_path / "notes.npz"
    not_a_dataset.write_text("these are not arrays")
    page.set_input_files("#dataset-file", str(not_a_dataset))
    page.click("#upload-dataset")
    expect(page.locator("#upload-status .message.error")).to_contain_text("Upload refused", timeout=30_000)

    page.set_input_files("#dataset-file", str(small_fashion_mnist))
    page.click("#upload-dataset")
    expect(page.locator("#upload-status .message.ok")).to_contain_text("1,200 samples", timeout=60_000)

    # A parameter the API refuses is shown next to its field.
    page.fill("input[name=batch_size]", "0")
    page.click("#submit-job")
    batch_field = page.locator("label.field", has=page.locator("input[name=batch_size]"))
    expect(batch_field.locator(".field-error")).to_be_visible(timeout=30_000)
    expect(page.locator("input[name=batch_size]")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "new-job-refused")

    page.fill("input[name=batch_size]", "32")
    page.fill("input[name=epochs]", "1")
    page.select_option("select[name=schedule]", "cosine")
    page.click("#submit-job")
    page.wait_for_url(re.compile(r"/jobs/\d+$"), timeout=30_000)
    job = api(stack, "GET", f"/jobs/{page.url.rsplit('/', 1)[1]}")
    assert job["network"]["id"] == network["id"]
    assert len(api(stack, "GET", "/networks?limit=500")["items"]) == networks_before  # reused, not stored again
    assert job["params"]["schedule"]["type"] == "cosine"
    expect_status(page, "succeeded")
    # A scheduled learning rate gets its own curve, falling over the job.
    expect(page.locator("#learning-rate")).to_be_visible()
    rates = page.evaluate("() => Chart.getChart('learning-rate-chart').data.datasets[0].data.map((point) => point.y)")
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1]


def test_layer_table_shows_a_residual_block_nested(page, stack):
    network = api(stack, "POST", "/networks", json={
        "name": "one_residual_block", "input_shape": [1, 8, 8], "layers": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1},
            {"type": "residual", "shortcut": "projection", "layers": [
                {"type": "conv2d", "filters": 8, "kernel_size": 3, "stride": 2, "padding": 1},
                {"type": "relu"}]},
            {"type": "global_avgpool2d"}, {"type": "dense", "units": 3}]})
    page.goto("/new")
    page.select_option("#network-source", f"saved:{network['id']}")
    expect(page.locator("#definition-status")).to_contain_text("Valid: 4 layers", timeout=30_000)
    rows = page.locator("#definition-summary tr.layer")
    # conv, residual (its conv, relu, shortcut with its conv and batchnorm), pool, dense
    expect(rows).to_have_count(9)
    expect(page.locator("#definition-summary tr.layer.held")).to_have_count(5)
    expect(rows.nth(2)).to_contain_text("2.1")
    expect(rows.nth(2)).to_contain_text("conv2d_1")
    expect(rows.nth(4)).to_contain_text("shortcut")
    expect(rows.nth(4)).to_contain_text("64")  # its 1x1 conv (8*4) and batchnorm (4*8)

    def indent(row: int) -> float:
        return float(rows.nth(row).locator("td.name").evaluate("cell => getComputedStyle(cell).paddingLeft")[:-2])

    assert indent(1) < indent(2) == indent(4) < indent(5)
    rows.nth(1).get_by_role("button", name="Arithmetic of residual_1", exact=True).click()
    expect(page.locator("#definition-summary tr.explain").nth(1)).to_contain_text(
        "output = conv path (8, 4, 4) + shortcut (8, 4, 4)")
    screenshot(page, "residual-layer-table")

    # The form's recipe fields: warm-up goes with the cosine schedule only.
    page.fill("input[name=warmup_steps]", "5")
    assert "schedule" not in page.evaluate("() => trainingParams()")
    page.select_option("select[name=schedule]", "cosine")
    assert page.evaluate("() => trainingParams()")["schedule"] == {"type": "cosine", "warmup_steps": 5}
