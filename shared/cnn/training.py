"""The training step the worker calls, evaluation, and a small ``fit`` loop for scripts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .losses import mean_squared_error, softmax_cross_entropy
from .network import Network
from .optimizers import OptimizerSpec, make_optimizer, validate_spec
from .schedules import make_schedule

LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mean_squared_error}

# Images per forward/backward pass inside one step: larger batches are cut into pieces of this
# size and their gradients summed, which keeps the working set in cache (not with batchnorm,
# whose statistics must see the whole batch).
MICRO_BATCH = 128

GradientFn = Callable[[np.ndarray, np.ndarray], tuple[float, int, dict[str, np.ndarray]]]


@dataclass(frozen=True)
class StepResult:
    loss: float
    correct: int
    count: int
    lr: float


class Trainer:
    """One optimiser step per ``train_step(x, y)``.

    ``gradients``, if given, replaces the in-process forward/backward: a callable
    ``(x, y) -> (loss_mean, correct, grads)`` (the data-parallel trainer plugs in here). Before
    each step ``sample_offset`` is the global index of ``x[0]`` in the stream of training
    samples, so dropout masks can be made the same however the batch is split.
    """

    def __init__(self, net: Network, optimizer_spec: dict | OptimizerSpec, schedule_spec=None,
                 total_steps: int = 1, loss: str = "cross_entropy", gradients: GradientFn | None = None):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, not {loss!r}")
        self.net = net
        self.optimizer_spec = validate_spec(OptimizerSpec, optimizer_spec, "optimizer")
        self.optimizer = make_optimizer(self.optimizer_spec, net.params)
        self.schedule = make_schedule(schedule_spec, self.optimizer_spec.lr, total_steps)
        self.loss_name = loss
        self.gradients = gradients or self.compute_gradients
        self.step = 0
        self.sample_offset = 0
        self._uses_batch_statistics = any(layer.plan.type == "batchnorm" for layer in net.layers)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        lr = float(self.schedule(self.step))
        loss, correct, grads = self.gradients(x, y)
        self.optimizer.step(self.net.params, grads, lr=lr)
        self.step += 1
        self.sample_offset += len(x)
        return StepResult(float(loss), int(correct), len(x), lr)

    def compute_gradients(self, x, y, sample_offset: int | None = None):
        """Forward and backward over ``x`` in micro-batches; returns (loss_mean, correct, grads)."""
        offset = self.sample_offset if sample_offset is None else sample_offset
        batch = len(x)
        size = batch if self._uses_batch_statistics else MICRO_BATCH
        if batch <= size:
            return self._pass(x, y, offset, 1.0)
        total_loss, total_correct, summed = 0.0, 0, None
        for start in range(0, batch, size):
            stop = min(start + size, batch)
            loss, correct, grads = self._pass(x[start:stop], y[start:stop], offset + start,
                                              (stop - start) / batch)
            total_loss += loss * (stop - start) / batch
            total_correct += correct
            if summed is None:
                summed = {key: value.copy() for key, value in grads.items()}
            else:
                for key, value in grads.items():
                    summed[key] += value
        return total_loss, total_correct, summed

    def _pass(self, x, y, offset, weight):
        net = self.net
        output = net.forward(x, training=True, sample_ids=np.arange(offset, offset + len(x)))
        loss, grad = self._loss(output, y)
        if weight != 1.0:
            grad *= weight
        net.backward(grad, need_input_grad=False)
        return loss, count_correct(output, y), net.grads

    def _loss(self, output, y):
        y = np.asarray(y)
        if self.loss_name == "mse" and y.ndim == 1 and output.ndim == 2 and np.issubdtype(y.dtype, np.integer):
            y = np.eye(output.shape[1], dtype=output.dtype)[y]
        return LOSSES[self.loss_name](output, y)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {f"optimizer.{k}": v for k, v in self.optimizer.state_dict().items()}
        state["step"] = np.array(self.step, dtype=np.int64)
        state["sample_offset"] = np.array(self.sample_offset, dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.step = int(state["step"])
        self.sample_offset = int(state.get("sample_offset", 0))
        self.optimizer.load_state_dict({k[len("optimizer."):]: v for k, v in state.items()
                                        if k.startswith("optimizer.")})


def count_correct(output: np.ndarray, y: np.ndarray) -> int:
    y = np.asarray(y)
    if output.ndim != 2 or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return 0
    return int(np.count_nonzero(output.argmax(axis=1) == y))


def evaluate(net: Network, x: np.ndarray, y: np.ndarray, batch_size: int = 256,
             loss: str = "cross_entropy") -> tuple[float, float, np.ndarray]:
    """(mean loss, accuracy, predicted class per sample) in evaluation mode."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need the same non-zero number of inputs and targets, got {len(x)} and {len(y)}")
    total_loss, predictions = 0.0, []
    for start in range(0, len(x), batch_size):
        output = net.forward(x[start:start + batch_size])
        target = np.asarray(y[start:start + batch_size])
        if loss == "mse" and target.ndim == 1:
            target = np.eye(output.shape[1], dtype=output.dtype)[target]
        batch_loss, _ = LOSSES[loss](output, target)
        total_loss += batch_loss * len(output)
        predictions.append(output.argmax(axis=1))
    predictions = np.concatenate(predictions)
    accuracy = float(np.mean(predictions == np.asarray(y))) if np.asarray(y).ndim == 1 else float("nan")
    return total_loss / len(x), accuracy, predictions


def fit(net: Network, x: np.ndarray, y: np.ndarray, optimizer: dict, epochs: int = 1,
        batch_size: int = 128, schedule: dict | None = None, loss: str = "cross_entropy",
        seed: int = 0, validation: tuple[np.ndarray, np.ndarray] | None = None,
        on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Train for ``epochs`` over shuffled mini-batches; returns one dict of metrics per epoch."""
    steps_per_epoch = -(-len(x) // batch_size)
    trainer = Trainer(net, optimizer, schedule, total_steps=epochs * steps_per_epoch, loss=loss)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        loss_sum, correct = 0.0, 0
        for start in range(0, len(x), batch_size):
            index = np.sort(order[start:start + batch_size])
            result = trainer.train_step(x[index], y[index])
            loss_sum += result.loss * result.count
            correct += result.correct
        record = {"epoch": epoch, "loss": loss_sum / len(x), "accuracy": correct / len(x)}
        if validation is not None:
            record["val_loss"], record["val_accuracy"], _ = evaluate(net, *validation, loss=loss)
        history.append(record)
        if on_epoch:
            on_epoch(record)
    return history
