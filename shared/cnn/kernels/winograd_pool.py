"""A 2x2 max pool (stride 2) done by the Winograd convolution before it: each output tile of
F(2x2, 3x3) is exactly one pool window.

Forward keeps each piece's four tile outputs (a, b) as the output GEMM leaves them, (4, rows, F,
J - 1, n), takes their maximum over its four contiguous rows and writes only the pooled map:
the convolution's full-size map is never scattered, and the pool never reads it. Backward routes
the pooled gradient to each window's maximum straight into the convolution's framed output
gradient, the array its weight and input gradients read: the pool's gradient map and its copy into
the frame are never made.

Ties go to the first tile output in row-major order, as ``MaxPool2D`` gives them: one pass when
every window holds its maximum once (the rule, for real-valued maps), four otherwise.
"""
from __future__ import annotations

import numpy as np

from .frame import as_runs, copy_runs

OUTPUTS = 4  # a tile's outputs (a, b), row-major: the pool window's positions in its order


def pooled_output_calls(product: np.ndarray, transform: np.ndarray, tiles: np.ndarray, maxima: np.ndarray,
                        target: np.ndarray) -> list:
    """The calls that turn a piece's (16, rows, F, (J - 1)*n) product into its tile outputs
    ``tiles`` (4, rows, F, J - 1, n), their maxima (rows, F, J - 1, n) and the pooled map's rows
    ``target`` (F, rows, J - 1, images)."""
    count = target.shape[3]
    flat = np.reshape(tiles, (OUTPUTS, -1), copy=False)
    return [(np.matmul, (transform, product.reshape(product.shape[0], -1), flat)),
            (np.maximum.reduce, (tiles, 0, None, maxima)),
            (np.copyto, as_runs(target, maxima.transpose(1, 0, 2, 3)[..., :count]))]


def route_to_frame(grad_out: np.ndarray, tiles: np.ndarray, maxima: np.ndarray, grads: np.ndarray,
                   winners: np.ndarray, framed: np.ndarray, chunk: int, rows: slice) -> None:
    """Rows ``rows`` of chunk ``chunk`` of the pooled gradient ``grad_out`` (F, rows, columns,
    images) sent to each window's maximum in ``framed`` (chunks, map rows, 2, F, J, n), the output
    gradient framed one row and one column in (see WinogradConvolution). ``tiles`` and ``maxima``
    are that chunk's rows as forward left them; ``grads`` (rows, F, J - 1, n) and ``winners``
    (4, rows, F, J - 1, n) are room for the gradient in their layout and the winning outputs."""
    count = grad_out.shape[3]
    copy_runs(grads[..., :count], grad_out.transpose(1, 0, 2, 3))
    np.equal(tiles, maxima[None], out=winners)
    real = winners[..., :count]  # images past the batch are zeros: their windows all tie
    # a NaN window matches nothing and could hide a tie elsewhere in the count
    if np.count_nonzero(real) != maxima[..., :count].size or np.isnan(maxima[..., :count].sum()):
        _first_winners(winners)
    columns = tiles.shape[3]
    for output in range(OUTPUTS):
        a, b = divmod(output, 2)
        # output (a, b) of tile (r, j) is map position (2r + a, 2j + b): frame row 2r + a + 1,
        # column 2j + b + 1, that is pair j of the odd columns or pair j + 1 of the even ones
        first_row = 2 * rows.start + a + 1
        parity, pairs = (1, slice(0, columns)) if b == 0 else (0, slice(1, columns + 1))
        np.multiply(winners[output], grads,
                    out=framed[chunk, first_row:first_row + 2 * (rows.stop - rows.start):2, parity, :, pairs])


def _first_winners(winners: np.ndarray) -> None:
    """Keep, of each window's outputs equal to its maximum, only the first."""
    claimed = winners[0].copy()
    for output in range(1, OUTPUTS):
        np.greater(winners[output], claimed, out=winners[output])  # equal to the max and not yet claimed
        claimed |= winners[output]
