"""/metrics of a real API (gunicorn, several processes) and a real worker, scraped while a job runs:
the step and image counters move, jobs by status follow the job; the worker logs JSON lines that name
the job and its attempt."""
from __future__ import annotations

import json

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.api import Client
from tests.support.services import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def scrape(url: str) -> dict[tuple, float]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_move_during_a_job_and_logs_are_json(services):
    services.env["CONVFORGE_LOG_FORMAT"] = "json"
    services.start_redis()
    services.migrate()
    client = Client(services.start_api())
    dataset_id = client.upload_dataset()
    network_id = client.create_network()
    port = free_port()
    worker = services.start_worker("metered", {"WORKER_METRICS_PORT": str(port)})
    worker_metrics, api_metrics = f"http://127.0.0.1:{port}/metrics", f"{services.api_url}/metrics"

    job_id = client.train(network_id, dataset_id, epochs=1, batch_size=32, log_every_steps=5)
    client.wait_progress(job_id, min_step=10)
    first = scrape(worker_metrics)
    during = scrape(api_metrics)
    client.wait_progress(job_id, min_step=first[("convforge_training_steps_total", ())] + 20)
    second = scrape(worker_metrics)
    assert second[("convforge_training_steps_total", ())] >= first[("convforge_training_steps_total", ())] + 20
    assert second[("convforge_training_images_total", ())] > first[("convforge_training_images_total", ())]
    assert second[("convforge_training_step_seconds_count", ())] == second[("convforge_training_steps_total", ())]
    assert second[("convforge_training_images_per_second", ())] > 0
    assert second[("convforge_worker_jobs_started_total", (("kind", "train"),))] == 1
    assert during[("convforge_jobs", (("status", "running"),))] == 1

    assert client.wait_final(job_id)["status"] == "succeeded"
    done = scrape(worker_metrics)
    assert done[("convforge_worker_jobs_finished_total", (("kind", "train"), ("outcome", "succeeded")))] == 1
    assert done[("convforge_job_run_seconds_count", (("kind", "train"), ("outcome", "succeeded")))] == 1
    assert done[("convforge_job_wait_seconds_count", (("kind", "train"),))] == 1
    after = scrape(api_metrics)
    assert after[("convforge_jobs", (("status", "succeeded"),))] == 1
    assert after[("convforge_queue_depth", ())] == 0
    # Both gunicorn processes' requests are counted, whichever process answers the scrape.
    polls = after[("convforge_api_request_seconds_count",
                   (("method", "GET"), ("route", "/api/v1/jobs/<id:job_id>"), ("status", "200")))]
    assert polls >= 3

    lines = [json.loads(line) for line in worker.log_tail(2000).splitlines() if line.startswith("{")]
    about_job = [line for line in lines if line.get("job_id") == job_id]
    assert about_job and all(line["attempt"] == 1 for line in about_job)
