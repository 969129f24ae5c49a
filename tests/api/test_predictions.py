"""POST /models/{id}/predict and /feature-maps, GET /models/{id}/export, with a real saved model."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from services.api.inference.limits import MAX_PREDICT_INPUTS
from shared.data.pipeline import prepare_batch
from shared.db.models import Model
from shared.storage import open_store
from tests.api.conftest import upload
from tests.api.saved_model import CLASSES, MEAN, STD, add_saved_model, lenet  # noqa: F401

PROBLEM = "application/problem+json"


def png(pixels: np.ndarray, mode: str = "L") -> io.BytesIO:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def engine_top1(net, samples) -> np.ndarray:
    return net.forward(prepare_batch(samples, MEAN, STD)).argmax(axis=1)


def test_png_images_get_top_k_names_and_probabilities(client, lenet):
    model_id, net = lenet
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    files = [(png(image), f"img{i}.png") for i, image in enumerate(pixels)]
    response = client.post(f"/api/v1/models/{model_id}/predict?top_k=3", data={"file": files},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    predictions = response.json["predictions"]
    assert [p["input"] for p in predictions] == ["img0.png", "img1.png", "img2.png"]
    expected = engine_top1(net, pixels[:, None])
    for prediction, label in zip(predictions, expected):
        top = prediction["top"]
        assert len(top) == 3 and top[0]["class_index"] == label and top[0]["class_name"] == CLASSES[label]
        assert top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"] > 0


def test_colour_and_larger_images_are_converted_like_dataset_images(client, lenet):
    model_id, net = lenet
    rgb = np.random.default_rng(2).integers(0, 256, (56, 40, 3), dtype=np.uint8)
    response = client.post(f"/api/v1/models/{model_id}/predict", data={"file": (png(rgb, "RGB"), "big.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    converted = np.asarray(Image.fromarray(rgb).convert("L").resize((28, 28), Image.Resampling.BILINEAR))
    assert response.json["predictions"][0]["top"][0]["class_index"] == engine_top1(net, converted[None, None])[0]


def test_arrays_as_json_npy_and_npz_agree(client, lenet):
    model_id, net = lenet
    samples = np.random.default_rng(3).integers(0, 256, (4, 1, 28, 28), dtype=np.uint8)
    expected = engine_top1(net, samples).tolist()
    as_json = client.post(f"/api/v1/models/{model_id}/predict", json={"inputs": samples.tolist()})
    npy, npz = io.BytesIO(), io.BytesIO()
    np.save(npy, samples)
    np.savez(npz, x=samples)
    npy.seek(0)
    npz.seek(0)
    as_npy = client.post(f"/api/v1/models/{model_id}/predict", data={"file": (npy, "x.npy")},
                         content_type="multipart/form-data")
    as_npz = client.post(f"/api/v1/models/{model_id}/predict", data={"file": (npz, "x.npz")},
                         content_type="multipart/form-data")
    for response in (as_json, as_npy, as_npz):
        assert response.status_code == 200, response.json
        assert [p["top"][0]["class_index"] for p in response.json["predictions"]] == expected
    assert as_npy.json["predictions"][1]["input"] == "x.npy[1]"
    floats = (samples[0] / 255).astype(np.float32)  # one (C, H, W) sample of floats, used as given
    single = client.post(f"/api/v1/models/{model_id}/predict", json={"inputs": floats.tolist()})
    assert single.json["predictions"][0]["top"][0]["class_index"] == expected[0]


@pytest.mark.parametrize("body, status, words", [
    ({"inputs": np.zeros((2, 1, 27, 28)).tolist()}, 422, "expected (N, 1, 28, 28)"),
    ({"inputs": [[1, 2], [3]]}, 422, "rectangular"),
    ({"inputs": np.zeros((MAX_PREDICT_INPUTS + 1, 1, 28, 28), dtype=np.uint8).tolist()}, 413, "at most 64"),
    ({"images": []}, 422, '{"inputs"'),
])
def test_bad_json_inputs_are_problems(client, lenet, body, status, words):
    response = client.post(f"/api/v1/models/{lenet[0]}/predict", json=body)
    assert response.status_code == status and response.mimetype == PROBLEM
    assert words in response.json["detail"]


def test_nan_is_refused(client, lenet):
    inputs = np.zeros((1, 28, 28)).tolist()
    inputs[0][3][4] = float("nan")
    response = client.post(f"/api/v1/models/{lenet[0]}/predict", data=json.dumps({"inputs": inputs}),
                           content_type="application/json")
    assert response.status_code == 422 and "NaN" in response.json["detail"]


def test_not_an_image_and_a_pickle_are_refused(client, lenet):
    model_id = lenet[0]
    text = client.post(f"/api/v1/models/{model_id}/predict", data={"file": (io.BytesIO(b"hello"), "a.png")},
                       content_type="multipart/form-data")
    assert text.status_code == 422 and "not a PNG or JPEG" in text.json["detail"]
    assert text.json["errors"][0]["loc"] == ["file", 0]
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    pickled.seek(0)
    response = client.post(f"/api/v1/models/{model_id}/predict", data={"file": (pickled, "x.npy")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "never" in response.json["detail"]


def test_too_large_image_and_body_are_413(client, lenet, monkeypatch):
    import services.api.inference.inputs as inputs

    monkeypatch.setattr(inputs, "MAX_IMAGE_PIXELS", 30 * 30)
    big = client.post(f"/api/v1/models/{lenet[0]}/predict", data={"file": (png(np.zeros((40, 40), np.uint8)), "b.png")},
                      content_type="multipart/form-data")
    assert big.status_code == 413 and "at most 900" in big.json["detail"]
    monkeypatch.setattr(inputs, "MAX_PREDICT_BODY_BYTES", 1000)
    body = client.post(f"/api/v1/models/{lenet[0]}/predict", json={"inputs": np.zeros((1, 28, 28)).tolist()})
    assert body.status_code == 413 and body.mimetype == PROBLEM
    assert "predict takes at most 1,000" in body.json["detail"]


def test_top_k_beyond_the_classes_and_unknown_model(client, lenet):
    response = client.post(f"/api/v1/models/{lenet[0]}/predict?top_k=11", json={"inputs": [[[0] * 28] * 28]})
    assert response.status_code == 400 and response.json["errors"][0]["loc"] == ["query", "top_k"]
    assert client.post("/api/v1/models/99/predict", json={"inputs": []}).status_code == 404


def test_models_are_loaded_once_and_the_cache_is_bounded(app, client, lenet, sessions, settings, tmp_path):
    from services.api.inference.loaded import model_cache
    from services.api.inference.model_cache import ModelCache

    model_id, _ = lenet
    for _ in range(3):
        assert client.post(f"/api/v1/models/{model_id}/predict", json={"inputs": [[[0] * 28] * 28]}).status_code == 200
    with app.app_context():
        cache = model_cache()
    assert cache.loads == 1 and len(cache) == 1
    small = ModelCache(open_store(settings), tmp_path, max_bytes=cache.total_bytes() + 1)
    for seed in (1, 2):
        other_id, _ = add_saved_model(sessions, settings, 1, 1, seed=seed)
        row = sessions().get(Model, other_id)
        small.get(row.id, row.sha256, row.path)
    assert len(small) == 1 and small.total_bytes() <= small.max_bytes


def test_feature_maps_show_every_layer(client, lenet):
    model_id, net = lenet
    image = np.random.default_rng(4).integers(0, 256, (28, 28), dtype=np.uint8)
    response = client.post(f"/api/v1/models/{model_id}/feature-maps", data={"file": (png(image), "x.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    body = response.json
    layers = body["layers"]
    assert [layer["name"] for layer in layers] == [plan.name for plan in net.summary.plans]
    assert layers[0]["output_shape"] == [6, 28, 28] and len(layers[0]["tiles"]) == 6
    assert layers[2]["output_shape"] == [6, 14, 14] and np.array(layers[2]["values"]).shape == (6, 14, 14)
    tile = Image.open(io.BytesIO(__import__("base64").b64decode(layers[2]["tiles"][0].split(",", 1)[1])))
    assert tile.size == (14, 14)
    assert layers[0]["explain"].startswith("conv2d_1: W2 = (28 - 5 + 2*2)/1 + 1 = 28")
    assert body["first_conv"] == "conv2d_1" and len(body["filters"]) == 6
    logits = net.forward(prepare_batch(image[None, None], MEAN, STD))
    np.testing.assert_allclose(layers[-1]["values"], logits[0], rtol=1e-6)
    assert body["top"][0]["class_index"] == int(logits.argmax()) and len(body["probabilities"]) == 10


def test_onnx_export_runs_like_the_engine(client, lenet, settings, sessions):
    ort = pytest.importorskip("onnxruntime")
    model_id, net = lenet
    sha256 = sessions().get(Model, model_id).sha256
    response = client.get(f"/api/v1/models/{model_id}/export?format=onnx")
    assert response.status_code == 200 and response.mimetype == "application/onnx"
    assert f"model-{model_id}-lenet5.onnx" in response.headers["Content-Disposition"]
    session = ort.InferenceSession(response.data, providers=["CPUExecutionProvider"])
    samples = np.random.default_rng(5).integers(0, 256, (8, 1, 28, 28), dtype=np.uint8)
    logits = session.run(["logits"], {"pixels": samples.astype(np.float32) / 255})[0]
    np.testing.assert_allclose(logits, net.forward(prepare_batch(samples, MEAN, STD)), atol=1e-5)
    assert open_store(settings).keys("exports/") == [f"exports/model-{model_id}-{sha256}.onnx"]  # built once
    again = client.get(f"/api/v1/models/{model_id}/export?format=onnx")
    assert again.status_code == 200 and again.data == response.data
    assert client.get(f"/api/v1/models/{model_id}/export?format=tflite").status_code == 400


def test_a_stored_test_image_is_served_by_index(client, lenet):
    rng = np.random.default_rng(0)
    x_test = rng.integers(0, 256, (5, 1, 28, 28), dtype=np.uint8)
    dataset_id = upload(client, npz_arrays(x_train=x_test, y_train=np.arange(5), x_test=x_test,
                                           y_test=np.array([4, 3, 2, 1, 0])), name="split").json["id"]
    response = client.get(f"/api/v1/datasets/{dataset_id}/images/test/3")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["X-Class-Index"] == "1"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(response.data))), x_test[3, 0])
    assert client.get(f"/api/v1/datasets/{dataset_id}/images/test/5").status_code == 404
    assert client.get(f"/api/v1/datasets/{dataset_id}/images/validation/0").status_code == 404


def npz_arrays(**arrays) -> io.BytesIO:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    return buffer


def test_an_onnx_model_is_imported_for_a_dataset_and_predicts_the_same(client, lenet, settings):
    model_id, net = lenet
    exported = client.get(f"/api/v1/models/{model_id}/export?format=onnx").data
    dataset_id = client.get(f"/api/v1/models/{model_id}").json["dataset"]["id"]
    response = client.post("/api/v1/models/import", data={"file": (io.BytesIO(exported), "lenet.onnx"),
                                                           "dataset_id": str(dataset_id), "name": "from-onnx"},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    imported = response.json
    assert response.headers["Location"] == imported["url"] and imported["network"]["name"] == "from-onnx"
    network = client.get(imported["network"]["url"]).json
    assert network["summary"]["total_params"] == 61_706
    samples = np.random.default_rng(6).integers(0, 256, (5, 1, 28, 28), dtype=np.uint8).tolist()
    answers = [client.post(f"/api/v1/models/{ident}/predict?top_k=10", json={"inputs": samples}).json
               for ident in (model_id, imported["id"])]
    assert answers[0]["predictions"] == answers[1]["predictions"]


def test_an_onnx_import_that_does_not_fit_is_refused(client, lenet):
    dataset_id = client.get(f"/api/v1/models/{lenet[0]}").json["dataset"]["id"]
    bad = client.post("/api/v1/models/import", data={"file": (io.BytesIO(b"nope"), "x.onnx"), "dataset_id": str(dataset_id)},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "not a valid ONNX model" in bad.json["detail"]
    assert bad.json["errors"][0]["loc"] == ["file"]
    from shared.cnn import build_network
    from shared.export.onnx_export import export_onnx_bytes

    other = build_network({"input_shape": [1, 8, 8], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]})
    wrong = client.post("/api/v1/models/import", data={"file": (io.BytesIO(export_onnx_bytes(other, [0], [1])), "x.onnx"),
                                                       "dataset_id": str(dataset_id)}, content_type="multipart/form-data")
    assert wrong.status_code == 422 and "takes [1, 8, 8]" in wrong.json["detail"]
    unknown = client.post("/api/v1/models/import", data={"file": (io.BytesIO(b"x"), "x.onnx"), "dataset_id": "999"},
                          content_type="multipart/form-data")
    assert unknown.status_code == 422 and unknown.json["errors"][0]["loc"] == ["dataset_id"]


def test_an_import_that_cannot_be_recorded_leaves_no_object(app, client, lenet, settings, sessions, monkeypatch):
    model_id, _net = lenet
    exported = client.get(f"/api/v1/models/{model_id}/export").data
    dataset_id = client.get(f"/api/v1/models/{model_id}").json["dataset"]["id"]
    stored = open_store(settings).keys("models/")

    def refused(**_columns):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("services.api.resources.model_imports.Network", refused)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post("/api/v1/models/import", data={"file": (io.BytesIO(exported), "m.onnx"),
                                                           "dataset_id": str(dataset_id)},
                           content_type="multipart/form-data")
    assert response.status_code == 500
    assert open_store(settings).keys("models/") == stored
    assert sessions().query(Model).count() == 1
