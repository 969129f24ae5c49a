"""Every layer's output for an input, through the engine's public API: the network is split into
one-layer networks sharing its weights, run one after the other (each sees the previous one's output,
so the chain computes exactly what the whole network does)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.cnn import build_network


@dataclass
class LayerOutput:
    name: str
    type: str
    output_shape: tuple[int, ...]
    explain: str
    output: np.ndarray  # (N, *output_shape)


class LayerChain:
    def __init__(self, net):
        definition = net.definition.to_dict()
        state = net.state_arrays()
        self.plans = net.summary.plans
        self.links = []
        for plan, layer in zip(self.plans, definition["layers"]):
            link = build_network({"name": plan.name, "input_shape": list(plan.input_shape), "layers": [layer]},
                                 dtype=net.dtype.name)
            prefix = f"{plan.name}."
            link.load_params({key: value for key, value in state.items() if key.startswith(prefix)})
            self.links.append(link)

    def run(self, normalised: np.ndarray) -> list[LayerOutput]:
        """``normalised``: a batch as the network sees it (after ``prepare_batch``)."""
        outputs, feature_map = [], normalised
        for plan, link in zip(self.plans, self.links):
            feature_map = link.forward(feature_map, training=False)
            outputs.append(LayerOutput(plan.name, plan.type, tuple(plan.output_shape), plan.explain, feature_map))
        return outputs
