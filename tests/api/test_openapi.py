import re


def test_every_api_route_is_documented(app, client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {rule.rule} is not in openapi.json"


def test_every_reference_resolves(client):
    document = client.get("/api/v1/openapi.json").json
    text = str(document)
    references = set(re.findall(r"#/components/schemas/([\w\-\[\]\.]+)", text))
    assert references and references <= set(document["components"]["schemas"])


def test_job_request_documents_both_kinds_and_their_params(client):
    document = client.get("/api/v1/openapi.json").json
    post = document["paths"]["/api/v1/jobs"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert len(schema["oneOf"]) == 2
    train = document["components"]["schemas"]["TrainParams"]["properties"]
    assert {"epochs", "batch_size", "optimizer", "schedule", "seed", "validation_split", "workers", "augment",
            "checkpoint_every_steps"} <= set(train)
    assert "503" in post["responses"] and "202" in post["responses"]
    listing = document["paths"]["/api/v1/jobs"]["get"]
    assert {"limit", "cursor", "status", "If-None-Match"} <= {p["name"] for p in listing["parameters"]}
    upload = document["paths"]["/api/v1/datasets"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload


def test_document_is_valid_openapi_3_1(client):
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").json)


def test_job_list_item_documents_params_and_the_result_summary(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    item = schemas["JobListItem"]
    assert {"params", "result_summary"} <= set(item["required"])
    assert {"$ref": "#/components/schemas/ResultSummary"} in item["properties"]["result_summary"]["anyOf"]
    assert set(schemas["ResultSummary"]["properties"]) == {"accuracy", "loss", "macro_f1", "split", "test_time_flip"}
