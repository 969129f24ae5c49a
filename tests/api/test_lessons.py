"""GET /api/v1/lessons/convolution: one layer worked through by the engine."""
import numpy as np

from shared.cnn import build_network

LESSON = "/api/v1/lessons/convolution"


def test_default_is_the_lesson_example_and_its_numbers_are_the_engines(client):
    body = client.get(LESSON).json
    assert body["layer"]["output_shape"] == [2, 3, 3] and body["layer"]["params"] == 56
    assert body["layer"]["window"]["padding"] == [1, 1, 1, 1]
    assert np.asarray(body["input"]).shape == (3, 5, 5)
    # the engine's forward pass with the weights the lesson answers gives its output
    net = build_network(body["definition"], dtype="float64")
    np.copyto(net.params["conv2d_1.weight"], body["weight"])
    np.copyto(net.params["conv2d_1.bias"], body["bias"])
    expected = net.forward(np.asarray(body["input"])[None])[0]
    assert np.array_equal(np.asarray(body["output"]), expected)
    # each output value is its products summed across the whole depth, plus the bias
    terms = np.asarray(body["terms"])
    assert terms.shape == (2, 3, 3, 3, 3, 3)
    sums = terms.sum(axis=(3, 4, 5)) + np.asarray(body["bias"])[:, None, None]
    assert np.array_equal(sums, expected)


def test_stride_1_gives_5x5x2(client):
    assert client.get(f"{LESSON}?stride=1").json["layer"]["output_shape"] == [2, 5, 5]


def test_max_and_mean_pooling(client):
    pooled = client.get(f"{LESSON}?kind=maxpool2d&kernel=2&stride=2&padding=1").json
    assert pooled["layer"]["output_shape"] == [3, 3, 3] and pooled["weight"] is None
    terms = pooled["terms"][0][0][0][0]
    assert terms[0] == [None, None] and terms[1][0] is None  # padding is never the maximum
    assert pooled["output"][0][0][0] == pooled["input"][0][0][0]
    mean = client.get(f"{LESSON}?kind=avgpool2d&kernel=2&stride=2&padding=1").json
    assert mean["output"][0][0][0] == mean["input"][0][0][0] / 4  # three zeros of padding counted


def test_impossible_settings_get_the_engines_error(client):
    response = client.get(f"{LESSON}?height=2&width=2&padding=0&kernel=3")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.json["errors"][0]["loc"] == ["layers", 0, "kernel_size"]
    same = client.post("/api/v1/networks/validate", json={"input_shape": [3, 2, 2], "layers": [
        {"type": "conv2d", "filters": 2, "kernel_size": 3, "stride": 2, "padding": 0}]})
    assert same.json["errors"] == response.json["errors"]
    pooled = client.get(f"{LESSON}?kind=maxpool2d&dilation=2")
    assert pooled.status_code == 400 and pooled.json["errors"][0]["loc"] == ["query", "dilation"]


def test_sizes_are_bounded(client):
    response = client.get(f"{LESSON}?height=500")
    assert response.status_code == 400
    assert response.json["errors"][0]["loc"] == ["query", "height"]
