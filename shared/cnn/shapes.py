"""A network's plan: each layer's shape rule applied in turn, within the engine's size limits.

Nothing here allocates weights, so a 224x224 VGG16 is planned instantly. Each layer type's own
rule lives in its module (``layers/``); this applies them and checks the totals.
"""
from __future__ import annotations

import math

from .definition import NetworkDefinition
from .errors import DefinitionError
from .layers.plan import (BYTES_PER_VALUE, INPUT_RECEPTIVE_FIELD, LayerPlan, ShapeError,
                          plan_layer)

__all__ = ["BYTES_PER_VALUE", "LayerPlan", "plan_network"]


def plan_network(definition: NetworkDefinition, max_params: int, max_activation_bytes: int
                 ) -> list[LayerPlan]:
    """Every layer's plan, or a DefinitionError naming each layer that cannot be built."""
    names = definition.layer_names()
    shape = tuple(definition.input_shape)
    total_params, total_bytes = 0, math.prod(shape) * BYTES_PER_VALUE
    if total_bytes > max_activation_bytes:
        raise DefinitionError([{"loc": ["input_shape"], "msg": (
            f"input_shape: one sample would need ~{gib(total_bytes)}; the limit is "
            f"{gib(max_activation_bytes)} per sample")}])
    plans = []
    receptive = INPUT_RECEPTIVE_FIELD if len(shape) == 3 else None
    for index, (name, spec) in enumerate(zip(names, definition.layers)):
        try:
            plan = plan_layer(index, name, spec, shape, receptive)
        except ShapeError as exc:
            loc = ["layers", index] + exc.loc
            field_text = f": {exc.field_name}" if exc.field_name else ""
            raise DefinitionError([{"loc": loc, "msg": f"layers[{index}] {name}{field_text}: "
                                    f"{exc.msg}"}]) from None
        total_params += plan.params
        total_bytes += plan.activation_bytes
        loc = ["layers", index] + ([spec.size_field] if spec.size_field else [])
        if total_params > max_params:
            raise DefinitionError([{"loc": loc, "msg": (
                f"layers[{index}] {name}: the network would need {count(total_params)} parameters "
                f"(~{gib(total_params * BYTES_PER_VALUE)} as float32) by this layer; the limit is "
                f"{max_params:,}")}])
        if total_bytes > max_activation_bytes:
            raise DefinitionError([{"loc": loc, "msg": (
                f"layers[{index}] {name}: activations would need ~{gib(total_bytes)} per sample "
                f"by this layer; the limit is {gib(max_activation_bytes)} per sample")}])
        scratch = spec.scratch(plan)
        if scratch and scratch[0] > max_activation_bytes:
            raise DefinitionError([{"loc": ["layers", index, scratch[2]], "msg": (
                f"layers[{index}] {name}: {scratch[1]} would need ~{gib(scratch[0])} per sample; "
                f"the limit is {gib(max_activation_bytes)} per sample")}])
        plans.append(plan)
        shape, receptive = plan.output_shape, plan.receptive_field
    for plan in plans:
        if plan.spec.shrinks:
            plan.explain += "\n" + downstream_savings(plans, plan.index)
    return plans


def downstream_savings(plans: list[LayerPlan], index: int) -> str:
    """What the shrinking layer at ``index`` saves the layers after it: they are planned again
    on its input, as if it were not there (shape rules only, so any size is instant)."""
    pool, after = plans[index], plans[index + 1:]
    shape, receptive = pool.input_shape, pool.receptive_in
    without_params = without_macs = 0
    for plan in after:
        try:
            replanned = plan_layer(plan.index, plan.name, plan.spec, shape, receptive)
        except ShapeError as exc:
            return (f"without it, {plan.name} could not be built ({exc.msg}); it shrinks "
                    f"{_values(pool.input_shape)} to {_values(pool.output_shape)}")
        without_params += replanned.params
        without_macs += _macs(replanned)
        shape, receptive = replanned.output_shape, replanned.receptive_field
    params, macs = sum(p.params for p in after), sum(_macs(p) for p in after)
    return (f"it shrinks {_values(pool.input_shape)} to {_values(pool.output_shape)}; the layers "
            f"after it need {count(params)} parameters and {count(macs)} multiply-adds, against "
            f"{count(without_params)} and {count(without_macs)} without it (saves "
            f"{count(without_params - params)} parameters and {count(without_macs - macs)} "
            f"multiply-adds per image)")


def _values(shape) -> str:
    return f"{'x'.join(map(str, shape))} = {count(math.prod(shape))} values"


def _macs(plan: LayerPlan) -> int:
    return plan.macs + sum(_macs(child) for child in plan.children)


def count(n: int) -> str:
    """A whole number for a message: with thousands separators, or in powers of ten when huge."""
    return f"{n:,}" if n < 10**18 else _powers_of_ten(n)


def _powers_of_ten(n: int) -> str:
    digits = str(n)
    return f"{digits[0]}.{digits[1]}e{len(digits) - 1}"


def gib(n_bytes: int) -> str:
    """A size for a message; exact integer arithmetic, so no size is too large to print."""
    if n_bytes < 2**28:
        return f"{n_bytes / 2**20:.1f} MiB"
    tenths = (n_bytes * 10 + 2**29) // 2**30  # GiB, rounded to tenths
    if tenths < 10**16:
        return f"{tenths // 10}.{tenths % 10} GiB"
    return f"{_powers_of_ten(n_bytes // 2**30)} GiB"
