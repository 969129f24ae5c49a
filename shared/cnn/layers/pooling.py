"""Max, mean and global mean pooling, computed as elementwise work over kernel-offset slices."""
from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from ..kernels.frame import copy_runs
from ..kernels.pieces import share
from ..kernels.threads import run_split, worker_count
from .base import Layer, pad_feature_map, unpad_feature_map, window_slice
from .plan import LayerPlan
from .spec import IntOrPair, LayerSpec, Padding, needs_feature_map
from .window import receptive_explain, slide, window_explain, window_of, window_receptive_field


class _PoolSpec(LayerSpec):
    pool_size: IntOrPair
    stride: IntOrPair | None = None  # None: the pool size, windows side by side
    padding: Padding = 0

    shrinks = True
    statistic: ClassVar[str]  # what a window gives, e.g. "the largest value"

    def shape_rule(self, plan: LayerPlan) -> None:
        needs_feature_map(plan)
        plan.window = window_of(self.pool_size, self.stride, self.padding, 1, plan.input_shape)
        plan.output_shape = (plan.input_shape[0],
                             *slide(plan.window, plan.input_shape, "pool_size", "pool"))

    def receptive_field(self, plan: LayerPlan):
        return window_receptive_field(plan)

    def explain(self, plan: LayerPlan) -> str:
        kernel = "x".join(map(str, plan.window.kernel))
        lines = [f"{window_explain(plan)}; params = 0",
                 f"each {kernel} window of each channel gives {self.statistic}: a fixed rule, "
                 f"nothing to learn; depth stays {plan.input_shape[0]}",
                 receptive_explain(plan)]
        return "\n".join(line for line in lines if line)


class MaxPool2DSpec(_PoolSpec):
    """Max pooling; ties inside a window go to the first position in row-major order."""

    type: Literal["maxpool2d"]
    title = "MaxPool2D"
    statistic = "its largest value"


class AvgPool2DSpec(_PoolSpec):
    """Mean pooling; padded positions count as zeros in the mean (PyTorch's count_include_pad)."""

    type: Literal["avgpool2d"]
    title = "AvgPool2D"
    statistic = "the mean of its values (padding counted as zeros)"


class GlobalAvgPool2DSpec(LayerSpec):
    type: Literal["global_avgpool2d"]
    title = "GlobalAvgPool2D"
    shrinks = True

    def shape_rule(self, plan: LayerPlan) -> None:
        needs_feature_map(plan)
        plan.output_shape = (plan.input_shape[0],)

    def explain(self, plan: LayerPlan) -> str:
        c, h, w = plan.input_shape
        return (f"mean over {h}x{w} per channel -> {c}; params = 0 (a fixed rule, nothing to "
                f"learn)")


class _Pool(Layer):
    def __init__(self, plan, dtype, rng=None):
        super().__init__(plan, dtype)
        self.window = plan.window
        (kh, kw), (sh, sw) = self.window.kernel, self.window.stride
        _, out_h, out_w = plan.output_shape
        # (offset number, padded rows read, padded columns read), in row-major order
        self.offsets = [(i * kw + j, window_slice(i, 1, sh, out_h), window_slice(j, 1, sw, out_w))
                        for i in range(kh) for j in range(kw)]
        self.cache = None


class MaxPool2D(_Pool):
    schema = MaxPool2DSpec
    """Max pooling. Ties inside a window go to the first position in row-major order
    (lowest row, then lowest column): only that input receives the gradient.

    Windows that tile the map (stride = pool size, no remainder) go in two passes when a
    position's run of images is short (16-32 values) and one thread pools the whole map: the
    maximum of each window's rows, whole rows of the map at a time, then of its columns. A pass
    over single window positions pays NumPy's overhead on every run of N values; a pass over
    whole rows does not (the colour network's first pool at 16 images: forward 330 -> 274 us,
    backward 772 -> 552 us, one thread). With longer runs, or the channels shared among threads,
    the one-pass route was as fast or faster (at 128 images backward 4.1 against 4.9 ms).

    Channels are independent, so larger maps are cut into runs of channels shared among the
    engine's threads (LeNet-5's first pool at batch 512: forward and backward 1.5x faster)."""

    # Set by ``Network`` when the convolution before this layer pools its own output (see
    # kernels/winograd_pool.py): this layer then passes its input and its gradient on.
    passes_input = False

    def forward(self, x, ctx):
        if self.passes_input:
            return x
        # out[c, y, x, n] = max_{i,j} x_pad[c, y*s + i, x*s + j, n]; padding is -inf
        x_pad = pad_feature_map(x, self.window.padding, value=-np.inf, layer=self)
        out = self.workspace("out", (x.shape[0], *self.plan.output_shape[1:], x.shape[-1]), x.dtype)
        columns = self._columns(x_pad, out)

        def pool(channels: slice):
            if columns is not None:
                self._pool_tiled(x_pad[channels], out[channels], columns[channels])
                return
            for k, rows, cols in self.offsets:
                if k == 0:
                    out[channels] = x_pad[channels, rows, cols]
                else:
                    np.maximum(out[channels], x_pad[channels, rows, cols], out=out[channels])

        _by_channels(pool, x_pad)
        self.cache = (x_pad, out)
        return out

    def _tiled(self, x_pad: np.ndarray, out: np.ndarray) -> bool:
        (kh, kw), (sh, sw) = self.window.kernel, self.window.stride
        return (sh, sw) == (kh, kw) and x_pad.shape[1:3] == (sh * out.shape[1], sw * out.shape[2])

    def _columns(self, x_pad: np.ndarray, out: np.ndarray) -> np.ndarray | None:
        """Room for each window's row maxima, (C, out rows, out columns, kw, N), also used by
        backward, when the map goes in two passes (see the class); else None."""
        channels, out_h, out_w, batch = out.shape
        if (not self._tiled(x_pad, out) or not x_pad.flags.c_contiguous
                or batch * x_pad.itemsize > SHORT_RUN_BYTES or _parts(x_pad) > 1):
            return None
        return self.workspace("columns", (channels, out_h, out_w, self.window.kernel[1], batch), x_pad.dtype)

    def _pool_tiled(self, x_pad, out, columns) -> None:
        kh = self.window.kernel[0]
        channels, out_h = out.shape[:2]
        rows = x_pad.reshape(channels, out_h, kh, -1)
        _maximum_of([rows[:, :, i] for i in range(kh)], np.reshape(columns, (channels, out_h, -1), copy=False))
        _maximum_of([columns[..., j, :] for j in range(columns.shape[3])], out)

    def backward(self, grad_out, need_input_grad=True):
        if self.passes_input:
            return grad_out
        # dx_pad[c, y*s + i, x*s + j, n] = grad_out[c, y, x, n] where offset (i, j) is the first
        # to equal the window's maximum
        x_pad, out = self.cache
        (kh, kw) = self.window.kernel
        grad_pad = self.workspace("grad_input", x_pad.shape, grad_out.dtype)
        tiled, columns = self._tiled(x_pad, out), self._columns(x_pad, out)
        channels, out_h, out_w, batch = out.shape
        if columns is not None:
            maxima = self.workspace("maxima", (channels, out_h, kh, out_w * kw * batch), np.bool_)
        elif tiled:
            maxima = self.workspace("maxima", (channels, out_h, kh, out_w, kw, batch), np.bool_)

        def route(part: slice):
            parts = (x_pad[part], out[part], grad_out[part], grad_pad[part])
            if columns is not None:
                routed = self._route_unique_maxima_by_rows(*parts, maxima[part], columns[part])
            else:
                routed = tiled and self._route_unique_maxima(*parts, maxima[part])
            if not routed:
                self._route_first_maxima(*parts, tiled)

        _by_channels(route, x_pad)
        return unpad_feature_map(grad_pad, self.window.padding)

    def _route_first_maxima(self, x_pad, out, grad_out, grad_pad, tiled) -> None:
        """grad_out sent to the first position of each window that equals its maximum."""
        (kh, kw), (sh, sw) = self.window.kernel, self.window.stride
        overlapping = sh < kh or sw < kw
        if not tiled:
            grad_pad.fill(0)  # windows that tile the input exactly write every position below
        claimed, winner = np.empty(out.shape, np.bool_), np.empty(out.shape, np.bool_)
        last = kh * kw - 1
        for k, rows, cols in self.offsets:
            np.equal(x_pad[:, rows, cols], out, out=winner if k else claimed)
            if k:
                np.greater(winner, claimed, out=winner)  # equal to the max and not yet claimed
                if k < last:
                    claimed |= winner
            mask = winner if k else claimed
            if overlapping:
                grad_pad[:, rows, cols] += grad_out * mask
            else:
                np.multiply(grad_out, mask, out=grad_pad[:, rows, cols])

    @staticmethod
    def _route_unique_maxima(x_pad, out, grad_out, grad_pad, maxima) -> bool:
        """For windows that tile the input: grad_out sent to each window's maximum in two passes
        over a (C, rows, kh, columns, kw, N) view, when every window holds its maximum once (no
        ties to settle); False otherwise, ``grad_pad`` then to be written whole by
        ``_route_first_maxima``. (Half the time of the offset-by-offset pass at batch 128, 2x2
        pools of 32-64 channels.)"""
        windows = maxima.shape
        np.equal(x_pad.reshape(windows), out[:, :, None, :, None], out=maxima)
        # a NaN window matches nothing and could hide a tie elsewhere in the count
        if np.count_nonzero(maxima) != out.size or np.isnan(out.sum()):
            return False
        np.multiply(maxima, grad_out[:, :, None, :, None], out=np.reshape(grad_pad, windows, copy=False))
        return True

    @staticmethod
    def _route_unique_maxima_by_rows(x_pad, out, grad_out, grad_pad, maxima, columns) -> bool:
        """``_route_unique_maxima`` over whole rows of the map: each window's maximum, then its
        gradient, first spread over the window's columns."""
        rows = x_pad.reshape(maxima.shape[:3] + (-1,))
        spread = columns.reshape(rows.shape[:2] + (1, -1))
        copy_runs(columns, np.broadcast_to(out[:, :, :, None], columns.shape))
        np.equal(rows, spread, out=maxima)
        # a NaN window matches nothing and could hide a tie elsewhere in the count
        if np.count_nonzero(maxima) != out.size or np.isnan(out.sum()):
            return False
        copy_runs(columns, np.broadcast_to(grad_out[:, :, :, None], columns.shape))
        np.multiply(maxima, spread, out=np.reshape(grad_pad, rows.shape, copy=False))
        return True


def _maximum_of(parts: list[np.ndarray], out: np.ndarray) -> None:
    if len(parts) == 1:
        np.copyto(out, parts[0])
        return
    np.maximum(parts[0], parts[1], out=out)
    for part in parts[2:]:
        np.maximum(out, part, out=out)


# Maps of fewer values stay on one thread: waking another costs more than it saves.
SPLIT_MIN_VALUES = 2**18
# The longest run of images (bytes) for which max pooling goes in two passes (see MaxPool2D).
SHORT_RUN_BYTES = 128


def _parts(feature_map: np.ndarray) -> int:
    """How many threads ``_by_channels`` shares the map among."""
    return min(worker_count(), feature_map.shape[0] if feature_map.size >= SPLIT_MIN_VALUES else 1)


def _by_channels(work, feature_map: np.ndarray) -> None:
    """``work(channels)`` over runs of the map's channels, shared among the engine threads."""
    channels = feature_map.shape[0]

    def run(part, parts):
        mine = share(range(channels), part, parts)  # never empty: at most one part per channel
        work(slice(mine[0], mine[-1] + 1))

    run_split(run, _parts(feature_map))


class AvgPool2D(_Pool):
    """Mean pooling; padded positions count as zeros in the mean (PyTorch's count_include_pad)."""

    schema = AvgPool2DSpec

    def forward(self, x, ctx):
        # out[c, y, x, n] = mean_{i,j} x_pad[c, y*s + i, x*s + j, n]
        x_pad = pad_feature_map(x, self.window.padding)
        kh, kw = self.window.kernel
        out = None
        for _, rows, cols in self.offsets:
            out = x_pad[:, rows, cols].copy() if out is None else out.__iadd__(x_pad[:, rows, cols])
        out *= 1.0 / (kh * kw)
        self.cache = x_pad.shape
        return out

    def backward(self, grad_out, need_input_grad=True):
        # dx_pad[c, y*s + i, x*s + j, n] += grad_out[c, y, x, n] / (kh*kw)
        kh, kw = self.window.kernel
        share = grad_out * (1.0 / (kh * kw))
        grad_pad = np.zeros(self.cache, dtype=grad_out.dtype)
        for _, rows, cols in self.offsets:
            grad_pad[:, rows, cols] += share
        return unpad_feature_map(grad_pad, self.window.padding)


class GlobalAvgPool2D(Layer):
    schema = GlobalAvgPool2DSpec

    def __init__(self, plan, dtype, rng=None):
        super().__init__(plan, dtype)
        self.input_shape = None

    def forward(self, x, ctx):
        # out[c, n] = mean_{y,x} x[c, y, x, n], for each channel a product (1, H*W) @ (H*W, N)
        # (12x faster than x.mean(axis=(1, 2)) over 8x8 positions of 16 images: no short runs)
        self.input_shape = channels, height, width, batch = x.shape
        weights = np.full((1, height * width), 1.0 / (height * width), x.dtype)
        out = self.workspace("out", (channels, 1, batch), x.dtype)
        np.matmul(weights, x.reshape(channels, height * width, batch), out=out)
        return out.reshape(channels, batch)

    def backward(self, grad_out, need_input_grad=True):
        _, h, w, _ = self.input_shape
        grad_input = self.workspace("grad_input", self.input_shape, grad_out.dtype)
        copy_runs(grad_input, np.broadcast_to((grad_out * (1.0 / (h * w)))[:, None, None, :], self.input_shape))
        return grad_input
