"""The training loop of one job: batches in a seeded order, one Trainer step each, metrics, progress,
cancellation, checkpoints and resume.

A run is a pure function of (definition, data, params): the data order comes from `epoch_order(seed,
epoch)`, augmentation from a generator seeded by (seed, epoch, step), and everything else that changes
while training (weights, optimizer state, the position in the data, the metric window) is in the
checkpoint. So a job resumed from its checkpoint ends with the same weights as an uninterrupted run.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from shared.cnn import Trainer, build_network
from shared.data.pipeline import epoch_order, prepare_batch, split_indices
from shared.jobs import TrainParams
from worker.lifecycle.errors import JobCancelled, JobFailed, ShutdownRequested
from worker.lifecycle.lease import JobLease
from worker.metrics import observe_step
from worker.training.gradients import gradient_engine
from worker.training.job_checkpoints import JobCheckpoints
from worker.training.scoring import score

# Progress, heartbeat and the cancel flag are synced at most this often: cheap, and prompt enough.
SYNC_SECONDS = 0.5


@dataclass(frozen=True)
class TrainingData:
    x_train: np.ndarray
    y_train: np.ndarray
    mean: list[float]
    std: list[float]


@dataclass
class Position:
    """Where a run is; saved in every checkpoint."""

    epoch: int = 0  # 0-based epoch being run
    step_in_epoch: int = 0  # steps finished within that epoch
    global_step: int = 0
    seq: int = 0  # last metric seq written
    # Train metrics since the last logged point.
    window_loss: float = 0.0
    window_correct: int = 0
    window_count: int = 0


class TrainingRun:
    def __init__(self, definition: dict, data: TrainingData, params: TrainParams, lease: JobLease,
                 checkpoints: JobCheckpoints, stop_requested: threading.Event):
        self.data = data
        self.lease = lease
        self.checkpoints = checkpoints
        self.stop_requested = stop_requested
        self.train_idx, self.val_idx = split_indices(len(data.y_train), params.validation_split, params.seed)
        self.steps_per_epoch = math.ceil(len(self.train_idx) / params.batch_size)
        self.total_steps = params.epochs * self.steps_per_epoch
        self.log_every = params.log_interval(self.steps_per_epoch)
        # Every parameter now has the value this run uses; the job's row is given these (see train_job.py).
        self.params = params.model_copy(update={"log_every_steps": self.log_every})
        self.augment = params.augment.model_dump()
        self.net = build_network(definition, seed=params.seed)
        self.position = Position()
        self.lr = float(params.optimizer.lr)
        self.latest: dict = {}  # the job row's latest_metrics

    def run(self):
        """Train to the end and return the network; raises JobCancelled, ShutdownRequested, JobFailed."""
        loss = self.params.loss()
        with gradient_engine(self.net, self.params.workers, loss) as gradients:
            try:
                trainer = Trainer(self.net, self.params.optimizer, self.params.schedule,
                                  total_steps=self.total_steps, loss=loss, gradients=gradients)
            except ValueError as exc:  # the engine's message names the optimizer or schedule field
                raise JobFailed(f"cannot start training: {exc}") from exc
            self._resume(trainer)
            self._loop(trainer)
        return self.net

    # -- resume and checkpoints -------------------------------------------------------------------

    def _resume(self, trainer: Trainer) -> None:
        state = self.checkpoints.load()
        if state is not None:
            self.net.load_params(state["weights"])
            trainer.load_state_dict(state["trainer"])
            self.position = Position(**state["position"])
        # Rows a vanished attempt logged after its checkpoint are logged again by this run.
        self.lease.discard_metrics_after(self.position.seq)

    def _checkpoint(self, trainer: Trainer) -> None:
        self.checkpoints.save({
            "weights": self.net.state_arrays(),
            "trainer": trainer.state_dict(),
            "position": asdict(self.position),
        })

    # -- the loop ---------------------------------------------------------------------------------

    def _loop(self, trainer: Trainer) -> None:
        params, position = self.params, self.position
        self.started = time.monotonic()
        self.first_step = position.global_step
        self.window_started = time.monotonic()
        self._sync(force=True)
        while position.epoch < params.epochs:
            order = epoch_order(self.train_idx, params.seed, position.epoch)
            while position.step_in_epoch < self.steps_per_epoch:
                self._step(trainer, order)
                if self.stop_requested.is_set():
                    self._checkpoint(trainer)
                    raise ShutdownRequested()
                if position.global_step % params.checkpoint_every_steps == 0:
                    self._checkpoint(trainer)
            self._end_epoch(trainer)

    def _step(self, trainer: Trainer, order: np.ndarray) -> None:
        params, position = self.params, self.position
        start = position.step_in_epoch * params.batch_size
        chosen = np.sort(order[start:start + params.batch_size])  # sorted reads are kinder to a memmap
        rng = np.random.default_rng([params.seed, position.epoch, position.step_in_epoch])
        batch = prepare_batch(self.data.x_train[chosen], self.data.mean, self.data.std,
                              augment=self.augment, rng=rng)
        step_started = time.perf_counter()
        result = trainer.train_step(batch, np.asarray(self.data.y_train[chosen]))
        observe_step(time.perf_counter() - step_started, len(chosen))
        self.lr = float(result.lr)
        if not math.isfinite(float(result.loss)):
            word = "NaN" if math.isnan(float(result.loss)) else "infinite"
            raise JobFailed(f"loss became {word} at epoch {position.epoch + 1} step {position.step_in_epoch + 1}; "
                            f"try a smaller learning rate (now {self.lr:g})")
        position.step_in_epoch += 1
        position.global_step += 1
        position.window_loss += float(result.loss) * int(result.count)
        position.window_correct += int(result.correct)
        position.window_count += int(result.count)
        if position.global_step % self.log_every == 0 or position.step_in_epoch == self.steps_per_epoch:
            self._log_train()
        else:
            self._sync()

    def _end_epoch(self, trainer: Trainer) -> None:
        position = self.position
        metrics = []
        if len(self.val_idx):
            loss, accuracy, _ = score(self.net, self.data.x_train, self.data.y_train, self.data.mean,
                                      self.data.std, self.val_idx, between_chunks=self._sync,
                                      batch_size=self.params.scoring_batch_size,
                                      mirror=self.params.test_time_flip)
            position.seq += 1
            metrics.append(self._metric("val", loss, accuracy, images_per_second=None))
        position.epoch += 1
        position.step_in_epoch = 0
        cancel = self.lease.record(metrics, **self._progress(), latest_metrics=self._latest(metrics))
        self._checkpoint(trainer)
        if cancel:
            raise JobCancelled()

    # -- reporting --------------------------------------------------------------------------------

    def _log_train(self) -> None:
        position = self.position
        now = time.monotonic()
        position.seq += 1
        metric = self._metric("train", position.window_loss / position.window_count,
                              position.window_correct / position.window_count,
                              images_per_second=position.window_count / max(now - self.window_started, 1e-9))
        position.window_loss, position.window_correct, position.window_count = 0.0, 0, 0
        self.window_started = now
        self.last_sync = now
        if self.lease.record([metric], **self._progress(), latest_metrics=self._latest([metric])):
            raise JobCancelled()

    def _metric(self, kind: str, loss: float, accuracy: float, images_per_second: float | None) -> dict:
        return {"seq": self.position.seq, "kind": kind, "epoch": self.position.epoch + 1,
                "step": self.position.global_step, "loss": float(loss), "accuracy": float(accuracy),
                "learning_rate": self.lr, "images_per_second": images_per_second}

    def _latest(self, metrics: list[dict]) -> dict:
        latest = dict(self.latest)
        for metric in metrics:
            prefix = "" if metric["kind"] == "train" else "val_"
            latest.update({f"{prefix}loss": metric["loss"], f"{prefix}accuracy": metric["accuracy"]})
            if metric["kind"] == "train":
                latest.update(learning_rate=metric["learning_rate"],
                              images_per_second=metric["images_per_second"])
        self.latest = latest
        return latest

    def _progress(self) -> dict:
        position = self.position
        done = position.global_step - self.first_step
        elapsed = time.monotonic() - self.started
        remaining = self.total_steps - position.global_step
        eta = elapsed / done * remaining if done else None
        return {"epoch": min(position.epoch + 1, self.params.epochs), "epochs": self.params.epochs,
                "step": position.global_step, "steps": self.total_steps, "eta_seconds": eta}

    def _sync(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_sync < SYNC_SECONDS:
            return
        self.last_sync = now
        self.lease.check_in(**self._progress())
