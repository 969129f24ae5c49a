"""Every layer type's input and parameter gradients against central finite differences (float64)."""
import numpy as np
import pytest

from shared.cnn import build_network
from shared.cnn.gradcheck import check_gradients, gradient_error
from shared.cnn.kernels import convolution
from shared.cnn.kernels.threads import engine_threads
from shared.cnn.layers import pooling

def random_conv(rng):
    kh, kw = rng.integers(1, 4, size=2)
    return {"type": "conv2d", "filters": int(rng.integers(1, 4)), "kernel_size": [int(kh), int(kw)],
            "stride": [int(s) for s in rng.integers(1, 4, size=2)],
            "padding": [int(p) for p in rng.integers(0, 3, size=2)],
            "dilation": [int(d) for d in rng.integers(1, 3, size=2)], "bias": bool(rng.integers(2))}


@pytest.mark.parametrize("seed", range(6))
def test_winograd_conv2d_random_geometry(seed, monkeypatch):
    # any channel count runs the Winograd kernel: 3x3, stride 1, paddings 0-2 on each side
    monkeypatch.setattr(convolution, "WINOGRAD_MIN_CHANNELS", 1)
    rng = np.random.default_rng(seed)
    shape = [int(rng.integers(1, 4)), int(rng.integers(4, 9)), int(rng.integers(4, 9))]
    padding = "same" if seed % 3 == 0 else [int(p) for p in rng.integers(0, 3, size=2)]
    assert_gradients([{"type": "conv2d", "filters": int(rng.integers(1, 4)), "kernel_size": 3, "padding": padding,
                       "bias": bool(seed % 2)}], shape, seed)


def random_pool(rng, kind):
    kh, kw = (int(k) for k in rng.integers(1, 4, size=2))
    return {"type": kind, "pool_size": [kh, kw], "stride": [int(s) for s in rng.integers(1, 4, size=2)],
            "padding": [int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))]}


def assert_gradients(layers, input_shape, seed, training=False, batch=3):
    net = build_network({"input_shape": input_shape, "layers": layers}, seed=seed, dtype="float64")
    x = np.random.default_rng(seed).standard_normal((batch, *input_shape))
    errors = check_gradients(net, x, seed=seed, training=training)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= 1, (worst, errors, layers)


@pytest.mark.parametrize("seed", range(8))
def test_conv2d_random_geometry(seed):
    rng = np.random.default_rng(seed)
    shape = [int(rng.integers(1, 4)), int(rng.integers(6, 10)), int(rng.integers(6, 10))]
    assert_gradients([random_conv(rng)], shape, seed)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
def test_pooling_random_geometry(kind, seed):
    rng = np.random.default_rng(seed)
    shape = [int(rng.integers(1, 4)), int(rng.integers(5, 9)), int(rng.integers(5, 9))]
    assert_gradients([random_pool(rng, kind)], shape, seed)


def test_same_padding_with_stride_is_asymmetric_and_exact():
    assert_gradients([{"type": "conv2d", "filters": 2, "kernel_size": 4, "stride": 3, "padding": "same"}],
                     [2, 8, 7], seed=1)


@pytest.mark.parametrize("kind", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activations(kind):
    assert_gradients([{"type": kind}], [2, 4, 3], seed=2)


def test_dense_flatten_global_pool():
    assert_gradients([{"type": "global_avgpool2d"}, {"type": "dense", "units": 4}], [3, 4, 5], seed=3)
    assert_gradients([{"type": "flatten"}, {"type": "dense", "units": 3, "bias": False}], [2, 3, 2], seed=4)


@pytest.mark.parametrize("training", [False, True])
def test_batchnorm_over_channels_and_features(training):
    assert_gradients([{"type": "batchnorm"}, {"type": "tanh"}], [3, 4, 5], seed=5, training=training)
    assert_gradients([{"type": "batchnorm"}, {"type": "sigmoid"}], [6], seed=6, training=training, batch=5)


def test_dropout_in_training_with_fixed_sample_ids():
    assert_gradients([{"type": "dropout", "rate": 0.4}, {"type": "dense", "units": 3}], [7], seed=7,
                     training=True)


def test_small_network_end_to_end():
    layers = [{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": 1}, {"type": "relu"},
              {"type": "maxpool2d", "pool_size": 2}, {"type": "conv2d", "filters": 2, "kernel_size": 2},
              {"type": "flatten"}, {"type": "dense", "units": 4}]
    assert_gradients(layers, [2, 8, 6], seed=8)


@pytest.mark.parametrize("stride", [1, 2])
def test_max_pool_ties_go_to_the_first_position_in_row_major_order(stride):
    net = build_network({"input_shape": [1, 3, 3], "layers": [{"type": "maxpool2d", "pool_size": 2,
                                                                "stride": stride}]}, dtype="float64")
    x = np.array([[[[5.0, 5.0, 1.0], [5.0, 2.0, 7.0], [0.0, 7.0, 7.0]]]])
    out = net.forward(x)
    grad = net.backward(np.ones_like(out))
    if stride == 2:
        np.testing.assert_array_equal(out, [[[[5.0]]]])
        np.testing.assert_array_equal(grad, [[[[1, 0, 0], [0, 0, 0], [0, 0, 0]]]])
    else:
        np.testing.assert_array_equal(out, [[[[5.0, 7.0], [7.0, 7.0]]]])
        # windows: top-left -> (0,0); top-right -> (1,2); bottom-left -> (2,1); bottom-right -> (1,2)
        np.testing.assert_array_equal(grad, [[[[1, 0, 0], [0, 0, 2], [0, 1, 0]]]])


def test_max_pool_tiling_its_input_settles_ties_beside_a_nan_window():
    # windows side by side: a NaN window (its maximum equals nothing) and a tie between two 3s
    net = build_network({"input_shape": [1, 2, 4], "layers": [{"type": "maxpool2d", "pool_size": 2}]}, dtype="float64")
    x = np.array([[[[np.nan, 1.0, 3.0, 3.0], [1.0, 1.0, 0.0, 0.0]]]])
    out = net.forward(x)
    np.testing.assert_array_equal(out, [[[[np.nan, 3.0]]]])
    grad = net.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(grad, [[[[0, 0, 20, 0], [0, 0, 0, 0]]]])


@pytest.mark.parametrize("pool", [[2, 2], [3, 2], [1, 3], [2, 1]])
def test_max_pool_tiling_its_input_in_training(pool):
    # windows side by side: training records the winning column and row in forward
    assert_gradients([{"type": "maxpool2d", "pool_size": pool}], [2, 2 * pool[0], 3 * pool[1]], seed=9,
                     training=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("images", [5, 40])  # short runs of images go in two passes, long ones in one
@pytest.mark.parametrize("pool", [[2, 2], [3, 2], [1, 3], [2, 1], [3, 3]])
def test_max_pool_tiling_its_input_agrees_with_each_window_taken_whole(pool, images, dtype):
    # each route against each window's maximum and argmax
    kh, kw = pool
    rng = np.random.default_rng(12)
    x = rng.permutation(images * 3 * 2 * kh * 4 * kw).reshape(images, 3, 2 * kh, 4 * kw).astype(dtype)
    grad = rng.standard_normal((images, 3, 2, 4)).astype(dtype)
    net = build_network({"input_shape": [3, 2 * kh, 4 * kw], "layers": [{"type": "maxpool2d", "pool_size": pool}]},
                        dtype=dtype)
    out = net.forward(x, training=True)
    grad_input = net.backward(grad)
    windows = x.reshape(images, 3, 2, kh, 4, kw).transpose(0, 1, 2, 4, 3, 5).reshape(images, 3, 2, 4, kh * kw)
    np.testing.assert_array_equal(out, windows.max(axis=-1))
    expected = np.zeros_like(windows)
    np.put_along_axis(expected, windows.argmax(axis=-1)[..., None], grad[..., None], axis=-1)
    expected = expected.reshape(images, 3, 2, 4, kh, kw).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
    np.testing.assert_array_equal(grad_input, expected)


@pytest.mark.parametrize("pool", [[2, 2], [3, 2], [2, 3]])
def test_max_pool_in_training_settles_ties_and_nan_windows_like_evaluation(pool):
    # small integers tie often; one NaN window among them
    definition = {"input_shape": [3, 2 * pool[0], 4 * pool[1]], "layers": [{"type": "maxpool2d", "pool_size": pool}]}
    rng = np.random.default_rng(10)
    x = rng.integers(0, 3, size=(5, *definition["input_shape"])).astype(np.float64)
    grad = rng.standard_normal((5, 3, 2, 4))
    for nan in (False, True):
        if nan:
            x[1, 2, 0, 0] = np.nan
        results = []
        for training in (False, True):
            net = build_network(definition, dtype="float64")
            results.append((net.forward(x, training=training), net.backward(grad)))
        np.testing.assert_array_equal(results[1][0], results[0][0])
        np.testing.assert_array_equal(results[1][1], results[0][1])


@pytest.mark.parametrize("pool, stride", [([2, 2], None), ([3, 3], 2), ([2, 3], None)])
def test_max_pool_shared_among_threads_by_channel_gives_one_threads_results(pool, stride, monkeypatch):
    # channel 0 ties everywhere (small integers) and holds a NaN window, the others have unique
    # maxima: one thread settles ties while another routes unique maxima (windows that tile the
    # input) or all pools go offset by offset (overlapping windows)
    monkeypatch.setattr(pooling, "SPLIT_MIN_VALUES", 1)
    definition = {"input_shape": [4, 2 * pool[0] + (stride is not None), 4 * pool[1]],
                  "layers": [{"type": "maxpool2d", "pool_size": pool, "stride": stride}]}
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, *definition["input_shape"]))
    x[:, 0] = rng.integers(0, 2, size=x[:, 0].shape)
    x[2, 0, 0, 0] = np.nan
    results = []
    for threads in (1, 2, 3):
        net = build_network(definition, dtype="float64")
        with engine_threads(threads):
            out = net.forward(x, training=True)
            results.append((out, net.backward(np.arange(out.size, dtype=np.float64).reshape(out.shape))))
    for out, grad in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(grad, results[0][1])


def test_relu_before_max_pool_runs_after_it_with_the_same_results():
    net = build_network({"input_shape": [1, 2, 6], "layers": [{"type": "relu"}, {"type": "maxpool2d", "pool_size": 2}]},
                        dtype="float64")
    assert [layer.plan.type for layer in net.execution_order] == ["maxpool2d", "relu"]
    # windows: all negative, a tie at zero beside negatives, a tie between two positives
    x = np.array([[[[-3.0, -1.0, 0.0, -2.0, 4.0, 1.0],
                    [-2.0, -5.0, -1.0, 0.0, 2.0, 4.0]]]])
    out = net.forward(x)
    np.testing.assert_array_equal(out, [[[[0.0, 0.0, 4.0]]]])
    grad = net.backward(np.array([[[[10.0, 20.0, 30.0]]]]))
    np.testing.assert_array_equal(grad, [[[[0, 0, 0, 0, 30, 0], [0, 0, 0, 0, 0, 0]]]])


@pytest.mark.parametrize("channels, conv", [
    (32, {"kernel_size": 3, "padding": 1}),  # Winograd
    (8, {"kernel_size": 3, "padding": 1}),  # shifted slices
    (3, {"kernel_size": 3, "stride": 2, "padding": 1}),  # gathered windows
])
def test_relu_before_a_convolution_is_done_by_its_copy_with_the_same_results(channels, conv):
    definition = {"input_shape": [channels, 6, 6], "layers": [
        {"type": "conv2d", "filters": channels, "kernel_size": 1}, {"type": "relu"},
        {"type": "conv2d", "filters": 4, **conv}, {"type": "tanh"}]}
    x = np.random.default_rng(5).standard_normal((3, channels, 6, 6))
    results = []
    for fused in (True, False):
        net = build_network(definition, seed=5, dtype="float64")
        relu, second = net.execution_order[1:3]
        assert relu.passes_input and second.kernel.rectify_input
        if not fused:
            relu.passes_input = second.kernel.rectify_input = False
        out = net.forward(x, training=True)
        grad = net.backward(np.cos(np.arange(out.size)).reshape(out.shape))
        results.append((out, grad, {name: value.copy() for name, value in net.grads.items()}))
    (out, grad, grads), (expected_out, expected_grad, expected_grads) = results
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(grad, expected_grad)
    for name, value in expected_grads.items():
        np.testing.assert_array_equal(grads[name], value)


def test_a_conv_bias_before_batchnorm_has_a_truly_zero_gradient_that_passes():
    # batchnorm in training subtracts the batch mean, so the bias before it cannot change the loss
    layers = [{"type": "conv2d", "filters": 2, "kernel_size": 2}, {"type": "batchnorm"}, {"type": "tanh"}]
    net = build_network({"input_shape": [1, 4, 4], "layers": layers}, seed=9, dtype="float64")
    x = np.random.default_rng(9).standard_normal((4, 1, 4, 4))
    errors = check_gradients(net, x, seed=9, training=True)
    assert np.max(np.abs(net.grads["conv2d_1.bias"])) < 1e-12
    assert max(errors.values()) <= 1, errors


def test_gradient_error_combines_an_absolute_and_a_relative_tolerance():
    # rounding noise around a true zero passes; the same difference on a small gradient fails
    assert gradient_error(np.array([1e-15]), np.array([2.7e-9])) < 0.03
    assert gradient_error(np.array([1e-3]), np.array([1e-3 + 1e-6])) > 1
    assert gradient_error(np.array([100.0]), np.array([100.0 + 1e-4])) < 0.2
    assert gradient_error(np.array([100.0]), np.array([100.01])) > 1
