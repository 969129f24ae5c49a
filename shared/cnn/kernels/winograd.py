"""Winograd F(2x2, 3x3) convolution on (C, H, W, N) feature maps, for 3x3 kernels at stride 1.

Each 2x2 block of outputs ("tile") is computed from the 4x4 block of input around it as
``A^T [(G g G^T) * (B^T d B)] A``: 16 products per tile and channel pair where the direct sum
takes 36. Per piece of tiles the input is transformed in two vectorised passes (rows, then
columns) into a (16, C, positions) block, the 16 transformed filter matrices multiply it in one
batched GEMM, and two more passes turn the (16, F, positions) product into output tiles.

- Forward: as above, over the zero-framed input; the bias is added to the product entry that
  every output of a tile sums exactly once.
- Input gradient: the same forward over the output gradient framed by ``2 - padding`` zeros,
  with the kernel turned 180 degrees and its channel axes swapped (a full convolution).
- Weight gradient: F(3x3, 2x2), the adjoint of forward: dU = sum over tiles of
  (A dY A^T) * (B^T d B), one batched GEMM per piece, then dW = G^T dU G.

The transforms only add, subtract and halve, so float64 results agree with the direct sum to
rounding; float32 keeps to about 1e-6 relative. Work is cut like the shifted-slice kernel's:
a thread's blocks together stay under twice ``WINDOW_BUFFER_BYTES``, and pieces are shared
among the engine's threads.
"""
from __future__ import annotations

import numpy as np

from .buffers import Buffers
from .pieces import cut, positions_per_piece, share
from .threads import run_split, worker_count

# the filter transform G; _G_SIGNED also carries the sign ``_transform_gradient`` leaves out
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_G_SIGNED = _G * np.array([1.0, 1.0, 1.0, -1.0])[:, None]
TRANSFORMED = 16  # 4x4 products per tile
# Tiles per piece: as many as 24 values per tile position and channel fit WINDOW_BUFFER_BYTES,
# so the 16-value block takes 2/3 of it and a thread's scratch (two blocks and the half-transformed
# rows, at most 48 values) stays under twice it. CPU time per step of the 32->32, 32->64 and
# 64->64 layers of the benchmark networks (batch 32 and 128): with 16 values 1-33% more, with
# 48 up to 17% more (7% less on one), with 96 up to 74% more: larger pieces left L2, smaller
# ones made the GEMMs too small.
PIECE_ROWS = 24


def _transform_weight(weight: np.ndarray) -> np.ndarray:
    """G g G^T for each (f, c) of a (F, C, 3, 3) kernel: (4, 4, F, C). (Two tensordots are two
    GEMMs; a stack of F*C tiny matrix products took a tenth of a training step at batch 32.)"""
    g = _G.astype(weight.dtype)
    rows = np.tensordot(g, weight, axes=([1], [2]))  # (4, F, C, 3)
    return np.tensordot(rows, g, axes=([3], [1])).transpose(0, 3, 1, 2)


def _untransform_weight(products: np.ndarray) -> np.ndarray:
    """G'^T dU G' for each (f, c) of (4, 4, F, C) products, G' = ``_G_SIGNED``: (F, C, 3, 3)."""
    g = _G_SIGNED.astype(products.dtype)
    rows = np.tensordot(g, products, axes=([0], [0]))  # (3, 4, F, C)
    return np.tensordot(rows, g, axes=([1], [0])).transpose(1, 2, 0, 3)


def _place(x: np.ndarray, target: np.ndarray, top: int, left: int) -> None:
    """Copy ``x`` (C, H, W, N) into ``target`` (C, rows, 2, column pairs, N), a map whose column
    2j + p lies at [:, :, p, j], with x's first row and column at (top, left). With its columns
    paired, a tile's columns are two pairs, and every pass of the transforms runs along whole
    rows instead of stepping over columns one batch of values at a time."""
    height, width = x.shape[1:3]
    for parity in (0, 1):
        first = (parity - left) % 2  # the first column of x that lands on this parity
        pair = (left + first) // 2
        count = len(range(first, width, 2))
        target[:, top:top + height, parity, pair:pair + count] = x[:, :, first::2]


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
        self.buffers = Buffers()
        self.source = None

    # -- sizes -------------------------------------------------------------------------------

    def limit(self, batch: int, itemsize: int) -> int:
        """Tiles per piece: all of a thread's scratch stays under the budget."""
        return positions_per_piece(PIECE_ROWS * self.wide, batch, itemsize)

    def _pieces(self, tiles: tuple[int, int], batch: int, itemsize: int) -> list:
        rows, columns = tiles
        return cut(rows, columns, (0, columns), self.limit(batch, itemsize))

    def _scratch_values(self, batch: int, itemsize: int) -> int:
        """One thread's blocks: transformed input, product, and the half-transformed rows."""
        limit = self.limit(batch, itemsize)
        return (2 * TRANSFORMED * limit + 4 * self._half_positions(limit)) * self.wide * batch

    def _half_positions(self, limit: int) -> int:
        """Positions of a half-transformed piece: its tile rows, two columns per tile and two more."""
        narrowest = min(self.forward_tiles[1], self.backward_tiles[1])
        rows = max(1, limit // narrowest) if narrowest <= limit else 1
        return 2 * limit + 2 * rows

    def _scratch(self, part: int, batch: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One thread's two blocks and its half-transformed rows."""
        itemsize = np.dtype(dtype).itemsize
        limit = self.limit(batch, itemsize)
        block = TRANSFORMED * self.wide * limit * batch
        flat = self.buffers.empty(f"scratch{part}", (self._scratch_values(batch, itemsize),), dtype)
        return flat[:block], flat[block:2 * block], flat[2 * block:]

    def _threads(self, batch: int, itemsize: int) -> int:
        return min(worker_count(), max(len(self._pieces(self.forward_tiles, batch, itemsize)),
                                       len(self._pieces(self.backward_tiles, batch, itemsize))))

    def _framed_values(self) -> tuple[int, int, int, int]:
        """Values per image of the framed input, the framed output gradient, the output gradient
        with its columns paired, and the whole-tile output when the output is odd."""
        th, tw = self.forward_tiles
        bh, bw = self.backward_tiles
        source = self.channels * (2 * th + 2) * (2 * tw + 2)
        framed_grad = self.filters * (2 * bh + 2) * (2 * bw + 2)
        paired_grad = self.filters * 4 * th * tw
        odd_out = paired_grad if (self.out_h % 2 or self.out_w % 2) else 0
        return source, framed_grad, paired_grad, odd_out

    def working_bytes(self, batch: int, itemsize: int) -> int:
        """Every buffer forward and backward keep for ``batch`` images, the output included."""
        source, framed_grad, paired_grad, odd_out = self._framed_values()
        bh, bw = self.backward_tiles
        odd_in = self.channels * 4 * bh * bw if (self.height % 2 or self.width % 2) else 0
        values = (source + framed_grad + paired_grad + odd_out + odd_in  # framed maps and whole-tile copies
                  + self.filters * self.out_h * self.out_w  # output
                  + self.channels * self.height * self.width) * batch  # input gradient
        weights = TRANSFORMED * self.filters * self.channels
        # per thread: blocks, a weight-gradient total and its piece; transformed weights both ways, a spare
        return ((values + self._threads(batch, itemsize) * (self._scratch_values(batch, itemsize) + 2 * weights)
                 + 4 * weights) * itemsize)

    def forward_bytes(self, batch: int, itemsize: int) -> int:
        """The buffers a forward alone keeps: framed input, output, blocks per thread."""
        source, _, _, odd_out = self._framed_values()
        th_pieces = len(self._pieces(self.forward_tiles, batch, itemsize))
        values = (source + odd_out + self.filters * self.out_h * self.out_w) * batch
        threads = min(worker_count(), th_pieces)
        return (values + threads * self._scratch_values(batch, itemsize)
                + 2 * TRANSFORMED * self.filters * self.channels) * itemsize

    # -- transforms --------------------------------------------------------------------------

    @staticmethod
    def _transform_input(source, r0, r1, c0, c1, into, spare) -> np.ndarray:
        """B^T d B for the tiles [r0, r1) x [c0, c1) of ``source`` (C, rows, 2, column pairs, N),
        a map with its columns paired (``_place``): (16, C, positions)."""
        channels, batch = source.shape[0], source.shape[-1]
        rows, columns = r1 - r0, c1 - c0
        block = source[:, 2 * r0:2 * r1 + 2, :, c0:c1 + 1]
        out = into[:TRANSFORMED * channels * rows * columns * batch].reshape(4, 4, channels, rows, columns, batch)
        half = spare[:4 * channels * rows * 2 * (columns + 1) * batch].reshape(4, channels, rows, 2, columns + 1, batch)
        # rows: B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
        d = [block[:, k:k + 2 * rows:2] for k in range(4)]
        np.subtract(d[0], d[2], out=half[0])
        np.add(d[1], d[2], out=half[1])
        np.subtract(d[2], d[1], out=half[2])
        np.subtract(d[1], d[3], out=half[3])
        # columns, all four rows at once: a tile's columns 0-3 are pairs c and c + 1
        e = [half[..., k % 2, k // 2:k // 2 + columns, :] for k in range(4)]
        np.subtract(e[0], e[2], out=out[:, 0])
        np.add(e[1], e[2], out=out[:, 1])
        np.subtract(e[2], e[1], out=out[:, 2])
        np.subtract(e[1], e[3], out=out[:, 3])
        return out.reshape(TRANSFORMED, channels, -1)

    @staticmethod
    def _transform_output(product, target, bias, spare) -> None:
        """A^T M A of a (16, F, positions) product into ``target`` (F, 2*rows, 2*columns, N)."""
        filters, rows2, columns2, batch = target.shape
        rows, columns = rows2 // 2, columns2 // 2
        m = product.reshape(4, 4, filters, rows, columns, batch)
        if bias is not None:
            # A^T[:, 1] and A[1, :] are all ones: entry (1, 1) reaches every output once
            m[1, 1] += bias.reshape(-1, 1, 1, 1)
        size = 4 * filters * rows * columns * batch
        half = spare[:2 * size].reshape(2, 4, filters, rows, columns, batch)
        tiles = spare[2 * size:3 * size].reshape(2, 2, filters, rows, columns, batch)
        # rows: A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]
        np.add(m[0], m[1], out=half[0])
        half[0] += m[2]
        np.subtract(m[1], m[2], out=half[1])
        half[1] -= m[3]
        # columns: output (row a, column b) of each tile, both rows at once
        np.add(half[:, 0], half[:, 1], out=tiles[:, 0])
        tiles[:, 0] += half[:, 2]
        np.subtract(half[:, 1], half[:, 2], out=tiles[:, 1])
        tiles[:, 1] -= half[:, 3]
        # (a, b, F, rows, columns, N) into the map's (F, rows, a, columns, b, N) in one pass
        np.reshape(target, (filters, rows, 2, columns, 2, batch), copy=False)[...] = tiles.transpose(2, 3, 0, 4, 1, 5)

    @staticmethod
    def _transform_gradient(grad, r0, r1, c0, c1, into, spare) -> np.ndarray:
        """A dY A^T for output tiles [r0, r1) x [c0, c1) of ``grad`` (F, 2*rows, 2, columns, N),
        columns paired, with the last row and column of A negated (undone by ``_G_SIGNED``):
        (16, F, positions)."""
        filters, batch = grad.shape[0], grad.shape[-1]
        rows, columns = r1 - r0, c1 - c0
        block = grad[:, 2 * r0:2 * r1, :, c0:c1]
        out = into[:TRANSFORMED * filters * rows * columns * batch].reshape(4, 4, filters, rows, columns, batch)
        half = spare[:4 * filters * rows * 2 * columns * batch].reshape(4, filters, rows, 2, columns, batch)
        # A with its last row's sign dropped: [[1, 0], [1, 1], [1, -1], [0, 1]]
        g0, g1 = block[:, 0::2], block[:, 1::2]
        half[0] = g0
        np.add(g0, g1, out=half[1])
        np.subtract(g0, g1, out=half[2])
        half[3] = g1
        h0, h1 = half[:, :, :, 0], half[:, :, :, 1]
        out[:, 0] = h0
        np.add(h0, h1, out=out[:, 1])
        np.subtract(h0, h1, out=out[:, 2])
        out[:, 3] = h1
        return out.reshape(TRANSFORMED, filters, -1)

    # -- passes ------------------------------------------------------------------------------

    def _correlate(self, source, transformed, tiles, target, bias, batch):
        """target (F', 2*tile rows, 2*tile columns, N) = 3x3 correlation of ``source`` with the
        transformed weights (16, F', C')."""
        outputs = transformed.shape[1]
        work = cut(*tiles, (0, tiles[1]), self.limit(batch, source.itemsize))

        def compute(part, parts):
            first, second, spare = self._scratch(part, batch, source.dtype)
            for r0, r1, c0, c1 in share(work, part, parts):
                count = (r1 - r0) * (c1 - c0) * batch
                block = self._transform_input(source, r0, r1, c0, c1, second, spare)
                product = first[:TRANSFORMED * outputs * count].reshape(TRANSFORMED, outputs, count)
                np.matmul(transformed, block, out=product)
                # the block is spent: its room takes the half-transformed product
                self._transform_output(product, target[:, 2 * r0:2 * r1, 2 * c0:2 * c1], bias, second)

        run_split(compute, len(work))

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        # out[f, y, x, n] = sum_{c,i,j} weight[f, c, i, j] * x_pad[c, y + i, x + j, n] + bias[f]
        channels, height, width, batch = x.shape
        th, tw = self.forward_tiles
        source = self.buffers.zeroed("source", (channels, 2 * th + 2, 2, tw + 1, batch), x.dtype)
        _place(x, source, self.top, self.left)
        self.source = source
        transformed = self.buffers.empty("weights", (TRANSFORMED, self.filters, channels), x.dtype)
        np.copyto(transformed.reshape(4, 4, self.filters, channels), _transform_weight(weight))
        out = self.buffers.empty("out", (self.filters, self.out_h, self.out_w, batch), x.dtype)
        even = out.shape[1:3] == (2 * th, 2 * tw)
        target = out if even else self.buffers.empty("out_tiles", (self.filters, 2 * th, 2 * tw, batch), x.dtype)
        self._correlate(source, transformed, self.forward_tiles, target, bias, batch)
        if not even:
            out[...] = target[:, :self.out_h, :self.out_w]
        return out

    def backward(self, grad_out: np.ndarray, weight: np.ndarray, grad_weight: np.ndarray,
                 grad_bias: np.ndarray | None, need_input_grad: bool) -> np.ndarray | None:
        filters, _, _, batch = grad_out.shape
        dtype, itemsize = grad_out.dtype, grad_out.itemsize
        if grad_bias is not None:
            np.add.reduce(grad_out.reshape(filters, -1), axis=1, out=grad_bias)
        th, tw = self.forward_tiles
        grad = self.buffers.zeroed("grad_pairs", (filters, 2 * th, 2, tw, batch), dtype)
        _place(grad_out, grad, 0, 0)

        # dU[ab, f, c] = sum over tiles of (A dY A^T)[ab, f] (B^T d B)[ab, c]
        work = self._pieces(self.forward_tiles, batch, itemsize)
        weights_shape = (TRANSFORMED, filters, self.channels)

        def weight_gradient(part, parts):
            first, second, spare = self._scratch(part, batch, dtype)
            total = self.buffers.empty(f"grad_weight{part}", weights_shape, dtype)
            piece = self.buffers.empty(f"grad_weight_piece{part}", weights_shape, dtype)
            for number, (r0, r1, c0, c1) in enumerate(share(work, part, parts)):
                block = self._transform_input(self.source, r0, r1, c0, c1, second, spare)
                transformed = self._transform_gradient(grad, r0, r1, c0, c1, first, spare)
                if number == 0:
                    np.matmul(transformed, block.transpose(0, 2, 1), out=total)
                else:
                    total += np.matmul(transformed, block.transpose(0, 2, 1), out=piece)
            return total

        totals = run_split(weight_gradient, len(work))
        for total in totals[1:]:
            totals[0] += total
        grad_weight[...] = _untransform_weight(totals[0].reshape(4, 4, filters, self.channels))
        if not need_input_grad:
            return None

        # dx[c, y, x] = sum_{f,i,j} weight[f, c, 2 - i, 2 - j] * framed[f, y + i, x + j]
        bh, bw = self.backward_tiles
        framed = self.buffers.zeroed("framed", (filters, 2 * bh + 2, 2, bw + 1, batch), dtype)
        _place(grad_out, framed, 2 - self.top, 2 - self.left)
        transformed = self.buffers.empty("weights_t", (TRANSFORMED, self.channels, filters), dtype)
        np.copyto(transformed.reshape(4, 4, self.channels, filters),
                  _transform_weight(weight[:, :, ::-1, ::-1]).transpose(0, 1, 3, 2))
        grad_input = self.buffers.empty("grad_input", (self.channels, self.height, self.width, batch), dtype)
        even = grad_input.shape[1:3] == (2 * bh, 2 * bw)
        target = grad_input if even else self.buffers.empty("grad_input_tiles", (self.channels, 2 * bh, 2 * bw, batch),
                                                          dtype)
        self._correlate(framed, transformed, self.backward_tiles, target, None, batch)
        if not even:
            grad_input[...] = target[:, :self.height, :self.width]
        return grad_input
