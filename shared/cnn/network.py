"""``Network``: the layers of a definition, run forward and backward on NCHW batches."""
from __future__ import annotations

import functools

import numpy as np

from .definition import NetworkDefinition, parse_schema
from .gradients import bytes_per_image
from .kernels.threads import single_blas_thread
from .kernels.memory import pooling_convolutions
from .layers.activations import ReLU
from .layers.base import ForwardContext, gather_state
from .layers.conv2d import Conv2D
from .layers.pooling import MaxPool2D
from .layers.registry import layer_type
from .summary import NetworkSummary, summarize

DTYPES = {"float32": np.float32, "float64": np.float64}


class Network:
    """Built by ``build_network``.

    ``params``/``grads``/``buffers`` map ``"<layer>.<key>"`` to the live arrays the layers use:
    writing into them in place (``np.copyto``) changes the network. ``backward`` overwrites
    ``grads`` in place, so the dict and its arrays stay the same objects.

    Dropout masks depend on (seed, layer, sample id, element). Pass ``sample_ids`` (each image's
    global index, e.g. its position in the epoch's sample stream) to make them independent of how
    a batch is split; without it, training calls number images consecutively from ``samples_seen``.
    """

    def __init__(self, definition: NetworkDefinition, summary: NetworkSummary, seed: int, dtype):
        self.definition = definition
        self.summary = summary
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self.input_shape = tuple(definition.input_shape)
        rng = np.random.default_rng(seed)
        self.layers = [layer_type(plan.type).compute(plan, self.dtype, rng) for plan in summary.plans]
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        gather_state(self.layers, self.params, self.grads, self.buffers)
        self.execution_order = _execution_order(self.layers)
        _fuse_rectifiers(self.execution_order)
        _fuse_pools(self.layers)
        self.samples_seen = 0

    @functools.cached_property
    def pass_bytes_per_image(self) -> int | None:
        """A training pass's working memory per image (see ``gradients.images_per_pass``)."""
        return bytes_per_image(self.summary.plans)

    # -- computation -------------------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False, sample_ids: np.ndarray | None = None
                ) -> np.ndarray:
        """NCHW (or (N, F) for a flat input) -> (N, outputs) or (N, C, H, W).

        uint8 images are scaled to [0, 1]; any other type (floats, other integers) is used as given.
        """
        x = self._check_input(x)
        batch = x.shape[0]
        if sample_ids is None:
            sample_ids = np.arange(self.samples_seen, self.samples_seen + batch)
        else:
            sample_ids = np.asarray(sample_ids)
            if sample_ids.shape != (batch,):
                raise ValueError(f"sample_ids has shape {sample_ids.shape}, expected ({batch},)")
        if training:
            self.samples_seen += batch
        ctx = ForwardContext(training=training, sample_ids=sample_ids, seed=self.seed)
        feature_map = _to_internal(x)
        with single_blas_thread():  # the layers share the cores among their own threads
            for layer in self.execution_order:
                feature_map = layer.forward(feature_map, ctx)
        return _to_external(feature_map)

    def backward(self, grad_output: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Gradient of the loss with respect to the last ``forward`` output -> input gradient.

        Fills ``grads``. With ``need_input_grad=False`` the first layer skips its input gradient
        (training never needs it) and None is returned.
        """
        grad = _to_internal(np.asarray(grad_output, dtype=self.dtype))
        order = self.execution_order
        with single_blas_thread():
            for position in range(len(order) - 1, -1, -1):
                grad = order[position].backward(grad, need_input_grad or position > 0)
        return _to_external(grad) if need_input_grad else None

    def _check_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{self.definition.name} expects input of shape (batch, "
                             f"{', '.join(map(str, self.input_shape))}) but got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError("the batch is empty")
        if x.dtype == np.uint8:
            return x.astype(self.dtype) * self.dtype.type(1 / 255)
        return x.astype(self.dtype, copy=False)

    # -- state -------------------------------------------------------------------------------

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Parameters and buffers (the live arrays), for checkpoints and ``save_model``."""
        return {**self.params, **self.buffers}

    def load_params(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy parameters (and buffers, if present) into the live arrays, checking every shape."""
        state = self.state_arrays()
        missing = [key for key in self.params if key not in arrays]
        unknown = [key for key in arrays if key not in state]
        if missing or unknown:
            raise ValueError(f"parameters do not match {self.definition.name}: missing {missing}, "
                             f"unknown {unknown}")
        for key, value in arrays.items():
            value = np.asarray(value)
            if value.shape != state[key].shape:
                raise ValueError(f"{key} has shape {value.shape}, expected {state[key].shape}")
            np.copyto(state[key], value, casting="same_kind")

    def __repr__(self) -> str:
        return f"Network({self.definition.name!r}, {len(self.layers)} layers, {self.summary.total_params:,} params)"


def _execution_order(layers: list) -> list:
    """The layers in the order they run: a ReLU directly before a max pool runs after it.

    ReLU never decreases, so max(relu(a), relu(b)) = relu(max(a, b)) exactly, and the gradients
    agree, ties included (wherever the window's maximum is <= 0 both give zero); the ReLU then
    touches a feature map pool_size times smaller.
    """
    order = list(layers)
    for position in range(len(order) - 1):
        if isinstance(order[position], ReLU) and isinstance(order[position + 1], MaxPool2D):
            order[position], order[position + 1] = order[position + 1], order[position]
    return order


def _fuse_rectifiers(order: list) -> None:
    """A ReLU that runs just before a convolution is done by the convolution, as it copies its input
    into its zero frame: one pass over the feature map and one map of memory fewer. The ReLU passes
    its input on and still routes the gradient (colour 3x32x32 network, batch 32: its three ReLUs
    before convolutions took 2.1 of 69 ms)."""
    for first, second in zip(order, order[1:]):
        if isinstance(first, ReLU) and isinstance(second, Conv2D):
            second.rectify_input()
            first.passes_input = True


def _fuse_pools(layers: list) -> None:
    """A 2x2 max pool after a Winograd convolution is done by the convolution, from its tile
    outputs (kernels/winograd_pool.py): the full-size map is neither written nor read, nor is its
    gradient. The pool passes its input and gradient on."""
    for conv_at, pool_at in pooling_convolutions([layer.plan for layer in layers]).items():
        layers[conv_at].kernel.pool = True
        layers[pool_at].passes_input = True


def _to_internal(x: np.ndarray) -> np.ndarray:
    """NCHW -> CHWN, (N, F) -> (F, N); always a copy, which layers may then overwrite."""
    return np.array(x.transpose(*range(1, x.ndim), 0), order="C")


def _to_external(x: np.ndarray) -> np.ndarray:
    # always a copy: layers reuse their buffers on the next call
    return np.array(x.transpose(x.ndim - 1, *range(x.ndim - 1)), order="C")


def build_network(definition: dict | NetworkDefinition, seed: int = 0, dtype: str = "float32"
                  ) -> Network:
    """Validate ``definition`` and allocate its weights (He or Xavier, from ``seed``)."""
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    parsed = parse_schema(definition)
    return Network(parsed, summarize(parsed), int(seed), DTYPES[name])
