"""Layer types come from their modules: the registry, the definition union, the summary and the
network builder all follow it, so a new type is one new module."""
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from shared.cnn import DefinitionError, build_network, parse_definition, summarize
from shared.cnn.layers.base import Layer
from shared.cnn.layers.plan import LayerPlan
from shared.cnn.layers.registry import LAYER_TYPES, definition_union, layer_types_in
from shared.cnn.layers.spec import LayerSpec
from shared.cnn.summary import NetworkSummary

ENGINE = Path(__file__).resolve().parents[2] / "shared" / "cnn"

ALL_TYPES = {"conv2d", "maxpool2d", "avgpool2d", "global_avgpool2d", "flatten", "dense", "relu",
             "leaky_relu", "sigmoid", "tanh", "dropout", "batchnorm", "residual"}


def test_every_layer_type_is_found_in_its_module():
    assert set(LAYER_TYPES) == ALL_TYPES
    for tag, layer_type in LAYER_TYPES.items():
        assert issubclass(layer_type.compute, Layer) and issubclass(layer_type.spec, LayerSpec)
        assert layer_type.compute.schema is layer_type.spec
        assert layer_type.compute.__module__ == layer_type.spec.__module__
        assert layer_type.title and " " not in layer_type.title


def test_unknown_types_are_told_the_registered_ones():
    with pytest.raises(DefinitionError) as info:
        parse_definition({"input_shape": [4], "layers": [{"type": "swish"}]})
    assert f"known types: {', '.join(sorted(ALL_TYPES))}" in info.value.errors[0]["msg"]


def test_summary_rows_nest_and_totals_count_every_layer_once():
    summary = summarize({"input_shape": [2, 6, 6], "layers": [
        {"type": "conv2d", "filters": 3, "kernel_size": 3}, {"type": "batchnorm"}, {"type": "relu"}]})
    conv, norm, relu = summary.plans
    # a block holding the batchnorm and the relu, as a container layer type's shape rule makes it
    block = LayerPlan(1, "block_1", "relu", relu.spec, norm.input_shape, relu.output_shape,
                      children=(norm, relu), explain="block_1: holds 2 layers")
    nested = NetworkSummary("nested", summary.input_shape, (conv, block))
    assert nested.total_params == summary.total_params == 3 * 2 * 9 + 3 + 4 * 3
    assert nested.trainable_params == summary.trainable_params
    assert nested.total_macs == summary.total_macs
    assert nested.as_dict()["layers"][1]["layers"][0]["name"] == "batchnorm_1"
    text = nested.as_text()
    assert "\n  batchnorm_1 (BatchNorm)" in text and "\n  relu_1 (ReLU)" in text
    assert "\nblock_1 (ReLU)" in text
    assert "\n  batchnorm_1: normalises 3 channels" in nested.explain()


SCALE_MODULE = '''
"""Scale: each channel multiplied by a learned factor."""
from typing import Literal

import numpy as np

from .base import Layer, per_channel
from .plan import LayerPlan
from .spec import LayerSpec


class ScaleSpec(LayerSpec):
    type: Literal["scale"]
    title = "Scale"

    def shape_rule(self, plan: LayerPlan) -> None:
        plan.param_shapes = {"weight": (plan.input_shape[0],)}
        plan.macs = 1

    def explain(self, plan: LayerPlan) -> str:
        return f"one factor per channel; params = {plan.params}"


class Scale(Layer):
    schema = ScaleSpec

    def __init__(self, plan, dtype, rng=None):
        super().__init__(plan, dtype)
        self.weight = self.add_param("weight", np.linspace(0.5, 1.5, plan.input_shape[0]))

    def forward(self, x, ctx):
        self.x = x
        return x * per_channel(self.weight, x.ndim)

    def backward(self, grad_out, need_input_grad=True):
        self.grads["weight"][...] = (grad_out * self.x).reshape(len(self.weight), -1).sum(axis=1)
        return grad_out * per_channel(self.weight, grad_out.ndim) if need_input_grad else None
'''

SCALE_USE = '''
import json, sys, numpy as np
from shared.cnn import build_network, load_model, save_model, summarize
from shared.cnn.gradcheck import check_gradients
definition = {"input_shape": [3, 4, 4], "layers": [
    {"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "scale"}, {"type": "flatten"}]}
net = build_network(definition, dtype="float64")
errors = check_gradients(net, np.random.default_rng(0).standard_normal((2, 3, 4, 4)))
save_model(sys.argv[1], net)
loaded, _ = load_model(sys.argv[1])
summary = summarize(definition)
print(json.dumps({"text": summary.as_text(), "explain": summary.explain(), "errors": errors,
                  "params": sorted(loaded.params)}))
'''


def test_a_new_layer_type_is_one_new_module(tmp_path):
    copy = tmp_path / "shared"
    copy.mkdir()
    (copy / "__init__.py").write_text("")
    shutil.copytree(ENGINE, copy / "cnn", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "cnn" / "layers" / "scale.py").write_text(textwrap.dedent(SCALE_MODULE))
    run = subprocess.run([sys.executable, "-c", SCALE_USE, str(tmp_path / "model.npz")], cwd=tmp_path,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert "scale_1 (Scale)" in result["text"] and "Total params: 58" in result["text"]
    assert "scale_1: one factor per channel; params = 2" in result["explain"]
    assert max(result["errors"].values()) <= 1, result["errors"]
    assert result["params"] == ["conv2d_1.bias", "conv2d_1.weight", "scale_1.weight"]
    # the module exists only in the copy
    assert "scale" not in LAYER_TYPES
    with pytest.raises(DefinitionError):
        build_network({"input_shape": [3, 4, 4], "layers": [{"type": "scale"}]})


def test_a_block_type_may_hold_any_layer_type_blocks_included():
    module = type(sys)("block_type")
    exec(textwrap.dedent('''
        from typing import Literal
        from shared.cnn.layers.base import Layer
        from shared.cnn.layers.spec import LayerSpec

        class BlockSpec(LayerSpec):
            type: Literal["block"]
            layers: list["AnyLayer"]
            title = "Block"

        class Block(Layer):
            schema = BlockSpec
    '''), module.__dict__)
    types = {**LAYER_TYPES, **layer_types_in([module])}
    block = TypeAdapter(definition_union(types)).validate_python(
        {"type": "block", "layers": [{"type": "relu"}, {"type": "block", "layers": [{"type": "dense", "units": 3}]}]})
    assert [layer.type for layer in block.layers] == ["relu", "block"]
    assert block.layers[1].layers[0].units == 3
