"""An upload in, a checked dataset folder out: detect the format, read it once, check it, and write
x_train.npy, y_train.npy (+ x_test.npy, y_test.npy) and sample PNGs atomically."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import options as form
from .checks import image_shape, integer_labels, labels_in_range, sample_limit, stored_pixel_dtype
from .class_names import checked_class_names
from .errors import DatasetRejected
from .csv_table import read_csv
from .idx import GZIP_MAGIC, is_idx_header, read_idx_parts
from .image_folder import read_image_folder
from .npz import read_npz
from .samples import write_samples
from .source import SourceArrays
from .stats import channel_mean_std
from .store import SAMPLES_DIR, arrays_sha256, staged_directory, write_array
from .upload import UPLOAD_FIELDS, IngestLimits, Upload

# Readers of a whole dataset in one 'file' part (and, for npz x/y and csv, a 'test_file' part).
FILE_READERS = {"npz": read_npz, "csv": read_csv, "imagefolder": read_image_folder}
FORMATS = ("npz", "idx", "csv", "imagefolder")
IDX_FIELDS = ("images", "labels", "test_images", "test_labels")
SUFFIXES = {".npz": "npz", ".csv": "csv", ".zip": "imagefolder"}
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class IngestedDataset:
    """What the Dataset row stores about the arrays `ingest` wrote."""
    source_format: str
    num_samples: int
    num_test_samples: int
    input_shape: list[int]  # [C, H, W]
    num_classes: int
    class_names: list[str]
    class_counts: list[int]  # of the training split
    channel_mean: list[float]  # of x_train scaled to [0, 1] (uint8 / 255)
    channel_std: list[float]
    sha256: str  # of the stored .npy files, in x_train, y_train, x_test, y_test order
    size_bytes: int  # of the stored .npy files


def ingest(uploads: list[Upload], options: dict[str, str], target_dir: Path,
           limits: IngestLimits) -> IngestedDataset:
    """Raises DatasetRejected (nothing written) for bad input; target_dir exists only on success."""
    parts = _parts_by_field(uploads, limits)
    source_format = detect_format(parts, options)
    source = _read(source_format, parts, options, limits)
    return _store(source, source_format, options, Path(target_dir), limits)


def _parts_by_field(uploads: list[Upload], limits: IngestLimits) -> dict[str, Upload]:
    parts: dict[str, Upload] = {}
    for upload in uploads:
        if upload.field not in UPLOAD_FIELDS:
            raise DatasetRejected(400, f"unexpected upload field {upload.field!r}; expected one of "
                                       f"{', '.join(UPLOAD_FIELDS)}", [upload.field])
        if upload.field in parts:
            raise DatasetRejected(400, f"upload field {upload.field!r} sent twice", [upload.field])
        parts[upload.field] = upload
    total = 0
    for field, upload in parts.items():
        total += Path(upload.path).stat().st_size
        if total > limits.max_bytes:
            raise DatasetRejected(413, f"the upload is more than the limit of {limits.max_bytes} bytes", [field])
    return parts


def detect_format(parts: dict[str, Upload], options: dict[str, str]) -> str:
    """From options["format"] if given, else the fields sent, the file name and its first bytes."""
    declared = (options.get("format") or "").strip().lower()
    declared = "imagefolder" if declared == "zip" else declared
    if declared and declared not in FORMATS:
        raise DatasetRejected(400, f"format must be one of {', '.join(FORMATS)}, got {declared!r}", ["format"])
    idx_parts = [field for field in IDX_FIELDS if field in parts]
    file_parts = [field for field in ("file", "test_file") if field in parts]
    if idx_parts and file_parts:
        raise DatasetRejected(400, "send either a 'file' part or IDX 'images' and 'labels' parts, not both",
                              [file_parts[0]])
    if idx_parts or declared == "idx":
        if declared not in ("", "idx"):
            raise DatasetRejected(400, f"format {declared} is sent as a 'file' part", [idx_parts[0]])
        return "idx"
    if "file" not in parts:
        raise DatasetRejected(400, "no dataset uploaded: send a 'file' part (npz, csv, zip) or IDX 'images' "
                                   "and 'labels' parts", ["file"])
    if declared:
        return declared
    upload = parts["file"]
    with open(upload.path, "rb") as head_file:
        head = head_file.read(4)
    name = upload.filename.lower()
    if is_idx_header(head) or (head[:2] == GZIP_MAGIC and "idx" in name):
        raise DatasetRejected(400, "one IDX file is not enough: send the images as 'images' and the labels as "
                                   "'labels'", ["labels"])
    for suffix, source_format in SUFFIXES.items():
        if name.endswith(suffix):
            return source_format
    if head == _ZIP_MAGIC:
        return "npz" if _holds_only_npy(upload.path) else "imagefolder"
    raise DatasetRejected(400, f"cannot tell the format of {upload.filename!r}: expected .npz, .csv, a .zip of "
                               f"image folders, or IDX images and labels; or give the format field", ["file"])


def _holds_only_npy(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return all(name.endswith(".npy") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _read(source_format: str, parts: dict[str, Upload], options: dict[str, str],
          limits: IngestLimits) -> SourceArrays:
    if source_format == "idx":
        return read_idx_parts({field: Path(upload.path) for field, upload in parts.items()}, options, limits)
    reader = FILE_READERS[source_format]
    source = reader(Path(parts["file"].path), options, limits, ["file"])
    if "test_file" in parts:
        if source.x_test is not None:
            raise DatasetRejected(400, "the file already holds a test split; do not send test_file too",
                                  ["test_file"])
        test = reader(Path(parts["test_file"].path), options, limits, ["test_file"])
        if test.x_test is not None:
            raise DatasetRejected(422, "test_file must hold one split", ["test_file"])
        if source_format == "imagefolder" and test.class_names != source.class_names:
            raise DatasetRejected(422, f"test_file's class folders {test.class_names} differ from the training "
                                       f"file's {source.class_names}", ["test_file"])
        source.x_test, source.y_test = test.x_train, test.y_train
        source.locs.update(x_test=test.loc("x_train"), y_test=test.loc("y_train"))
    return source


def _store(source: SourceArrays, source_format: str, options: dict[str, str], target_dir: Path,
           limits: IngestLimits) -> IngestedDataset:
    x_train, x_test = source.x_train, source.x_test
    if len(x_train) == 0:
        raise DatasetRejected(422, "the dataset has no training images", source.loc("x_train"))
    image_shape(x_train, source.loc("x_train"))
    y_train = integer_labels(source.y_train, len(x_train), limits.max_classes, source.loc("y_train"))
    y_test = None
    if x_test is not None:
        y_test = integer_labels(source.y_test, len(x_test), limits.max_classes, source.loc("y_test"))
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DatasetRejected(422, f"test images are {list(x_test.shape[1:])} but training images are "
                                       f"{list(x_train.shape[1:])}", source.loc("x_test"))
    num_test = 0 if x_test is None else len(x_test)
    sample_limit(len(x_train) + num_test, limits.max_samples, source.loc("x_train"))

    given_names = form.class_names(options)
    class_names = given_names or source.class_names
    if class_names:
        checked_class_names(class_names, limits.max_classes, ["classes"] if given_names else source.loc("x_train"),
                            from_form=bool(given_names))
    labels = [(y_train, source.loc("y_train"))] + ([(y_test, source.loc("y_test"))] if y_test is not None else [])
    if class_names:
        for y, loc in labels:
            labels_in_range(y, len(class_names), loc)
    num_classes = len(class_names) if class_names else 1 + max(int(y.max()) for y, _ in labels if len(y))
    if num_classes > limits.max_classes:
        raise DatasetRejected(422, f"{num_classes} classes is more than the limit of {limits.max_classes}",
                              source.loc("y_train"))
    class_names = class_names or [str(label) for label in range(num_classes)]

    dtype = stored_pixel_dtype(x_train, source.loc("x_train"))
    if x_test is not None and stored_pixel_dtype(x_test, source.loc("x_test")) != dtype:
        dtype = np.dtype(np.float32)  # train and test must be scaled alike

    with staged_directory(target_dir) as staging:
        write_array(staging / "x_train.npy", x_train, dtype)
        write_array(staging / "y_train.npy", y_train, np.int64)
        if x_test is not None:
            write_array(staging / "x_test.npy", x_test, dtype)
            write_array(staging / "y_test.npy", y_test, np.int64)
        write_samples(staging / SAMPLES_DIR, x_train, y_train, num_classes)
        sha256, size_bytes = arrays_sha256(staging)
        # Everything that can still fail happens before the folder takes its final name.
        mean, std = channel_mean_std(x_train, dtype)
        class_counts = np.bincount(y_train, minlength=num_classes).tolist()
    return IngestedDataset(
        source_format=source_format, num_samples=len(x_train), num_test_samples=num_test,
        input_shape=[int(d) for d in x_train.shape[1:]], num_classes=num_classes, class_names=class_names,
        class_counts=class_counts, channel_mean=mean, channel_std=std, sha256=sha256, size_bytes=size_bytes)
