"""The layer types, found in the modules of this package.

A module defines a layer type by holding a ``Layer`` subclass whose ``schema`` is a ``LayerSpec``
subclass with a ``type`` tag: the compute class and the spec are all the engine needs (schema,
shape rule, explanation, title, forward and backward). Adding a layer type is adding a module.

A spec that holds layers (a block) declares its field as ``list["AnyLayer"]``: the name is
resolved here once every type is known, so blocks may hold any type, blocks included.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Union

from pydantic import Field

from .base import Layer
from .spec import LayerSpec

_NOT_LAYER_TYPES = {"base", "gemm", "init", "plan", "registry", "spec", "window"}


@dataclass(frozen=True)
class LayerType:
    tag: str                    # the definition's "type", e.g. "conv2d"
    spec: type[LayerSpec]       # its fields, shape rule, explanation and title
    compute: type[Layer]        # its forward and backward

    @property
    def title(self) -> str:
        return self.spec.title


def layer_types_in(modules: list[ModuleType]) -> dict[str, LayerType]:
    """Every compute class with its own ``schema`` defined in ``modules``, by tag."""
    found: dict[str, LayerType] = {}
    for module in modules:
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Layer) and "schema" in vars(value)
                    and value.__module__ == module.__name__):
                tag = value.schema.model_fields["type"].annotation.__args__[0]
                if tag in found:
                    raise TypeError(f"layer type {tag!r} is defined twice: {found[tag].compute} "
                                    f"and {value}")
                found[tag] = LayerType(tag, value.schema, value)
    return found


def definition_union(types: dict[str, LayerType]):
    """The pydantic type of one layer of a definition: any registered spec, chosen by ``type``."""
    union = Annotated[Union[tuple(t.spec for t in types.values())], Field(discriminator="type")]
    for layer_type in types.values():
        if not layer_type.spec.__pydantic_complete__:  # a block refers to "AnyLayer"
            layer_type.spec.model_rebuild(_types_namespace={"AnyLayer": union})
    return union


def _package_modules() -> list[ModuleType]:
    package = importlib.import_module(__name__.rpartition(".")[0])
    return [importlib.import_module(f"{package.__name__}.{info.name}")
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name)
            if info.name not in _NOT_LAYER_TYPES]


LAYER_TYPES: dict[str, LayerType] = layer_types_in(_package_modules())
AnyLayer = definition_union(LAYER_TYPES)


def layer_type(tag: str) -> LayerType:
    return LAYER_TYPES[tag]
