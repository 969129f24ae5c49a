import numpy as np
import pytest

from shared.cnn import ModelFileError, build_network, load_model, save_model
from shared.cnn.layers.dropout import keep_mask

DROPOUT_NET = {"name": "small", "input_shape": [2, 6, 6], "layers": [
    {"type": "conv2d", "filters": 3, "kernel_size": 3}, {"type": "batchnorm"}, {"type": "relu"},
    {"type": "flatten"}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 4}]}


def test_parameter_names_layouts_and_buffers(lenet5):
    net = build_network(lenet5)
    assert list(net.params)[:4] == ["conv2d_1.weight", "conv2d_1.bias", "conv2d_2.weight", "conv2d_2.bias"]
    assert net.params["conv2d_1.weight"].shape == (6, 1, 5, 5)
    assert net.params["dense_1.weight"].shape == (120, 400)
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert set(net.grads) == set(net.params)
    bn = build_network(DROPOUT_NET)
    assert set(bn.buffers) == {"batchnorm_1.running_mean", "batchnorm_1.running_var"}
    assert "batchnorm_1.weight" in bn.params and "batchnorm_1.running_mean" not in bn.params
    assert net.summary.total_params == 61_706


def test_same_seed_same_weights_and_outputs(lenet5):
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    a, b, c = build_network(lenet5, seed=1), build_network(lenet5, seed=1), build_network(lenet5, seed=2)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    assert not np.array_equal(a.params["dense_1.weight"], c.params["dense_1.weight"])


def test_params_are_live_arrays(lenet5):
    net = build_network(lenet5)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28))
    before = net.forward(x)
    np.copyto(net.params["dense_3.bias"], np.arange(10, dtype=np.float32))
    np.testing.assert_allclose(net.forward(x), before + np.arange(10), rtol=1e-5, atol=1e-5)
    grads = net.grads
    net.backward(np.ones_like(before))
    assert net.grads is grads and net.grads["dense_3.bias"] is grads["dense_3.bias"]
    np.testing.assert_allclose(grads["dense_3.bias"], 2.0)


def test_uint8_images_are_scaled(lenet5):
    net = build_network(lenet5)
    images = np.random.default_rng(0).integers(0, 256, size=(3, 1, 28, 28), dtype=np.uint8)
    np.testing.assert_allclose(net.forward(images), net.forward(images / 255.0), rtol=1e-5, atol=1e-6)


def test_other_integer_inputs_are_used_as_given(lenet5):
    net = build_network(lenet5)
    values = np.random.default_rng(0).integers(0, 4, size=(3, 1, 28, 28))
    for dtype in (np.int64, np.int32, np.uint16):
        np.testing.assert_allclose(net.forward(values.astype(dtype)), net.forward(values.astype(np.float64)),
                                   rtol=1e-5, atol=1e-6)


def test_wrong_input_shape_is_a_clear_error(lenet5):
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 1, 28, 28\)"):
        build_network(lenet5).forward(np.zeros((2, 28, 28)))


def test_dropout_mask_is_a_function_of_seed_and_sample_id():
    mask = keep_mask(3, 4, np.arange(100, 106), 48, 0.5)
    np.testing.assert_array_equal(mask[:, 2:], keep_mask(3, 4, np.arange(102, 106), 48, 0.5))
    assert not np.array_equal(mask, keep_mask(4, 4, np.arange(100, 106), 48, 0.5))
    assert 0.48 < keep_mask(3, 4, np.arange(10_000), 48, 0.5).mean() < 0.52
    x = np.random.default_rng(1).standard_normal((6, 2, 6, 6))
    ids = np.arange(100, 106)
    first = build_network(DROPOUT_NET, seed=3).forward(x, training=True, sample_ids=ids)
    again = build_network(DROPOUT_NET, seed=3).forward(x, training=True, sample_ids=ids)
    np.testing.assert_array_equal(first, again)
    other = build_network(DROPOUT_NET, seed=3).forward(x, training=True, sample_ids=ids + 1)
    assert not np.array_equal(first, other)


def test_dropout_sharded_forward_matches_whole_batch():
    definition = {"input_shape": [5], "layers": [{"type": "dense", "units": 16}, {"type": "dropout", "rate": 0.3},
                                                 {"type": "dense", "units": 2}]}
    net = build_network(definition, seed=4)
    x = np.random.default_rng(2).standard_normal((8, 5))
    ids = np.arange(40, 48)
    whole = net.forward(x, training=True, sample_ids=ids)
    shards = np.concatenate([net.forward(x[i:i + 3], training=True, sample_ids=ids[i:i + 3]) for i in (0, 3, 6)])
    np.testing.assert_allclose(whole, shards, rtol=1e-6)
    np.testing.assert_array_equal(net.forward(x), net.forward(x, training=False, sample_ids=ids + 7))


def test_save_and_load_round_trip(tmp_path, lenet5):
    net = build_network(DROPOUT_NET, seed=5)
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 6))
    net.forward(x, training=True)
    path = tmp_path / "model.npz"
    save_model(path, net, {"epochs": 3, "classes": ["a", "b"]})
    loaded, metadata = load_model(path)
    assert metadata == {"epochs": 3, "classes": ["a", "b"]}
    assert loaded.definition.to_dict() == net.definition.to_dict()
    for key, value in net.state_arrays().items():
        np.testing.assert_array_equal(loaded.state_arrays()[key], value)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_load_bad_files_are_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_model(garbage)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.npz")
    plain = tmp_path / "plain.npz"
    np.savez(plain, weights=np.zeros(3))
    with pytest.raises(ModelFileError, match="no network definition"):
        load_model(plain)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __definition__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError):
        load_model(pickled)


def test_load_params_checks_shapes(lenet5):
    net = build_network(lenet5)
    arrays = {k: v.copy() for k, v in net.state_arrays().items()}
    arrays["dense_1.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"dense_1.weight has shape \(3, 3\)"):
        net.load_params(arrays)
    with pytest.raises(ValueError, match="missing"):
        net.load_params({})
