"""Convolution on (C, H, W, N) feature maps as GEMMs over cache-sized pieces of positions.

Stride 1 (``ShiftedConvolution``) never gathers windows for the whole map: the input is copied
once into a zero-framed buffer seen as a (C, Hp*Wp*N) matrix, in which kernel offset (i, j) is
the same matrix shifted by (i*dh*Wp + j*dw)*N columns. Per piece of output positions the kh*kw
shifted slices are stacked into one (kh*kw*C, positions) block in cache and multiplied by the
weights in one GEMM. Computing whole rows of Wp positions makes each slice contiguous; the
positions x >= out_w read into the next row and are dropped. The input gradient is the same
sum with the transposed weights over the output gradient framed in zeros and shifted the other
way; the weight gradient is the output gradient times each stacked block, transposed.

3x3 stride-1 layers with ``WINOGRAD_MIN_CHANNELS`` or more input channels run Winograd
F(2x2, 3x3) instead (``winograd.WinogradConvolution``).

Other strides (``WindowConvolution``) gather the strided windows of a piece of output rows
(im2col), one GEMM per piece, and gather them again in backward rather than keep them.

Either way no buffer of gathered windows passes ``WINDOW_BUFFER_BYTES`` (with at least one
position per piece), and ``working_bytes`` gives the peak of everything a layer allocates.
"""
from __future__ import annotations

import numpy as np

from .buffers import Buffers
from .frame import copy_in
from .pieces import cut, positions_per_piece, share
from .sums import row_sums
from .threads import run_split, worker_count
from .winograd import WinogradConvolution


SHIFTED_MIN_CHANNELS = 8
WINOGRAD_MIN_CHANNELS = 32
# A first layer's weight gradient shares its pieces among the threads from this many weights on
# (filters x window values). Backward of the first layers of the benchmark networks, two threads
# against one: 3x3x3 -> 32 (864 weights) 37-38% faster at batch 32 and 128; 3x3x1 -> 32 (288)
# 0-6% slower, 5x5x1 -> 6 (150) 7% slower: gathering the windows, not the GEMM, bounds those.
SPLIT_MIN_WEIGHTS = 512


def _per_channel(vector: np.ndarray, ndim: int) -> np.ndarray:
    return vector.reshape((-1,) + (1,) * (ndim - 1))


def _store(result: np.ndarray, bias: np.ndarray | None, target: np.ndarray) -> None:
    if bias is None:
        np.copyto(target, result)
    else:
        np.add(result, _per_channel(bias, result.ndim), out=target)


class ShiftedConvolution:
    def __init__(self, weight_shape, input_shape, window):
        self.filters, self.channels, self.kh, self.kw = weight_shape
        _, self.height, self.width = input_shape
        top, bottom, left, right = window.padding
        (dh, dw) = window.dilation
        self.top, self.left = top, left
        self.padded = (self.height + top + bottom, self.width + left + right)
        hp, wp = self.padded
        self.out_h, self.out_w = hp - (self.kh - 1) * dh, wp - (self.kw - 1) * dw
        # each kernel offset's shift in positions, row-major over (i, j)
        self.offsets = [i * dh * wp + j * dw for i in range(self.kh) for j in range(self.kw)]
        self.tail = (self.kw - 1) * dw  # positions read past the last padded row
        self.buffers = Buffers()
        self.rectify_input = False  # max(x, 0) as the input is copied in: see frame.copy_in
        self.source = None
        self.batch = 0

    def limit(self, batch: int, itemsize: int) -> int:
        """Positions per piece, the same in all three passes."""
        return positions_per_piece(self.stacked_rows, batch, itemsize)

    @property
    def stacked_rows(self) -> int:
        return len(self.offsets) * max(self.channels, self.filters)

    def working_bytes(self, batch: int, itemsize: int) -> int:
        """Every buffer forward and backward keep for ``batch`` images, the output included."""
        hp, wp = self.padded
        limit = self.limit(batch, itemsize)
        weights = self.filters * len(self.offsets) * self.channels
        values = (self.channels * (hp * wp + self.tail)  # framed input
                  + self.filters * self.out_h * self.out_w  # output
                  + self.filters * (self.offsets[-1] + hp * wp)  # framed output gradient
                  + self.channels * self.height * self.width) * batch  # input gradient
        # per thread: block and product; the weight gradient and its piece
        per_thread = (self.stacked_rows + max(self.channels, self.filters)) * limit * batch + 2 * weights
        pieces = max(len(cut(self.out_h, wp, (0, self.out_w), limit)),
                     len(cut(self.height, wp, (self.left, self.left + self.width), limit)))
        # the stacked weights and their transpose, a spare
        return (values + min(worker_count(), pieces) * per_thread + 3 * weights) * itemsize

    def forward_bytes(self, batch: int, itemsize: int) -> int:
        """The buffers a forward alone keeps for ``batch`` images: framed input, output, a block and
        product per thread."""
        hp, wp = self.padded
        limit = self.limit(batch, itemsize)
        weights = self.filters * len(self.offsets) * self.channels
        values = (self.channels * (hp * wp + self.tail) + self.filters * self.out_h * self.out_w) * batch
        per_thread = (self.stacked_rows + max(self.channels, self.filters)) * limit * batch
        pieces = len(cut(self.out_h, wp, (0, self.out_w), limit))
        return (values + min(worker_count(), pieces) * per_thread + 2 * weights) * itemsize

    def _gather(self, source: np.ndarray, shifts: list[int], start: int, count: int, part: int) -> np.ndarray:
        """The slices source[:, start + shift : start + shift + count] stacked, offset-major."""
        rows = source.shape[0]
        batch = self.batch
        flat = self.buffers.empty(f"block{part}", (self.stacked_rows * self.limit(batch, source.itemsize) * batch,),
                                  source.dtype)
        block = flat[:len(shifts) * rows * count].reshape(len(shifts) * rows, count)
        for k, shift in enumerate(shifts):
            block[k * rows:(k + 1) * rows] = source[:, start + shift:start + shift + count]
        return block

    def _product(self, rows: int, count: int, part: int, dtype) -> np.ndarray:
        limit = self.limit(self.batch, np.dtype(dtype).itemsize)
        return self.buffers.empty(f"product{part}", (max(self.filters, self.channels), limit * self.batch),
                                  dtype)[:rows, :count]

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        # out[f, y, x, n] = sum_{c,i,j} weight[f, c, i, j] * x_pad[c, y + i*dh, x + j*dw, n] + bias[f]
        channels, height, width, batch = x.shape
        self.batch = batch
        hp, wp = self.padded
        source = self.buffers.zeroed("source", (channels, (hp * wp + self.tail) * batch), x.dtype)
        interior = source[:, :hp * wp * batch].reshape(channels, hp, wp, batch)
        copy_in(interior[:, self.top:self.top + height, self.left:self.left + width], x, self.rectify_input)
        self.source = source
        stacked = weight.transpose(0, 2, 3, 1).reshape(self.filters, -1)
        out = self.buffers.empty("out", (self.filters, self.out_h, self.out_w, batch), x.dtype)
        shifts = [offset * batch for offset in self.offsets]
        work = cut(self.out_h, wp, (0, self.out_w), self.limit(batch, x.itemsize))

        def compute(part, parts):
            for r0, r1, c0, c1 in share(work, part, parts):
                start, count = (r0 * wp + c0) * batch, ((r1 - r0 - 1) * wp + c1 - c0) * batch
                result = np.matmul(stacked, self._gather(source, shifts, start, count, part),
                                   out=self._product(self.filters, count, part, x.dtype))
                if c1 - c0 == wp:
                    _store(result.reshape(self.filters, r1 - r0, wp, batch)[:, :, :self.out_w], bias,
                           out[:, r0:r1])
                else:
                    _store(result.reshape(self.filters, c1 - c0, batch), bias, out[:, r0, c0:c1])

        run_split(compute, len(work))
        return out

    def backward(self, grad_out: np.ndarray, weight: np.ndarray, grad_weight: np.ndarray,
                 grad_bias: np.ndarray | None, need_input_grad: bool) -> np.ndarray | None:
        filters, _, _, batch = grad_out.shape
        self.batch = batch
        hp, wp = self.padded
        dtype, itemsize = grad_out.dtype, grad_out.itemsize
        front = self.offsets[-1]
        # grad_out at framed[:, front*N:] in rows of wp positions; all else stays zero
        framed = self.buffers.zeroed("framed", (filters, (front + hp * wp) * batch), dtype)
        wide = framed[:, front * batch:(front + self.out_h * wp) * batch].reshape(filters, self.out_h, wp, batch)
        wide[:, :, :self.out_w] = grad_out
        if grad_bias is not None:
            row_sums(grad_out.reshape(filters, -1), grad_bias)

        # dweight[f, (i, j, c)] = sum_q grad_wide[f, q] * x_pad_flat[c, q + shift_ij]: one GEMM per
        # offset and piece on the shifted slice as it lies (a long inner dimension, nothing gathered)
        limit = self.limit(batch, itemsize)
        shifts = [offset * batch for offset in self.offsets]
        channels = self.channels
        work = cut(self.out_h, wp, (0, self.out_w), limit)

        def weight_gradient(part, parts):
            total = self.buffers.empty(f"grad_weight{part}", (filters, len(shifts) * channels), dtype)
            piece = self.buffers.empty(f"grad_weight_piece{part}", (filters, channels), dtype)
            for number, (r0, r1, c0, c1) in enumerate(share(work, part, parts)):
                start, count = (r0 * wp + c0) * batch, ((r1 - r0 - 1) * wp + c1 - c0) * batch
                grad_piece = framed[:, front * batch + start:front * batch + start + count]
                for k, shift in enumerate(shifts):
                    target = total[:, k * channels:(k + 1) * channels]
                    source = self.source[:, start + shift:start + shift + count]
                    if number == 0:
                        np.matmul(grad_piece, source.T, out=target)
                    else:
                        target += np.matmul(grad_piece, source.T, out=piece)
            return total

        totals = run_split(weight_gradient, len(work))
        for total in totals[1:]:
            totals[0] += total
        grad_weight[...] = totals[0].reshape(filters, self.kh, self.kw, channels).transpose(0, 3, 1, 2)
        if not need_input_grad:
            return None

        # dx_pad[c, t] = sum_{f,i,j} weight[f, c, i, j] * framed[f, t + (front - shift_ij)]
        stacked_t = weight.transpose(1, 2, 3, 0).reshape(channels, -1)
        back_shifts = [(front - offset) * batch for offset in self.offsets]
        grad_input = self.buffers.empty("grad_input", (channels, self.height, self.width, batch), dtype)
        left, width = self.left, self.width
        work = cut(self.height, wp, (left, left + width), limit)

        def input_gradient(part, parts):
            for r0, r1, c0, c1 in share(work, part, parts):
                start = ((self.top + r0) * wp + c0) * batch
                count = ((r1 - r0 - 1) * wp + c1 - c0) * batch
                result = np.matmul(stacked_t, self._gather(framed, back_shifts, start, count, part),
                                   out=self._product(channels, count, part, dtype))
                if c1 - c0 == wp:
                    grad_input[:, r0:r1] = result.reshape(channels, r1 - r0, wp, batch)[:, :, left:left + width]
                else:
                    grad_input[:, r0, c0 - left:c1 - left] = result.reshape(channels, c1 - c0, batch)

        run_split(input_gradient, len(work))
        return grad_input


class WindowConvolution:
    def __init__(self, weight_shape, input_shape, output_shape, window):
        self.filters, self.channels, self.kh, self.kw = weight_shape
        _, self.height, self.width = input_shape
        _, self.out_h, self.out_w = output_shape
        self.window = window
        top, bottom, left, right = window.padding
        self.padded = (self.height + top + bottom, self.width + left + right)
        self.kernel_rows = self.channels * self.kh * self.kw
        self.buffers = Buffers()
        self.rectify_input = False  # max(x, 0) as the input is copied in: see frame.copy_in
        self.source = None

    def rows_per_piece(self, batch: int, itemsize: int) -> int:
        return positions_per_piece(self.kernel_rows, batch, itemsize) // self.out_w or 1

    def working_bytes(self, batch: int, itemsize: int) -> int:
        """Every buffer forward and backward keep for ``batch`` images, the output included."""
        hp, wp = self.padded
        rows = self.rows_per_piece(batch, itemsize)
        threads = min(worker_count(), len(self._pieces(batch, itemsize)))
        values = (self.channels * hp * wp  # padded input
                  + threads * self.channels * hp * wp  # its gradient, one per thread
                  + self.filters * self.out_h * self.out_w  # output
                  + threads * self.kernel_rows * rows * self.out_w) * batch  # a block per thread
        weights = self.filters * self.kernel_rows
        # per thread the weight gradient (float64) and its piece; the weight matrix's transpose, a spare
        return (values + 2 * weights) * itemsize + threads * weights * (8 + itemsize)

    def forward_bytes(self, batch: int, itemsize: int) -> int:
        """The buffers a forward alone keeps for ``batch`` images: padded input, output, a block per thread."""
        hp, wp = self.padded
        rows = self.rows_per_piece(batch, itemsize)
        threads = min(worker_count(), len(self._pieces(batch, itemsize)))
        values = (self.channels * hp * wp + self.filters * self.out_h * self.out_w
                  + threads * self.kernel_rows * rows * self.out_w) * batch
        return (values + 2 * self.filters * self.kernel_rows) * itemsize

    def _pieces(self, batch: int, itemsize: int):
        step = self.rows_per_piece(batch, itemsize)
        return [(start, min(start + step, self.out_h)) for start in range(0, self.out_h, step)]

    def _gather(self, r0: int, r1: int, part: int = 0) -> np.ndarray:
        """The windows of output rows [r0, r1) as a (C*kh*kw, positions) block."""
        x_pad = self.source
        batch, itemsize = x_pad.shape[-1], x_pad.itemsize
        (sh, sw), (dh, dw) = self.window.stride, self.window.dilation
        s_c, s_h, s_w, s_n = x_pad.strides
        windows = np.lib.stride_tricks.as_strided(
            x_pad[:, r0 * sh:], (self.channels, self.kh, self.kw, r1 - r0, self.out_w, batch),
            (s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w, s_n), writeable=False)
        size = self.kernel_rows * self.rows_per_piece(batch, itemsize) * self.out_w * batch
        flat = self.buffers.empty(f"block{part}", (size,), x_pad.dtype)
        block = flat[:windows.size].reshape(windows.shape)
        block[...] = windows
        return block.reshape(self.kernel_rows, -1)

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        # out[f, y, x, n] = sum_{c,i,j} weight[f, c, i, j] * x_pad[c, y*sh + i*dh, x*sw + j*dw, n] + bias[f]
        channels, height, width, batch = x.shape
        top, _, left, _ = self.window.padding
        x_pad = self.buffers.zeroed("source", (channels, *self.padded, batch), x.dtype)
        copy_in(x_pad[:, top:top + height, left:left + width], x, self.rectify_input)
        self.source = x_pad
        matrix = weight.reshape(self.filters, -1)
        out = self.buffers.empty("out", (self.filters, self.out_h, self.out_w, batch), x.dtype)
        work = self._pieces(batch, x.itemsize)

        def compute(part, parts):
            for r0, r1 in share(work, part, parts):
                result = np.matmul(matrix, self._gather(r0, r1, part), out=out[:, r0:r1].reshape(self.filters, -1))
                if bias is not None:
                    result += bias[:, None]

        run_split(compute, len(work))
        return out

    def backward(self, grad_out: np.ndarray, weight: np.ndarray, grad_weight: np.ndarray,
                 grad_bias: np.ndarray | None, need_input_grad: bool) -> np.ndarray | None:
        # dweight = grad_out @ windows^T; dwindows = weight^T @ grad_out, each kernel offset's
        # slice added back where forward read it
        filters, _, _, batch = grad_out.shape
        dtype = grad_out.dtype
        if grad_bias is not None:
            row_sums(grad_out.reshape(filters, -1), grad_bias)
        matrix = weight.reshape(filters, -1)
        work = self._pieces(batch, grad_out.itemsize)
        # summed over pieces in float64, so the rounding hardly depends on how the batch is cut
        shape = (filters, self.kernel_rows)

        def weight_gradient(part, parts, add_input_gradient=None):
            total = self.buffers.empty(f"grad_weight{part}", shape, np.float64)
            piece = self.buffers.empty(f"grad_weight_piece{part}", shape, dtype)
            for number, (r0, r1) in enumerate(share(work, part, parts)):
                grad_piece = grad_out[:, r0:r1].reshape(filters, -1)
                block = self._gather(r0, r1, part)
                np.matmul(grad_piece, block.T, out=piece)
                if number == 0:
                    total[...] = piece
                else:
                    total += piece
                if add_input_gradient:
                    add_input_gradient(r0, r1, grad_piece, block)
            return total

        if not need_input_grad:
            # the first layer of a network: its pieces shared among the threads
            totals = run_split(weight_gradient, len(work) if matrix.size >= SPLIT_MIN_WEIGHTS else 1)
            for total in totals[1:]:
                totals[0] += total
            grad_weight.reshape(filters, -1)[...] = totals[0]
            return None
        # the input gradient's pieces overlap where their windows do: each thread adds its pieces
        # into a padded gradient of its own, summed at the end
        (sh, sw), (dh, dw) = self.window.stride, self.window.dilation

        def add_input_gradient(grad_pad, r0, r1, grad_piece, block):
            grad_windows = np.matmul(matrix.T, grad_piece, out=block).reshape(
                self.channels, self.kh, self.kw, r1 - r0, self.out_w, batch)
            rows = r1 - r0
            for i in range(self.kh):
                row_slice = slice(r0 * sh + i * dh, r0 * sh + i * dh + sh * (rows - 1) + 1, sh)
                for j in range(self.kw):
                    column_slice = slice(j * dw, j * dw + sw * (self.out_w - 1) + 1, sw)
                    grad_pad[:, row_slice, column_slice] += grad_windows[:, i, j]

        def gradients(part, parts):
            grad_pad = self.buffers.empty(f"grad_input{part}", self.source.shape, dtype)
            grad_pad.fill(0)
            total = weight_gradient(part, parts, lambda *piece: add_input_gradient(grad_pad, *piece))
            return total, grad_pad

        (total, grad_pad), *others = run_split(gradients, len(work))
        for other_total, other_pad in others:
            total += other_total
            grad_pad += other_pad
        grad_weight.reshape(filters, -1)[...] = total
        top, bottom, left, right = self.window.padding
        return grad_pad[:, top:top + self.height, left:left + self.width]


def convolution_for(plan):
    """The kernel a conv2d plan runs with."""
    weight_shape = plan.param_shapes["weight"]
    window = plan.window
    # Winograd trades GEMM work for transforms whose cost grows with the channels as the GEMM's
    # does. Forward and backward of the 3x3 layers of the benchmark networks, CPU time against
    # the kernel used before, batch 32 and 128: 32-64 input channels 1.13-1.33x faster, 16
    # channels 0.93-1.06x, 1-3 channels 2-6 times slower. Padding up to 2 keeps the input
    # gradient a Winograd correlation too.
    if (window.kernel == (3, 3) and window.stride == (1, 1) and window.dilation == (1, 1)
            and max(window.padding) <= 2 and weight_shape[1] >= WINOGRAD_MIN_CHANNELS):
        return WinogradConvolution(weight_shape, plan.input_shape, window)
    # A few input channels make shallow GEMMs out of each shifted slice: gathering the windows
    # then ran faster (LeNet-5: 17 ms against 21 ms of CPU per step at batch 128).
    if plan.window.stride == (1, 1) and weight_shape[1] >= SHIFTED_MIN_CHANNELS:
        return ShiftedConvolution(weight_shape, plan.input_shape, plan.window)
    return WindowConvolution(weight_shape, plan.input_shape, plan.output_shape, plan.window)
