"""The training step the worker calls, evaluation, and a small ``fit`` loop for scripts."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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

# The fewest images worth a thread of their own: below it the fixed cost of a pass through
# the layers outweighs the parallel work (measured on LeNet-5: 2x16 images ran slower than 1x32).
MIN_SHARD = 32

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
    samples; dropout masks use ``sample_offset + position``, so they are the same however the
    batch is split.

    ``threads`` splits each batch over that many threads, each with a replica of the network
    sharing the parameters (NumPy releases the GIL in its array work). Networks with batchnorm
    run in one piece, as batch statistics must see the whole batch.
    """

    def __init__(self, net: Network, optimizer_spec: dict | OptimizerSpec, schedule_spec=None,
                 total_steps: int | None = None, loss: str = "cross_entropy", gradients: GradientFn | None = None,
                 threads: int = 1):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, not {loss!r}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.net = net
        self.optimizer_spec = validate_spec(OptimizerSpec, optimizer_spec, "optimizer")
        self.optimizer = make_optimizer(self.optimizer_spec, net.params)
        self.schedule = make_schedule(schedule_spec, self.optimizer_spec.lr, total_steps)
        self.loss_name = loss
        self.gradients = gradients or self.compute_gradients
        self.step = 0
        self.sample_offset = 0
        self._whole_batch = any(layer.plan.type == "batchnorm" for layer in net.layers)
        self.threads = 1 if self._whole_batch else threads
        self._replicas: list[Network] = [net]
        self._pool: ThreadPoolExecutor | None = None
        self._summed = {key: np.zeros_like(value) for key, value in net.params.items()}

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
        """Forward and backward over ``x``; returns (loss_mean, correct, grads).

        The batch is cut into one shard per thread and each shard into micro-batches of at most
        ``MICRO_BATCH`` images; the loss gradient of each piece is scaled by its share of the
        batch, so the summed gradients equal the whole batch's.
        """
        offset = self.sample_offset if sample_offset is None else sample_offset
        y = np.asarray(y)
        batch = len(x)
        shards = min(self.threads, max(batch // MIN_SHARD, 1))
        if shards == 1:
            return self._shard_gradients(self.net, x, y, offset, batch)
        while len(self._replicas) < shards:
            self._replicas.append(self.net.replica())
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="convforge-shard")
        bounds = [batch * i // shards for i in range(shards + 1)]
        jobs = [self._pool.submit(self._shard_gradients, self._replicas[i], x[bounds[i]:bounds[i + 1]],
                                  y[bounds[i]:bounds[i + 1]], offset + bounds[i], batch)
                for i in range(shards)]
        results = [job.result() for job in jobs]
        summed = self._summed
        for key in summed:
            np.add(results[0][2][key], results[1][2][key], out=summed[key])
            for _, _, grads in results[2:]:
                summed[key] += grads[key]
        return sum(r[0] for r in results), sum(r[1] for r in results), summed

    def _shard_gradients(self, net: Network, x, y, offset: int, batch: int):
        """(this shard's share of the mean loss, correct, gradients) for images x of a batch of ``batch``."""
        size = len(x) if self._whole_batch else MICRO_BATCH
        loss_share, correct, summed = 0.0, 0, None
        for start in range(0, len(x), size):
            stop = min(start + size, len(x))
            output = net.forward(x[start:stop], training=True, sample_ids=np.arange(offset + start, offset + stop))
            loss, grad = self._loss(output, y[start:stop])
            share = (stop - start) / batch
            if share != 1.0:
                grad *= share
            net.backward(grad, need_input_grad=False)
            loss_share += loss * share
            correct += count_correct(output, y[start:stop])
            if stop == len(x) and summed is None:
                return loss_share, correct, net.grads
            if summed is None:
                summed = {key: value.copy() for key, value in net.grads.items()}
            else:
                for key, value in net.grads.items():
                    summed[key] += value
        return loss_share, correct, summed

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
        on_epoch: Callable[[dict], None] | None = None, threads: int = 1) -> list[dict]:
    """Train for ``epochs`` over shuffled mini-batches; returns one dict of metrics per epoch."""
    steps_per_epoch = -(-len(x) // batch_size)
    trainer = Trainer(net, optimizer, schedule, total_steps=epochs * steps_per_epoch, loss=loss,
                      threads=threads)
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
