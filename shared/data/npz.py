"""NumPy .npz archives: x/y, or x_train/y_train with optional x_test/y_test, and optional class names.
Arrays are read from the archive by header and raw bytes; pickled (object) arrays are never loaded."""
from __future__ import annotations

import zipfile
from math import prod
from pathlib import Path

import numpy as np

from . import options as form
from .archive import open_zip
from .checks import ExpansionBudget
from .class_names import BYTES_PER_NAME
from .errors import DatasetRejected
from .layout import to_nchw
from .source import SourceArrays
from .streams import read_into, scratch_array
from .upload import IngestLimits

PAIRS = (("x", "y"), ("x_train", "y_train"))
TEST_PAIR = ("x_test", "y_test")
NAME_ARRAYS = ("classes", "class_names")
KNOWN = {name for pair in PAIRS + (TEST_PAIR,) for name in pair} | set(NAME_ARRAYS)


def read_npz(path: Path, options: dict[str, str], limits: IngestLimits, loc: list) -> SourceArrays:
    with open_zip(path, loc, limits.max_expanded_bytes, ".npz archive") as archive:
        members = {}
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if name not in KNOWN:
                raise DatasetRejected(422, f".npz member {info.filename!r} is not one of "
                                           f"{', '.join(sorted(KNOWN))} (.npy)", loc + [info.filename])
            members[name] = info
        pair = next((pair for pair in PAIRS if pair[0] in members or pair[1] in members), None)
        if pair is None:
            raise DatasetRejected(422, ".npz holds no images: expected arrays x and y, or x_train and y_train",
                                  loc)
        pairs = [pair] + ([TEST_PAIR] if pair == PAIRS[1] and set(TEST_PAIR) & set(members) else [])
        for x_name, y_name in pairs:
            for name in (x_name, y_name):
                if name not in members:
                    raise DatasetRejected(422, f".npz has {x_name if name == y_name else y_name} "
                                               f"but not {name}", loc + [name])
        if pair == PAIRS[0] and set(TEST_PAIR) & set(members):
            raise DatasetRejected(422, "use x_train/y_train with x_test/y_test, not x/y", loc)
        budget = ExpansionBudget(limits.max_expanded_bytes, loc)
        arrays = {name: read_member(archive, members[name], budget, loc + [name], scratch=Path(path).parent)
                  for x_name, y_name in pairs for name in (x_name, y_name)}
        names_info = next((members[name] for name in NAME_ARRAYS if name in members), None)
        class_names = None
        if names_info is not None:
            # Bounded by what the names may hold, not by the dataset's expansion limit.
            names_budget = ExpansionBudget(limits.max_classes * BYTES_PER_NAME, loc, "the class names")
            names = read_member(archive, names_info, names_budget, loc + [names_info.filename[:-4]])
            class_names = text_names(names, loc + [names_info.filename[:-4]])
    layout, shape = form.layout(options), form.input_shape(options)
    x_train_name, y_train_name = pairs[0]
    result = SourceArrays(
        x_train=to_nchw(arrays[x_train_name], layout, loc + [x_train_name], shape),
        y_train=arrays[y_train_name], class_names=class_names,
        locs={"x_train": loc + [x_train_name], "y_train": loc + [y_train_name]})
    if len(pairs) == 2:
        result.x_test = to_nchw(arrays["x_test"], layout, loc + ["x_test"], shape)
        result.y_test = arrays["y_test"]
        result.locs.update(x_test=loc + ["x_test"], y_test=loc + ["y_test"])
    return result


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: ExpansionBudget, loc: list,
                scratch: Path | None = None) -> np.ndarray:
    """One .npy member: header first (refusing object dtypes and sizes that disagree with the archive's
    directory), then exactly the data bytes into a fresh array (on disk in `scratch`, see
    streams.scratch_array)."""
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise DatasetRejected(422, f".npy format version {version} is not supported", loc)
            if dtype.hasobject or dtype.fields is not None:
                raise DatasetRejected(422, f"array of dtype {dtype} refused: only plain numbers and text are "
                                           f"accepted (pickled objects are never loaded)", loc)
            header_bytes = member.tell()
            if any(dim < 0 for dim in shape):
                raise DatasetRejected(422, f"array header declares shape {list(shape)}: dimensions must be "
                                           f"0 or more", loc)
            count = prod(shape)  # Python ints: a product past int64 does not wrap around
            data_bytes = count * dtype.itemsize
            if header_bytes + data_bytes != info.file_size:
                raise DatasetRejected(422, f"array header says shape {list(shape)} of {dtype} "
                                           f"({data_bytes} bytes) but the member holds "
                                           f"{info.file_size - header_bytes} bytes: truncated or damaged", loc)
            budget.spend(data_bytes)
            array = scratch_array(scratch, (count,), dtype)
            if read_into(member, array) < data_bytes:
                raise DatasetRejected(422, "array data is truncated", loc)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise DatasetRejected(422, f"not a readable .npy array: {exc}", loc) from None
    if fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def text_names(names: np.ndarray, loc: list) -> list[str]:
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise DatasetRejected(422, f"class names must be a 1-D array of text, got {names.dtype} "
                                   f"shape {list(names.shape)}", loc)
    try:
        return [name.decode() if isinstance(name, bytes) else str(name) for name in names.tolist()]
    except UnicodeDecodeError as exc:
        raise DatasetRejected(422, f"class names must be UTF-8 text: {exc}", loc) from None
