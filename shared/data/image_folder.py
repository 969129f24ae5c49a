"""A .zip of one folder per class holding PNG or JPEG images (the ImageFolder convention), read with
Pillow. Class labels follow the sorted folder names. An optional top level `train/` and `test/` gives
the two splits; a single enclosing folder is looked through. Grey images give C=1; if any image is in
colour, all become RGB (C=3). Images of different sizes are refused unless resize=WxH is given."""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from shared.limits import MAX_DECODED_IMAGE_PIXELS

from . import options as form
from .archive import ArchiveBudget, open_zip
from .checks import ExpansionBudget, expanded_limit, image_values_limit, sample_limit
from .errors import DatasetRejected
from .source import SourceArrays
from .upload import IngestLimits

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
SPLIT_FOLDERS = ("train", "test")


@dataclass
class ImageEntry:
    member: str
    split: str
    class_name: str
    encoded: bytes
    size: tuple[int, int]  # width, height
    grey: bool


def read_image_folder(path: Path, options: dict[str, str], limits: IngestLimits, loc: list) -> SourceArrays:
    target_size = form.resize(options)
    with open_zip(path, loc, limits.max_expanded_bytes, "zip of image folders") as archive:
        members = _image_members(archive, loc)
        sample_limit(len(members), limits.max_samples, loc)
        budget = ArchiveBudget(limits.max_expanded_bytes, loc)
        # Decoding happens at each file's own size, whatever the resize target: that is what is counted.
        decoded = ExpansionBudget(limits.max_expanded_bytes, loc, "the images, decoded at their own size,")
        entries = [_entry(archive, info, split, class_name, budget, decoded, loc)
                   for info, split, class_name in members]
    class_names = sorted({entry.class_name for entry in entries if entry.split == "train"})
    for entry in entries:
        if entry.class_name not in class_names:
            raise DatasetRejected(422, f"test class folder {entry.class_name!r} has no training folder",
                                  loc + [entry.member])
    size = target_size or entries[0].size
    if target_size is None:
        for entry in entries:
            if entry.size != size:
                raise DatasetRejected(
                    422, f"{entry.member} is {entry.size[0]}x{entry.size[1]} but {entries[0].member} is "
                         f"{size[0]}x{size[1]}; send resize=WIDTHxHEIGHT to resize them all", loc + [entry.member])
    channels = 1 if all(entry.grey for entry in entries) else 3
    image_values_limit(channels * size[0] * size[1], loc)
    expanded_limit(len(entries) * channels * size[0] * size[1], limits.max_expanded_bytes, loc, "the images")
    result = SourceArrays(x_train=None, y_train=None, class_names=class_names)
    for split in SPLIT_FOLDERS:
        chosen = [entry for entry in entries if entry.split == split]
        if not chosen:
            continue
        images = np.empty((len(chosen), channels, size[1], size[0]), dtype=np.uint8)
        for index, entry in enumerate(chosen):
            images[index] = _decode(entry, channels, size, loc)
            entry.encoded = b""  # keep at most one copy of each image around
        labels = np.array([class_names.index(entry.class_name) for entry in chosen], dtype=np.int64)
        setattr(result, f"x_{split}", images)
        setattr(result, f"y_{split}", labels)
        result.locs.update({f"x_{split}": loc, f"y_{split}": loc})
    if result.x_train is None:
        raise DatasetRejected(422, "the zip has a test folder but no train folder", loc)
    return result


def _image_members(archive: zipfile.ZipFile, loc: list) -> list[tuple[zipfile.ZipInfo, str, str]]:
    """(member, split, class name) for every image; anything but images, folders and the usual hidden
    files (__MACOSX/, .DS_Store) is refused."""
    files = [info for info in archive.infolist() if not info.is_dir() and not _hidden(info.filename)]
    if not files:
        raise DatasetRejected(422, "the zip holds no images", loc)
    parts = [PurePosixPath(info.filename.replace("\\", "/")).parts for info in files]
    while all(len(p) > 2 for p in parts) and len({p[0] for p in parts}) == 1 \
            and not {p[0] for p in parts} <= set(SPLIT_FOLDERS):
        parts = [p[1:] for p in parts]  # look through one enclosing folder
    split_layout = all(len(p) == 3 for p in parts) and {p[0] for p in parts} <= set(SPLIT_FOLDERS)
    members = []
    for info, member_parts in zip(files, parts):
        if split_layout:
            split, class_name = member_parts[0], member_parts[1]
        elif len(member_parts) == 2:
            split, class_name = "train", member_parts[0]
        else:
            raise DatasetRejected(422, f"{info.filename!r} is not in a class folder: expected CLASS/IMAGE.png "
                                       f"(or train/CLASS/IMAGE.png and test/CLASS/IMAGE.png)", loc + [info.filename])
        if Path(info.filename).suffix.lower() not in IMAGE_FORMATS:
            raise DatasetRejected(422, f"{info.filename!r} is not a PNG or JPEG image", loc + [info.filename])
        members.append((info, split, class_name))
    return members


def _hidden(name: str) -> bool:
    return name.startswith("__MACOSX/") or PurePosixPath(name).name.startswith(".")


def _entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, split: str, class_name: str,
           budget: ArchiveBudget, decoded: ExpansionBudget, loc: list) -> ImageEntry:
    """Reads the member and only the image header: format, size, mode; counts what decoding it takes."""
    encoded = budget.read_member(archive, info)
    expected = IMAGE_FORMATS[Path(info.filename).suffix.lower()]
    try:
        with Image.open(io.BytesIO(encoded)) as image:
            if image.format != expected:
                raise DatasetRejected(422, f"{info.filename!r} is named like a {expected} image but holds "
                                           f"{image.format or 'something else'}", loc + [info.filename])
            width, height = image.size
            if width * height > MAX_DECODED_IMAGE_PIXELS:
                raise DatasetRejected(413, f"{info.filename!r} is {width}x{height}, {width * height} pixels; "
                                           f"images may have at most {MAX_DECODED_IMAGE_PIXELS}",
                                      loc + [info.filename])
            decoded.spend(width * height * len(image.getbands()), loc + [info.filename])
            return ImageEntry(info.filename, split, class_name, encoded, image.size, image.mode in GREY_MODES)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise DatasetRejected(422, f"{info.filename!r} is not a readable image: {exc}", loc + [info.filename]) from None


def _decode(entry: ImageEntry, channels: int, size: tuple[int, int], loc: list) -> np.ndarray:
    """One image as (C, H, W) uint8, converted to grey or RGB and resized to `size` if it differs."""
    try:
        with Image.open(io.BytesIO(entry.encoded)) as image:
            return image_pixels(image, channels, size)
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetRejected(422, f"{entry.member!r} could not be decoded: {exc}", loc + [entry.member]) from None


def image_pixels(image: Image.Image, channels: int, size: tuple[int, int]) -> np.ndarray:
    """An opened image as (C, H, W) uint8: grey (C=1) or RGB (C=3), resized bilinearly to `size`
    (width, height) if it differs. Model inputs are converted the same way as dataset images."""
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    pixels = np.asarray(image)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
