"""A worked example of one convolution or pooling layer, small enough to show every number.

The input and the weights are small whole numbers, so every product is exact; the output values
are the engine's own forward pass. For each output value the lesson lists the terms it is made
of: the element-wise products of its window and its filter for a convolution (summed across the
whole depth, plus the bias; ``channel_sums`` adds them up per input channel), the window's values for a pooling layer (padding is ``None`` for max
pooling, which never picks it, and 0 for mean pooling, which counts it).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .network import build_network
from .validation import parse_definition

LESSON_KINDS = ("conv2d", "maxpool2d", "avgpool2d")
# Bounds that keep every number of a lesson on one screen.
MAX_SIDE = 9
MAX_CHANNELS = 3
MAX_FILTERS = 3
MAX_KERNEL = 5
MAX_STRIDE = 4
MAX_PADDING = 3
MAX_DILATION = 3


@dataclass(frozen=True)
class LessonSettings:
    """The lesson's own example by default: a 5x5x3 input, padding 1, two 3x3x3 filters,
    stride 2, giving 3x3x2."""

    kind: str = "conv2d"
    height: int = 5
    width: int = 5
    channels: int = 3
    kernel: int = 3
    stride: int = 2
    padding: int = 1
    dilation: int = 1  # convolution only
    filters: int = 2  # convolution only
    seed: int = 0

    def definition(self) -> dict:
        if self.kind == "conv2d":
            layer = {"type": "conv2d", "filters": self.filters, "kernel_size": self.kernel,
                     "stride": self.stride, "padding": self.padding, "dilation": self.dilation}
        else:
            layer = {"type": self.kind, "pool_size": self.kernel, "stride": self.stride,
                     "padding": self.padding}
        return {"name": "lesson", "input_shape": [self.channels, self.height, self.width],
                "layers": [layer]}


def work_lesson(settings: LessonSettings) -> dict:
    """Raises DefinitionError, as for any definition, when the settings cannot be built."""
    definition = parse_definition(settings.definition())
    net = build_network(definition, seed=settings.seed, dtype="float64")
    plan = net.summary.plans[0]
    rng = np.random.default_rng(settings.seed)
    x = rng.integers(0, 3, size=(1, *definition.input_shape)).astype(np.float64)
    is_conv = settings.kind == "conv2d"
    weight = bias = None
    if is_conv:
        weight = net.params[f"{plan.name}.weight"]
        bias = net.params[f"{plan.name}.bias"]
        np.copyto(weight, rng.integers(-1, 2, size=weight.shape))
        np.copyto(bias, rng.integers(-1, 2, size=bias.shape))
    output = net.forward(x)[0]

    window = plan.window
    padded = np.pad(x[0], ((0, 0), window.padding[:2], window.padding[2:]))
    is_pad = np.pad(np.zeros(x.shape[1:], dtype=bool), ((0, 0), window.padding[:2],
                                                       window.padding[2:]), constant_values=True)
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.stride, window.dilation
    depth, out_h, out_w = plan.output_shape
    terms = []  # [output channel][row][column] -> [input channel][i][j]
    for k in range(depth):
        rows = []
        for y in range(out_h):
            cells = []
            for c_x in range(out_w):
                r = slice(y * sh, y * sh + dh * (kh - 1) + 1, dh)
                q = slice(c_x * sw, c_x * sw + dw * (kw - 1) + 1, dw)
                if is_conv:
                    cell = padded[:, r, q] * weight[k] + 0.0  # + 0.0 turns -0.0 into 0.0
                else:
                    values = padded[k, r, q].astype(object)
                    if settings.kind == "maxpool2d":
                        values[is_pad[k, r, q]] = None
                    cell = values[None]
                cells.append(cell.tolist())
            rows.append(cells)
        terms.append(rows)
    return {
        "settings": asdict(settings),
        "definition": definition.to_dict(),
        "layer": net.summary.as_dict()["layers"][0],
        "input": x[0].tolist(),
        "weight": weight.tolist() if is_conv else None,
        "bias": bias.tolist() if is_conv else None,
        "output": output.tolist(),
        "terms": terms,
        # a convolution's products summed over each input channel's window
        "channel_sums": (np.asarray(terms).sum(axis=(4, 5)) + 0.0).tolist() if is_conv else None,
    }
