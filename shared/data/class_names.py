"""Class names, whoever gave them (the `classes` form field, an .npz array, folder names): at most
`max_classes` of them, each printable text of 1..MAX_CLASS_NAME_CHARS characters, all distinct."""
from __future__ import annotations

from shared.cnn.json_types import printable
from shared.limits import MAX_CLASS_NAME_CHARS

from .errors import DatasetRejected

# Bytes a names array may declare before it is read: every name at the limit, 4 bytes a character.
BYTES_PER_NAME = 4 * MAX_CLASS_NAME_CHARS


def checked_class_names(names: list[str], max_classes: int, loc: list, from_form: bool = False) -> list[str]:
    """Names from the form are a malformed request (400, at the field); names from the file make the
    dataset unusable (422, at the name's index)."""
    status = 400 if from_form else 422

    def at(index: int) -> list:
        return loc if from_form else loc + [index]

    if len(names) > max_classes:
        raise DatasetRejected(status, f"{len(names)} class names is more than the limit of {max_classes}", loc)
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name or len(name) > MAX_CLASS_NAME_CHARS:
            raise DatasetRejected(status, f"class name {index} has {len(name)} characters; each must have 1 to "
                                       f"{MAX_CLASS_NAME_CHARS}", at(index))
        try:
            printable(name)
        except ValueError as exc:
            raise DatasetRejected(status, f"class name {index} {exc}", at(index)) from None
        if name in seen:
            raise DatasetRejected(status, f"class names {seen[name]} and {index} are both {name!r}; each class "
                                       f"needs its own name", at(index))
        seen[name] = index
    return names
