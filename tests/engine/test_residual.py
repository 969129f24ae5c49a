"""Residual blocks: validation, summary, exact gradients, save/load and checkpoints."""
import numpy as np
import pytest

from shared.cnn import DefinitionError, Trainer, build_network, load_model, save_model, summarize
from shared.cnn.gradcheck import check_gradients
from shared.cnn.gradients import InProcessGradients
from shared.cnn.layers.residual import projection_stride
from tests.engine.residual_networks import random_residual_network
from worker.training.checkpoint import load_checkpoint, save_checkpoint
from shared.jobs.memory import job_memory

BLOCK = {"name": "one_block", "input_shape": [32, 28, 28], "layers": [
    {"type": "residual", "shortcut": "projection", "layers": [
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "stride": 2, "padding": 1, "bias": False},
        {"type": "batchnorm"}, {"type": "relu"},
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": 1, "bias": False},
        {"type": "batchnorm"}]},
    {"type": "relu"}]}


def refused(definition) -> dict:
    with pytest.raises(DefinitionError) as info:
        summarize(definition)
    assert len(info.value.errors) == 1
    return info.value.errors[0]


def test_an_identity_shortcut_of_another_shape_is_refused_with_both_shapes():
    error = refused({"input_shape": [3, 8, 8], "layers": [{"type": "relu"}, {"type": "residual", "layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2, "padding": 1}]}]})
    assert error["loc"] == ["layers", 1, "shortcut"]
    assert error["msg"].startswith("layers[1] residual_1: shortcut: an identity shortcut")
    assert "(3, 8, 8)" in error["msg"] and "(4, 4, 4)" in error["msg"]
    assert '"shortcut": "projection"' in error["msg"]


def test_inner_layers_are_shape_checked_and_named_in_the_error():
    error = refused({"input_shape": [3, 8, 8], "layers": [{"type": "residual", "layers": [
        {"type": "relu"}, {"type": "conv2d", "filters": 4, "kernel_size": 9}]}]})
    assert error["loc"] == ["layers", 0, "layers", 1, "kernel_size"]
    assert error["msg"] == ("layers[0] residual_1: layers[1] conv2d_1: kernel_size: kernel 9 is larger "
                            "than the padded input 8x8")


def test_schema_errors_inside_a_block_name_the_inner_layer():
    with pytest.raises(DefinitionError) as info:
        summarize({"input_shape": [3, 8, 8], "layers": [{"type": "relu"}, {"type": "residual", "layers": [
            {"type": "conv2d", "filters": 4, "kernel_size": "x"}]}]})
    (error,) = info.value.errors
    assert error["loc"] == ["layers", 1, "layers", 0, "kernel_size"]
    assert error["msg"] == ("layers[1] residual_1: layers[0] conv2d_1: kernel_size: must be a positive "
                            "whole number or a pair of them; got 'x'")


@pytest.mark.parametrize("inner, loc, words", [
    ([{"type": "relu", "name": "a"}, {"type": "tanh", "name": "a"}], ["layers", 0, "layers", 1, "name"],
     "the name 'a' is used by layers[0]"),
    ([{"type": "relu", "name": "shortcut"}], ["layers", 0, "layers", 0, "name"], "names the block's shortcut")])
def test_inner_names_are_unique_and_shortcut_is_reserved(inner, loc, words):
    error = refused({"input_shape": [3, 8, 8], "layers": [{"type": "residual", "layers": inner}]})
    assert error["loc"] == loc and words in error["msg"]


def test_a_projection_needs_a_stride_that_reaches_the_path_shape():
    error = refused({"input_shape": [3, 8, 8], "layers": [{"type": "residual", "shortcut": "projection",
                                                           "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 1, "padding": 1}]}]})
    assert error["loc"] == ["layers", 0, "shortcut"] and "(3, 8, 8)" in error["msg"] and "(4, 10, 10)" in error["msg"]
    assert [projection_stride(28, 14), projection_stride(7, 4), projection_stride(5, 5), projection_stride(8, 3)] == [2, 2, 1, 3]
    assert projection_stride(10, 4) == 3  # ceil(10 / 3) = 4
    assert projection_stride(4, 5) is None and projection_stride(6, 4) is None  # ceil(6/1) = 6, ceil(6/2) = 3


def test_a_block_sees_what_its_wider_branch_sees():
    rows = summarize(BLOCK).as_dict()["layers"]
    block = rows[0]
    path_end = [layer for layer in block["layers"] if layer["name"] != "shortcut"][-1]
    shortcut = next(layer for layer in block["layers"] if layer["name"] == "shortcut")
    # conv 3x3 stride 2 then conv 3x3: r = 1 + 2*1 = 3 with jump 2, then 3 + 2*2 = 7; the 1x1 shortcut sees 1.
    assert path_end["receptive_field"] == {"size": [7, 7], "jump": [2, 2]}
    assert shortcut["receptive_field"] == {"size": [1, 1], "jump": [2, 2]}
    assert block["receptive_field"] == path_end["receptive_field"]


def test_summary_nests_the_path_and_the_shortcut_and_counts_once():
    summary = summarize(BLOCK)
    block = summary.plans[0]
    conv_path = 64 * 32 * 9 + 4 * 64 + 64 * 64 * 9 + 4 * 64
    shortcut = 64 * 32 + 4 * 64
    assert summary.total_params == block.params == conv_path + shortcut
    assert summary.trainable_params == conv_path + shortcut - 3 * 2 * 64
    text = summary.as_text()
    assert "\nresidual_1 (Residual)" in text and "\n  conv2d_1 (Conv2D)" in text
    shortcut_row = next(line for line in text.splitlines() if line.startswith("  shortcut (Projection)"))
    assert f" {shortcut:,} " in shortcut_row and "(64, 14, 14)" in shortcut_row
    assert "\n    conv (Conv2D)" in text and "\n    norm (BatchNorm)" in text
    explain = summary.explain()
    assert "output = conv path (64, 14, 14) + shortcut (64, 14, 14)" in explain
    assert "\n  conv2d_1: H2 = W2 = (28 - 3 + 2*1)/2 + 1 = 14.5, floor -> 14" in explain
    assert "\n  shortcut: 1x1 conv with stride 2 and batchnorm, (32, 28, 28) -> (64, 14, 14); params = 2304" in explain
    row = summary.as_dict()["layers"][0]
    assert [child["name"] for child in row["layers"]] == [
        "conv2d_1", "batchnorm_1", "relu_1", "conv2d_2", "batchnorm_2", "shortcut"]
    assert row["layers"][-1]["layers"][0]["params"] == 64 * 32


def test_held_batchnorm_keeps_the_whole_batch_in_one_pass(monkeypatch):
    from shared.cnn import gradients
    def growth(definition) -> int:  # what doubling the batch past a micro-batch adds to the estimate
        return (job_memory(definition, "train", 512, scoring_batch_size=1).total_bytes
                - job_memory(definition, "train", 256, scoring_batch_size=1).total_bytes)

    conv = {"type": "conv2d", "filters": 32, "kernel_size": 3, "padding": 1}
    plain = {"name": "plain", "input_shape": [32, 28, 28],
             "layers": [{"type": "residual", "layers": [conv, {"type": "relu"}, conv]}, {"type": "relu"}]}
    normalised = {**plain, "layers": [{"type": "residual", "layers": [
        conv, {"type": "batchnorm"}, {"type": "relu"}, conv, {"type": "batchnorm"}]}, {"type": "relu"}]}
    assert growth(normalised) > 3 * growth(plain)
    definition = random_residual_network(0, batchnorm=True)
    net = build_network(definition, seed=0, dtype="float64")
    x = np.random.default_rng(0).standard_normal((6, 2, 7, 7))
    y = np.arange(6) % 3
    whole = {k: v.copy() for k, v in InProcessGradients(net)(x, y, 0)[2].items()}
    monkeypatch.setattr(gradients, "MICRO_BATCH", 2)
    monkeypatch.setattr(gradients, "PASS_BYTES", 0)
    net = build_network(definition, seed=0, dtype="float64")
    parts = InProcessGradients(net)(x, y, 0)[2]
    for key in whole:
        np.testing.assert_allclose(parts[key], whole[key], rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_finite_differences(seed, training):
    net = build_network(random_residual_network(seed), seed=seed, dtype="float64")
    x = np.random.default_rng(seed).standard_normal((3, 2, 7, 7))
    if not training:  # evaluation uses running statistics: move them away from 0 and 1 first
        net.forward(x + 0.5, training=True)
    errors = check_gradients(net, x, seed=seed, training=training)
    assert any(".shortcut.conv.weight" in key for key in errors)
    assert max(errors.values()) <= 1, {k: v for k, v in errors.items() if v > 1}


def test_dropout_inside_a_block_is_exact_and_differs_from_a_top_level_dropout():
    definition = {"input_shape": [2, 5, 5], "layers": [
        {"type": "dropout", "rate": 0.5},
        {"type": "residual", "layers": [{"type": "dropout", "rate": 0.5}, {"type": "conv2d", "filters": 2,
                                                                           "kernel_size": 3, "padding": 1}]},
        {"type": "flatten"}, {"type": "dense", "units": 2}]}
    net = build_network(definition, seed=3, dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5))
    assert max(check_gradients(net, x, training=True).values()) <= 1
    outer, block = net.layers[0], net.layers[1]
    assert outer.plan.index != block.path[0].plan.index
    net.forward(x, training=True, sample_ids=np.arange(2))
    assert not np.array_equal(outer.scale, block.path[0].scale)


def test_save_load_and_checkpoint_resume(tmp_path):
    definition = random_residual_network(2)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 2, 7, 7)), rng.integers(0, 3, size=8)
    optimizer = {"type": "sgd", "lr": 0.05, "momentum": 0.9}
    net = build_network(definition, seed=1, dtype="float64")
    trainer = Trainer(net, optimizer)
    trainer.train_step(x, y)
    save_model(tmp_path / "model.npz", net, {"classes": 3})
    loaded, metadata = load_model(tmp_path / "model.npz")
    assert metadata == {"classes": 3} and set(loaded.buffers) == set(net.buffers)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))

    save_checkpoint(tmp_path / "ckpt.npz", {"state": net.state_arrays(), "trainer": trainer.state_dict()})
    trainer.train_step(x, y)
    resumed_net = build_network(definition, seed=99, dtype="float64")
    state = load_checkpoint(tmp_path / "ckpt.npz")
    resumed_net.load_params(state["state"])
    resumed = Trainer(resumed_net, optimizer)
    resumed.load_state_dict(state["trainer"])
    resumed.train_step(x, y)
    for key, value in net.state_arrays().items():
        np.testing.assert_array_equal(resumed_net.state_arrays()[key], value, err_msg=key)
