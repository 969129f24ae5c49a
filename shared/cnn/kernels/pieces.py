"""Cutting a (rows, columns, batch) map into pieces of bounded size.

A piece is whole rows when one row of the map fits the budget, else a run of columns inside
one row. Pieces never cross the unwanted columns of a row unless they span whole rows.
"""
from __future__ import annotations

# The most any layer's gathered windows (the stacked shifted slices fed to one GEMM) take at
# once; work on more positions is done in pieces. About the size of a core's L2 cache.
WINDOW_BUFFER_BYTES = 2 * 2**20


def positions_per_piece(stacked_rows: int, batch: int, itemsize: int) -> int:
    """How many (row, column) positions of ``batch`` images one piece may hold: at least one."""
    return max(1, WINDOW_BUFFER_BYTES // (stacked_rows * batch * itemsize))


def cut(rows: int, width: int, wanted: tuple[int, int], limit: int) -> list[tuple[int, int, int, int]]:
    """Pieces covering ``rows`` rows of ``width`` positions, at most ``limit`` positions each.

    Each piece is (row_start, row_stop, column_start, column_stop): whole rows [0, width) when at
    least one row fits, otherwise runs of the ``wanted`` columns of a single row, as even as they can be.
    """
    if width <= limit:
        step = limit // width
        return [(start, min(start + step, rows), 0, width) for start in range(0, rows, step)]
    first, last = wanted
    parts = -(-(last - first) // limit)
    bounds = [first + (last - first) * part // parts for part in range(parts + 1)]
    return [(row, row + 1, start, stop) for row in range(rows) for start, stop in zip(bounds, bounds[1:])]


def share(work: list, part: int, parts: int) -> list:
    """The ``part``-th of ``parts`` contiguous shares of ``work``."""
    return work[len(work) * part // parts:len(work) * (part + 1) // parts]
