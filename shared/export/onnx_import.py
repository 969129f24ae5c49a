"""An ONNX model made of the operators convforge has, as a network definition plus its weights.

Accepted: a single chain from one input (N, C, H, W) or (N, F) to one output, of Conv, MaxPool,
AveragePool, GlobalAveragePool, Flatten, Gemm, MatMul (+ Add of a constant bias), Relu, LeakyRelu,
Sigmoid, Tanh, BatchNormalization, Dropout and Identity. Constant per-channel Sub and Div before
the first layer are read as the input normalisation (mean, std), as convforge's own export writes
it; a final Softmax is dropped (the engine's networks end in logits). An Add of two branches is read
as a residual block when it is written as convforge's export writes one: the path's nodes from the
block's input, then the shortcut (nothing, or a 1x1 Conv with the engine's projection stride and an
optional BatchNormalization), then Add(path, shortcut). Anything else — another operator, another
branch, grouped convolution, ceil-mode pooling, padding the engine cannot express — is
refused with the operator's name and node.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from shared.cnn import DefinitionError, build_network, summarize
from shared.cnn.layers.residual import SHORTCUT

SUPPORTED_OPERATORS = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm", "MatMul", "Add",
                       "Relu", "LeakyRelu", "Sigmoid", "Tanh", "BatchNormalization", "Dropout", "Identity")
_PLAIN = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}
_NAME = re.compile(r"^[^.]{1,64}$")


class OnnxImportError(ValueError):
    """The model cannot become a convforge network; the message names the operator or node."""


@dataclass
class ImportedModel:
    definition: dict
    arrays: dict[str, np.ndarray]
    mean: list[float]
    std: list[float]
    class_names: list[str] | None = None

    def network(self):
        net = build_network(self.definition)
        net.load_params(self.arrays)
        return net

    @property
    def metadata(self) -> dict:
        meta = {"mean": self.mean, "std": self.std, "input_shape": list(self.definition["input_shape"])}
        if self.class_names:
            meta["class_names"] = self.class_names
        return meta


@dataclass
class _Chain:
    constants: dict[str, np.ndarray]
    input_shape: list[int]
    layers: list[dict] = field(default_factory=list)
    arrays: list[dict[str, np.ndarray]] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    flat_after_global_pool: bool = False
    unnamed: set[str] = field(default_factory=set)

    def add(self, node, layer: dict, arrays: dict | None = None) -> None:
        self.layers.append(layer)
        self.arrays.append(arrays or {})
        self.names.append(None if node.name in self.unnamed else node.name)


def import_onnx(content: bytes) -> ImportedModel:
    try:
        model = onnx.load_from_string(content)
        onnx.checker.check_model(model)
    except Exception as exc:  # the onnx package raises several unrelated types for a bad file
        raise OnnxImportError(f"not a valid ONNX model: {exc}") from None
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in constants]
    if len(inputs) != 1 or len(graph.output) < 1:
        raise OnnxImportError(f"the graph has {len(inputs)} inputs and {len(graph.output)} outputs; "
                              f"a convforge network has one input and one output")
    input_shape = _input_shape(inputs[0])
    chain = _Chain(constants, input_shape)
    current = inputs[0].name
    nodes = []
    for index, node in enumerate(graph.node):
        if node.op_type == "Constant":  # a weight written as a node: a constant like an initializer
            chain.constants[node.output[0]] = numpy_helper.to_array(helper.get_attribute_value(node.attribute[0]))
            continue
        if not node.name:
            node.name = f"#{index}"  # for messages; such names never become layer names
            chain.unnamed.add(node.name)
        nodes.append(node)
    _walk(nodes, chain, inputs[0].name)
    if not chain.layers:
        raise OnnxImportError("the graph has no layers convforge can run")
    return _finish(model, chain, input_shape)


def _walk(nodes, chain: _Chain, current: str) -> str:
    """Convert the chain of nodes that starts from ``current``; return the last one's output."""
    position = 0
    while position < len(nodes):
        node = nodes[position]
        if node.op_type not in SUPPORTED_OPERATORS + ("Sub", "Div", "Softmax"):
            raise OnnxImportError(f"operator {node.op_type} (node {node.name!r}) is not one convforge "
                                  f"has; it can import {', '.join(SUPPORTED_OPERATORS)}")
        block = _residual_block(nodes, position, current, chain)
        if block is not None:
            position, current = block
            continue
        if not node.input or node.input[0] != current:
            raise OnnxImportError(f"node {node.name!r} ({node.op_type}) does not take the previous "
                                  f"node's output; only a single chain of layers can be imported")
        following = nodes[position + 1] if position + 1 < len(nodes) else None
        consumed = _convert(node, following, chain, chain.input_shape, position == len(nodes) - 1)
        current = nodes[position + consumed - 1].output[0] if consumed else current
        position += max(consumed, 1)
    return current


def _is_branch_sum(node, constants: dict) -> bool:
    return node.op_type == "Add" and len(node.input) == 2 and all(name not in constants for name in node.input)


def _residual_block(nodes, position: int, current: str, chain: _Chain):
    """If a residual block starts at ``position`` (as convforge's export writes one: the path's nodes from
    ``current``, then the shortcut's Conv and BatchNormalization, if any, then Add(path, shortcut)), add it
    to the chain and return (the position after its Add, the Add's output); otherwise None."""
    add = next((index for index in range(position, len(nodes)) if _is_branch_sum(nodes[index], chain.constants)), None)
    if add is None:
        return None
    path_output, shortcut_output = nodes[add].input
    where = f"operator Add (node {nodes[add].name!r})"
    produced = {node.output[0]: index for index, node in enumerate(nodes[:add])}
    shortcut_start = produced.get(shortcut_output)
    if shortcut_output == current:
        shortcut_nodes = []
    elif shortcut_start is not None:
        if nodes[shortcut_start].op_type == "BatchNormalization":
            shortcut_start = produced.get(nodes[shortcut_start].input[0])
        if shortcut_start is None or nodes[shortcut_start].op_type != "Conv" or nodes[shortcut_start].input[0] != current:
            return None
        shortcut_nodes = nodes[shortcut_start:add]
    else:
        return None
    path_end = add - len(shortcut_nodes)
    if path_end <= position or nodes[path_end - 1].output[0] != path_output:
        raise OnnxImportError(f"{where} adds two branches that are not a residual block as convforge writes one "
                              f"(the path's layers, then a 1x1 Conv shortcut, then the Add)")
    block_shape = _output_shape(chain)
    path = _Chain(chain.constants, block_shape, unnamed=chain.unnamed)
    _walk(nodes[position:path_end], path, current)
    prefix = f"{nodes[add].name}."
    names = _layer_names(path, strip=prefix)
    arrays = {f"{name}.{key}": value for name, layer_arrays in zip(names, path.arrays)
              for key, value in layer_arrays.items()}
    block = {"type": "residual", "layers": path.layers, "shortcut": "projection" if shortcut_nodes else "identity"}
    if shortcut_nodes:
        block["shortcut_batchnorm"] = len(shortcut_nodes) == 2
        arrays.update(_projection_arrays(shortcut_nodes, block, chain, block_shape, where))
    chain.add(nodes[add], block, arrays)
    return add + 1, nodes[add].output[0]


def _projection_arrays(shortcut_nodes, block: dict, chain: _Chain, block_shape, where: str) -> dict:
    """The shortcut's weights, keyed as the engine keys them, once its Conv (and BatchNormalization) are
    what the engine's projection computes for this block."""
    shortcut = _Chain(chain.constants, block_shape)
    for node in shortcut_nodes:
        _convert(node, None, shortcut, block_shape, False)
    conv, *norm = shortcut.layers
    summary = summarize({"input_shape": block_shape, "layers": [block]})
    projection = summary.plans[0].children[-1]
    eps = projection.children[-1].spec.eps if norm else None
    expected = {"kernel_size": [1, 1], "padding": 0, "dilation": [1, 1], "filters": projection.spec.filters,
                "stride": list(projection.spec.stride), "bias": not norm}
    if any(conv[key] != value for key, value in expected.items()) or (norm and np.float32(norm[0]["eps"]) != np.float32(eps)):  # ONNX keeps epsilon in float32
        raise OnnxImportError(f"{where}: the shortcut is not the engine's projection (a 1x1 Conv with stride "
                              f"{list(projection.spec.stride)}, then BatchNormalization with epsilon {eps} if any)")
    arrays = {f"{SHORTCUT}.conv.{key}": value for key, value in shortcut.arrays[0].items()}
    if norm:
        arrays.update({f"{SHORTCUT}.norm.{key}": value for key, value in shortcut.arrays[1].items()})
    return arrays


def _output_shape(chain: _Chain) -> list[int]:
    if not chain.layers:
        return list(chain.input_shape)
    try:
        return list(summarize({"input_shape": chain.input_shape, "layers": chain.layers}).plans[-1].output_shape)
    except DefinitionError as exc:
        raise OnnxImportError("the layers before a residual block do not make a valid convforge network: "
                              + "; ".join(error["msg"] for error in exc.errors)) from None


def _input_shape(value) -> list[int]:
    dims = value.type.tensor_type.shape.dim
    sizes = [dim.dim_value if dim.HasField("dim_value") else None for dim in dims]
    if len(sizes) not in (2, 4) or any(size is None or size <= 0 for size in sizes[1:]):
        raise OnnxImportError(f"input {value.name!r} has shape {sizes}; expected (batch, C, H, W) or "
                              f"(batch, features) with fixed sizes")
    return sizes[1:]


def _attributes(node) -> dict:
    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}


def _constant(chain: _Chain, node, index: int) -> np.ndarray:
    if index >= len(node.input) or node.input[index] == "":
        return None
    name = node.input[index]
    if name not in chain.constants:
        raise OnnxImportError(f"node {node.name!r} ({node.op_type}) takes {name!r} as input {index}, which is "
                              f"not a constant; only a single chain of layers can be imported")
    return chain.constants[name]


def _convert(node, following, chain: _Chain, input_shape, last: bool) -> int:
    """Add the layer(s) for `node` to the chain; return how many nodes were consumed (0: skipped)."""
    op, attrs = node.op_type, _attributes(node)
    where = f"node {node.name!r} ({op})"
    if len(node.output) > 1 and op != "Dropout":
        raise OnnxImportError(f"{where} has {len(node.output)} outputs; convforge's layers have one")
    if op in ("Sub", "Div"):
        if chain.layers:
            raise OnnxImportError(f"operator {op} ({where}) is only understood before the first layer, as the "
                                  f"input normalisation")
        value = np.asarray(_constant(chain, node, 1), dtype=np.float64).reshape(-1)
        setattr(chain, "mean" if op == "Sub" else "std", value)
        return 1
    if op == "Softmax":
        if not last:
            raise OnnxImportError(f"operator Softmax ({where}) is only understood as the last node")
        return 0
    if op == "Identity":
        return 1
    if op == "Conv":
        return _conv(node, attrs, chain, where)
    if op in ("MaxPool", "AveragePool"):
        return _pool(node, attrs, chain, where)
    if op == "GlobalAveragePool":
        chain.add(node, {"type": "global_avgpool2d"})
        chain.flat_after_global_pool = True
        return 1
    if op == "Flatten":
        if attrs.get("axis", 1) != 1:
            raise OnnxImportError(f"{where} flattens from axis {attrs['axis']}; convforge flattens from axis 1")
        if chain.flat_after_global_pool or (not chain.layers and len(input_shape) == 1):
            chain.flat_after_global_pool = False
            return 1  # the engine's global mean pooling is already flat
        chain.add(node, {"type": "flatten"})
        return 1
    if op == "Gemm":
        return _gemm(node, attrs, chain, where)
    if op == "MatMul":
        return _matmul(node, following, chain, where)
    if op == "Add":
        raise OnnxImportError(f"operator Add ({where}) is only understood as the bias right after a MatMul")
    if op in _PLAIN:
        chain.add(node, {"type": _PLAIN[op]})
        return 1
    if op == "LeakyRelu":
        slope = float(attrs.get("alpha", 0.01))
        if not 0 <= slope < 1:
            raise OnnxImportError(f"{where} has alpha {slope}; convforge's leaky_relu takes 0 <= slope < 1")
        chain.add(node, {"type": "leaky_relu", "negative_slope": slope})
        return 1
    if op == "BatchNormalization":
        if attrs.get("training_mode", 0):
            raise OnnxImportError(f"{where} is in training mode; export the model for inference")
        scale, bias, mean, var = (_constant(chain, node, index) for index in range(1, 5))
        chain.add(node, {"type": "batchnorm", "eps": float(attrs.get("epsilon", 1e-5)),
                         "momentum": round(1 - float(attrs.get("momentum", 0.9)), 6)},
                  {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var})
        return 1
    if op == "Dropout":
        ratio = _constant(chain, node, 1)
        rate = float(ratio) if ratio is not None else float(attrs.get("ratio", 0.5))
        if len(node.input) > 2 and node.input[2]:
            raise OnnxImportError(f"{where} has a training_mode input; export the model for inference")
        chain.add(node, {"type": "dropout", "rate": rate})
        return 1
    raise OnnxImportError(f"operator {op} ({where}) is not one convforge has")


def _padding(pads, auto_pad, chain: _Chain, layer: dict, where: str):
    """ONNX pads (begins, then ends) -> the engine's padding: an int, a [rows, cols] pair or "same"
    (Keras' and ONNX SAME_UPPER's split, which is also how convforge's export writes "same")."""
    if auto_pad == "SAME_UPPER":
        return "same"
    if auto_pad not in ("NOTSET", "VALID", ""):
        raise OnnxImportError(f"{where} has auto_pad {auto_pad}; convforge pads like SAME_UPPER or explicitly")
    if auto_pad == "VALID":
        return 0
    top, left, bottom, right = pads or (0, 0, 0, 0)
    if (top, left) == (bottom, right):
        return top if top == left else [top, left]
    if _same_padding(chain, layer) == (top, bottom, left, right):
        return "same"
    raise OnnxImportError(f"{where} pads {list(pads)} (top, left, bottom, right) unevenly; convforge pads both "
                          f"sides alike, or as 'same' (any odd pixel after)")


def _same_padding(chain: _Chain, layer: dict):
    """(top, bottom, left, right) that padding "same" gives this layer where it stands, from the engine's
    own shape rules; None if the chain so far is not a valid network."""
    try:
        summary = summarize({"input_shape": chain.input_shape, "layers": [*chain.layers, {**layer, "padding": "same"}]})
    except DefinitionError:
        return None
    window = summary.plans[-1].window
    return tuple(window.padding) if window is not None else None


def _conv(node, attrs, chain: _Chain, where: str) -> int:
    if attrs.get("group", 1) != 1:
        raise OnnxImportError(f"{where} is a grouped convolution (group={attrs['group']}); convforge's conv2d "
                              f"is not grouped")
    weight = _constant(chain, node, 1)
    if weight is None or weight.ndim != 4:
        raise OnnxImportError(f"{where} has no 2-D convolution weight")
    bias = _constant(chain, node, 2)
    kernel = [int(size) for size in weight.shape[2:]]
    stride = [int(size) for size in attrs.get("strides", [1, 1])]
    dilation = [int(size) for size in attrs.get("dilations", [1, 1])]
    layer = {"type": "conv2d", "filters": int(weight.shape[0]), "kernel_size": kernel, "stride": stride,
             "dilation": dilation, "bias": bias is not None}
    layer["padding"] = _padding(attrs.get("pads"), _auto_pad(attrs), chain, layer, where)
    arrays = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    chain.add(node, layer, arrays)
    return 1


def _auto_pad(attrs) -> str:
    value = attrs.get("auto_pad", b"NOTSET")
    return value.decode() if isinstance(value, bytes) else value


def _pool(node, attrs, chain: _Chain, where: str) -> int:
    if attrs.get("ceil_mode", 0):
        raise OnnxImportError(f"{where} uses ceil_mode; convforge's pooling rounds down")
    if any(size != 1 for size in attrs.get("dilations", [1, 1])):
        raise OnnxImportError(f"{where} is dilated; convforge's pooling is not")
    kernel = [int(size) for size in attrs["kernel_shape"]]
    stride = [int(size) for size in attrs.get("strides", [1, 1])]  # ONNX: 1 when absent
    layer = {"type": "maxpool2d" if node.op_type == "MaxPool" else "avgpool2d", "pool_size": kernel, "stride": stride}
    layer["padding"] = _padding(attrs.get("pads"), _auto_pad(attrs), chain, layer, where)
    if node.op_type == "AveragePool" and layer["padding"] != 0 and not attrs.get("count_include_pad", 0):
        raise OnnxImportError(f"{where} leaves padding out of the mean (count_include_pad=0); convforge counts "
                              f"it as zeros")
    chain.add(node, layer)
    return 1


def _gemm(node, attrs, chain: _Chain, where: str) -> int:
    if attrs.get("transA", 0):
        raise OnnxImportError(f"{where} transposes its input (transA=1); convforge's dense layer does not")
    weight = np.asarray(_constant(chain, node, 1)) * attrs.get("alpha", 1.0)
    weight = weight if attrs.get("transB", 0) else weight.T  # convforge keeps (out, in)
    bias = _constant(chain, node, 2)
    arrays = {"weight": weight.astype(np.float32)}
    if bias is not None:
        arrays["bias"] = (np.broadcast_to(np.asarray(bias).reshape(-1), (weight.shape[0],))
                          * attrs.get("beta", 1.0)).astype(np.float32)
    chain.add(node, {"type": "dense", "units": int(weight.shape[0]), "bias": bias is not None}, arrays)
    return 1


def _matmul(node, following, chain: _Chain, where: str) -> int:
    weight = np.asarray(_constant(chain, node, 1))
    if weight.ndim != 2:
        raise OnnxImportError(f"{where} multiplies by a {weight.ndim}-D array; a dense layer's is 2-D")
    arrays = {"weight": weight.T}
    consumed = 1
    if following is not None and following.op_type == "Add" and following.input[0] == node.output[0]:
        arrays["bias"] = np.asarray(_constant(chain, following, 1)).reshape(-1)
        consumed = 2
    chain.add(node, {"type": "dense", "units": int(weight.shape[1]), "bias": "bias" in arrays}, arrays)
    return consumed


def _layer_names(chain: _Chain, strip: str = "") -> list[str]:
    """Each layer's name: its node's (less the block's ``strip`` prefix) when usable, else ``<type>_<n>``;
    written into the layers."""
    names, used, counts = [], set(), {}
    for layer, given in zip(chain.layers, chain.names):
        counts[layer["type"]] = counts.get(layer["type"], 0) + 1
        given = given[len(strip):] if given and strip and given.startswith(strip) else given
        name = given if given and _NAME.match(given) and given not in used else f"{layer['type']}_{counts[layer['type']]}"
        while name in used:
            name += "_"
        used.add(name)
        names.append(name)
        layer["name"] = name
    return names


def _finish(model, chain: _Chain, input_shape) -> ImportedModel:
    names = _layer_names(chain)
    definition = {"name": (model.graph.name or "imported")[:128], "input_shape": list(input_shape),
                  "layers": chain.layers}
    arrays = {f"{name}.{key}": np.asarray(value, dtype=np.float32)
              for name, layer_arrays in zip(names, chain.arrays) for key, value in layer_arrays.items()}
    channels = input_shape[0]
    mean = _per_channel(chain.mean, 0.0, channels, "Sub")
    std = _per_channel(chain.std, 1.0, channels, "Div")
    props = {prop.key: prop.value for prop in model.metadata_props}
    class_names = None
    if "class_names" in props:
        try:
            class_names = [str(name) for name in json.loads(props["class_names"])]
        except (ValueError, TypeError):
            class_names = None
    imported = ImportedModel(definition, arrays, mean, std, class_names)
    try:
        imported.network()
    except (DefinitionError, ValueError) as exc:
        detail = "; ".join(error["msg"] for error in exc.errors) if isinstance(exc, DefinitionError) else str(exc)
        raise OnnxImportError(f"the layers do not make a valid convforge network: {detail}") from None
    return imported


def _per_channel(values, default: float, channels: int, op: str) -> list[float]:
    if values is None:
        return [default] * channels
    if values.size == 1:
        return [float(values[0])] * channels
    if values.size != channels:
        raise OnnxImportError(f"the input normalisation's {op} has {values.size} values for {channels} channels")
    return [float(value) for value in values]
