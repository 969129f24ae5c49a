"""Does a network fit a dataset? Its input shape must be the images' shape and its output a flat
vector with one value per class. Each mismatch is said in the user's own numbers."""
from __future__ import annotations

from shared.db.models import Dataset, Network


def mismatches(network: Network, dataset: Dataset, network_field: str = "network_id") -> list[dict]:
    """Errors located at `dataset_id` (input shape) or `network_field` (outputs)."""
    errors = []
    input_shape = list(network.summary["input_shape"])
    if input_shape != list(dataset.input_shape):
        errors.append({"loc": ["dataset_id"], "msg": (
            f"network {network.name!r} takes input of shape {_shape(input_shape)} but dataset "
            f"{dataset.name!r} holds images of shape {_shape(dataset.input_shape)} (C, H, W)")})
    layers = network.summary["layers"]
    output_shape = list(layers[-1]["output_shape"]) if layers else input_shape
    if len(output_shape) != 1:
        errors.append({"loc": [network_field], "msg": (
            f"network {network.name!r} ends with output of shape {_shape(output_shape)}; a classifier must "
            f"end with a flat vector of {dataset.num_classes} values (add flatten and dense "
            f"{dataset.num_classes})")})
    elif output_shape[0] != dataset.num_classes:
        errors.append({"loc": [network_field], "msg": (
            f"network {network.name!r} has {output_shape[0]} outputs but dataset {dataset.name!r} has "
            f"{dataset.num_classes} classes; make the last layer dense with {dataset.num_classes} units")})
    return errors


def _shape(shape) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ")"
