"""Small dataset files in every accepted format, made on the spot."""
from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

IDX_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">f4"): 0x0D, np.dtype(">i4"): 0x0C}


def idx_bytes(array: np.ndarray, dims: list[int] | None = None) -> bytes:
    """An IDX file of `array` (uint8, >f4 or >i4); `dims` overrides the header's dimensions."""
    dims = list(array.shape) if dims is None else dims
    header = bytes([0, 0, IDX_TYPE_CODES[array.dtype], len(dims)])
    header += b"".join(int(d).to_bytes(4, "big") for d in dims)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False, **kwargs) -> Path:
    raw = idx_bytes(array, **kwargs)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray, header: bool = True,
              label_name: str = "label") -> Path:
    flat = images.reshape(len(images), -1)
    with open(path, "w", encoding="utf-8") as table:
        if header:
            table.write(",".join([label_name] + [f"pixel{i}" for i in range(flat.shape[1])]) + "\n")
        for label, row in zip(labels, flat):
            table.write(",".join([str(label)] + [str(value) for value in row.tolist()]) + "\n")
    return path


def png_bytes(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    """pixels (H, W) grey or (H, W, 3) RGB, uint8."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format)
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def image_folder_members(images: np.ndarray, labels: np.ndarray, class_names: list[str],
                         prefix: str = "") -> dict[str, bytes]:
    """images (N, H, W) or (N, H, W, 3) uint8 -> {prefix + class/k.png: PNG bytes}."""
    return {f"{prefix}{class_names[label]}/{index}.png": png_bytes(image)
            for index, (image, label) in enumerate(zip(images, labels))}
