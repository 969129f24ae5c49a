"""The local stack as `make run` starts it: `convforge up` with its embedded Redis, a real worker and the
API under gunicorn. Over HTTP: upload the bundled subset, create LeNet-5, train one epoch, follow the
progress, read the metrics, download the model, evaluate it with an evaluate job; then Ctrl-C leaves no
process behind."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest

from shared.cnn import evaluate, load_model
from shared.data.pipeline import prepare_batch
from tests.e2e.api import DATASET_FILE, Client
from tests.e2e.processes import CONVFORGE, REPO, convforge_up, descendants_alive, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def local_stack(tmp_path):
    with convforge_up(tmp_path) as stack:
        yield stack


def test_train_evaluate_and_stop_through_convforge_up(local_stack):
    up, api_url, var_dir, started = local_stack
    client = Client(api_url)
    dataset_id = client.upload_dataset()
    network_id = client.create_network()

    posted = time.monotonic()
    job_id = client.train(network_id, dataset_id, epochs=1)
    first = client.wait_progress(job_id, min_step=1, timeout=120)
    print(f"\nPOST /jobs -> first progress update (step {first['progress']['step']}): "
          f"{time.monotonic() - posted:.2f}s")
    assert first["status"] == "running" and first["progress"]["steps"] == 85  # 5400 images / 64

    job = client.wait_final(job_id, timeout=600)
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["fraction"] == 1.0 and job["attempt"] == 1
    metrics = client.metrics(job_id)
    assert [row["seq"] for row in metrics] == list(range(1, len(metrics) + 1))
    train_rows = [row for row in metrics if row["kind"] == "train"]
    assert len(train_rows) >= 10 and [row["kind"] for row in metrics].count("val") == 1
    assert train_rows[-1]["loss"] < train_rows[0]["loss"]
    assert all(row["images_per_second"] > 0 for row in train_rows)
    assert job["result"]["accuracy"] > 0.5

    # The downloaded model gives the job's test accuracy on the bundled test split.
    download = client.session.get(f"{api_url}/api/v1/models/{job['model_id']}/download", timeout=60)
    assert download.status_code == 200
    model_file = var_dir / "downloaded.npz"
    model_file.write_bytes(download.content)
    net, metadata = load_model(model_file)
    with np.load(DATASET_FILE) as bundled:
        x_test, y_test = bundled["x_test"], bundled["y_test"]
    _loss, accuracy, _ = evaluate(net, prepare_batch(x_test, metadata["mean"], metadata["std"]), y_test)
    assert accuracy == pytest.approx(job["result"]["accuracy"], abs=1e-9)

    evaluation_id = client.post("/jobs", {"kind": "evaluate", "model_id": job["model_id"],
                                          "dataset_id": dataset_id}, 202)["id"]
    evaluation = client.wait_final(evaluation_id, timeout=300)
    assert evaluation["status"] == "succeeded", evaluation["error"]
    assert evaluation["result"]["accuracy"] == pytest.approx(job["result"]["accuracy"])
    assert np.asarray(evaluation["result"]["confusion_matrix"]).sum() == len(y_test)

    # Ctrl-C: everything `convforge up` started stops.
    up.send_signal(signal.SIGINT)
    assert up.wait(timeout=90) == 0
    assert len(started) >= 3  # redis, worker, gunicorn (+ its workers)
    wait_for(lambda: not descendants_alive(started), 30, "every process `convforge up` started to exit")
    assert (var_dir / "redis").exists() and any((var_dir / "redis").rglob("*.aof*"))


def test_train_jobs_and_status_commands(local_stack):
    _up, api_url, _var_dir, _started = local_stack
    # The CLI on the same machine finds the token `convforge up` kept under var/: nothing is typed.
    env = {**{key: value for key, value in os.environ.items() if key != "CONVFORGE_TOKEN"},
           "CONVFORGE_API_URL": api_url, "CONVFORGE_VAR_DIR": str(_var_dir)}

    def convforge(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(CONVFORGE + list(args), capture_output=True, text=True, timeout=600, env=env,
                              cwd=REPO)

    trained = convforge("train", "examples/lenet5.json", "--dataset", "data/fashion-mnist-small.npz",
                        "--epochs", "1", "--batch-size", "128", "--lr", "0.05")
    assert trained.returncode == 0, trained.stderr
    assert "Total params: 61,706" in trained.stdout
    assert re.search(r"job \d+ \(train\): succeeded", trained.stdout)
    assert re.search(r"test accuracy 0\.\d{4}, loss \d+\.\d{4}", trained.stdout)
    assert "dataset 1 uploaded: 6000 samples" in trained.stderr and "job 1 succeeded" in trained.stderr

    listed = convforge("jobs", "--status", "succeeded")
    assert listed.returncode == 0 and re.search(r"^\s+1  train\s+succeeded\s+100%", listed.stdout, re.M)
    status = convforge("status", "1")
    assert status.returncode == 0
    assert "job 1 (train): succeeded, attempt 1" in status.stdout and "test accuracy" in status.stdout
    missing = convforge("status", "99")
    assert missing.returncode == 1 and "Job 99 does not exist" in missing.stderr


def test_children_stop_when_convforge_up_is_killed_outright(local_stack):
    up, _api_url, _var_dir, started = local_stack
    up.kill()
    up.wait(timeout=30)
    wait_for(lambda: not descendants_alive(started), 90, "the children of a killed `convforge up` to exit")
