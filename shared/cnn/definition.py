"""The network definition schema: a JSON document validated with pydantic, then shape-checked.

Schema errors (wrong types, unknown layer types, missing fields) and the engine's own shape and
size rules both come out as one ``DefinitionError`` whose messages name the layer and the field.
"""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import DefinitionError
from .layers import registry as layers_registry
from .layers.plan import default_layer_names
from .json_types import PositiveInt, PrintableText

AnyLayer = layers_registry.AnyLayer
# Layers in one definition, at most: with each layer's summary bounded, this bounds what is stored and sent.
MAX_LAYERS = 1000
_TAGS = set(layers_registry.LAYER_TYPES)


class NetworkDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[PrintableText, Field(min_length=1, max_length=128)] = "network"
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt] | tuple[PositiveInt]
    layers: Annotated[list[AnyLayer], Field(min_length=1, max_length=MAX_LAYERS)]

    def layer_names(self) -> list[str]:
        """Each layer's name: its own, or ``<type>_<n>`` counting layers of that type from 1."""
        return default_layer_names([layer.model_dump() for layer in self.layers])

    def to_dict(self) -> dict:
        """The definition as plain JSON data, with every layer's name filled in."""
        data = self.model_dump(mode="json")
        for layer, name in zip(data["layers"], self.layer_names()):
            layer["name"] = name
        return data


_UNION_BRANCH = re.compile(r"[\[\-]|^(int|str|float|bool)$")
_adapter = TypeAdapter(NetworkDefinition)


def parse_schema(data) -> NetworkDefinition:
    """Validate the document's structure only (no shape rules)."""
    if isinstance(data, NetworkDefinition):
        return data
    if not isinstance(data, dict):
        raise DefinitionError([{"loc": [], "msg": "a network definition is a JSON object with "
                                "'input_shape' and 'layers'"}])
    try:
        definition = _adapter.validate_python(data)
    except ValidationError as exc:
        errors, seen_locs = [], set()
        for err in exc.errors():
            readable = _readable(err, data)
            # A union field reports once per alternative; one plain sentence says it better.
            if tuple(readable["loc"]) not in seen_locs:
                seen_locs.add(tuple(readable["loc"]))
                errors.append(readable)
        raise DefinitionError(errors) from None
    names = definition.layer_names()
    seen: dict[str, int] = {}
    errors = []
    for index, name in enumerate(names):
        if name in seen:
            errors.append({"loc": ["layers", index, "name"],
                           "msg": f"layers[{index}] {name}: the name is already used by layers[{seen[name]}]"})
        seen.setdefault(name, index)
    if errors:
        raise DefinitionError(errors)
    return definition


_UNION_FIELDS = {
    "kernel_size": "a positive whole number or a pair of them",
    "pool_size": "a positive whole number or a pair of them",
    "stride": "a positive whole number or a pair of them",
    "dilation": "a positive whole number or a pair of them",
    "padding": "a whole number >= 0, a pair of them, 'same' or 'valid'",
}


def _readable(err: dict, data: dict) -> dict:
    # pydantic puts the union tag into the path (layers, 3, conv2d, kernel_size); people do not.
    # A block's layers nest the same path: (layers, 3, residual, layers, 1, conv2d, kernel_size).
    raw = err["loc"]
    loc = [part for i, part in enumerate(raw)
           if not (i >= 2 and raw[i - 2] == "layers" and isinstance(raw[i - 1], int) and part in _TAGS)]
    # Pair alternatives add their own index or a "tuple[...]" part; keep the field name only.
    loc = [part for part in loc if not (isinstance(part, str) and _UNION_BRANCH.search(part))]
    msg = err["msg"]
    if loc and loc[0] == "input_shape":
        loc = ["input_shape"]
        msg = (f"must be [channels, height, width] or [features], positive whole numbers; "
               f"got {data.get('input_shape')!r}")
    elif (found := _layer_at(loc, data)) and found[1] < len(loc) and loc[found[1]] in _UNION_FIELDS:
        layer, position = found
        loc = loc[:position + 1]
        msg = f"must be {_UNION_FIELDS[loc[-1]]}; got {layer.get(loc[-1])!r}"
    elif err["type"] == "union_tag_invalid":
        msg = f"unknown layer type {err['input'].get('type')!r}; known types: {', '.join(sorted(_TAGS))}"
    elif err["type"] == "union_tag_not_found":
        msg = "every layer needs a 'type'"
    elif err["type"] == "extra_forbidden":
        msg = f"unknown field {loc[-1]!r}"
    if len(loc) >= 2 and loc[0] == "layers" and isinstance(loc[1], int):
        where = _layer_path(loc, data)
    else:
        where = ".".join(str(p) for p in loc) or "definition"
    return {"loc": loc, "msg": f"{where}: {msg}"}


def _layer_steps(loc: list, data: dict):
    """(index, name, layer) for each (layers, index) step at the start of ``loc``, blocks' included."""
    level, position = data, 0
    while (position + 1 < len(loc) and loc[position] == "layers" and isinstance(loc[position + 1], int)
           and isinstance(level, dict) and isinstance(level.get("layers"), list)):
        index, layers = loc[position + 1], level["layers"]
        names = default_layer_names(layers)
        level = layers[index] if index < len(layers) else None
        yield index, names[index] if index < len(names) else f"layer_{index}", level
        position += 2


def _layer_at(loc: list, data: dict) -> tuple[dict, int] | None:
    """The innermost layer ``loc`` points into, and the position in ``loc`` just after it."""
    steps = list(_layer_steps(loc, data))
    layer = steps[-1][2] if steps else None
    return (layer, 2 * len(steps)) if isinstance(layer, dict) else None


def _layer_path(loc: list, data: dict) -> str:
    """``layers[3] residual_1: layers[1] conv2d_2: kernel_size`` for a loc inside nested layers."""
    steps = list(_layer_steps(loc, data))
    field = ".".join(str(p) for p in loc[2 * len(steps):])
    return ": ".join(f"layers[{index}] {name}" for index, name, _ in steps) + (f": {field}" if field else "")
