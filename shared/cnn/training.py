"""The training step the worker calls, evaluation, and a small ``fit`` loop for scripts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .gradients import GradientEngine, InProcessGradients, Loss, check_loss, loss_and_gradient
from .network import Network
from .optimizers import OptimizerSpec, make_optimizer, validate_spec
from .schedules import make_schedule


@dataclass(frozen=True)
class StepResult:
    loss: float
    correct: int
    count: int
    lr: float


class Trainer:
    """One optimiser step per ``train_step(x, y)``.

    The gradients come from ``gradients``, a ``GradientEngine``: by default ``InProcessGradients``
    for ``loss``; the worker plugs in its data-parallel engine here. ``sample_offset`` is the
    global index of the next batch's first image in the stream of training samples; dropout masks
    follow it, so they are the same however an engine splits the batch.
    """

    def __init__(self, net: Network, optimizer_spec: dict | OptimizerSpec, schedule_spec=None,
                 total_steps: int | None = None, loss: Loss = "cross_entropy",
                 gradients: GradientEngine | None = None):
        check_loss(loss)
        if gradients is not None and gradients.loss != loss:
            raise ValueError(f"the gradient engine computes the {gradients.loss!r} loss, not {loss!r}")
        self.net = net
        self.optimizer_spec = validate_spec(OptimizerSpec, optimizer_spec, "optimizer")
        self.optimizer = make_optimizer(self.optimizer_spec, net.params)
        self.schedule = make_schedule(schedule_spec, self.optimizer_spec.lr, total_steps)
        self.gradients = gradients or InProcessGradients(net, loss)
        self.step = 0
        self.sample_offset = 0

    def train_step(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        lr = float(self.schedule(self.step))
        loss, correct, grads = self.gradients(x, y, self.sample_offset)
        self.optimizer.step(self.net.params, grads, lr=lr)
        self.step += 1
        self.sample_offset += len(x)
        return StepResult(float(loss), int(correct), len(x), lr)

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


def evaluate(net: Network, x: np.ndarray, y: np.ndarray, batch_size: int = 256,
             loss: Loss = "cross_entropy", mirror: bool = False) -> tuple[float, float, np.ndarray]:
    """(mean loss, accuracy, predicted class per sample) in evaluation mode; with ``mirror``, of the
    outputs averaged over each image and its mirror image (see ``mirrored_forward``)."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need the same non-zero number of inputs and targets, got {len(x)} and {len(y)}")
    total_loss, predictions = 0.0, []
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        output = mirrored_forward(net, batch) if mirror else net.forward(batch)
        batch_loss, _ = loss_and_gradient(loss, output, y[start:start + batch_size])
        total_loss += batch_loss * len(output)
        predictions.append(output.argmax(axis=1))
    predictions = np.concatenate(predictions)
    accuracy = float(np.mean(predictions == np.asarray(y))) if np.asarray(y).ndim == 1 else float("nan")
    return total_loss / len(x), accuracy, predictions


def mirrored_forward(net: Network, x: np.ndarray) -> np.ndarray:
    """The mean of the outputs for each image of a batch (N, C, H, W) and for its left-right mirror
    image: test-time augmentation for data whose classes do not change when flipped (clothes, scenes),
    one more forward pass for a smaller variance of the prediction."""
    if np.ndim(x) != 4:
        raise ValueError(f"mirrored outputs need images (N, C, H, W), got inputs of shape {np.shape(x)}")
    outputs = net.forward(x)  # forward returns a copy of its own, so the next pass cannot touch it
    outputs += net.forward(x[..., ::-1])
    outputs /= 2
    return outputs


def fit(net: Network, x: np.ndarray, y: np.ndarray, optimizer: dict, epochs: int = 1,
        batch_size: int = 128, schedule: dict | None = None, loss: Loss = "cross_entropy",
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
