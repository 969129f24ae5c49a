"""Limits on what one request may hold, each written once: schemas, parsers and messages import them.
(Limits an operator tunes, such as upload bytes and sample counts, are settings in shared.config; the
engine's own limits on definitions live in shared.cnn.)"""
from __future__ import annotations

# JSON bodies: arrays and objects nested deeper than this are refused before anything walks them.
MAX_JSON_DEPTH = 64
# The request line (method, URL, version) gunicorn accepts; its own maximum. Longer URLs get a 414.
MAX_REQUEST_LINE_BYTES = 8190
# A dataset's name, and each of its class names.
MAX_DATASET_NAME_CHARS = 200
MAX_CLASS_NAME_CHARS = 100
# Pixels of one image file in an upload, read from its header before it is decoded (each is decoded
# at full size before any resize).
MAX_DECODED_IMAGE_PIXELS = 1 << 26
# Values (C*H*W) of one stored image, whatever the format; e.g. 2048x2048 grey or 1182x1182 RGB.
MAX_IMAGE_VALUES = 1 << 22
# Characters of one CSV line: every value of an image at MAX_IMAGE_VALUES, a few characters each.
MAX_CSV_LINE_CHARS = 8 * MAX_IMAGE_VALUES
