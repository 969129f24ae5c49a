"""Convolutions cut into pieces give the same numbers as whole ones and as PyTorch, for random
kernels, strides, paddings and dilations, in float64 and float32; the Winograd kernel gives the
direct kernels' numbers."""
import numpy as np
import pytest

from shared.cnn import build_network
from shared.cnn.errors import DefinitionError
from shared.cnn.kernels import convolution, pieces
from shared.cnn.kernels.threads import engine_threads
from shared.cnn.kernels import winograd
from shared.cnn.kernels.winograd import WinogradConvolution
from shared.cnn.layers.base import ForwardContext


def random_convolution(seed: int) -> dict:
    """A valid one-conv definition; half of them stride 1 (the shifted-slice kernel from 8 channels)."""
    rng = np.random.default_rng(seed)
    while True:
        kernel = [int(k) for k in rng.integers(1, 5, size=2)]
        stride = [1, 1] if seed % 2 else [int(s) for s in rng.integers(1, 4, size=2)]
        dilation = [int(d) for d in rng.integers(1, 3, size=2)]
        padding = "same" if seed % 4 == 1 else [int(p) for p in rng.integers(0, 3, size=2)]
        size = [int(s) for s in rng.integers(3, 12, size=2)]
        definition = {"input_shape": [int(rng.choice([1, 3, 8, 9])), *size], "layers": [
            {"type": "conv2d", "filters": int(rng.integers(1, 6)), "kernel_size": kernel, "stride": stride,
             "dilation": dilation, "padding": padding, "bias": bool(seed % 3)}]}
        try:
            build_network(definition)
            return definition
        except DefinitionError:
            seed += 1000
            rng = np.random.default_rng(seed)


def run(layer, x: np.ndarray, grad: np.ndarray):
    ctx = ForwardContext(training=True, sample_ids=np.arange(x.shape[-1]), seed=0)
    out = layer.forward(x.copy(), ctx).copy()
    grad_input = layer.backward(grad.copy(), True).copy()
    return out, grad_input, {key: value.copy() for key, value in layer.grads.items()}


def inputs(layer, batch: int, dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*layer.plan.input_shape, batch)).astype(dtype)
    return x, rng.standard_normal((*layer.plan.output_shape, batch)).astype(dtype)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("budget", [1, 3000])
def test_pieces_of_any_size_give_the_whole_result(seed, budget, monkeypatch):
    # budget 1: one position per piece; 3000 bytes: a few positions or rows per piece
    layer = build_network(random_convolution(seed), dtype="float64").layers[0]
    x, grad = inputs(layer, 3, "float64")
    whole = run(layer, x, grad)
    monkeypatch.setattr(pieces, "WINDOW_BUFFER_BYTES", budget)
    fresh = build_network(random_convolution(seed), dtype="float64").layers[0]
    cut = run(fresh, x, grad)
    for expected, actual in zip(whole[:2], cut[:2]):
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)
    for key in whole[2]:
        np.testing.assert_allclose(cut[2][key], whole[2][key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_a_first_layer_shares_its_weight_gradient_among_threads_with_the_same_result(seed, monkeypatch):
    # without an input gradient the gathered-window kernel splits its pieces over the threads
    monkeypatch.setattr(pieces, "WINDOW_BUFFER_BYTES", 1)  # a row of windows per piece
    monkeypatch.setattr(convolution, "SPLIT_MIN_WEIGHTS", 1)
    definition = random_convolution(2 * seed)  # even seeds: any stride, the gathered-window kernel
    layer = build_network(definition, dtype="float64").layers[0]
    x, grad = inputs(layer, 3, "float64", seed)
    _, _, expected = run(layer, x, grad)
    ctx = ForwardContext(training=True, sample_ids=np.arange(3), seed=0)
    for threads in (1, 2, 3):
        with engine_threads(threads):
            layer.forward(x.copy(), ctx)
            assert layer.backward(grad.copy(), False) is None
        for key in expected:
            np.testing.assert_allclose(layer.grads[key], expected[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_the_gathered_window_input_gradient_is_the_same_over_any_number_of_threads(seed, monkeypatch):
    # each thread adds its pieces' overlapping windows into a gradient of its own
    monkeypatch.setattr(pieces, "WINDOW_BUFFER_BYTES", 1)  # a row of windows per piece
    layer = build_network(random_convolution(2 * seed), dtype="float64").layers[0]
    x, grad = inputs(layer, 3, "float64", seed)
    with engine_threads(1):
        expected = run(layer, x, grad)
    for threads in (2, 3):
        with engine_threads(threads):
            actual = run(layer, x, grad)
        np.testing.assert_allclose(actual[1], expected[1], rtol=1e-12, atol=1e-12)
        for key in expected[2]:
            np.testing.assert_allclose(actual[2][key], expected[2][key], rtol=1e-12, atol=1e-12)


def test_every_cut_covers_each_wanted_position_once():
    for rows, width, wanted, limit in [(5, 7, (0, 5), 100), (5, 7, (0, 5), 3), (4, 9, (2, 7), 2), (3, 4, (1, 3), 1)]:
        covered = np.zeros((rows, width), int)
        for r0, r1, c0, c1 in pieces.cut(rows, width, wanted, limit):
            assert (r1 - r0 - 1) * width + c1 - c0 <= max(limit, 1)
            covered[r0:r1, c0:c1] += 1
        assert (covered[:, wanted[0]:wanted[1]] == 1).all()


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-9), ("float32", 1e-4)])
def test_convolutions_match_pytorch(seed, dtype, tolerance, monkeypatch):
    torch = pytest.importorskip("torch")
    if seed % 3 == 0:
        monkeypatch.setattr(pieces, "WINDOW_BUFFER_BYTES", 2000)
    layer = build_network(random_convolution(seed), dtype=dtype).layers[0]
    x, grad = inputs(layer, 4, dtype, seed)
    out, grad_input, grads = run(layer, x, grad)

    top, bottom, left, right = layer.plan.window.padding
    x_torch = torch.from_numpy(np.moveaxis(x, -1, 0).copy()).requires_grad_(True)
    weight = torch.from_numpy(layer.params["weight"]).requires_grad_(True)
    bias = torch.from_numpy(layer.params["bias"]).requires_grad_(True) if "bias" in layer.params else None
    padded = torch.nn.functional.pad(x_torch, (left, right, top, bottom))
    expected = torch.nn.functional.conv2d(padded, weight, bias, stride=layer.plan.window.stride,
                                          dilation=layer.plan.window.dilation)
    expected.backward(torch.from_numpy(np.moveaxis(grad, -1, 0).copy()))

    scale = max(1.0, float(np.abs(expected.detach().numpy()).max()))
    np.testing.assert_allclose(np.moveaxis(out, -1, 0), expected.detach().numpy(), rtol=tolerance,
                               atol=tolerance * scale)
    np.testing.assert_allclose(np.moveaxis(grad_input, -1, 0), x_torch.grad.numpy(), rtol=tolerance,
                               atol=tolerance * max(1.0, float(np.abs(x_torch.grad.numpy()).max())))
    np.testing.assert_allclose(grads["weight"], weight.grad.numpy(), rtol=tolerance,
                               atol=tolerance * max(1.0, float(np.abs(weight.grad.numpy()).max())))
    if bias is not None:
        np.testing.assert_allclose(grads["bias"], bias.grad.numpy(), rtol=tolerance, atol=tolerance * scale)


def random_winograd_convolution(seed: int) -> dict:
    """A 3x3 stride-1 convolution the Winograd kernel takes once its channel threshold is 1:
    paddings 0-2 on each side (asymmetric ones included), odd and even sizes."""
    rng = np.random.default_rng(seed)
    padding = "same" if seed % 4 == 1 else [int(p) for p in rng.integers(0, 3, size=2)]
    return {"input_shape": [int(rng.integers(1, 6)), *(int(s) for s in rng.integers(3, 10, size=2))], "layers": [
        {"type": "conv2d", "filters": int(rng.integers(1, 6)), "kernel_size": 3, "padding": padding,
         "bias": bool(seed % 3)}]}


def winograd_layer(definition: dict, dtype: str, monkeypatch):
    monkeypatch.setattr(convolution, "WINOGRAD_MIN_CHANNELS", 1)
    layer = build_network(definition, dtype=dtype).layers[0]
    assert isinstance(layer.kernel, WinogradConvolution)
    return layer


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-9), ("float32", 1e-4)])
def test_winograd_agrees_with_the_direct_kernels(seed, dtype, tolerance, monkeypatch):
    definition = random_winograd_convolution(seed)
    direct = build_network(definition, dtype=dtype).layers[0]
    assert not isinstance(direct.kernel, WinogradConvolution)
    layer = winograd_layer(definition, dtype, monkeypatch)
    if seed % 3 == 0:  # a tile or a few per piece
        monkeypatch.setattr(pieces, "WINDOW_BUFFER_BYTES", 1500)
    x, grad = inputs(layer, 5, dtype, seed)
    for expected, actual in zip(run(direct, x, grad), run(layer, x, grad)):
        if isinstance(expected, dict):
            expected, actual = expected["weight"], actual["weight"]
        np.testing.assert_allclose(actual, expected, rtol=tolerance,
                                   atol=tolerance * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("images", [1, 2, 3])
def test_winograd_cuts_the_batch_into_chunks_with_the_whole_batch_result(seed, images, monkeypatch):
    # chunks of 1-3 images; 7 images leave a short last chunk (its empty places are zeros)
    definition = random_winograd_convolution(200 + seed)
    layer = winograd_layer(definition, "float64", monkeypatch)
    x, grad = inputs(layer, 7, "float64", seed)
    whole = run(layer, x, grad)
    kernel = layer.kernel
    budget = images * kernel.pairs * winograd.PIECE_ROWS * kernel.wide * 8
    monkeypatch.setattr(pieces, "WINDOW_BUFFER_BYTES", budget)
    cut = winograd_layer(definition, "float64", monkeypatch)
    assert cut.kernel.chunks(7, 8) == (-(-7 // images), -(-7 // -(-7 // images)))
    for expected, actual in zip(whole, run(cut, x, grad)):
        if isinstance(expected, dict):
            expected, actual = expected["weight"], actual["weight"]
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_winograd_after_a_batch_of_nans_gives_the_same_gradients_as_a_fresh_layer(monkeypatch):
    # the extra tile of each row is computed from whatever its scratch holds, then left out of the
    # GEMMs: nothing left from the NaN batch may reach a result
    definition = {"input_shape": [3, 6, 5], "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3,
                                                        "padding": 1}]}
    layer = winograd_layer(definition, "float64", monkeypatch)
    x, grad = inputs(layer, 4, "float64")
    run(layer, np.full_like(x, np.nan), np.full_like(grad, np.nan))
    fresh = winograd_layer(definition, "float64", monkeypatch)
    for expected, actual in zip(run(fresh, x, grad), run(layer, x, grad)):
        if isinstance(expected, dict):
            expected, actual = expected["weight"], actual["weight"]
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_keeps_its_prepared_calls_only_while_its_buffers_stay(threads, monkeypatch):
    # two steps each of 6, 4 and 6 images again: each change of batch makes new buffers, and calls
    # prepared on the old ones must not run on (or write into) the new, nor be kept
    definition = random_winograd_convolution(300)
    layer = winograd_layer(definition, "float64", monkeypatch)
    plans = layer.kernel.buffers.plans
    counts = []
    with engine_threads(threads):
        for number, images in enumerate([6, 6, 4, 4, 6, 6]):
            before = dict(plans)
            x, grad = inputs(layer, images, "float64", number)
            results = run(layer, x, grad)
            counts.append(len(plans))
            fresh = winograd_layer(definition, "float64", monkeypatch)
            for expected, actual in zip(run(fresh, x, grad), results):
                if isinstance(expected, dict):
                    expected, actual = expected["weight"], actual["weight"]
                np.testing.assert_array_equal(actual, expected)
    assert counts[1] == counts[5] > 0 and counts[3] > 0  # none left behind from another batch
    assert all(plans[key] is plan for key, plan in before.items())  # kept over a step of the same batch


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-9), ("float32", 1e-4)])
def test_winograd_matches_pytorch(seed, dtype, tolerance, monkeypatch):
    torch = pytest.importorskip("torch")
    layer = winograd_layer(random_winograd_convolution(100 + seed), dtype, monkeypatch)
    x, grad = inputs(layer, 3, dtype, seed)
    out, grad_input, grads = run(layer, x, grad)
    top, bottom, left, right = layer.plan.window.padding
    x_torch = torch.from_numpy(np.moveaxis(x, -1, 0).copy()).requires_grad_(True)
    weight = torch.from_numpy(layer.params["weight"]).requires_grad_(True)
    bias = torch.from_numpy(layer.params["bias"]) if "bias" in layer.params else None
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x_torch, (left, right, top, bottom)), weight, bias)
    expected.backward(torch.from_numpy(np.moveaxis(grad, -1, 0).copy()))
    for actual, wanted in [(np.moveaxis(out, -1, 0), expected.detach().numpy()),
                           (np.moveaxis(grad_input, -1, 0), x_torch.grad.numpy()),
                           (grads["weight"], weight.grad.numpy())]:
        np.testing.assert_allclose(actual, wanted, rtol=tolerance, atol=tolerance * max(1.0, float(np.abs(wanted).max())))


@pytest.mark.parametrize("layer, winograd", [
    ({"kernel_size": 3, "padding": 1}, True),
    ({"kernel_size": 3, "padding": [2, 0]}, True),
    ({"kernel_size": 3, "padding": 3}, False),
    ({"kernel_size": 3, "padding": 1, "stride": 2}, False),
    ({"kernel_size": 3, "padding": 2, "dilation": 2}, False),
    ({"kernel_size": 5, "padding": 2}, False),
    ({"kernel_size": [3, 1], "padding": 1}, False),
])
@pytest.mark.parametrize("channels", [convolution.WINOGRAD_MIN_CHANNELS - 1, convolution.WINOGRAD_MIN_CHANNELS])
def test_the_kernel_follows_the_layer_geometry_and_channels(layer, winograd, channels):
    net = build_network({"input_shape": [channels, 8, 8], "layers": [{"type": "conv2d", "filters": 4, **layer}]})
    wanted = winograd and channels >= convolution.WINOGRAD_MIN_CHANNELS
    assert isinstance(net.layers[0].kernel, WinogradConvolution) is wanted
