import copy

from tests.api.conftest import LENET5

PROBLEM = "application/problem+json"


def test_create_answers_summary_and_location(client):
    response = client.post("/api/v1/networks", json=LENET5)
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"/api/v1/networks/{body['id']}"
    assert body["summary"]["total_params"] == 61_706
    assert [layer["name"] for layer in body["summary"]["layers"]][:2] == ["conv2d_1", "relu_1"]
    assert body["summary"]["layers"][0]["output_shape"] == [6, 28, 28]
    assert body["definition"]["layers"][0]["name"] == "conv2d_1"


def test_bad_layer_is_422_with_its_location(client):
    definition = copy.deepcopy(LENET5)
    definition["layers"][3]["kernel_size"] = 50
    response = client.post("/api/v1/networks", json=definition)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.json["errors"][0]["loc"] == ["layers", 3, "kernel_size"]
    assert response.json["type"] == "urn:convforge:problem:validation"
    assert "conv2d_2" in response.json["errors"][0]["msg"]
    assert client.get("/api/v1/networks").json["items"] == []


def test_unknown_layer_type_is_422(client):
    definition = copy.deepcopy(LENET5)
    definition["layers"][1] = {"type": "softplus"}
    response = client.post("/api/v1/networks", json=definition)
    assert response.status_code == 422
    assert response.json["errors"][0]["loc"][:2] == ["layers", 1]


def test_definition_must_be_an_object(client):
    response = client.post("/api/v1/networks", json=[1, 2])
    assert response.status_code == 422
    assert response.json["errors"][0]["loc"] == []


def test_validate_does_not_store(client):
    response = client.post("/api/v1/networks/validate", json=LENET5)
    assert response.status_code == 200
    assert response.json["valid"] is True
    assert response.json["summary"]["total_params"] == 61_706
    assert client.get("/api/v1/networks").json["items"] == []


def test_validate_reports_errors(client):
    definition = copy.deepcopy(LENET5)
    definition["layers"][0]["filters"] = 0
    response = client.post("/api/v1/networks/validate", json=definition)
    assert response.status_code == 422
    assert response.json["errors"][0]["loc"] == ["layers", 0, "filters"]


def test_get_and_list(client):
    first = client.post("/api/v1/networks", json=LENET5).json["id"]
    second = client.post("/api/v1/networks", json={**LENET5, "name": "other"}).json["id"]
    got = client.get(f"/api/v1/networks/{first}")
    assert got.status_code == 200 and got.json["name"] == "lenet5"
    listed = client.get("/api/v1/networks").json
    assert [item["id"] for item in listed["items"]] == [second, first]
    assert listed["next_cursor"] is None


def test_missing_network_is_404_problem(client):
    response = client.get("/api/v1/networks/999")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert "999" in response.json["detail"]


def test_summary_formats(client):
    network_id = client.post("/api/v1/networks", json=LENET5).json["id"]
    as_json = client.get(f"/api/v1/networks/{network_id}/summary")
    assert as_json.json["total_params"] == 61_706
    as_text = client.get(f"/api/v1/networks/{network_id}/summary?format=text")
    assert as_text.mimetype == "text/plain" and "61,706" in as_text.get_data(as_text=True)
    explained = client.get(f"/api/v1/networks/{network_id}/summary?format=explain").get_data(as_text=True)
    assert "conv2d_1" in explained and "156" in explained


def test_summary_bad_format_is_400(client):
    network_id = client.post("/api/v1/networks", json=LENET5).json["id"]
    response = client.get(f"/api/v1/networks/{network_id}/summary?format=yaml")
    assert response.status_code == 400
    assert response.json["errors"][0]["loc"] == ["query", "format"]


def test_summary_teaches_the_lesson_numbers(client):
    lesson = {"name": "lesson", "input_shape": [3, 5, 5], "layers": [
        {"type": "conv2d", "filters": 2, "kernel_size": 3, "stride": 2, "padding": 1}]}
    network = client.post("/api/v1/networks", json=lesson).json
    conv = network["summary"]["layers"][0]
    assert conv["params"] == 56 and conv["output_shape"] == [2, 3, 3]
    assert conv["dense_equivalent_params"] == 1368
    assert conv["receptive_field"] == {"size": [3, 3], "jump": [2, 2]}
    explained = client.get(f"/api/v1/networks/{network['id']}/summary?format=explain").get_data(as_text=True)
    assert "(F*F*D_in + 1) * K = (3*3*3 + 1) * 2 = 56" in explained
    assert "would need 1,368 parameters; the convolution needs 56" in explained
    as_text = client.get(f"/api/v1/networks/{network['id']}/summary?format=text").get_data(as_text=True)
    assert "3x3, jump 2" in as_text


def test_openapi_documents_receptive_field_and_dense_equivalent(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    layer = schemas["LayerSummaryView"]["properties"]
    assert {"receptive_field", "dense_equivalent_params"} <= set(layer)
