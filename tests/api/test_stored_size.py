"""What a definition makes the API store and send stays bounded: job views link the network's summary
instead of carrying it, definitions have at most MAX_LAYERS layers, and a summary at most
MAX_SUMMARY_BYTES."""
from __future__ import annotations

import json

from services.api.resources import networks
from shared.cnn.definition import MAX_LAYERS

# The report's case: 100 stride-2 convolutions on a [1, 100000, 1] input.
STRIDED = {"name": "strided", "input_shape": [1, 100_000, 1],
           "layers": [{"type": "conv2d", "filters": 1, "kernel_size": [1, 1], "stride": [2, 1]}] * 100}


def test_a_job_view_links_the_summary_and_stays_small(client, dataset_id):
    definition = {**STRIDED, "input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "filters": 2, "kernel_size": 1, "name": f"conv_{i}"} for i in range(MAX_LAYERS - 2)]
        + [{"type": "flatten"}, {"type": "dense", "units": 3}]}
    network = client.post("/api/v1/networks", json=definition)
    assert network.status_code == 201, network.json
    job = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network.json["id"],
                                            "dataset_id": dataset_id})
    assert job.status_code == 202, job.json

    view = client.get(job.json["url"])
    assert "summary" not in view.json["network"]
    assert len(view.data) < 4096 < len(json.dumps(network.json["summary"]))
    summary = client.get(view.json["network"]["summary_url"])
    assert summary.json["total_params"] == network.json["summary"]["total_params"]
    assert len(summary.json["layers"]) == MAX_LAYERS


def test_the_reported_definition_is_stored_small(client):
    response = client.post("/api/v1/networks", json=STRIDED)
    assert response.status_code == 201, response.json
    stored = len(json.dumps(client.get(response.json["url"]).json["summary"]))
    assert stored < 256 * 1024


def test_a_definition_of_more_layers_than_the_limit_is_refused_with_it(client):
    definition = {**STRIDED, "input_shape": [1, 4, 4], "layers": [{"type": "relu"}] * (MAX_LAYERS + 1)}
    response = client.post("/api/v1/networks/validate", json=definition)
    assert response.status_code == 422
    assert f"at most {MAX_LAYERS} items" in response.json["detail"]


def test_the_largest_definitions_summarise_within_the_limit(client):
    # Every layer with the longest name and a long explanation (rows never read).
    layers = [{"type": "conv2d", "filters": 1, "kernel_size": [1, 1], "stride": [2, 1], "name": f"c{i}".ljust(64, "x")}
              for i in range(16)]
    layers += [{"type": "relu", "name": f"r{i}".ljust(64, "x")} for i in range(MAX_LAYERS - 16)]
    response = client.post("/api/v1/networks/validate", json={"name": "n" * 128, "input_shape": [1, 100_000, 1],
                                                              "layers": layers})
    assert response.status_code == 200, response.json
    assert len(json.dumps(response.json["summary"])) <= networks.MAX_SUMMARY_BYTES


def test_a_summary_over_the_byte_limit_is_refused_with_its_size_and_the_limit(client, monkeypatch):
    monkeypatch.setattr(networks, "MAX_SUMMARY_BYTES", 10_000)
    response = client.post("/api/v1/networks", json=STRIDED)
    assert response.status_code == 422
    assert "the limit is 10,000 bytes" in response.json["detail"]
    assert response.json["errors"][0]["loc"] == ["layers"]
    assert client.get("/api/v1/networks").json["items"] == []
