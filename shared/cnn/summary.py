"""The per-layer summary: shapes, parameters, multiply-adds and activation memory, from shapes alone."""
from __future__ import annotations

from dataclasses import dataclass

from .definition import NetworkDefinition, parse_schema
from .shapes import BYTES_PER_VALUE, LayerPlan, plan_network
from .validation import MAX_ACTIVATION_BYTES_PER_SAMPLE, MAX_PARAMS

INDENT = "  "  # a held layer's row is indented under its block's row, as torchinfo shows nesting


@dataclass(frozen=True)
class NetworkSummary:
    """Multiply-adds are counted as torchinfo does (weights and bias, per output position);
    activation bytes are float32 outputs per sample; totals include the input."""

    name: str
    input_shape: tuple[int, ...]
    plans: tuple[LayerPlan, ...]

    @property
    def total_params(self) -> int:
        return sum(p.params for p in self.plans)

    @property
    def trainable_params(self) -> int:
        return sum(p.trainable_params for p in self.plans)

    @property
    def activation_bytes(self) -> int:
        input_bytes = BYTES_PER_VALUE
        for size in self.input_shape:
            input_bytes *= size
        return input_bytes + sum(p.activation_bytes for p in self.plans)

    @property
    def total_macs(self) -> int:
        return sum(_total_macs(p) for p in self.plans)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [_layer_dict(p) for p in self.plans],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.total_params - self.trainable_params,
            "total_macs": self.total_macs,
            "activation_bytes": self.activation_bytes,
        }

    def as_text(self) -> str:
        """A table in the style of Keras' ``model.summary()``."""
        rows = [(f"{INDENT * depth}{p.name} ({p.spec.title})", str(tuple(p.output_shape)),
                 f"{p.params:,}", f"{_total_macs(p):,}", _receptive_cell(p))
                for p, depth in _rows(self.plans)]
        header = ("Layer (type)", "Output Shape", "Param #", "Mult-Adds", "Receptive field")
        widths = [max(len(r[i]) for r in rows + [header]) + 3 for i in range(len(header))]
        width = sum(widths)

        def line(cells):
            return "".join(c.ljust(w) if i < 2 else c.rjust(w - 3) + "   "
                           for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        out = [f'Network: "{self.name}"  input {tuple(self.input_shape)}', "_" * width,
               line(header), "=" * width]
        for i, row in enumerate(rows):
            out.append(line(row))
            out.append("_" * width if i + 1 < len(rows) else "=" * width)
        non_trainable = self.total_params - self.trainable_params
        out += [f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {non_trainable:,}",
                f"Total mult-adds: {self.total_macs:,}",
                f"Activation memory per sample (float32): {_size(self.activation_bytes)}"]
        return "\n".join(out)

    def explain(self) -> str:
        """One line per layer with the arithmetic a person would write."""
        return "\n".join(INDENT * depth + p.explain.replace("\n", "\n" + INDENT * (depth + 1))
                         for p, depth in _rows(self.plans))


def _rows(plans, depth: int = 0):
    """(plan, nesting depth), each block followed by the layers it holds."""
    for plan in plans:
        yield plan, depth
        yield from _rows(plan.children, depth + 1)


def _receptive_cell(plan: LayerPlan) -> str:
    return plan.receptive_field.text() if plan.receptive_field else "-"


def _total_macs(plan: LayerPlan) -> int:
    return plan.macs + sum(_total_macs(child) for child in plan.children)


def _layer_dict(p: LayerPlan) -> dict:
    row = {"name": p.name, "type": p.type, "input_shape": list(p.input_shape),
           "output_shape": list(p.output_shape), "params": p.params,
           "trainable_params": p.trainable_params, "macs": _total_macs(p),
           "activation_bytes": p.activation_bytes, "explain": p.explain,
           "receptive_field": p.receptive_field.as_dict() if p.receptive_field else None,
           "dense_equivalent_params": p.dense_equivalent_params}
    if p.window:
        w = p.window
        row["window"] = {"kernel": list(w.kernel), "stride": list(w.stride),
                         "padding": list(w.padding), "dilation": list(w.dilation)}
    if p.children:
        row["layers"] = [_layer_dict(child) for child in p.children]
    return row


def summarize(definition: dict | NetworkDefinition, *, max_params: int = MAX_PARAMS,
              max_activation_bytes: int = MAX_ACTIVATION_BYTES_PER_SAMPLE) -> NetworkSummary:
    parsed = parse_schema(definition)
    plans = plan_network(parsed, max_params, max_activation_bytes)
    return NetworkSummary(parsed.name, tuple(parsed.input_shape), tuple(plans))


def _size(n_bytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.2f} {unit}"
    return f"{n_bytes} B"
