"""A layer's plan: what its shape rule found from the input shape alone, before any weight exists."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import LayerSpec
    from .window import Window

BYTES_PER_VALUE = 4  # activation memory is reported for float32
Shape = tuple[int, ...]


@dataclass(frozen=True)
class ReceptiveField:
    """How many input pixels (rows, columns) one output position sees, and how far apart in
    input pixels neighbouring output positions are (the jump)."""

    size: tuple[int, int]
    jump: tuple[int, int]

    def as_dict(self) -> dict:
        return {"size": list(self.size), "jump": list(self.jump)}

    def text(self) -> str:
        (rh, rw), (jh, jw) = self.size, self.jump
        return f"{rh}x{rw}, jump {jh if jh == jw else f'{jh}x{jw}'}"


INPUT_RECEPTIVE_FIELD = ReceptiveField((1, 1), (1, 1))  # each input pixel sees itself


@dataclass
class LayerPlan:
    index: int
    name: str
    type: str
    spec: LayerSpec
    input_shape: Shape
    output_shape: Shape
    param_shapes: dict[str, Shape] = field(default_factory=dict)
    buffer_shapes: dict[str, Shape] = field(default_factory=dict)
    macs: int = 0
    explain: str = ""
    window: Window | None = None
    receptive_in: ReceptiveField | None = None  # of the input; None once it is no longer a map
    receptive_field: ReceptiveField | None = None
    # a dense layer's parameters (and multiply-adds) for the same input and output shapes
    dense_equivalent_params: int | None = None
    # the plans of the layers this one holds (a block of layers); their parameters and costs
    # are their own, so totals add children and the parent's own parts separately
    children: tuple[LayerPlan, ...] = ()

    @property
    def trainable_params(self) -> int:
        own = sum(math.prod(s) for s in self.param_shapes.values())
        return own + sum(child.trainable_params for child in self.children)

    @property
    def non_trainable_params(self) -> int:
        own = sum(math.prod(s) for s in self.buffer_shapes.values())
        return own + sum(child.non_trainable_params for child in self.children)

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def activation_bytes(self) -> int:
        own = math.prod(self.output_shape) * BYTES_PER_VALUE
        return own + sum(child.activation_bytes for child in self.children)


def walk(plans):
    """Every plan, each block followed by the plans it holds (depth first)."""
    for plan in plans:
        yield plan
        yield from walk(plan.children)


class ShapeError(Exception):
    """A shape rule's refusal, in the user's own numbers; ``field_name`` is the field to blame.
    A block refusing for a layer it holds gives ``loc``, the path from the block to the field
    (e.g. ``["layers", 1, "kernel_size"]``), and a message that already names that layer."""

    def __init__(self, field_name: str | None, msg: str, loc: list | None = None):
        super().__init__(msg)
        self.field_name, self.msg = field_name, msg
        self.loc = loc if loc is not None else ([field_name] if field_name else [])


def plan_layer(index: int, name: str, spec: LayerSpec, in_shape: Shape,
               receptive_in: ReceptiveField | None = None) -> LayerPlan:
    """Run ``spec``'s shape rule on ``in_shape``; raises ShapeError."""
    plan = LayerPlan(index, name, spec.type, spec, tuple(in_shape), tuple(in_shape),
                     receptive_in=receptive_in)
    spec.shape_rule(plan)
    plan.receptive_field = spec.receptive_field(plan)
    plan.explain = f"{name}: {spec.explain(plan)}"
    return plan


def default_layer_names(layers: list) -> list[str]:
    """Each layer's name: its own, or ``<type>_<n>`` counting layers of that type from 1."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        kind = layer.get("type") if isinstance(layer, dict) else None
        kind = kind if isinstance(kind, str) else "layer"
        counts[kind] = counts.get(kind, 0) + 1
        given = layer.get("name") if isinstance(layer, dict) else None
        names.append(given if isinstance(given, str) and given else f"{kind}_{counts[kind]}")
    return names
