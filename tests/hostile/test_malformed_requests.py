"""Requests that once answered 500 or were accepted although nonsense: each now gets a 4xx problem
document that says what is wrong and where, and leaves nothing in the artifact store."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from shared.limits import MAX_CLASS_NAME_CHARS, MAX_JSON_DEPTH
from tests.hostile import crafted

TINY = {"name": "t", "input_shape": [1, 8, 8], "layers": [{"type": "flatten"}, {"type": "dense", "units": 2}]}


def with_first_layer(layer: dict) -> dict:
    return {**TINY, "layers": [layer, *TINY["layers"]]}


def assert_problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body = response.json
    text = json.dumps(body)
    for word in words:
        assert word in text, (word, text[:500])
    return body


def upload(client, data: bytes, filename: str, **form):
    return client.post("/api/v1/datasets", data={"file": (io.BytesIO(data), filename), **form},
                       content_type="multipart/form-data")


def stored_folders(settings) -> list[str]:
    root = settings.artifact_dir / "datasets"
    return sorted(os.listdir(root)) if root.exists() else []


# -- JSON bodies -------------------------------------------------------------------------------------

def test_json_nested_100000_deep_is_a_400_naming_the_depth_limit(client):
    response = client.post("/api/v1/networks/validate", data=crafted.deep_json(),
                           content_type="application/json")
    assert_problem(response, 400, f"nested more than {MAX_JSON_DEPTH} levels")


def test_json_just_past_the_depth_limit_is_refused_and_at_it_is_read(client):
    # The body's object is level 1; "extra" adds its own levels.
    too_deep = {**TINY, "extra": json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)}
    assert_problem(client.post("/api/v1/networks/validate", json=too_deep), 400, "nested")
    deep_enough = {**TINY, "extra": json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))}
    # It parses; the schema then refuses the unknown field.
    assert_problem(client.post("/api/v1/networks/validate", json=deep_enough), 422, "unknown field")


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
@pytest.mark.parametrize("path,body", [
    ("/api/v1/networks/validate", '{"input_shape": [1, 8, 8], "layers": [{"type": "batchnorm", "eps": %s}, '
                                  '{"type": "flatten"}, {"type": "dense", "units": 2}]}'),
    ("/api/v1/jobs", '{"kind": "train", "network_id": 1, "dataset_id": 1, "params": {"schedule": '
                     '{"type": "cosine", "min_lr": %s}}}'),
])
def test_non_standard_json_numbers_are_refused_wherever_they_appear(client, path, body, constant):
    response = client.post(path, data=body % constant, content_type="application/json")
    assert_problem(response, 400, constant.lstrip("-"), "not a JSON number")


@pytest.mark.parametrize("field,value", [("eps", float("inf")), ("eps", float("nan")), ("momentum", float("nan"))])
def test_engine_schemas_refuse_non_finite_numbers_given_directly(field, value):
    from shared.cnn import DefinitionError, parse_definition

    with pytest.raises(DefinitionError) as caught:
        parse_definition(with_first_layer({"type": "batchnorm", field: value}))
    assert "finite" in str(caught.value.errors)


def test_job_schedule_refuses_a_non_finite_min_lr_given_directly():
    from pydantic import ValidationError

    from shared.jobs import TrainParams

    with pytest.raises(ValidationError, match="finite"):
        TrainParams.model_validate({"schedule": {"type": "cosine", "min_lr": float("inf")}})


# -- strict types ------------------------------------------------------------------------------------

@pytest.mark.parametrize("input_shape", [["1", 8, 8], [True, 8, 8], [1, 8.0, 8], "1", True])
def test_input_shape_must_be_whole_numbers_not_text_or_booleans(client, input_shape):
    response = client.post("/api/v1/networks/validate", json={**TINY, "input_shape": input_shape})
    body = assert_problem(response, 422, "input_shape")
    assert body["errors"][0]["loc"] == ["input_shape"]


@pytest.mark.parametrize("layer,field", [
    ({"type": "dropout", "rate": False}, "rate"),
    ({"type": "dropout", "rate": "0.5"}, "rate"),
    ({"type": "batchnorm", "eps": True}, "eps"),
    ({"type": "conv2d", "filters": "2", "kernel_size": 1}, "filters"),
    ({"type": "conv2d", "filters": 2, "kernel_size": 1, "bias": "yes"}, "bias"),
])
def test_layer_numbers_and_flags_have_strict_types(client, layer, field):
    response = client.post("/api/v1/networks/validate", json=with_first_layer(layer))
    body = assert_problem(response, 422, field)
    assert body["errors"][0]["loc"][:3] == ["layers", 0, field]


def test_whole_numbers_are_still_accepted_where_a_real_number_is_expected(client):
    response = client.post("/api/v1/networks/validate", json=with_first_layer({"type": "batchnorm", "momentum": 1}))
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("name", ["a\nb", "tab\there", "nul\x00", "bell\x07", "rtl\u202eoverride"])
def test_network_and_layer_names_with_control_characters_are_refused(client, name):
    assert_problem(client.post("/api/v1/networks", json={**TINY, "name": name}), 422, "control")
    layer = {"type": "flatten", "name": name}
    assert_problem(client.post("/api/v1/networks", json={**TINY, "layers": [layer, TINY["layers"][1]]}),
                   422, "control")
    assert client.get("/api/v1/networks").json["items"] == []


def test_a_plain_unicode_name_is_kept(client):
    response = client.post("/api/v1/networks", json={**TINY, "name": "réseau ü 网络"})
    assert response.status_code == 201
    model_name = response.json["name"]
    assert model_name == "réseau ü 网络"


# -- dataset uploads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,data_bytes,words", [
    ("(-1, -4, 1, 4)", 16, ("dimensions must be 0 or more",)),
    ("(4294967296, 4294967296, 1, 1)", 0, ("18446744073709551616 bytes",)),
])
def test_npz_headers_with_negative_or_overflowing_dims_are_422(client, settings, shape, data_bytes, words):
    response = upload(client, crafted.npz_with_x_shape(shape, data_bytes), "x.npz")
    body = assert_problem(response, 422, *words)
    assert body["errors"][0]["loc"] == ["file", "x_train"]
    assert stored_folders(settings) == []


def test_zero_size_images_are_422(client, settings):
    assert_problem(upload(client, crafted.zero_size_images(), "x.npz"), 422, "hold no pixels")
    assert stored_folders(settings) == []


def test_a_one_column_csv_is_422(client, settings):
    assert_problem(upload(client, crafted.one_column_csv(), "x.csv"), 422, "at least one pixel column")
    assert stored_folders(settings) == []


def test_class_names_that_are_not_utf8_are_422(client, settings):
    assert_problem(upload(client, crafted.non_utf8_class_names(), "x.npz"), 422, "UTF-8")
    assert stored_folders(settings) == []


def test_labels_past_int64_are_422_and_leave_no_folder(client, settings):
    body = assert_problem(upload(client, crafted.labels_past_int64(), "x.npz"), 422,
                          "which needs more than the limit of")
    assert body["errors"][0]["loc"] == ["file", "y_train", 2]
    assert stored_folders(settings) == []


def test_labels_past_the_class_limit_are_refused_before_any_array_is_sized_by_them(client, settings):
    labels = np.array([0, 1, 0, settings.max_classes], dtype=np.int64)
    body = assert_problem(upload(client, crafted.npz_bytes(crafted.tiny_images(), labels), "x.npz"), 422,
                          f"more than the limit of {settings.max_classes} classes")
    assert body["errors"][0]["loc"] == ["file", "y_train", 3]


def test_duplicate_class_names_are_400_from_the_form_and_422_from_the_npz(client, settings):
    images, labels = crafted.tiny_images(), np.array([0, 1, 0, 1])
    assert_problem(upload(client, crafted.npz_bytes(images, labels), "x.npz", classes="cat,cat"), 400,
                   "both 'cat'")
    assert_problem(upload(client, crafted.npz_bytes(images, labels, classes=np.array(["a", "a"])), "x.npz"),
                   422, "both 'a'")
    assert stored_folders(settings) == []


@pytest.mark.parametrize("names", ["a\x00,b", "a\nb,c", "a,\x1b[31mred"])
def test_class_names_in_the_form_with_control_characters_are_400(client, settings, names):
    images, labels = crafted.tiny_images(), np.array([0, 1, 0, 1])
    assert_problem(upload(client, crafted.npz_bytes(images, labels), "x.npz", classes=names), 400, "control")
    assert stored_folders(settings) == []


def test_a_40_mb_class_name_is_refused_from_its_header_without_being_read(client, settings):
    response = upload(client, crafted.huge_class_name(1_000_000), "x.npz")
    assert_problem(response, 413, "the class names expands to", "more than the limit of")
    assert stored_folders(settings) == []


def test_class_names_past_the_length_or_count_limit_are_400(client, settings):
    images, labels = crafted.tiny_images(), np.array([0, 1, 0, 1])
    too_long = "a" * (MAX_CLASS_NAME_CHARS + 1)
    assert_problem(upload(client, crafted.npz_bytes(images, labels), "x.npz", classes=f"{too_long},b"), 400,
                   f"each must have 1 to {MAX_CLASS_NAME_CHARS}")
    too_many = ",".join(f"c{index}" for index in range(settings.max_classes + 1))
    assert_problem(upload(client, crafted.npz_bytes(images, labels), "x.npz", classes=too_many), 400,
                   f"more than the limit of {settings.max_classes}")
    assert stored_folders(settings) == []


def test_a_dataset_name_with_control_characters_is_422(client, settings):
    images, labels = crafted.tiny_images(), np.array([0, 1, 0, 1])
    assert_problem(upload(client, crafted.npz_bytes(images, labels), "x.npz", name="bad\nname"), 422, "control")


def test_class_folder_names_with_control_characters_are_422(client, settings):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok/1.png", crafted.png(4, 4))
        archive.writestr("bad\x1bname/1.png", crafted.png(4, 4))
    body = assert_problem(upload(client, buffer.getvalue(), "x.zip"), 422, "control")
    assert body["errors"][0]["loc"][-1] == 0
    assert stored_folders(settings) == []


def test_a_model_of_a_network_stored_with_a_newline_in_its_name_still_downloads(client, sessions, settings,
                                                                                dataset_id):
    from sqlalchemy import update

    from shared.db.models import Network
    from tests.api.test_jobs import add_model

    network_id = client.post("/api/v1/networks", json={**TINY, "name": "before"}).json["id"]
    with sessions() as session:  # stored before such names were refused
        session.execute(update(Network).where(Network.id == network_id).values(name="bad\nname"))
        session.commit()
    model_id = add_model(sessions, settings, network_id, dataset_id)

    download = client.get(f"/api/v1/models/{model_id}/download")

    assert download.status_code == 200
    assert f"model-{model_id}-badname.npz" in download.headers["Content-Disposition"]


@pytest.mark.parametrize("params,field", [
    ({"epochs": "3"}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"validation_split": False}, "validation_split"),
    ({"augment": {"flip": "yes"}}, "augment"),
    ({"optimizer": {"type": "sgd", "lr": "0.1"}}, "optimizer"),
])
def test_job_parameters_have_strict_types(client, queue, network_id, dataset_id, params, field):
    response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                                 "dataset_id": dataset_id, "params": params})
    body = assert_problem(response, 422, field)
    assert field in body["errors"][0]["loc"]
    assert queue.sent == []
