"""Residual blocks: ``output = f(x) + shortcut(x)``, where ``f`` is the block's own layers.

The shortcut is the input itself ("identity") or a 1x1 convolution with the stride that brings
the input to the path's shape, followed by batchnorm unless ``shortcut_batchnorm`` is false
("projection", ResNet's option B). The path's layers and the shortcut are the block's children
in the plan: the summary shows them indented under the block, the shortcut as its own row.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Layer, gather_state
from .batchnorm import BatchNormSpec
from .conv2d import Conv2DSpec
from .plan import LayerPlan, ReceptiveField, ShapeError, default_layer_names, plan_layer
from .spec import LayerSpec, PositiveInt

SHORTCUT = "shortcut"  # the shortcut's name in the summary and in parameter keys
MAX_HELD_LAYERS = 1000


def held_index(block_index: int, position: int) -> int:
    """A held layer's plan index, distinct from every top-level index (< 1000) and from those of
    other blocks, so index-keyed randomness (dropout masks) differs between layers."""
    return (block_index + 1) * MAX_HELD_LAYERS + position


def projection_stride(size: int, target: int) -> int | None:
    """The stride s of a 1x1 convolution turning ``size`` into ``target``: ceil(size / s) = target."""
    if target > size:
        return None
    stride = -(-size // target)
    return stride if (target - 1) * stride < size else None


class IdentitySpec(LayerSpec):
    type: Literal["identity"] = "identity"
    title = "Identity"

    def explain(self, plan: LayerPlan) -> str:
        return f"identity, the input {plan.input_shape} itself; params = 0"


class ProjectionSpec(LayerSpec):
    type: Literal["projection"] = "projection"
    filters: PositiveInt
    stride: tuple[PositiveInt, PositiveInt]
    batchnorm: bool = True
    title = "Projection"

    def parts(self) -> list[tuple[str, LayerSpec]]:
        conv = Conv2DSpec(type="conv2d", filters=self.filters, kernel_size=1, stride=self.stride,
                          bias=not self.batchnorm)
        return [("conv", conv)] + ([("norm", BatchNormSpec(type="batchnorm"))] if self.batchnorm else [])

    def shape_rule(self, plan: LayerPlan) -> None:
        shape, receptive, children = plan.input_shape, plan.receptive_in, []
        for position, (name, spec) in enumerate(self.parts()):
            children.append(plan_layer(held_index(plan.index, position), name, spec, shape, receptive))
            shape, receptive = children[-1].output_shape, children[-1].receptive_field
        plan.children, plan.output_shape = tuple(children), shape

    def receptive_field(self, plan: LayerPlan) -> ReceptiveField | None:
        return plan.children[-1].receptive_field

    def explain(self, plan: LayerPlan) -> str:
        sh, sw = self.stride
        stride = str(sh) if sh == sw else f"{sh}x{sw}"
        norm = " and batchnorm" if self.batchnorm else ""
        return (f"1x1 conv with stride {stride}{norm}, {plan.input_shape} -> {plan.output_shape}; "
                f"params = {plan.params}")


class ResidualSpec(LayerSpec):
    type: Literal["residual"]
    layers: Annotated[list["AnyLayer"], Field(min_length=1, max_length=MAX_HELD_LAYERS)]
    shortcut: Literal["identity", "projection"] = "identity"
    shortcut_batchnorm: bool = True

    title = "Residual"
    size_field = "layers"

    def shape_rule(self, plan: LayerPlan) -> None:
        names = default_layer_names([layer.model_dump() for layer in self.layers])
        seen: dict[str, int] = {}
        for position, name in enumerate(names):
            if name == SHORTCUT or name in seen:
                taken = "names the block's shortcut" if name == SHORTCUT else f"is used by layers[{seen[name]}]"
                raise ShapeError(None, f"layers[{position}]: the name {name!r} {taken}",
                                 loc=["layers", position, "name"])
            seen[name] = position
        shape, receptive, path = plan.input_shape, plan.receptive_in, []
        for position, (name, spec) in enumerate(zip(names, self.layers)):
            try:
                path.append(plan_layer(held_index(plan.index, position), name, spec, shape, receptive))
            except ShapeError as exc:
                field = f": {exc.field_name}" if exc.field_name and exc.loc == [exc.field_name] else ""
                raise ShapeError(None, f"layers[{position}] {name}{field}: {exc.msg}",
                                 loc=["layers", position] + exc.loc) from None
            shape, receptive = path[-1].output_shape, path[-1].receptive_field
        shortcut = plan_layer(held_index(plan.index, len(path)), SHORTCUT,
                              self._shortcut_spec(plan.input_shape, shape), plan.input_shape, plan.receptive_in)
        plan.children = (*path, shortcut)
        plan.output_shape = shape

    def receptive_field(self, plan: LayerPlan) -> ReceptiveField | None:
        # An output sees what either branch sees; both end on the same grid, so their jumps agree.
        *path, shortcut = plan.children
        fields = [field for field in (path[-1].receptive_field, shortcut.receptive_field) if field is not None]
        if not fields:
            return None
        size = tuple(max(field.size[axis] for field in fields) for axis in range(2))
        return ReceptiveField(size, fields[0].jump)

    def _shortcut_spec(self, in_shape, path_shape) -> LayerSpec:
        if self.shortcut == "identity":
            if tuple(path_shape) != tuple(in_shape):
                raise ShapeError("shortcut", (
                    f"an identity shortcut adds the input {tuple(in_shape)} to the path's output "
                    f"{tuple(path_shape)}, and the shapes differ; use \"shortcut\": \"projection\""))
            return IdentitySpec()
        if len(in_shape) != 3 or len(path_shape) != 3:
            raise ShapeError("shortcut", f"a projection shortcut needs feature maps on both sides, "
                             f"but the input is {tuple(in_shape)} and the path gives {tuple(path_shape)}")
        strides = [projection_stride(n, target) for n, target in zip(in_shape[1:], path_shape[1:])]
        if None in strides:
            raise ShapeError("shortcut", f"no 1x1 convolution stride turns the input {tuple(in_shape)} "
                             f"into the path's output {tuple(path_shape)}")
        return ProjectionSpec(filters=path_shape[0], stride=tuple(strides),
                              batchnorm=self.shortcut_batchnorm)

    def explain(self, plan: LayerPlan) -> str:
        *path, shortcut = plan.children
        return (f"{len(path)} layers and a{'n' if self.shortcut == 'identity' else ''} "
                f"{self.shortcut} shortcut; output = conv path {path[-1].output_shape} + shortcut "
                f"{shortcut.output_shape}; params = {plan.params}")

    def scratch(self, plan: LayerPlan) -> tuple[int, str, str] | None:
        needs = [(child.spec.scratch(child), position) for position, child in enumerate(plan.children[:-1])]
        needs = [(need, position) for need, position in needs if need]
        if not needs:
            return None
        (size, what, _), position = max(needs, key=lambda item: item[0][0])
        return size, f"layers[{position}] {plan.children[position].name}: {what}", "layers"


class Sequence(Layer):
    """Layers run one after the other; their parameters are keyed ``"<layer>.<key>"``."""

    def __init__(self, plan, dtype, rng=None):
        super().__init__(plan, dtype)
        from .registry import layer_type  # the registry imports this module
        self.held = [(_PARTS.get(child.type) or layer_type(child.type).compute)(child, dtype, rng)
                     for child in plan.children]
        gather_state(self.held, self.params, self.grads, self.buffers)

    def forward(self, x, ctx):
        for layer in self.held:
            x = layer.forward(x, ctx)
        return x

    def backward(self, grad_out, need_input_grad=True):
        for position in range(len(self.held) - 1, -1, -1):
            grad_out = self.held[position].backward(grad_out, need_input_grad or position > 0)
        return grad_out


class Identity(Layer):
    def forward(self, x, ctx):
        return x

    def backward(self, grad_out, need_input_grad=True):
        return grad_out if need_input_grad else None


_PARTS = {"identity": Identity, "projection": Sequence}  # a shortcut's kinds, not layer types


class Residual(Sequence):
    schema = ResidualSpec

    def __init__(self, plan, dtype, rng=None):
        super().__init__(plan, dtype, rng)
        *self.path, self.shortcut = self.held

    def forward(self, x, ctx):
        # out = f(x) + shortcut(x); the shortcut runs first, before any path layer sees x
        shortcut = self.shortcut.forward(x, ctx)
        for layer in self.path:
            x = layer.forward(x, ctx)
        return x + shortcut

    def backward(self, grad_out, need_input_grad=True):
        # d out / d x = d f / d x + d shortcut / d x: both branches get the same gradient; path
        # layers may overwrite theirs, so the shortcut works on its own copy
        shortcut_grad = self.shortcut.backward(grad_out.copy(), need_input_grad)
        for position in range(len(self.path) - 1, -1, -1):
            grad_out = self.path[position].backward(grad_out, need_input_grad or position > 0)
        return grad_out + shortcut_grad if need_input_grad else None
