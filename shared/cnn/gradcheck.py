"""Central finite differences, to check analytic gradients (use float64 networks)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .network import Network


def numerical_gradient(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d loss / d array by (f(a + eps) - f(a - eps)) / (2 eps), perturbing ``array`` in place."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat, grad_flat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = loss()
        flat[i] = original - eps
        minus = loss()
        flat[i] = original
        grad_flat[i] = (plus - minus) / (2 * eps)
    return grad


# Central differences with eps = 1e-6 on float64 carry rounding noise of about 1e-16 * |loss| / eps,
# some 1e-9 for the losses used here: ATOL stands well above it, RTOL well below any real bug.
RTOL, ATOL = 1e-5, 1e-7


def gradient_error(analytic: np.ndarray, numeric: np.ndarray, rtol: float = RTOL, atol: float = ATOL
                   ) -> float:
    """max |a - n| / (atol + rtol * |n|) over the elements: at most 1 when every element agrees
    within numpy's ``isclose`` tolerance. The absolute part lets a gradient that is truly zero
    (the numeric one then being rounding noise) compare as equal."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.max(np.abs(analytic - numeric) / (atol + rtol * np.abs(numeric))))


def check_gradients(net: Network, x: np.ndarray, seed: int = 0, training: bool = False,
                    eps: float = 1e-6) -> dict[str, float]:
    """``gradient_error`` per parameter and for the input (at most 1 is a pass), for
    loss = sum(output * R), R random.

    In training mode each evaluation uses the same sample ids, so dropout masks stay fixed.
    """
    x = np.array(x, dtype=np.float64)
    sample_ids = np.arange(len(x))
    weights = np.random.default_rng(seed).standard_normal(net.forward(x, False, sample_ids).shape)

    def loss() -> float:
        return float(np.sum(net.forward(x, training, sample_ids) * weights))

    snapshot = {k: v.copy() for k, v in net.buffers.items()}

    def restored_loss() -> float:
        for key, value in snapshot.items():  # batchnorm's running statistics move in training
            np.copyto(net.buffers[key], value)
        return loss()

    restored_loss()
    grad_input = net.backward(weights)
    analytic = {key: value.copy() for key, value in net.grads.items()}
    errors = {"input": gradient_error(grad_input, numerical_gradient(restored_loss, x, eps))}
    for key, param in net.params.items():
        errors[key] = gradient_error(analytic[key], numerical_gradient(restored_loss, param, eps))
    return errors
