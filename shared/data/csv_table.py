"""CSV with one image per line: a label column and the pixel values (Kaggle's MNIST CSV layout,
header `label,pixel0,...` optional). The image shape comes from the form field input_shape, or is
1 x s x s when the pixel count is a square s*s. Parsed in chunks into one preallocated array."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np

from shared.limits import MAX_CSV_LINE_CHARS

from . import options as form
from .checks import expanded_limit, image_values_limit, sample_limit
from .errors import DatasetRejected
from .layout import to_nchw
from .source import SourceArrays
from .upload import IngestLimits

CHUNK_LINES = 1024  # about 6 MB of float64 per chunk for 28x28 images
CHUNK_CHARS = 4 * 1024 * 1024
DEFAULT_LABEL_COLUMN = "label"


def read_csv(path: Path, options: dict[str, str], limits: IngestLimits, loc: list) -> SourceArrays:
    try:
        with open(path, encoding="utf-8-sig", newline="") as table:
            lines = bounded_lines(table, loc)
            first = next(lines, "")
            num_columns = first.count(",") + 1  # counted before anything is split into fields
            image_values_limit(num_columns - 1, loc + [1])
            header = _header(first)
            num_rows = sum(1 for _ in lines) + (0 if header else bool(first))
    except UnicodeDecodeError as exc:
        raise DatasetRejected(422, f"CSV is not UTF-8 text: {exc}", loc) from None
    if num_rows == 0:
        raise DatasetRejected(422, "CSV holds no rows", loc)
    if num_columns < 2:
        raise DatasetRejected(422, "CSV rows need a label column and at least one pixel column; the first row "
                                   "has one column", loc + [1])
    label_column = _label_column(header, num_columns, options)
    num_pixels = num_columns - 1
    shape = form.input_shape(options) or _square_shape(num_pixels)
    if int(np.prod(shape)) != num_pixels:
        raise DatasetRejected(422, f"input_shape {list(shape)} holds {int(np.prod(shape))} values but each "
                                   f"row has {num_pixels} pixel columns", ["input_shape"])
    sample_limit(num_rows, limits.max_samples, loc)
    expanded_limit(num_rows * num_pixels, limits.max_expanded_bytes, loc, "the CSV")

    images = np.empty((num_rows, num_pixels), dtype=np.uint8)  # promoted to float32 at the first non-byte
    labels = np.empty(num_rows, dtype=np.float64)
    with open(path, encoding="utf-8-sig", newline="") as table:
        lines = bounded_lines(table, loc)
        first_line_number = 2 if header else 1
        if header:
            next(lines)
        row = 0
        while chunk := _next_chunk(lines):
            values = _parse(chunk, num_columns, loc, first_line_number + row)
            pixels = _without_column(values, label_column)
            if images.dtype == np.uint8 and not _fits_uint8(pixels):
                expanded_limit(num_rows * num_pixels * 4, limits.max_expanded_bytes, loc, "the CSV")
                images = images.astype(np.float32)  # the only moment two copies exist
            images[row:row + len(chunk)] = pixels
            labels[row:row + len(chunk)] = values[:, label_column]
            row += len(chunk)
    return SourceArrays(x_train=to_nchw(images, form.layout(options), loc, shape), y_train=labels,
                        locs={"x_train": loc, "y_train": loc + [DEFAULT_LABEL_COLUMN]})


def bounded_lines(table, loc: list) -> Iterator[str]:
    """The non-blank lines, each read with a bound: a line longer than MAX_CSV_LINE_CHARS is refused
    before it is held whole."""
    number = 0
    while line := table.readline(MAX_CSV_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_CSV_LINE_CHARS:
            raise DatasetRejected(413, f"CSV line {number} is longer than the limit of {MAX_CSV_LINE_CHARS} "
                                       f"characters", loc + [number])
        if line.strip():
            yield line


def _next_chunk(lines: Iterator[str]) -> list[str]:
    """Up to CHUNK_LINES lines and about CHUNK_CHARS characters: parsing a chunk holds 8 bytes a value."""
    chunk, chars = [], 0
    for line in lines:
        chunk.append(line)
        chars += len(line)
        if len(chunk) == CHUNK_LINES or chars >= CHUNK_CHARS:
            break
    return chunk


def _header(first_line: str) -> list[str] | None:
    """The column names if the first line is a header (any field that is not a number), else None."""
    try:
        np.loadtxt([first_line], delimiter=",", dtype=np.float64, ndmin=2, quotechar='"')
        return None  # all numbers: a data row, parsed without a Python object per field
    except ValueError:
        return [field.strip().strip('"') for field in first_line.strip().split(",")]


def _label_column(header: list[str] | None, num_columns: int, options: dict[str, str]) -> int:
    wanted = (options.get("label_column") or "").strip()
    if not wanted:
        if header and DEFAULT_LABEL_COLUMN in header:
            return header.index(DEFAULT_LABEL_COLUMN)
        return 0
    if header and wanted in header:
        return header.index(wanted)
    if wanted.lstrip("-").isdigit() and -num_columns <= int(wanted) < num_columns:
        return int(wanted) % num_columns
    raise DatasetRejected(400, f"label_column {wanted!r} is neither a column name in the header nor a column "
                               f"number below {num_columns}", ["label_column"])


def _square_shape(num_pixels: int) -> tuple[int, int, int]:
    side = math.isqrt(num_pixels)
    if side * side != num_pixels:
        raise DatasetRejected(400, f"rows have {num_pixels} pixel columns, not a square image; give input_shape "
                                   f"C,H,W", ["input_shape"])
    return 1, side, side


def _parse(lines: list[str], num_columns: int, loc: list, first_line_number: int) -> np.ndarray:
    try:
        return np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2, quotechar='"')
    except ValueError:
        pass
    # Find the offending line and say what is wrong with it.
    for offset, line in enumerate(lines):
        fields = line.strip().split(",")
        line_number = first_line_number + offset
        if len(fields) != num_columns:
            raise DatasetRejected(422, f"CSV line {line_number} has {len(fields)} columns, expected {num_columns}",
                                  loc + [line_number])
        for column, field in enumerate(fields):
            try:
                float(field.strip().strip('"'))
            except ValueError:
                raise DatasetRejected(422, f"CSV line {line_number}, column {column + 1}: {field.strip()!r} "
                                           f"is not a number", loc + [line_number]) from None
    raise DatasetRejected(422, "CSV could not be parsed", loc)


def _without_column(values: np.ndarray, column: int) -> np.ndarray:
    """The pixel columns: a view when the label is the first or last column (no index list per value)."""
    if column == 0:
        return values[:, 1:]
    if column == values.shape[1] - 1:
        return values[:, :-1]
    return np.concatenate((values[:, :column], values[:, column + 1:]), axis=1)


def _fits_uint8(pixels: np.ndarray) -> bool:
    return bool(np.all((pixels >= 0) & (pixels <= 255) & (pixels == np.round(pixels))))
