"""ONNX files made of convforge's operators become networks that compute what onnxruntime computes;
anything else is refused by name."""
from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from shared.cnn import build_network
from shared.data.pipeline import prepare_batch
from shared.export.onnx_export import export_onnx_bytes
from shared.export.onnx_import import OnnxImportError, import_onnx
from tests.export.test_onnx_export import EXAMPLES, RANDOM_NETWORKS, with_trained_looking_state

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(11)


def layer_shapes(definition: dict) -> list:
    return [(plan.type, tuple(plan.output_shape), tuple(plan.window.padding) if plan.window else None)
            for plan in build_network(definition).summary.plans]


ROUND_TRIPS = RANDOM_NETWORKS + [json.loads(p.read_text()) for p in EXAMPLES if p.stem != "vgg16"]


@pytest.mark.parametrize("definition", ROUND_TRIPS)
def test_exported_networks_come_back_the_same(definition):
    net = with_trained_looking_state(build_network(definition, seed=1), seed=2)
    channels = definition["input_shape"][0]
    mean, std = [0.3, 0.2, 0.1][:channels], [0.4, 0.5, 0.6][:channels]
    imported = import_onnx(export_onnx_bytes(net, mean, std, [f"c{i}" for i in range(10)]))
    assert imported.mean == pytest.approx(mean) and imported.std == pytest.approx(std)
    assert imported.class_names == [f"c{i}" for i in range(10)]
    assert [layer["name"] for layer in imported.definition["layers"]] == [p.name for p in net.summary.plans]
    assert layer_shapes(imported.definition) == layer_shapes(net.definition.to_dict())
    again = imported.network()
    images = RNG.integers(0, 256, (8, *net.input_shape), dtype=np.uint8)
    np.testing.assert_array_equal(again.forward(prepare_batch(images, mean, std)),
                                  net.forward(prepare_batch(images, mean, std)))


def model_of(nodes, initializers, input_shape, output_name, opset=17) -> bytes:
    graph = helper.make_graph(nodes, "outside", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", *input_shape])],
                              [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["n", "k"])],
                              [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def test_a_model_written_elsewhere_computes_what_onnxruntime_does():
    """SAME_UPPER padding, Gemm with alpha/beta and an untransposed weight, MatMul + Add, batchnorm with
    ONNX's momentum, a Constant node, LeakyReLU, average pooling with padding counted."""
    weights = {"w1": RNG.normal(0, 0.3, (4, 2, 3, 3)), "b1": RNG.normal(0, 0.1, 4),
               "scale": RNG.uniform(0.5, 1.5, 4), "shift": RNG.normal(0, 0.1, 4), "mean": RNG.normal(0, 0.1, 4),
               "var": RNG.uniform(0.5, 1.5, 4), "g": RNG.normal(0, 0.2, (4 * 4 * 4, 6)), "gb": RNG.normal(0, 0.1, 6),
               "m": RNG.normal(0, 0.3, (6, 3))}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c"], name="conv", auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["bn"], name="bn",
                         epsilon=1e-3, momentum=0.8),
        helper.make_node("LeakyRelu", ["bn"], ["act"], alpha=0.2),
        helper.make_node("AveragePool", ["act"], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                         count_include_pad=1),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("Gemm", ["flat", "g", "gb"], ["dense"], alpha=0.5, beta=2.0),
        helper.make_node("Tanh", ["dense"], ["t"]),
        helper.make_node("Constant", [], ["m_const"], value=numpy_helper.from_array(weights.pop("m").astype(np.float32))),
        helper.make_node("MatMul", ["t", "m_const"], ["mm"]),
        helper.make_node("Constant", [], ["bias"], value=numpy_helper.from_array(np.array([0.1, -0.2, 0.3], np.float32))),
        helper.make_node("Add", ["mm", "bias"], ["logits"]),
    ]
    content = model_of(nodes, weights, [2, 13, 13], "logits")
    imported = import_onnx(content)
    types = [layer["type"] for layer in imported.definition["layers"]]
    assert types == ["conv2d", "batchnorm", "leaky_relu", "avgpool2d", "flatten", "dense", "tanh", "dense"]
    assert imported.definition["layers"][0]["padding"] == "same"
    assert imported.definition["layers"][1]["momentum"] == pytest.approx(0.2)
    x = RNG.normal(0, 1, (5, 2, 13, 13)).astype(np.float32)
    expected = ort.InferenceSession(content, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(imported.network().forward(x), expected, atol=1e-5)
    assert imported.mean == [0.0, 0.0] and imported.std == [1.0, 1.0]


@pytest.mark.parametrize("nodes, initializers, words", [
    ([helper.make_node("Resize", ["x"], ["y"], name="up")], {}, "operator Resize (node 'up') is not one convforge has"),
    ([helper.make_node("Conv", ["x", "w"], ["y"], name="grouped", group=2)], {"w": np.zeros((2, 1, 1, 1))},
     "grouped convolution (group=2)"),
    ([helper.make_node("Conv", ["x", "w"], ["y"], name="uneven", pads=[0, 0, 2, 0])], {"w": np.zeros((2, 2, 3, 3))},
     "unevenly"),
    ([helper.make_node("MaxPool", ["x"], ["y"], name="ceil", kernel_shape=[2, 2], ceil_mode=1)], {}, "ceil_mode"),
    ([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Add", ["x", "a"], ["y"], name="residual")], {},
     "Add (node 'residual') adds two branches that are not a residual block"),
    ([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Conv", ["x", "w"], ["s"], pads=[1, 1, 1, 1]),
      helper.make_node("Add", ["a", "s"], ["y"], name="wide")], {"w": np.zeros((2, 2, 3, 3))},
     "Add (node 'wide'): the shortcut is not the engine's projection (a 1x1 Conv with stride [1, 1]"),
])
def test_what_convforge_cannot_run_is_refused_by_name(nodes, initializers, words):
    with pytest.raises(OnnxImportError, match=None) as refused:
        import_onnx(model_of(nodes, initializers, [2, 8, 8], "y"))
    assert words in str(refused.value)


def test_not_onnx_is_refused():
    with pytest.raises(OnnxImportError, match="not a valid ONNX model"):
        import_onnx(b"hello")
