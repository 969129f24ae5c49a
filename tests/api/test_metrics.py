"""The API's Prometheus /metrics: jobs by status, queue depth, request latency by route."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def request_count(scraped: dict, method: str, route: str, status: str) -> float:
    return scraped.get(("convforge_api_request_seconds_count",
                        (("method", method), ("route", route), ("status", status))), 0.0)


def test_jobs_by_status_queue_depth_and_request_latency(client, train_job, queue):
    before = samples(client)
    assert before[("convforge_jobs", (("status", "queued"),))] == 1
    assert before[("convforge_jobs", (("status", "running"),))] == 0
    assert before[("convforge_queue_depth", ())] == len(queue.sent) == 1
    assert client.post(f"/api/v1/jobs/{train_job['id']}/cancel").status_code == 200
    client.get(f"/api/v1/jobs/{train_job['id']}")
    client.get("/api/v1/jobs/999")
    after = samples(client)
    assert after[("convforge_jobs", (("status", "cancelled"),))] == 1
    assert after[("convforge_jobs", (("status", "queued"),))] == 0
    route = "/api/v1/jobs/<id:job_id>"
    assert request_count(after, "GET", route, "200") == request_count(before, "GET", route, "200") + 1
    assert request_count(after, "GET", route, "404") == request_count(before, "GET", route, "404") + 1
    assert request_count(after, "POST", "/api/v1/jobs", "202") >= 1
    assert not any(labels and dict(labels).get("route") == "/metrics" for _name, labels in after)


def test_prometheus_scrapes_without_a_token_while_the_api_still_asks_for_one(anonymous_client):
    scraped = samples(anonymous_client)
    assert ("convforge_jobs", (("status", "queued"),)) in scraped
    assert anonymous_client.get("/api/v1/jobs").status_code == 401
