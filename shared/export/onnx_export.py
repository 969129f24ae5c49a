"""A trained network as an ONNX model, built with the ``onnx`` package and checked by ``onnx.checker``.

The graph takes ``pixels``: float32 (N, C, H, W) scaled to [0, 1] (uint8 / 255), as the engine
scales uint8 images. Its first two nodes are the model's stored normalisation, ``(pixels - mean[c]) /
std[c]`` (a constant channel, std 0, is only centred, as in training), so nothing else has to be
known to use it. Outputs: ``logits`` (N, classes) and ``probabilities`` (their softmax). The mean,
std and class names are also in the model's metadata_props.

Each engine layer type maps to one ONNX operator (opset 17); batchnorm uses its running statistics
and dropout is the identity, as at inference. A residual block becomes its path's operators from the
block's input, its shortcut (the input itself, or Conv and BatchNormalization) and an Add of the two;
nodes and weights inside a block are named by their parameter keys' path (``residual_2.conv2d_1``).
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shared.data.pipeline import divisor_std

OPSET = 17
INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME = "pixels", "logits", "probabilities"
ONNX_MEDIA_TYPE = "application/onnx"
MODEL_DOC = ("Input 'pixels': float32 (N, C, H, W), uint8 pixels divided by 255. The first nodes apply the "
             "training normalisation (pixels - mean) / std; 'logits' and 'probabilities' are (N, classes).")


class UnsupportedLayer(ValueError):
    """A layer type this exporter has no ONNX operator for."""


class _Graph:
    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attributes) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attributes))
        return output


def _pads(window) -> list[int]:
    top, bottom, left, right = window.padding
    return [top, left, bottom, right]  # ONNX: all begins, then all ends


def _conv(graph: _Graph, plan, arrays: dict, source: str) -> str:
    window = plan.window
    inputs = [source, graph.constant(f"{plan.name}.weight", arrays["weight"])]
    if "bias" in arrays:
        inputs.append(graph.constant(f"{plan.name}.bias", arrays["bias"]))
    return graph.node("Conv", inputs, plan.name, plan.name, kernel_shape=list(window.kernel),
                      strides=list(window.stride), pads=_pads(window), dilations=list(window.dilation))


def _pool(op: str, **extra) -> Callable:
    def export(graph: _Graph, plan, arrays: dict, source: str) -> str:
        window = plan.window
        return graph.node(op, [source], plan.name, plan.name, kernel_shape=list(window.kernel),
                          strides=list(window.stride), pads=_pads(window), **extra)
    return export


def _global_avgpool(graph: _Graph, plan, arrays: dict, source: str) -> str:
    # the engine's global mean pooling gives (N, C); ONNX's keeps (N, C, 1, 1)
    pooled = graph.node("GlobalAveragePool", [source], f"{plan.name}.pooled", f"{plan.name}.pool")
    return graph.node("Flatten", [pooled], plan.name, plan.name, axis=1)


def _dense(graph: _Graph, plan, arrays: dict, source: str) -> str:
    inputs = [source, graph.constant(f"{plan.name}.weight", arrays["weight"])]
    if "bias" in arrays:
        inputs.append(graph.constant(f"{plan.name}.bias", arrays["bias"]))
    return graph.node("Gemm", inputs, plan.name, plan.name, transB=1)  # weight is (out, in)


def _batchnorm(graph: _Graph, plan, arrays: dict, source: str) -> str:
    inputs = [source] + [graph.constant(f"{plan.name}.{key}", arrays[key])
                         for key in ("weight", "bias", "running_mean", "running_var")]
    return graph.node("BatchNormalization", inputs, plan.name, plan.name, epsilon=float(plan.spec.eps))


def _dropout(graph: _Graph, plan, arrays: dict, source: str) -> str:
    # without a training_mode input ONNX Dropout is the identity, as the engine's at inference
    ratio = graph.constant(f"{plan.name}.ratio", np.array(plan.spec.rate))
    return graph.node("Dropout", [source, ratio], plan.name, plan.name)


def _plain(op: str) -> Callable:
    def export(graph: _Graph, plan, arrays: dict, source: str) -> str:
        return graph.node(op, [source], plan.name, plan.name)
    return export


def _leaky_relu(graph: _Graph, plan, arrays: dict, source: str) -> str:
    return graph.node("LeakyRelu", [source], plan.name, plan.name, alpha=float(plan.spec.negative_slope))


def _held_sequence(graph: _Graph, plan, arrays: dict, source: str) -> str:
    for child in plan.children:
        source = _export_layer(graph, child, arrays, source, prefix=f"{plan.name}.")
    return source


def _residual(graph: _Graph, plan, arrays: dict, source: str) -> str:
    *path, shortcut = plan.children
    branch = source
    for child in path:
        branch = _export_layer(graph, child, arrays, branch, prefix=f"{plan.name}.")
    shortcut_output = _export_layer(graph, shortcut, arrays, source, prefix=f"{plan.name}.")
    return graph.node("Add", [branch, shortcut_output], plan.name, plan.name)


# a residual block's shortcut kinds (parts of a block, not layer types)
SHORTCUT_EXPORTS: dict[str, Callable] = {
    "identity": lambda graph, plan, arrays, source: source,
    "projection": _held_sequence,
}

# engine layer type -> its ONNX form
LAYER_EXPORTS: dict[str, Callable] = {
    "conv2d": _conv,
    "maxpool2d": _pool("MaxPool"),
    "avgpool2d": _pool("AveragePool", count_include_pad=1),
    "global_avgpool2d": _global_avgpool,
    "flatten": lambda graph, plan, arrays, source: graph.node("Flatten", [source], plan.name, plan.name, axis=1),
    "dense": _dense,
    "relu": _plain("Relu"),
    "leaky_relu": _leaky_relu,
    "sigmoid": _plain("Sigmoid"),
    "tanh": _plain("Tanh"),
    "dropout": _dropout,
    "batchnorm": _batchnorm,
    "residual": _residual,
}


def _export_layer(graph: _Graph, plan, arrays: dict, source: str, prefix: str = "") -> str:
    """The layer's nodes after ``source``; ``arrays`` are keyed ``"<layer>.<key>"`` in the layer's scope
    (the network, or the block holding it), ``prefix`` names that scope in node and weight names."""
    export = LAYER_EXPORTS.get(plan.type) or SHORTCUT_EXPORTS.get(plan.type)
    if export is None:
        raise UnsupportedLayer(f"layer {prefix}{plan.name} of type {plan.type!r} has no ONNX export")
    own = f"{plan.name}."
    held = {key[len(own):]: value for key, value in arrays.items() if key.startswith(own)}
    return export(graph, replace(plan, name=prefix + plan.name), held, source)


def _normalisation(graph: _Graph, input_shape: tuple, mean: Sequence[float], std: Sequence[float]) -> str:
    mean = np.asarray(mean, dtype=np.float32)
    std = divisor_std(std)  # as in training
    per_channel = (-1, 1, 1) if len(input_shape) == 3 else (-1,)
    centred = graph.node("Sub", [INPUT_NAME, graph.constant("normalisation.mean", mean.reshape(per_channel))],
                         "normalisation.centred", "normalisation.subtract_mean")
    return graph.node("Div", [centred, graph.constant("normalisation.std", std.reshape(per_channel))],
                      "normalisation", "normalisation.divide_by_std")


def export_onnx(net, mean: Sequence[float], std: Sequence[float], class_names: Sequence[str] | None = None
                ) -> onnx.ModelProto:
    """The network with its normalisation as an ONNX model, checked by ``onnx.checker``."""
    graph = _Graph()
    source = _normalisation(graph, net.input_shape, mean, std)
    state = net.state_arrays()
    for plan in net.summary.plans:
        source = _export_layer(graph, plan, state, source)
    outputs = net.summary.plans[-1].output_shape
    graph.node("Identity", [source], LOGITS_NAME, "logits")
    graph.node("Softmax", [LOGITS_NAME], PROBABILITIES_NAME, "softmax", axis=-1)
    onnx_graph = helper.make_graph(
        graph.nodes, net.definition.name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", *net.input_shape])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *outputs])
         for name in (LOGITS_NAME, PROBABILITIES_NAME)],
        graph.initializers)
    model = helper.make_model(onnx_graph, producer_name="convforge", doc_string=MODEL_DOC,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    metadata = {"mean": json.dumps([float(v) for v in mean]), "std": json.dumps([float(v) for v in std]),
                "input_scaling": "uint8 pixels / 255", "definition": json.dumps(net.definition.to_dict())}
    if class_names is not None:
        metadata["class_names"] = json.dumps(list(class_names))
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx_bytes(net, mean, std, class_names=None) -> bytes:
    return export_onnx(net, mean, std, class_names).SerializeToString()
