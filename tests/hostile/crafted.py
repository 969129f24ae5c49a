"""Small crafted requests that once made the API answer 500, hold it for seconds or take a lot of memory.

Each builder returns bytes (files stay small: what they declare or expand to is what is large).
"""
from __future__ import annotations

import gzip
import io
import struct
import zipfile

import numpy as np
from PIL import Image


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def npy_member(shape_text: str, dtype: str = "<u1", payload: bytes = b"") -> bytes:
    """A .npy file whose header declares `shape_text` verbatim, e.g. "(-5, 1, 2, 2)"."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, shape_text)
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def npz_with_x_shape(shape_text: str, data_bytes: int = 0) -> bytes:
    """An .npz whose x_train header declares `shape_text` (negative, overflowing...) followed by
    `data_bytes` bytes, with good labels."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x_train.npy", npy_member(shape_text, payload=bytes(data_bytes)))
        labels = io.BytesIO()
        np.save(labels, np.zeros(4, dtype=np.int64))
        archive.writestr("y_train.npy", labels.getvalue())
    return buffer.getvalue()


def npz_bytes(x: np.ndarray, y: np.ndarray, **extra) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=x, y_train=y, **extra)
    return buffer.getvalue()


def tiny_images(num: int = 4, side: int = 4) -> np.ndarray:
    return np.arange(num * side * side, dtype=np.uint8).reshape(num, 1, side, side)


def labels_past_int64() -> bytes:
    return npz_bytes(tiny_images(), np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64))


def zero_size_images() -> bytes:
    return npz_bytes(np.zeros((4, 1, 0, 5), dtype=np.uint8), np.zeros(4, dtype=np.int64))


def non_utf8_class_names() -> bytes:
    return npz_bytes(tiny_images(), np.array([0, 1, 0, 1]), classes=np.array([b"\xff\xfe", b"ok"]))


def huge_class_name(num_chars: int = 40_000_000) -> bytes:
    """Compressed to a few kB: two classes, the first named by `num_chars` letters."""
    return npz_bytes(tiny_images(), np.array([0, 1, 0, 1]), classes=np.array(["a" * num_chars, "b"]))


def png(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def zip_of_big_pngs(count: int = 8, side: int = 12_000) -> bytes:
    """A few kB: `count` grey side x side PNGs (side*side bytes each once decoded)."""
    image = png(side, side)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(count):
            archive.writestr(f"class{index % 2}/{index}.png", image)
    return buffer.getvalue()


def single_line_csv(num_values: int = 2_000_000) -> bytes:
    """One row of `num_values` + 1 columns: a label and a huge "image"."""
    return b"0" + b",1" * num_values + b"\n"


def one_column_csv(rows: int = 5) -> bytes:
    return b"label\n" + b"1\n" * rows


def idx_images_gz(count: int, rows: int, cols: int) -> bytes:
    """A gzip IDX images file of zeros: tiny compressed, count*rows*cols bytes expanded."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as stream:
        stream.write(b"\0\0\x08\x03" + struct.pack(">III", count, rows, cols))
        block = bytes(1 << 20)
        remaining = count * rows * cols
        while remaining:
            stream.write(block[:min(remaining, len(block))])
            remaining -= min(remaining, len(block))
    return out.getvalue()


def idx_labels_gz(count: int) -> bytes:
    return gzip.compress(b"\0\0\x08\x01" + struct.pack(">I", count) + bytes(count))
