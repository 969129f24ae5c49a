from tests.api.test_jobs import add_model

PROBLEM = "application/problem+json"


def test_get_list_and_download(client, sessions, settings, network_id, dataset_id):
    model_id = add_model(sessions, settings, network_id, dataset_id)
    model = client.get(f"/api/v1/models/{model_id}").json
    assert model["network"]["name"] == "tiny" and model["dataset"]["id"] == dataset_id
    assert model["metrics"] == {"accuracy": 0.5}
    assert [item["id"] for item in client.get("/api/v1/models").json["items"]] == [model_id]
    download = client.get(model["download_url"])
    assert download.status_code == 200 and download.data == b"model bytes"
    assert "model-1-tiny.npz" in download.headers["Content-Disposition"]


def test_missing_model_and_missing_file_are_404(client, sessions, settings, network_id, dataset_id):
    assert client.get("/api/v1/models/5").status_code == 404
    assert client.get("/api/v1/models/5/download").status_code == 404
    model_id = add_model(sessions, settings, network_id, dataset_id)
    (settings.artifact_dir / "models" / "m.npz").unlink()
    response = client.get(f"/api/v1/models/{model_id}/download")
    assert response.status_code == 404 and response.mimetype == PROBLEM


def test_bad_model_list_query_is_400(client):
    assert client.get("/api/v1/models?limit=-5").status_code == 400
