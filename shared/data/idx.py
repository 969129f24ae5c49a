"""IDX, the MNIST family's format, raw or gzip-compressed: an images file and a labels file per split.

Header: two zero bytes, a type code, the number of dimensions, then each dimension as a big-endian
uint32; the values follow in C order, big-endian. The header's dimensions are checked against the file
size (raw) or the expansion limit (.gz) before anything is allocated.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from . import options as form
from .checks import ExpansionBudget, sample_limit
from .errors import DatasetRejected
from .layout import to_nchw
from .source import SourceArrays
from .streams import read_into, scratch_array
from .upload import IngestLimits

TYPE_CODES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
GZIP_MAGIC = b"\x1f\x8b"
# Train and test parts: (images field, labels field, array names).
SPLITS = (("images", "labels", "train"), ("test_images", "test_labels", "test"))


def is_idx_header(head: bytes) -> bool:
    return len(head) >= 4 and head[:2] == b"\0\0" and head[2] in TYPE_CODES and 1 <= head[3] <= 4


def read_idx_parts(paths: dict[str, Path], options: dict[str, str], limits: IngestLimits) -> SourceArrays:
    """`paths` by upload field: images and labels, optionally test_images and test_labels."""
    for images_field, labels_field, _ in SPLITS:
        if (images_field in paths) != (labels_field in paths):
            missing = labels_field if images_field in paths else images_field
            raise DatasetRejected(400, f"IDX images and labels come in pairs: {missing!r} is missing", [missing])
    if "images" not in paths:
        raise DatasetRejected(400, "IDX upload needs 'images' and 'labels' parts", ["images"])
    budget = ExpansionBudget(limits.max_expanded_bytes, ["images"])
    layout = form.layout(options)
    source = None
    for images_field, labels_field, split in SPLITS:
        if images_field not in paths:
            continue
        scratch = paths[images_field].parent  # the upload's folder
        images = read_idx(paths[images_field], budget, limits, [images_field], scratch)
        if images.ndim not in (3, 4):
            raise DatasetRejected(422, f"IDX images must have 3 dimensions (N, rows, columns), got "
                                       f"{list(images.shape)}", [images_field])
        labels = read_idx(paths[labels_field], budget, limits, [labels_field], scratch)
        images = to_nchw(images, layout if images.ndim == 4 else "auto", [images_field])
        if source is None:
            source = SourceArrays(x_train=images, y_train=labels,
                                  locs={"x_train": [images_field], "y_train": [labels_field]})
        else:
            source.x_test, source.y_test = images, labels
            source.locs.update(x_test=[images_field], y_test=[labels_field])
    return source


def load_idx(path: Path) -> np.ndarray:
    """One IDX file from a trusted place (e.g. Debian's dataset-fashion-mnist), with no upload limits."""
    unlimited = IngestLimits(max_bytes=2**62, max_samples=2**62, max_classes=2**62, max_expanded_bytes=2**62)
    return read_idx(path, ExpansionBudget(unlimited.max_expanded_bytes, [str(path)]), unlimited, [str(path)])


def read_idx(path: Path, budget: ExpansionBudget, limits: IngestLimits, loc: list,
             scratch: Path | None = None) -> np.ndarray:
    """`scratch`: the folder to expand the data into (see streams.scratch_array); in memory if None."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        try:
            if compressed:
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _read_stream(stream, None, budget, limits, loc, scratch)
            return _read_stream(raw, Path(path).stat().st_size, budget, limits, loc, scratch)
        except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise DatasetRejected(422, f"not a readable IDX .gz file: {exc}", loc) from None


def _read_stream(stream, file_size: int | None, budget: ExpansionBudget, limits: IngestLimits,
                 loc: list, scratch: Path | None) -> np.ndarray:
    """`file_size` is known for raw files (and must match the header exactly), None for .gz streams."""
    head = stream.read(4)
    if not is_idx_header(head):
        raise DatasetRejected(422, "not an IDX file: it must start with 0x00 0x00, a type code "
                                   "(0x08 0x09 0x0B 0x0C 0x0D 0x0E) and 1 to 4 dimensions", loc)
    dtype, rank = TYPE_CODES[head[2]], head[3]
    dims_bytes = stream.read(4 * rank)
    if len(dims_bytes) != 4 * rank:
        raise DatasetRejected(422, "IDX header is truncated", loc)
    dims = [int.from_bytes(dims_bytes[4 * i:4 * i + 4], "big") for i in range(rank)]
    header_bytes = 4 + 4 * rank
    data_bytes = int(np.prod(dims, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    if file_size is not None and header_bytes + data_bytes != file_size:
        raise DatasetRejected(422, f"IDX header declares dimensions {dims} ({data_bytes} bytes of data) but the "
                                   f"file holds {file_size - header_bytes}: truncated or damaged", loc)
    sample_limit(dims[0], limits.max_samples, loc)
    budget.spend(data_bytes, loc)
    values = scratch_array(scratch, dims, dtype)
    filled = read_into(stream, values)
    if filled < data_bytes:
        raise DatasetRejected(422, f"IDX data is truncated: header declares dimensions {dims} "
                                   f"({data_bytes} bytes) but only {filled} follow", loc)
    if stream.read(1):  # for .gz this also reaches the end of the stream, where the CRC is checked
        raise DatasetRejected(422, f"IDX file has bytes after the {data_bytes} its header declares", loc)
    return values
