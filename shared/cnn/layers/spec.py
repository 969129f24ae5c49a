"""What every layer type's definition schema shares, and the hooks each type fills in.

A layer type's module holds a ``LayerSpec`` subclass (its JSON fields, its shape rule, its
explanation and its title) and a compute class (``Layer`` subclass whose ``schema`` names that
spec); the registry finds both there.
"""
from __future__ import annotations

from typing import ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, field_validator

from ..json_types import NonNegativeInt, PositiveInt, PrintableText
from .plan import LayerPlan, ReceptiveField, ShapeError

Pair = tuple[PositiveInt, PositiveInt]
IntOrPair = Union[PositiveInt, Pair]
PaddingPair = tuple[NonNegativeInt, NonNegativeInt]
Padding = Union[NonNegativeInt, PaddingPair, Literal["same", "valid"]]


class LayerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)
    name: PrintableText | None = None

    title: ClassVar[str]  # the type column of the summary table, e.g. "Conv2D"
    size_field: ClassVar[str | None] = None  # the field to blame when the network grows too big
    # a layer without parameters that makes its input smaller (pooling): the summary tells what
    # that saves the layers after it
    shrinks: ClassVar[bool] = False

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str | None) -> str | None:
        if name is not None and (not name or "." in name or len(name) > 64):
            raise ValueError("a layer name is 1-64 characters without '.'")
        return name

    def shape_rule(self, plan: LayerPlan) -> None:
        """From ``plan.input_shape`` set ``plan.output_shape`` and, where the type has them,
        ``param_shapes``, ``buffer_shapes``, ``macs``, ``window`` and ``children``; raise
        ShapeError in the user's numbers. The default keeps the shape (element-wise layers)."""

    def explain(self, plan: LayerPlan) -> str:
        """The arithmetic a person would write for this layer (the layer name is added); lines
        after the first add what a learner needs beyond the arithmetic."""
        rule = self.value_rule()
        why = f" ({rule}: a fixed rule for each value on its own, nothing to learn)" if rule else ""
        return f"same shape {plan.input_shape}; params = 0{why}"

    def value_rule(self) -> str | None:
        """An element-wise layer's rule in a few words, e.g. ``out = max(x, 0)``."""
        return None

    def receptive_field(self, plan: LayerPlan) -> ReceptiveField | None:
        """The receptive field of the output; layers without a window keep their input's, and a
        flat output has none."""
        return plan.receptive_in if len(plan.output_shape) == 3 else None

    def scratch(self, plan: LayerPlan) -> tuple[int, str, str] | None:
        """(bytes per sample, what they hold, the field to blame) of a working buffer the layer
        allocates beyond its output, checked against the activation limit; None if none."""
        return None


def needs_feature_map(plan: LayerPlan) -> None:
    if len(plan.input_shape) == 1:
        raise ShapeError(None, f"needs a (channels, height, width) input but gets the flat "
                         f"shape {plan.input_shape}")


def needs_flat(plan: LayerPlan) -> None:
    if len(plan.input_shape) != 1:
        raise ShapeError(None, f"needs a flat input but gets {plan.input_shape}; add a flatten "
                         f"layer before it")
