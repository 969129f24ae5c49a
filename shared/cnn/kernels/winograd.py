"""Winograd F(2x2, 3x3) convolution on (C, H, W, N) feature maps, for 3x3 kernels at stride 1.

Each 2x2 block of outputs ("tile") is computed from the 4x4 block of input around it as
``A^T [(G g G^T) * (B^T d B)] A``: 16 products per tile and channel pair where the direct sum
takes 36. Per piece of tiles the input is transformed in two vectorised passes (rows, then
columns) into a (16, C, positions) block, the 16 transformed filter matrices multiply it in one
batched GEMM, and a GEMM with the 4x16 matrix A^T (x) A^T turns the (16, F, positions) product
into output tiles. (The input transform's row pass as a GEMM, 4x4 by 4 rows, took 1.4-1.8x as
long as its additions: the output's GEMM reads 16 values for 4, the input's 4 for 4.)

- Forward: as above, over the zero-framed input; the bias is added to the product entry that
  every output of a tile sums exactly once.
- Input gradient: the same forward over the output gradient framed by ``2 - padding`` zeros,
  with the kernel turned 180 degrees and its channel axes swapped (a full convolution).
- Weight gradient: F(3x3, 2x2), the adjoint of forward: dU = sum over tiles of
  (A dY A^T) * (B^T d B), one batched GEMM per piece, then dW = G^T dU G. With padding 1 it
  reads dY from the input gradient's framed copy (one copy of dY per step instead of two: 2-7%
  faster per layer, the same numbers).

The maps the transforms read are copied once into a layout where every pass is a few long
contiguous runs (NumPy runs those at memory speed; runs of a few hundred values, as a
(C, H, W, N) map gives, went through its buffers at a third of it): the batch cut into chunks
of ``n`` images, and each chunk ``(rows, 2, C, J, n)``, a row holding its even columns then its
odd ones, each as (channel, column pair, image). A piece is one row of tiles of one chunk
(several rows when the batch is smaller than a chunk, so small batches make as few NumPy
calls): a row of tiles reads 4 contiguous input rows, and a tile's columns are pairs j and
j + 1, the same run shifted by n values. Each row of tiles carries one tile more than the map
has (J = tiles + 1 pairs): computed from neighbouring values, and left out of every GEMM as a
strided view (reading them cost 6% more GEMM work on 32x32 maps, 12% on 16x16).

The transforms only add, subtract and halve, so float64 results agree with the direct sum to
rounding; float32 keeps to about 1e-6 relative. A piece's blocks stay under about
``WINDOW_BUFFER_BYTES`` (at least one row of tiles of one image), and pieces are shared among
the engine's threads.

A 2x2 max pool after the layer can be done here from each piece's tile outputs, each tile one
pool window (``winograd_pool``; ``Network`` sets ``pool``).

A piece makes about twenty NumPy calls on views of the kept buffers. Those views and calls are
built once and kept with the buffers (``Buffers.plan``), so a step only runs them: building them
cost a 16-image colour step on one thread 7% and a step on two threads 10% (there each thread's
Python holds the GIL the other waits for).
"""
from __future__ import annotations

import functools

import numpy as np

from .buffers import Buffers
from .frame import copy_runs, rectify
from .pieces import positions_per_piece, share
from .sums import row_sums
from .winograd_pool import OUTPUTS, pooled_output_calls, route_to_frame
from .threads import run_split, worker_count

# the filter transform G; _G_SIGNED also carries the sign ``_transform_gradient`` leaves out
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_G_SIGNED = _G * np.array([1.0, 1.0, 1.0, -1.0])[:, None]
TRANSFORMED = 16  # 4x4 products per tile
_A_T = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]])
# Images per chunk: as many as let a row of tiles take 24 values per tile position and channel
# within WINDOW_BUFFER_BYTES, so the 16-value block takes 2/3 of it and a thread's scratch (two
# blocks and the half-transformed rows, 40 values) stays under twice it. Forward and backward of
# the 32->32, 32->64 and 64->64 layers of the benchmark networks, batch 32 and 128, one thread:
# 12 values within 7% either way, 48 values 0-30% slower, 96 values 10-60% slower (chunks of
# fewer images copy shorter runs and make smaller GEMMs).
PIECE_ROWS = 24


@functools.cache
def _kernel_transform(dtype: np.dtype, turned: bool) -> np.ndarray:
    """G (x) G: a 3x3 kernel's 16 transformed values from its 9 (row-major), (16, 9); ``turned``
    for the kernel turned 180 degrees (its 9 values in reverse order)."""
    transform = np.kron(_G, _G)
    return np.ascontiguousarray(transform[:, ::-1] if turned else transform).astype(dtype)


@functools.cache
def _kernel_untransform(dtype: np.dtype) -> np.ndarray:
    """G' (x) G', G' = ``_G_SIGNED``: a kernel's gradient (9) from its 16 products, transposed (16, 9)."""
    return np.kron(_G_SIGNED, _G_SIGNED).astype(dtype)


def _transform_weight(weight: np.ndarray, out: np.ndarray, turned: bool = False) -> None:
    """G g G^T for each (f, c) of a (F, C, 3, 3) kernel into ``out`` (16, F, C), one GEMM; with
    ``turned``, of the kernel turned 180 degrees with its channel axes swapped, into (16, C, F).
    (Two tensordots and a transposing copy took 2-3% of a training step at batch 16-32.)"""
    filters, channels = weight.shape[:2]
    kernels = weight.transpose(1, 0, 2, 3) if turned else weight
    np.matmul(_kernel_transform(weight.dtype, turned), kernels.reshape(filters * channels, 9).T,
              out=np.reshape(out, (TRANSFORMED, -1), copy=False))


def _untransform_weight(products: np.ndarray, out: np.ndarray) -> None:
    """G'^T dU G' for each (f, c) of (16, F, C) products into ``out`` (F, C, 3, 3), one GEMM."""
    np.matmul(products.reshape(TRANSFORMED, -1).T, _kernel_untransform(products.dtype),
              out=np.reshape(out, (-1, 9), copy=False))


@functools.cache
def _output_transform(dtype: np.dtype) -> np.ndarray:
    """A^T (x) A^T: output (a, b) of a tile from its 16 products, (4, 16)."""
    return np.kron(_A_T, _A_T).astype(dtype)


def _tiles(size: int) -> int:
    return -(-size // 2)


class WinogradConvolution:
    def __init__(self, weight_shape, input_shape, window):
        self.filters, self.channels, _, _ = weight_shape
        _, self.height, self.width = input_shape
        self.top, bottom, self.left, right = window.padding
        self.out_h = self.height + self.top + bottom - 2
        self.out_w = self.width + self.left + right - 2
        # tiles of the output (forward, weight gradient) and of the input (input gradient)
        self.forward_tiles = (_tiles(self.out_h), _tiles(self.out_w))
        self.backward_tiles = (_tiles(self.height), _tiles(self.width))
        self.wide = max(self.channels, self.filters)
        self.pairs = max(self.forward_tiles[1], self.backward_tiles[1]) + 1  # J of the wider pass
        # Padding 1 on the top and left with as many tiles both ways (3x3 "same"): the weight
        # gradient reads its tiles of the output gradient from the input gradient's framed copy,
        # one row and one column in, instead of a copy of its own.
        self.shared_frame = (self.top, self.left) == (1, 1) and self.forward_tiles == self.backward_tiles
        self.buffers = Buffers()
        self.rectify_input = False  # max(x, 0) as the input is copied in: see frame.copy_in
        self.pool = False  # a 2x2 max pool after it done here: see winograd_pool
        self.source = None

    def can_pool(self, window) -> bool:
        """Whether a max pool with this window after it can be done here: 2x2 windows side by side
        over an output of whole tiles, whose gradient frames at (1, 1) (3x3 "same")."""
        th, tw = self.forward_tiles
        return (window.kernel == window.stride == (2, 2) and not any(window.padding)
                and self.shared_frame and (self.out_h, self.out_w) == (2 * th, 2 * tw))

    # -- sizes -------------------------------------------------------------------------------

    def _images_per_row(self, itemsize: int) -> int:
        """Images whose row of tiles fits the budget."""
        return max(1, positions_per_piece(PIECE_ROWS * self.wide, 1, itemsize) // self.pairs)

    def chunks(self, batch: int, itemsize: int) -> tuple[int, int]:
        """(chunks, images per chunk): a row of tiles of a chunk fits the budget."""
        count = -(-batch // self._images_per_row(itemsize))
        return count, -(-batch // count)

    def _rows_that_fit(self, batch: int, itemsize: int) -> int:
        """Rows of tiles of a chunk that fit the budget together: more than one for batches smaller
        than a chunk, whose pieces then make as few NumPy calls as a full chunk's."""
        _, images = self.chunks(batch, itemsize)
        return max(1, self._images_per_row(itemsize) // images)

    def _work(self, batch: int, itemsize: int, tile_rows: int) -> list[tuple[int, int, int]]:
        """The pieces of a pass, (chunk, first row of tiles, rows), at least one per thread where
        the rows allow."""
        chunks, _ = self.chunks(batch, itemsize)
        rows = max(1, min(self._rows_that_fit(batch, itemsize), tile_rows // min(worker_count(), tile_rows)))
        return [(chunk, row, min(rows, tile_rows - row))
                for chunk in range(chunks) for row in range(0, tile_rows, rows)]

    def _scratch_values(self, batch: int, itemsize: int) -> int:
        """One thread's blocks: transformed input, product, half-transformed rows and their run-over."""
        _, images = self.chunks(batch, itemsize)
        rows = self._rows_that_fit(batch, itemsize)
        return (2 * TRANSFORMED + 8) * self.wide * self.pairs * images * rows + 4 * images * rows

    def _scratch(self, part: int, batch: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One thread's two blocks and its half-transformed rows."""
        itemsize = np.dtype(dtype).itemsize
        _, images = self.chunks(batch, itemsize)
        block = TRANSFORMED * self.wide * self.pairs * images * self._rows_that_fit(batch, itemsize)
        # zeros: the run-over room of the half-transformed rows is read (for the extra tiles) but never
        # written, and garbage there could be inf - inf
        flat = self.buffers.zeroed(f"scratch{part}", (self._scratch_values(batch, itemsize),), dtype)
        return flat[:block], flat[block:2 * block], flat[2 * block:]

    def _threads(self, batch: int, itemsize: int) -> int:
        rows = max(self.forward_tiles[0], self.backward_tiles[0])
        return min(worker_count(), len(self._work(batch, itemsize, rows)))

    def _framed_values(self, batch: int, itemsize: int) -> tuple[int, int, int, int]:
        """Values of the framed input, the framed output gradient, the output gradient in the
        transforms' layout, and the whole-tile output when the output is odd."""
        th, tw = self.forward_tiles
        bh, bw = self.backward_tiles
        chunks, images = self.chunks(batch, itemsize)
        padded = chunks * images
        source = self.channels * (2 * th + 2) * (2 * tw + 2) * padded
        framed_grad = self.filters * (2 * bh + 2) * (2 * bw + 2) * padded
        paired_grad = 0 if self.shared_frame else self.filters * 2 * th * (2 * tw + 2) * padded
        odd_out = self.filters * 4 * th * tw * batch if (self.out_h % 2 or self.out_w % 2) else 0
        return source, framed_grad, paired_grad, odd_out

    def pooling_bytes(self, batch: int, itemsize: int, training: bool) -> int:
        """What doing the max pool after it adds to ``working_bytes`` (``training``) or to
        ``forward_bytes`` (see ``winograd_pool``): forward keeps its tile outputs over whole chunks
        (the full output's size and more) and their maxima, and writes the pooled map; backward
        adds the pooled gradient in their layout and the winners."""
        chunks, images = self.chunks(batch, itemsize)
        padded = chunks * images
        windows = self.filters * self.forward_tiles[0] * self.forward_tiles[1]
        values = windows * (4 * (padded - batch) + padded + batch)
        if not training:
            return values * itemsize
        return (values + windows * padded) * itemsize + 4 * windows * padded

    def working_bytes(self, batch: int, itemsize: int) -> int:
        """Every buffer forward and backward keep for ``batch`` images, the output included."""
        source, framed_grad, paired_grad, odd_out = self._framed_values(batch, itemsize)
        bh, bw = self.backward_tiles
        odd_in = self.channels * 4 * bh * bw if (self.height % 2 or self.width % 2) else 0
        values = (source + framed_grad + paired_grad + odd_out  # framed maps and whole-tile copies
                  + (odd_in + self.filters * self.out_h * self.out_w  # output
                     + self.channels * self.height * self.width) * batch)  # input gradient
        weights = TRANSFORMED * self.filters * self.channels
        # per thread: blocks, a weight-gradient total, its piece and the piece's rows; transformed
        # weights both ways, a spare
        per_thread = self._scratch_values(batch, itemsize) + (2 + self._rows_that_fit(batch, itemsize)) * weights
        return (values + self._threads(batch, itemsize) * per_thread + 4 * weights) * itemsize

    def forward_bytes(self, batch: int, itemsize: int) -> int:
        """The buffers a forward alone keeps: framed input, output, blocks per thread."""
        source, _, _, odd_out = self._framed_values(batch, itemsize)
        values = source + odd_out + self.filters * self.out_h * self.out_w * batch
        threads = min(worker_count(), len(self._work(batch, itemsize, self.forward_tiles[0])))
        return (values + threads * self._scratch_values(batch, itemsize)
                + 2 * TRANSFORMED * self.filters * self.channels) * itemsize

    # -- layout ------------------------------------------------------------------------------

    def _frame(self, key: str, x: np.ndarray, tiles: tuple[int, int], top: int, left: int,
               rectified: bool = False) -> np.ndarray:
        """``x`` (C, H, W, N) copied into a zero frame of 2*tiles + 2 rows and columns at (top, left),
        in the transforms' layout (chunks, rows, 2, C, J, n); ``max(x, 0)`` with ``rectified``."""
        channels, height, width, batch = x.shape
        chunks, images = self.chunks(batch, x.itemsize)
        rows, pairs = 2 * tiles[0] + 2, tiles[1] + 1
        target = self.buffers.zeroed(key, (chunks, rows, 2, channels, pairs, images), x.dtype)
        copies = [(parity, chunk) for parity in (0, 1) for chunk in range(chunks)]

        def copy(part, parts):
            for parity, chunk in share(copies, part, parts):
                first = (parity - left) % 2  # the first column of x that lands on this parity
                pair = (left + first) // 2
                columns = x[:, :, first::2].transpose(1, 0, 2, 3)  # (H, C, columns, N)
                count = columns.shape[2]
                start = chunk * images
                stop = min(start + images, batch)
                copy_runs(target[chunk, top:top + height, parity, :, pair:pair + count, :stop - start],
                          columns[..., start:stop])
                if rectified:
                    # over the whole rows (their frame is zeros): NumPy's loop runs along C*J*n values
                    written = target[chunk, top:top + height, parity]
                    rectify(written, written)

        # a few large copies: the threads share them
        run_split(copy, len(copies))
        return target

    # -- passes ------------------------------------------------------------------------------

    def _correlate(self, source, transformed, tiles, target, bias, pooled=None):
        """target (F', 2*tile rows, 2*tile columns, N) = 3x3 correlation of ``source`` (in the
        transforms' layout) with the transformed weights (16, F', C'); with ``pooled``, the tile
        outputs and their maxima (see ``winograd_pool``), target is the pooled map (F', tile rows,
        tile columns, N)."""
        outputs = transformed.shape[1]
        images = source.shape[-1]
        batch = target.shape[-1]
        work = self._work(batch, source.itemsize, tiles[0])

        def piece(chunk, row, rows, first, second, spare):
            """The calls of one piece up to the product, its bias entry, the calls after it."""
            calls, block = _input_calls(source, chunk, row, rows, second, spare)
            product = first[:TRANSFORMED * rows * outputs * block.shape[-1]].reshape(TRANSFORMED, rows, outputs, -1)
            calls.append((np.matmul, (transformed[:, None], block, product)))
            start = chunk * images
            # A^T[:, 1] and A[1, :] are all ones: entry (1, 1) reaches every output once
            bias_entry = product[5]
            if pooled is not None:
                kept, maxima = pooled
                return calls, bias_entry, pooled_output_calls(
                    product, _output_transform(product.dtype), kept[chunk, :, row:row + rows],
                    maxima[chunk, row:row + rows], target[:, row:row + rows, :, start:start + images])
            # the block is spent: its room takes the output tiles
            return calls, bias_entry, _output_calls(product, target[:, 2 * row:2 * (row + rows), :, start:start + images],
                                                    second)

        def compute(part, parts):
            scratch = self._scratch(part, batch, source.dtype)
            for chunk, row, rows in share(work, part, parts):
                calls, bias_entry, after = self.buffers.plan(
                    ("correlate", id(source), id(transformed), id(target), chunk, row, rows, part, pooled is None),
                    lambda: piece(chunk, row, rows, *scratch))
                _run(calls)
                if bias is not None:
                    np.add(bias_entry, bias[:, None], out=bias_entry)
                _run(after)

        run_split(compute, len(work))

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        # out[f, y, x, n] = sum_{c,i,j} weight[f, c, i, j] * x_pad[c, y + i, x + j, n] + bias[f]
        channels, height, width, batch = x.shape
        th, tw = self.forward_tiles
        self.source = self._frame("source", x, self.forward_tiles, self.top, self.left, self.rectify_input)
        transformed = self.buffers.empty("weights", (TRANSFORMED, self.filters, channels), x.dtype)
        _transform_weight(weight, transformed)
        if self.pool:
            out = self.buffers.empty("out", (self.filters, th, tw, batch), x.dtype)
            self._correlate(self.source, transformed, self.forward_tiles, out, bias, self._pooled(batch, x.dtype))
            return out
        out = self.buffers.empty("out", (self.filters, self.out_h, self.out_w, batch), x.dtype)
        even = out.shape[1:3] == (2 * th, 2 * tw)
        target = out if even else self.buffers.empty("out_tiles", (self.filters, 2 * th, 2 * tw, batch), x.dtype)
        self._correlate(self.source, transformed, self.forward_tiles, target, bias)
        if not even:
            out[...] = target[:, :self.out_h, :self.out_w]
        return out

    def _pooled(self, batch: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        """The tile outputs (chunks, 4, tile rows, F, J - 1, n) and their maxima (chunks, tile rows,
        F, J - 1, n) of a pooling forward, kept for backward."""
        chunks, images = self.chunks(batch, np.dtype(dtype).itemsize)
        th, tw = self.forward_tiles
        shape = (chunks, th, self.filters, tw, images)
        return (self.buffers.empty("tile_outputs", (chunks, OUTPUTS, *shape[1:]), dtype),
                self.buffers.empty("tile_maxima", shape, dtype))

    def _route(self, grad_out: np.ndarray) -> np.ndarray:
        """The pooled output gradient sent to each window's maximum, framed at (1, 1)."""
        filters, th, tw, batch = grad_out.shape
        dtype = grad_out.dtype
        chunks, images = self.chunks(batch, dtype.itemsize)
        kept, maxima = self._pooled(batch, dtype)
        framed = self.buffers.zeroed("framed", (chunks, 2 * th + 2, 2, filters, tw + 1, images), dtype)
        # images past the batch stay zeros, so they add nothing to the weight gradient
        grads = self.buffers.zeroed("pooled_grad", maxima.shape, dtype)
        winners = self.buffers.empty("winners", kept.shape, np.bool_)
        parts = min(worker_count(), th)
        work = [(chunk, slice(th * part // parts, th * (part + 1) // parts))
                for chunk in range(chunks) for part in range(parts)]

        def route(part, parts):
            for chunk, rows in share(work, part, parts):
                start = chunk * images
                route_to_frame(grad_out[:, rows, :, start:start + images], kept[chunk, :, rows], maxima[chunk, rows],
                               grads[chunk, rows], winners[chunk, :, rows], framed, chunk, rows)

        run_split(route, len(work))
        return framed

    def backward(self, grad_out: np.ndarray, weight: np.ndarray, grad_weight: np.ndarray,
                 grad_bias: np.ndarray | None, need_input_grad: bool) -> np.ndarray | None:
        filters, _, _, batch = grad_out.shape
        dtype = grad_out.dtype
        if grad_bias is not None:
            # pooling: each pooled gradient reaches one output, so the sums agree
            row_sums(grad_out.reshape(filters, -1), grad_bias)
        th, tw = self.forward_tiles
        framed = None
        if self.pool:
            framed = grad = self._route(grad_out)
        elif self.shared_frame:
            framed = grad = self._frame("framed", grad_out, self.backward_tiles, 1, 1)
        else:
            # the output gradient in the transforms' layout
            grad = self._frame("grad_pairs", grad_out, (th - 1, tw), 0, 0)

        # dU[ab, f, c] = sum over tiles of (A dY A^T)[ab, f] (B^T d B)[ab, c]
        work = self._work(batch, dtype.itemsize, th)
        weights_shape = (TRANSFORMED, filters, self.channels)
        most_rows = max(rows for _, _, rows in work)

        def weight_gradient(part, parts):
            first, second, spare = self._scratch(part, batch, dtype)
            total = self.buffers.empty(f"grad_weight{part}", weights_shape, dtype)
            piece = self.buffers.empty(f"grad_weight_piece{part}", weights_shape, dtype)
            by_row = self.buffers.empty(f"grad_weight_rows{part}", (TRANSFORMED, most_rows, filters, self.channels),
                                        dtype)

            def piece_calls(chunk, row, rows, first_piece):
                calls, block = _input_calls(self.source, chunk, row, rows, second, spare)
                gradient_calls, transformed = _gradient_calls(grad, chunk, row, rows, first, spare, self.shared_frame)
                products = by_row[:, :rows]
                calls += gradient_calls + [(np.matmul, (transformed, block.transpose(0, 1, 3, 2), products))]
                if first_piece:
                    return calls + [(np.add.reduce, (products, 1, None, total))]
                return calls + [(np.add.reduce, (products, 1, None, piece)), (np.add, (total, piece, total))]

            for number, (chunk, row, rows) in enumerate(share(work, part, parts)):
                _run(self.buffers.plan(("weights", id(self.source), id(grad), chunk, row, rows, part, number == 0),
                                       lambda: piece_calls(chunk, row, rows, number == 0)))
            return total

        totals = run_split(weight_gradient, len(work))
        for total in totals[1:]:
            totals[0] += total
        _untransform_weight(totals[0], grad_weight)
        if not need_input_grad:
            return None

        # dx[c, y, x] = sum_{f,i,j} weight[f, c, 2 - i, 2 - j] * framed[f, y + i, x + j]
        bh, bw = self.backward_tiles
        if framed is None:
            framed = self._frame("framed", grad_out, self.backward_tiles, 2 - self.top, 2 - self.left)
        transformed = self.buffers.empty("weights_t", (TRANSFORMED, self.channels, filters), dtype)
        _transform_weight(weight, transformed, turned=True)
        grad_input = self.buffers.empty("grad_input", (self.channels, self.height, self.width, batch), dtype)
        even = grad_input.shape[1:3] == (2 * bh, 2 * bw)
        target = grad_input if even else self.buffers.empty("grad_input_tiles", (self.channels, 2 * bh, 2 * bw, batch),
                                                          dtype)
        self._correlate(framed, transformed, self.backward_tiles, target, None)
        if not even:
            grad_input[...] = target[:, :self.height, :self.width]
        return grad_input


def _run(calls) -> None:
    for function, args in calls:
        function(*args)


def _input_calls(source, chunk, row, rows, into, spare) -> tuple[list, np.ndarray]:
    """The NumPy calls of B^T d B for ``rows`` rows of tiles from row ``row`` of chunk ``chunk``
    of ``source`` (chunks, map rows, 2, C, J, n), and the block they fill: (16, rows, C, (J - 1)*n),
    a view that leaves out each channel's extra tile (its last n values; a GEMM reads the view
    with a row stride of J*n)."""
    _, _, _, channels, pairs, images = source.shape
    length = channels * pairs * images  # one parity of one row
    d = source[chunk, 2 * row:2 * row + 2 * rows + 2].reshape(2 * rows + 2, 2 * length)
    out = into[:TRANSFORMED * rows * length].reshape(4, 4, rows, length)
    # each half-transformed row followed by room for the run-over below, which only the last
    # channel's extra tile reads
    half = spare[:4 * rows * (2 * length + images)].reshape(4, rows, 2 * length + images)
    # rows: B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]; row t of tiles
    # reads rows 2t to 2t + 3
    d0, d1, d2, d3 = (d[offset:offset + 2 * rows:2] for offset in range(4))
    h = half[:, :, :2 * length]
    # columns, all four rows at once: a tile's columns 0-3 are pair j of both parities, then
    # pair j + 1, the same runs shifted by one image block (the extra tiles' run over a run's end)
    e = [half[:, :, start:start + length] for start in (0, length, images, length + images)]
    calls = [(np.subtract, (d0, d2, h[0])), (np.add, (d1, d2, h[1])),
             (np.subtract, (d2, d1, h[2])), (np.subtract, (d1, d3, h[3])),
             (np.subtract, (e[0], e[2], out[:, 0])), (np.add, (e[1], e[2], out[:, 1])),
             (np.subtract, (e[2], e[1], out[:, 2])), (np.subtract, (e[1], e[3], out[:, 3]))]
    return calls, out.reshape(TRANSFORMED, rows, channels, -1)[..., :-images]


def _output_calls(product, target, spare) -> list:
    """The calls of A^T M A of a (16, rows, F, (J - 1)*n) product into ``target`` (F, 2*rows,
    2*(J - 1), images), rows of a chunk of n images (fewer in the batch's last chunk)."""
    _, rows, filters, positions = product.shape
    columns = target.shape[2] // 2
    count = target.shape[3]
    images = positions // columns
    length = rows * filters * positions
    m = product.reshape(TRANSFORMED, length)
    # the four outputs of every tile in one GEMM with the 4x16 matrix A^T (x) A^T: it reads the
    # product once, where two passes of adds read it three times (24-30% faster alone, and one
    # NumPy call for eight: on two threads each call passes the GIL)
    tiles = spare[:4 * length].reshape(4, length)
    # (a, b, row, F, J - 1, n) into the map's (F, row, a, column pair, b, image)
    grid = tiles.reshape(2, 2, rows, filters, columns, images)[..., :count]
    scatter = (np.reshape(target, (filters, rows, 2, columns, 2, count), copy=False), grid.transpose(3, 2, 0, 4, 1, 5))
    return [(np.matmul, (_output_transform(product.dtype), m, tiles)), (np.copyto, scatter)]


def _gradient_calls(grad, chunk, row, rows, into, spare, shared_frame) -> tuple[list, np.ndarray]:
    """The NumPy calls of A dY A^T for ``rows`` rows of output tiles from row ``row`` of chunk
    ``chunk`` of ``grad``, with the last row and column of A negated (undone by ``_G_SIGNED``),
    and the block they fill: (16, rows, F, (J - 1)*n), each filter's extra tile left out as by
    ``_input_calls``. ``grad`` is (chunks, map rows, 2, F, J, n): the output gradient at (0, 0)
    or, with ``shared_frame``, the input gradient's frame with it one row and one column in.
    There a tile's columns are pair j of the odd parity and pair j + 1 of the even one, the even
    run shifted by one image block."""
    _, _, _, filters, pairs, images = grad.shape
    length = filters * pairs * images
    first = 2 * row + shared_frame
    g = grad[chunk, first:first + 2 * rows].reshape(rows, 2, 2 * length)
    out = into[:TRANSFORMED * rows * length].reshape(4, 4, rows, length)
    half = spare[:8 * rows * length].reshape(4, rows, 2, length)
    # A with its last row's sign dropped: [[1, 0], [1, 1], [1, -1], [0, 1]]
    g0, g1 = g[:, 0], g[:, 1]
    if shared_frame:
        h0, h1 = half[:, :, 1], half.reshape(4, rows, 2 * length)[:, :, images:images + length]
    else:
        h0, h1 = half[:, :, 0], half[:, :, 1]
    calls = [(np.copyto, (half[0], g0.reshape(rows, 2, length))), (np.add, (g0, g1, half[1].reshape(rows, -1))),
             (np.subtract, (g0, g1, half[2].reshape(rows, -1))), (np.copyto, (half[3], g1.reshape(rows, 2, length))),
             (np.copyto, (out[:, 0], h0)), (np.add, (h0, h1, out[:, 1])),
             (np.subtract, (h0, h1, out[:, 2])), (np.copyto, (out[:, 3], h1))]
    return calls, out.reshape(TRANSFORMED, rows, filters, -1)[..., :-images]
