"""The exported ONNX model, run in onnxruntime, gives the engine's logits (float32) and top-1 class,
for every example network and for random networks covering every layer type and window geometry."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from shared.cnn import DefinitionError, build_network, summarize
from shared.cnn.layers.registry import LAYER_TYPES
from shared.data.pipeline import prepare_batch
from shared.export.onnx_export import (INPUT_NAME, LAYER_EXPORTS, LOGITS_NAME, PROBABILITIES_NAME,
                                       export_onnx, export_onnx_bytes)

ort = pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.json"))
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    with np.load(REPO / "data" / "fashion-mnist-small.npz", allow_pickle=False) as archive:
        return archive["x_test"].reshape(-1, 1, 28, 28)[:256]


def with_trained_looking_state(net, seed: int):
    """Batchnorm weights and running statistics away from their initial 1s and 0s, so that the export
    of each is exercised (a fresh network's are the identity)."""
    rng = np.random.default_rng(seed)
    for key, value in net.state_arrays().items():
        if key.endswith("running_var") or (key.endswith(".weight") and value.ndim == 1):
            value[...] = rng.uniform(0.5, 1.5, value.shape)
        elif key.endswith("running_mean") or (key.endswith(".bias") and value.ndim == 1):
            value[...] += rng.normal(0, 0.2, value.shape).astype(value.dtype)
    return net


def run_both(net, images: np.ndarray, mean, std):
    session = ort.InferenceSession(export_onnx_bytes(net, mean, std), providers=["CPUExecutionProvider"])
    pixels = images.astype(np.float32) / 255
    onnx_logits, probabilities = session.run([LOGITS_NAME, PROBABILITIES_NAME], {INPUT_NAME: pixels})
    engine_logits = net.forward(prepare_batch(images, mean, std))
    return engine_logits, onnx_logits, probabilities


def relative_tolerance(engine_logits) -> float:
    """1e-5, or 1e-5 of the largest logit once logits pass 1: float32 keeps about 7 digits, so a deep
    network's random logits (ResNet's reach about 90) differ in their last digits between two correct
    orders of summation."""
    return TOLERANCE * max(1.0, float(np.abs(engine_logits).max()))


def as_input(images: np.ndarray, input_shape) -> np.ndarray:
    """28x28 grey test images as the network's input: zero-padded to its size, repeated over its channels."""
    channels, height, width = input_shape
    top, left = (height - images.shape[2]) // 2, (width - images.shape[3]) // 2
    padded = np.pad(images, ((0, 0), (0, 0), (top, height - images.shape[2] - top), (left, width - images.shape[3] - left)))
    return np.repeat(padded, channels, axis=1)


def assert_agree(engine_logits, onnx_logits, tolerance=TOLERANCE):
    assert onnx_logits.dtype == np.float32 and onnx_logits.shape == engine_logits.shape
    difference = float(np.abs(onnx_logits - engine_logits).max())
    assert difference <= tolerance, f"max |logit difference| {difference:.3g} > {tolerance:.3g}"
    np.testing.assert_array_equal(onnx_logits.argmax(axis=1), engine_logits.argmax(axis=1))


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.stem != "vgg16"], ids=lambda p: p.stem)
def test_example_networks_agree_on_real_test_images(path, test_images):
    net = with_trained_looking_state(build_network(json.loads(path.read_text()), seed=3), seed=4)
    channels = net.input_shape[0]
    engine_logits, onnx_logits, probabilities = run_both(net, as_input(test_images, net.input_shape),
                                                         [0.286] * channels, [0.353] * channels)
    assert_agree(engine_logits, onnx_logits, relative_tolerance(engine_logits))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.slow
def test_vgg16_agrees_relative_to_its_logits():
    """VGG16 (138M parameters, 224x224 RGB): 16 layers of float32 sums of up to 4,608 terms. Its random
    logits reach about 20, so the bound is 1e-5 of the largest logit (the absolute figure is reported)."""
    net = build_network(json.loads((REPO / "examples" / "vgg16.json").read_text()), seed=1)
    images = np.random.default_rng(0).integers(0, 256, (2, 3, 224, 224), dtype=np.uint8)
    engine_logits, onnx_logits, _ = run_both(net, images, [0.49, 0.48, 0.45], [0.25, 0.24, 0.26])
    assert_agree(engine_logits, onnx_logits, relative_tolerance(engine_logits))


def random_definition(rng: np.random.Generator, channels: int) -> dict:
    """A small network with random window geometry: kernel, stride, padding (int, pair, same, valid),
    dilation, pooling of both kinds, every activation, batchnorm on maps and on features, dropout."""
    layers, maps = [], channels
    for _ in range(rng.integers(1, 4)):
        padding = [int(rng.integers(0, 3)), [int(rng.integers(0, 3)), int(rng.integers(0, 3))], "same",
                   "valid"][rng.integers(0, 4)]
        layers.append({"type": "conv2d", "filters": int(rng.integers(2, 7)),
                       "kernel_size": [int(rng.integers(1, 5)), int(rng.integers(1, 5))],
                       "stride": int(rng.integers(1, 3)), "padding": padding,
                       "dilation": int(rng.integers(1, 3)), "bias": bool(rng.integers(0, 2))})
        if rng.random() < 0.5:
            layers.append({"type": "batchnorm", "eps": float(rng.choice([1e-5, 1e-3]))})
        layers.append(_activation(rng))
        maps = next(layer for layer in reversed(layers) if layer["type"] == "conv2d")["filters"]
        if rng.random() < 0.5:
            layers.append(_residual(rng, maps))
            maps = layers[-1]["layers"][0]["filters"]
        if rng.random() < 0.6:
            pool = int(rng.integers(2, 4))
            layers.append({"type": str(rng.choice(["maxpool2d", "avgpool2d"])), "pool_size": pool,
                           "stride": int(rng.integers(1, pool + 1)), "padding": int(rng.integers(0, pool // 2 + 1))})
    layers.append({"type": "global_avgpool2d"} if rng.random() < 0.4 else {"type": "flatten"})
    layers.append({"type": "dropout", "rate": 0.3})
    layers.append({"type": "dense", "units": int(rng.integers(4, 17)), "bias": bool(rng.integers(0, 2))})
    if rng.random() < 0.5:
        layers.append({"type": "batchnorm"})
    layers.append(_activation(rng))
    layers.append({"type": "dense", "units": 10})
    return {"name": "random", "input_shape": [channels, 28, 28], "layers": layers}


def _residual(rng, channels: int) -> dict:
    """A residual block of two "same" convolutions: identity shortcut, or a projection (with or without
    batchnorm) when the first one strides or changes the channels."""
    identity = bool(rng.integers(0, 2))
    filters, stride = (channels, 1) if identity else (int(rng.integers(2, 7)), int(rng.integers(1, 3)))
    path = [{"type": "conv2d", "filters": filters, "kernel_size": int(rng.choice([1, 3])), "stride": stride,
             "padding": "same", "dilation": int(rng.integers(1, 3)), "bias": bool(rng.integers(0, 2))},
            {"type": "batchnorm"}, _activation(rng),
            {"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": "same", "bias": False}]
    if rng.random() < 0.5:
        path.append({"type": "batchnorm"})
    block = {"type": "residual", "layers": path, "shortcut": "identity" if identity else "projection"}
    return block if identity else {**block, "shortcut_batchnorm": bool(rng.integers(0, 2))}


def _activation(rng) -> dict:
    kind = str(rng.choice(["relu", "leaky_relu", "sigmoid", "tanh"]))
    return {"type": kind, "negative_slope": 0.1} if kind == "leaky_relu" else {"type": kind}


def random_networks(count: int, seed: int = 7) -> list[dict]:
    rng, definitions = np.random.default_rng(seed), []
    while len(definitions) < count:
        definition = random_definition(rng, channels=int(rng.choice([1, 3])))
        try:
            summarize(definition)
        except DefinitionError:
            continue  # a geometry that shrinks the map to nothing
        definitions.append(definition)
    return definitions


RANDOM_NETWORKS = random_networks(24)


def test_random_networks_cover_every_layer_type_and_geometry():
    used = [layer for definition in RANDOM_NETWORKS for layer in definition["layers"]]
    assert {layer["type"] for layer in used} == set(LAYER_TYPES) == set(LAYER_EXPORTS)
    convs = [layer for layer in used if layer["type"] == "conv2d"]
    assert {layer["stride"] for layer in convs} == {1, 2}
    assert {layer["dilation"] for layer in convs} == {1, 2}
    assert {type(layer["padding"]).__name__ for layer in convs} == {"int", "list", "str"}
    assert {layer["padding"] for layer in convs if isinstance(layer["padding"], str)} == {"same", "valid"}
    blocks = [layer for layer in used if layer["type"] == "residual"]
    assert {(block["shortcut"], block.get("shortcut_batchnorm")) for block in blocks} == {
        ("identity", None), ("projection", True), ("projection", False)}
    assert any(block["layers"][0]["stride"] == 2 for block in blocks)
    pools = [layer for layer in used if layer["type"] in ("maxpool2d", "avgpool2d")]
    assert any(layer["padding"] for layer in pools) and any(layer["stride"] < layer["pool_size"] for layer in pools)


@pytest.mark.parametrize("index", range(len(RANDOM_NETWORKS)))
def test_random_networks_agree(index, test_images):
    definition = RANDOM_NETWORKS[index]
    net = with_trained_looking_state(build_network(definition, seed=index), seed=index)
    channels = definition["input_shape"][0]
    images = np.repeat(test_images[:64], channels, axis=1)
    mean, std = [0.3, 0.2, 0.25][:channels], [0.35, 0.0, 0.3][:channels]  # a constant channel too
    engine_logits, onnx_logits, _ = run_both(net, images, mean, std)
    assert_agree(engine_logits, onnx_logits)


def test_the_model_is_checked_and_documents_its_input():
    net = build_network(json.loads((REPO / "examples" / "lenet5.json").read_text()), seed=0)
    model = export_onnx(net, [0.286], [0.353], [f"class {i}" for i in range(10)])
    onnx.checker.check_model(model, full_check=True)
    graph = model.graph
    assert [node.op_type for node in graph.node[:2]] == ["Sub", "Div"]
    assert graph.input[0].name == INPUT_NAME
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:]] == [1, 28, 28]
    props = {prop.key: prop.value for prop in model.metadata_props}
    assert json.loads(props["class_names"])[3] == "class 3"
    assert json.loads(props["mean"]) == pytest.approx([0.286])
    assert "Dropout" not in {node.op_type for node in graph.node}  # LeNet-5 has none
