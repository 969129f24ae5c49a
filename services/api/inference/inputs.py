"""A predict request's inputs as one batch of samples in the model's input shape.

Images (PNG, JPEG) are converted to the model's channels and size with the dataset ingestion's own
conversion; arrays (.npy, .npz, JSON nested lists) get the ingestion's dtype rule (whole numbers
0..255 are uint8 pixels, anything else float32) and its NaN/infinity check. Every failure is a
Problem naming the input and what was expected; nothing is unpickled.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import request
from PIL import Image, UnidentifiedImageError

from services.api.inference.limits import MAX_IMAGE_PIXELS, MAX_PREDICT_BODY_BYTES, MAX_PREDICT_INPUTS
from services.api.problems import Problem
from services.api.validation import json_body
from shared.data.checks import stored_pixel_dtype
from shared.data.errors import DatasetRejected
from shared.data.image_folder import image_pixels

IMAGE_FORMATS = ("PNG", "JPEG")
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclass
class Inputs:
    samples: np.ndarray  # (N, *input_shape), uint8 or float32
    names: list[str]


def bad_input(detail: str, loc: list, status: int = 422) -> Problem:
    title = "Input too large" if status == 413 else "Invalid input"
    return Problem(status, title, detail, kind="too-large" if status == 413 else "invalid-input",
                   errors=[{"loc": loc, "msg": detail}])


def read_inputs(input_shape: tuple[int, ...]) -> Inputs:
    """The request's samples; at most MAX_PREDICT_INPUTS, each checked against `input_shape`."""
    if request.content_length is not None and request.content_length > MAX_PREDICT_BODY_BYTES:
        raise bad_input(f"the request body is {request.content_length:,} bytes; predict takes at most "
                        f"{MAX_PREDICT_BODY_BYTES:,}", ["body"], 413)
    request.max_content_length = MAX_PREDICT_BODY_BYTES  # a body without Content-Length stops there too
    if request.is_json:
        body = json_body()
        if not isinstance(body, dict) or set(body) != {"inputs"}:
            raise bad_input('a JSON body is {"inputs": [...]}: samples as nested lists', ["body"])
        return _json_inputs(body["inputs"], input_shape)
    if request.mimetype != "multipart/form-data":
        raise Problem(415, "Unsupported media type", "Send images or arrays as multipart/form-data `file` "
                      'parts, or JSON {"inputs": [...]}.')
    files = request.files.getlist("file")
    if not files:
        raise bad_input("no `file` part: send one or more images or an array file as `file`", ["file"], 400)
    if len(files) > MAX_PREDICT_INPUTS:
        raise _too_many(len(files), ["file"])
    batches, names = [], []
    for index, part in enumerate(files):
        name = part.filename or f"file[{index}]"
        loc = ["file", index]
        if Path(name).suffix.lower() in ARRAY_SUFFIXES:
            samples = _array_file(part.stream, name, input_shape, loc)
            names += [f"{name}[{row}]" for row in range(len(samples))]
        else:
            samples = _image(part.stream, name, input_shape, loc)[None]
            names.append(name)
        batches.append(samples)
        if len(names) > MAX_PREDICT_INPUTS:
            raise _too_many(len(names), ["file"])
    dtype = np.uint8 if all(batch.dtype == np.uint8 for batch in batches) else np.float32
    if dtype == np.float32:  # mixing pixels and float samples: pixels scaled as the engine scales them
        batches = [batch.astype(np.float32) / 255 if batch.dtype == np.uint8 else batch for batch in batches]
    return Inputs(np.concatenate(batches).astype(dtype, copy=False), names)


def _too_many(count: int, loc: list) -> Problem:
    return bad_input(f"{count} inputs; at most {MAX_PREDICT_INPUTS} per request (for a whole dataset, "
                     f"run an evaluate job)", loc, 413)


def _expected(input_shape) -> str:
    return f"(N, {', '.join(map(str, input_shape))}) or one ({', '.join(map(str, input_shape))})"


def _samples(array: np.ndarray, input_shape: tuple, loc: list) -> np.ndarray:
    """Shape check (a single sample gains a batch axis), count limit, then the ingestion's dtype rule."""
    if array.dtype.kind not in "iuf" and array.dtype != np.bool_:
        raise bad_input(f"the values must be numbers, not {array.dtype}", loc)
    if tuple(array.shape) == tuple(input_shape):
        array = array[None]
    if array.ndim != len(input_shape) + 1 or tuple(array.shape[1:]) != tuple(input_shape):
        raise bad_input(f"shape {list(array.shape)} does not fit the model: expected {_expected(input_shape)}", loc)
    if len(array) == 0:
        raise bad_input("no samples", loc)
    if len(array) > MAX_PREDICT_INPUTS:
        raise _too_many(len(array), loc)
    try:
        dtype = stored_pixel_dtype(array, loc)
    except DatasetRejected as exc:
        raise bad_input(exc.detail, exc.loc or loc) from None
    return array.astype(dtype, copy=False)


def _json_inputs(inputs, input_shape: tuple) -> Inputs:
    loc = ["inputs"]
    if not isinstance(inputs, list) or not inputs:
        raise bad_input(f"inputs must be a non-empty nested list of numbers, {_expected(input_shape)}", loc)
    if len(inputs) > MAX_PREDICT_INPUTS and len(input_shape) + 1 == _depth(inputs):
        raise _too_many(len(inputs), loc)
    try:
        array = np.array(inputs, dtype=np.float64)
    except (ValueError, TypeError):
        raise bad_input(f"inputs must be a rectangular nested list of numbers, {_expected(input_shape)}", loc) from None
    if np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)  # whole numbers: pixels if in 0..255, as the ingestion decides
    samples = _samples(array, input_shape, loc)
    return Inputs(samples, [f"inputs[{row}]" for row in range(len(samples))])


def _depth(value) -> int:
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    return depth


def _array_file(stream, name: str, input_shape: tuple, loc: list) -> np.ndarray:
    data = stream.read()
    try:
        if name.lower().endswith(".npz"):
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                keys = archive.files
                key = "x" if "x" in keys else keys[0] if len(keys) == 1 else None
                if key is None:
                    raise bad_input(f"{name} holds {keys}; name the samples 'x' or send one array", loc)
                array = archive[key]
        else:
            array = np.load(io.BytesIO(data), allow_pickle=False)
    except Problem:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise bad_input(f"{name} is not a readable {Path(name).suffix} array file (pickled objects are never "
                        f"loaded): {exc}", loc) from None
    return _samples(np.asarray(array), input_shape, loc)


def _image(stream, name: str, input_shape: tuple, loc: list) -> np.ndarray:
    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise bad_input(f"this model takes samples of shape {list(input_shape)}, not images; send arrays", loc)
    channels, height, width = input_shape
    try:
        with Image.open(stream) as image:
            if image.format not in IMAGE_FORMATS:
                raise bad_input(f"{name} is {image.format}; send PNG or JPEG images", loc, 415)
            pixels = image.size[0] * image.size[1]
            if pixels > MAX_IMAGE_PIXELS:
                raise bad_input(f"{name} is {image.size[0]}x{image.size[1]} = {pixels:,} pixels; at most "
                                f"{MAX_IMAGE_PIXELS:,}", loc, 413)
            return image_pixels(image, channels, (width, height))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise bad_input(f"{name} is not a PNG or JPEG image (or an .npy/.npz array file): {exc}", loc) from None
