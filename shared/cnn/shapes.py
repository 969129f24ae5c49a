"""Shape rules: each layer's output shape, parameter shapes and cost from its input shape alone.

Nothing here allocates weights, so a 224x224 VGG16 is planned instantly. Output size follows
PyTorch: ``floor((in + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import definition as d
from .errors import DefinitionError

BYTES_PER_VALUE = 4  # activation memory is reported for float32


@dataclass(frozen=True)
class Window:
    """The geometry of a sliding window over (rows, columns)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, bottom, left, right
    dilation: tuple[int, int] = (1, 1)


@dataclass
class LayerPlan:
    index: int
    name: str
    type: str
    spec: d.LayerSpec
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    param_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    buffer_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    macs: int = 0
    explain: str = ""
    window: Window | None = None

    @property
    def trainable_params(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes.values())

    @property
    def non_trainable_params(self) -> int:
        return sum(math.prod(s) for s in self.buffer_shapes.values())

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def activation_bytes(self) -> int:
        return math.prod(self.output_shape) * BYTES_PER_VALUE


class ShapeError(Exception):
    def __init__(self, field_name: str | None, msg: str):
        self.field_name, self.msg = field_name, msg


def pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def resolve_padding(padding, size, kernel, stride, dilation) -> tuple[int, int, int, int]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        # Keras' rule: output = ceil(in / stride); any odd leftover goes after (bottom/right).
        pads = []
        for n, k, s, dl in zip(size, kernel, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + dl * (k - 1) + 1 - n, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    ph, pw = pair(padding)
    return (ph, ph, pw, pw)


def _window(spec, kernel_field: str, in_shape) -> Window:
    kernel = pair(getattr(spec, kernel_field))
    stride_value = getattr(spec, "stride", 1)
    stride = kernel if stride_value is None else pair(stride_value)
    dilation = pair(getattr(spec, "dilation", 1))
    padding = resolve_padding(spec.padding, in_shape[1:], kernel, stride, dilation)
    return Window(kernel, stride, padding, dilation)


def _slide(window: Window, in_shape, kernel_field: str, word: str) -> tuple[int, int]:
    """Output rows and columns, or a ShapeError in the user's own numbers."""
    h, w = in_shape[1:]
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = (window.kernel, window.stride,
                                                       window.padding, window.dilation)
    if word == "pool" and (2 * max(pt, pb) > kh or 2 * max(pl, pr) > kw):
        # A window made mostly of padding would pool nothing real (PyTorch has the same rule).
        raise ShapeError("padding", f"padding {_pad_text(window)} must be at most half the pool "
                         f"size {_k_text(window)}")
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    hp, wp = h + pt + pb, w + pl + pr
    if eh > hp or ew > wp:
        effective = "" if (dh, dw) == (1, 1) else f" (dilated to {eh}x{ew})"
        raise ShapeError(kernel_field, f"{word} {_k_text(window)}{effective} is larger than the "
                         f"padded input {hp}x{wp}")
    return (hp - eh) // sh + 1, (wp - ew) // sw + 1


def _k_text(window: Window) -> str:
    kh, kw = window.kernel
    return str(kh) if kh == kw else f"{kh}x{kw}"


def _pad_text(window: Window) -> str:
    pads = set(window.padding)
    return str(window.padding[0]) if len(pads) == 1 else str(window.padding)


def _axis_formula(n, k, s, p_before, p_after, dl, out) -> str:
    kernel = str(k) if dl == 1 else f"({dl}*({k} - 1) + 1)"
    pad = f"2*{p_before}" if p_before == p_after else f"{p_before} + {p_after}"
    exact = (n - (dl * (k - 1) + 1) + p_before + p_after) / s + 1
    shown = f"{out}" if exact == out else f"{exact:.2f}".rstrip("0") + f", floor -> {out}"
    return f"({n} - {kernel} + {pad})/{s} + 1 = {shown}"


def _unread(n, k, s, p_before, dl, out) -> list[int]:
    """Input indices (rows or columns) that no window ever reads."""
    read = set()
    for o in range(out):
        for t in range(k):
            read.add(o * s + t * dl - p_before)
    return [i for i in range(n) if i not in read]


def _ranges(indices: list[int]) -> str:
    parts, start = [], None
    for i, value in enumerate(indices):
        if start is None:
            start = value
        if i + 1 == len(indices) or indices[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ", ".join(parts)


def _window_explain(window: Window, in_shape, out_hw) -> str:
    h, w = in_shape[1:]
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = (window.kernel, window.stride,
                                                       window.padding, window.dilation)
    h_text = _axis_formula(h, kh, sh, pt, pb, dh, out_hw[0])
    w_text = _axis_formula(w, kw, sw, pl, pr, dw, out_hw[1])
    text = f"W2 = {w_text}" if (h_text == w_text) else f"H2 = {h_text}; W2 = {w_text}"
    rows = _unread(h, kh, sh, pt, dh, out_hw[0]) if h * kh <= 1_000_000 else []
    cols = _unread(w, kw, sw, pl, dw, out_hw[1]) if w * kw <= 1_000_000 else []
    for word, unread in (("row", rows), ("column", cols)):
        if len(unread) == 1:
            text += f"; input {word} {unread[0]} is never read"
        elif unread:
            text += f"; input {word}s {_ranges(unread)} are never read"
    return text


def plan_layer(index: int, name: str, spec: d.LayerSpec, in_shape: tuple[int, ...]) -> LayerPlan:
    plan = LayerPlan(index, name, spec.type, spec, in_shape, in_shape)
    flat = len(in_shape) == 1
    kind = spec.type
    if kind in ("conv2d", "maxpool2d", "avgpool2d", "global_avgpool2d") and flat:
        raise ShapeError(None, f"needs a (channels, height, width) input but gets the flat "
                         f"shape {in_shape}")
    if kind == "conv2d":
        c = in_shape[0]
        window = _window(spec, "kernel_size", in_shape)
        out_hw = _slide(window, in_shape, "kernel_size", "kernel")
        kh, kw = window.kernel
        plan.window = window
        plan.output_shape = (spec.filters, *out_hw)
        plan.param_shapes = {"weight": (spec.filters, c, kh, kw)}
        bias_term = " + 1" if spec.bias else ""
        if spec.bias:
            plan.param_shapes["bias"] = (spec.filters,)
        per_filter = kh * kw * c + (1 if spec.bias else 0)
        plan.macs = per_filter * spec.filters * out_hw[0] * out_hw[1]
        plan.explain = (f"{_window_explain(window, in_shape, out_hw)}; params = "
                        f"({kh}*{kw}*{c}{bias_term}) * {spec.filters} = {plan.params}")
    elif kind in ("maxpool2d", "avgpool2d"):
        window = _window(spec, "pool_size", in_shape)
        out_hw = _slide(window, in_shape, "pool_size", "pool")
        plan.window = window
        plan.output_shape = (in_shape[0], *out_hw)
        plan.explain = f"{_window_explain(window, in_shape, out_hw)}; params = 0"
    elif kind == "global_avgpool2d":
        plan.output_shape = (in_shape[0],)
        plan.explain = f"mean over {in_shape[1]}x{in_shape[2]} per channel -> {in_shape[0]}; params = 0"
    elif kind == "flatten":
        plan.output_shape = (math.prod(in_shape),)
        plan.explain = f"{'*'.join(map(str, in_shape))} = {plan.output_shape[0]}; params = 0"
    elif kind == "dense":
        if not flat:
            raise ShapeError(None, f"needs a flat input but gets {in_shape}; add a flatten layer "
                             f"before it")
        n_in = in_shape[0]
        plan.output_shape = (spec.units,)
        plan.param_shapes = {"weight": (spec.units, n_in)}
        if spec.bias:
            plan.param_shapes["bias"] = (spec.units,)
        plan.macs = plan.params
        bias_term = " + 1" if spec.bias else ""
        plan.explain = f"units = {spec.units}; params = ({n_in}{bias_term}) * {spec.units} = {plan.params}"
    elif kind == "batchnorm":
        c = in_shape[0]
        plan.param_shapes = {"weight": (c,), "bias": (c,)}
        plan.buffer_shapes = {"running_mean": (c,), "running_var": (c,)}
        plan.macs = 2 * c
        over = "channels" if not flat else "features"
        plan.explain = (f"normalises {c} {over}; params = 4*{c} = {4 * c} ({2 * c} trainable weight "
                        f"and bias, {2 * c} running statistics)")
    else:  # element-wise: relu, leaky_relu, sigmoid, tanh, dropout
        plan.explain = f"same shape {in_shape}; params = 0"
    plan.explain = f"{name}: {plan.explain}"
    return plan


def plan_network(definition: d.NetworkDefinition, max_params: int, max_activation_bytes: int
                 ) -> list[LayerPlan]:
    """Every layer's plan, or a DefinitionError naming each layer that cannot be built."""
    names = definition.layer_names()
    shape = tuple(definition.input_shape)
    plans, total_params, total_bytes = [], 0, math.prod(shape) * BYTES_PER_VALUE
    for index, (name, spec) in enumerate(zip(names, definition.layers)):
        try:
            plan = plan_layer(index, name, spec, shape)
        except ShapeError as exc:
            loc = ["layers", index] + ([exc.field_name] if exc.field_name else [])
            field_text = f": {exc.field_name}" if exc.field_name else ""
            raise DefinitionError([{"loc": loc, "msg": f"layers[{index}] {name}{field_text}: "
                                    f"{exc.msg}"}]) from None
        total_params += plan.params
        total_bytes += plan.activation_bytes
        size_field = {"conv2d": "filters", "dense": "units"}.get(plan.type)
        loc = ["layers", index] + ([size_field] if size_field else [])
        if total_params > max_params:
            raise DefinitionError([{"loc": loc, "msg": (
                f"layers[{index}] {name}: the network would need {total_params:,} parameters "
                f"(~{_gib(total_params * BYTES_PER_VALUE)} as float32) by this layer; the limit is "
                f"{max_params:,}")}])
        if total_bytes > max_activation_bytes:
            raise DefinitionError([{"loc": loc, "msg": (
                f"layers[{index}] {name}: activations would need ~{_gib(total_bytes)} per sample "
                f"by this layer; the limit is {_gib(max_activation_bytes)} per sample")}])
        if plan.type == "conv2d":
            # the engine gathers every window of a sample before its GEMM
            c, kh, kw = plan.param_shapes["weight"][1:]
            window_bytes = (c * kh * kw + 1) * plan.output_shape[1] * plan.output_shape[2] * BYTES_PER_VALUE
            if window_bytes > max_activation_bytes:
                raise DefinitionError([{"loc": ["layers", index, "kernel_size"], "msg": (
                    f"layers[{index}] {name}: gathering its {kh}x{kw}x{c} windows would need "
                    f"~{_gib(window_bytes)} per sample; the limit is {_gib(max_activation_bytes)} "
                    f"per sample")}])
        plans.append(plan)
        shape = plan.output_shape
    return plans


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**28 else f"{n_bytes / 2**20:.1f} MiB"
