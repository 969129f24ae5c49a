"""The services of docker-compose.yml, started as processes with the same commands and variables: a real
PostgreSQL, a real redis-server, `convforge migrate`, `convforge api` (gunicorn), `convforge worker`.
Train over HTTP; check the metrics and the downloaded model."""
from __future__ import annotations

import numpy as np
import pytest

from shared.cnn import load_model
from tests.e2e.api import Client
from tests.e2e.processes import wait_for
from tests.support.fixtures import postgres_database_url, postgres_server_url  # noqa: F401
from tests.support.postgres import server_stopped

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_training_on_postgres_and_redis(services, postgres_database_url, tmp_path):  # noqa: F811
    services.env["DATABASE_URL"] = postgres_database_url
    services.start_redis(password="redissecret")  # as docker-compose runs it
    # The first admin as the compose file's migrate service makes them, from the environment.
    admin_token = "cf_" + "c" * 40
    services.env["CONVFORGE_ADMIN_TOKEN"] = admin_token
    services.migrate()
    client = Client(services.start_api(), token=admin_token)
    services.start_worker("compose")

    dataset_id = client.upload_dataset()
    network_id = client.create_network()
    job_id = client.train(network_id, dataset_id, epochs=1, validation_split=0.2)
    job = client.wait_final(job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["worker_name"].startswith("compose@")

    metrics = client.metrics(job_id)
    assert [row["seq"] for row in metrics] == list(range(1, len(metrics) + 1))
    assert {row["kind"] for row in metrics} == {"train", "val"}
    assert metrics[-1]["kind"] == "val" and metrics[-1]["epoch"] == 1
    assert job["latest_metrics"]["val_accuracy"] == pytest.approx(metrics[-1]["accuracy"])

    download = client.session.get(f"{client.base}/models/{job['model_id']}/download", timeout=60)
    assert download.status_code == 200
    (tmp_path / "model.npz").write_bytes(download.content)
    net, metadata = load_model(tmp_path / "model.npz")
    assert metadata["dataset_id"] == dataset_id and len(metadata["class_names"]) == 10
    assert net.forward(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape == (2, 10)
    health = client.get("/health")
    assert health["database"]["ok"] and health["broker"]["ok"]


def test_database_outage_during_a_job(services, postgres_server_url, postgres_database_url):  # noqa: F811
    services.env["DATABASE_URL"] = postgres_database_url
    services.start_redis()
    services.migrate()
    client = Client(services.start_api())
    worker = services.start_worker("patient")
    dataset_id = client.upload_dataset()
    job_id = client.train(client.create_network(), dataset_id, epochs=1, batch_size=16)
    client.wait_progress(job_id, min_step=20)

    with server_stopped(postgres_server_url):
        response = client.session.get(f"{client.base}/jobs/{job_id}", timeout=30)
        assert response.status_code == 503
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.json()["status"] == 503 and "Traceback" not in response.text
        # The worker notices and keeps retrying its writes.
        wait_for(lambda: "database unavailable while" in worker.log_tail(400), 120,
                 "the worker to retry a write")

    job = client.wait_final(job_id)
    assert job["status"] == "succeeded" and job["attempt"] == 1, job
    metrics = client.metrics(job_id)
    assert [row["seq"] for row in metrics] == list(range(1, len(metrics) + 1))
