"""The form fields that steer parsing, read once with a 400 for anything malformed."""
from __future__ import annotations

from .errors import DatasetRejected

LAYOUTS = ("auto", "nchw", "nhwc")


def layout(options: dict[str, str]) -> str:
    value = (options.get("layout") or "auto").strip().lower()
    if value not in LAYOUTS:
        raise DatasetRejected(400, f"layout must be one of {', '.join(LAYOUTS)}, got {value!r}", ["layout"])
    return value


def input_shape(options: dict[str, str]) -> tuple[int, int, int] | None:
    """The form field `input_shape` "C,H,W" (e.g. "1,28,28"), or None when not given."""
    raw = (options.get("input_shape") or "").strip()
    if not raw:
        return None
    try:
        dims = tuple(int(part) for part in raw.replace("x", ",").split(","))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise DatasetRejected(400, f"input_shape must be three positive whole numbers C,H,W like 1,28,28, "
                                   f"got {raw!r}", ["input_shape"])
    return dims


def resize(options: dict[str, str]) -> tuple[int, int] | None:
    """None for "refuse" (the default: images of different sizes are an error), else (width, height),
    from WIDTHxHEIGHT (as image sizes are usually written, 32x24) or HEIGHT,WIDTH (the array order)."""
    raw = (options.get("resize") or "refuse").strip().lower()
    if raw == "refuse":
        return None
    try:
        if "," in raw:
            height, width = (int(part) for part in raw.split(","))
        else:
            width, height = (int(part) for part in raw.split("x"))
    except ValueError:
        width = height = 0
    if width < 1 or height < 1:
        raise DatasetRejected(400, f"resize must be 'refuse', WIDTHxHEIGHT like 32x24 or HEIGHT,WIDTH like 24,32; "
                                   f"got {raw!r}", ["resize"])
    return width, height


def class_names(options: dict[str, str]) -> list[str] | None:
    """The form field `classes`: names in label order, comma separated (checked with the others'
    class names, by class_names.checked_class_names)."""
    raw = (options.get("classes") or "").strip()
    if not raw:
        return None
    return [name.strip() for name in raw.split(",")]
