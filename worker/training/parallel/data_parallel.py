"""Synchronous data parallelism, the worker's gradient engine for ``Trainer(gradients=...)``: each
batch is cut into shards, one per process, each runs ``shared.cnn.gradients.shard_gradient``, and
the shards' gradients are summed before the single update the Trainer applies.

The calling process computes the first shard itself on the live network; ``workers - 1`` shard
processes compute the others. They start once per job and share three things through memory
mapped segments, never pickled per step: the weights (written by the parent before every step),
the batch rows of their shards, and one gradient slot per process.

Batchnorm uses the statistics of each shard (as PyTorch's DistributedDataParallel does without
SyncBatchNorm): a network with batchnorm gets per-shard normalisation, so its gradient depends
on the number of workers. Running means are the exact full-batch update (shard updates averaged
by shard size); running variances are the size-weighted average of the shard variances.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from shared.cnn.gradients import BatchGradient, Loss, check_loss, shard_gradient
from shared.cnn.kernels.threads import engine_threads
from worker.training.params import worker_cores
from worker.training.parallel.segment import Segment, sweep_stale_segments

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                         "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
STOP_GRACE_SECONDS = 5.0
# The directory that holds the `worker` and `shared` packages, for the shard processes' imports.
PROJECT_ROOT = str(Path(__file__).resolve().parents[3])

log = logging.getLogger(__name__)


class DataParallelError(RuntimeError):
    """A shard process failed or vanished; the message names its exception or exit status."""


def shard_bounds(batch_size: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous cuts, the first ones one image larger when the batch does not divide evenly."""
    base, extra = divmod(batch_size, shards)
    bounds, start = [], 0
    for index in range(shards):
        stop = start + base + (index < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


class _Shard:
    """The parent's handle on one shard process."""

    def __init__(self, env: dict[str, str]):
        parent_end, child_end = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "worker.training.parallel.shard_process",
                 str(child_end.fileno()), str(os.getpid())],
                # cwd: `-m` puts the working directory first on sys.path; the project's must win.
                pass_fds=[child_end.fileno()], env=env, cwd=PROJECT_ROOT)
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self.conn = Connection(parent_end.detach())

    def request(self, *message) -> None:
        try:
            self.conn.send(message)
        except OSError:
            raise self._vanished() from None

    def reply(self) -> tuple:
        try:
            answer = self.conn.recv()
        except (EOFError, OSError):
            raise self._vanished() from None
        if answer[0] == "error":
            # The whole traceback goes to the log; the error names the exception in one line.
            log.error("shard process %d failed:\n%s", self.process.pid, answer[1])
            cause = answer[1].strip().splitlines()[-1]
            raise DataParallelError(f"shard process {self.process.pid} failed: {cause}")
        return answer

    def _vanished(self) -> DataParallelError:
        try:
            status = f"exited with status {self.process.wait(timeout=STOP_GRACE_SECONDS)}"
        except subprocess.TimeoutExpired:
            status = "closed its connection"
        return DataParallelError(f"shard process {self.process.pid} {status}")

    def stop(self) -> None:
        try:
            self.conn.send(("stop",))
        except OSError:
            pass
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.conn.close()


class DataParallel:
    """A ``GradientEngine`` over ``workers`` processes: this one and ``workers - 1`` shard processes,
    started here.

    ``grads`` (the same dict every call) holds the full-batch gradient. Use as a context manager (or call
    ``close()``): it stops the shard processes and frees the shared memory, also after errors.
    """

    def __init__(self, net, workers: int, loss: Loss = "cross_entropy"):
        if workers < 2:
            raise ValueError(f"data parallelism needs at least 2 workers, not {workers}")
        self.net = net
        self.workers = workers
        self.loss = check_loss(loss)
        # the processes share the cores: each computes its shard on its share of them, this one included
        self.engine_threads = max(1, worker_cores() // workers)
        self._blas = ThreadpoolController()
        self._shards: list[_Shard] = []
        self._model: Segment | None = None
        self._batch: Segment | None = None
        self.grads = {name: np.zeros_like(grad) for name, grad in net.grads.items()}
        if workers > worker_cores():
            log.warning("workers=%d but this worker may use only %d cores: each step waits for "
                        "processes that share a core", workers, worker_cores())
        sweep_stale_segments()
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        env = {**os.environ, **{name: "1" for name in BLAS_THREAD_VARIABLES}}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PROJECT_ROOT, env.get("PYTHONPATH")]))
        self._shards = [_Shard(env) for _ in range(self.workers - 1)]
        net = self.net
        for slot, shard in enumerate(self._shards):
            shard.request("init", slot, net.definition, net.seed, net.dtype.name, self.loss, self.engine_threads)
        for shard in self._shards:
            shard.reply()
        arrays = [(f"param:{k}", v.shape, v.dtype) for k, v in net.params.items()]
        arrays += [(f"buffer:{k}", v.shape, v.dtype) for k, v in net.buffers.items()]
        for slot in range(len(self._shards)):
            arrays += [(f"grad{slot}:{k}", v.shape, v.dtype) for k, v in net.grads.items()]
            arrays += [(f"buffer{slot}:{k}", v.shape, v.dtype) for k, v in net.buffers.items()]
        self._model = self._share("model", arrays)
        log.info("data parallel: %d processes, this one (%d) and shard processes %s", self.workers,
                 os.getpid(), self.shard_pids)

    @property
    def shard_pids(self) -> list[int]:
        return [shard.process.pid for shard in self._shards]

    def _share(self, role: str, arrays) -> Segment:
        """Create a segment, have every shard process map it, then unlink its name."""
        segment = Segment.create(arrays)
        try:
            for shard in self._shards:
                shard.request("attach", role, segment.path, segment.specs, segment.size)
            for shard in self._shards:
                shard.reply()
        finally:
            segment.unlink()
        return segment

    def _stage_batch(self, x: np.ndarray, y: np.ndarray, first_row: int) -> None:
        """Copy the shard processes' rows of the batch into shared memory (the parent's stay put)."""
        batch = self._batch
        if (batch is None or len(batch.arrays["x"]) < len(x)
                or batch.arrays["x"].shape[1:] != x.shape[1:]
                or batch.arrays["x"].dtype != x.dtype or batch.arrays["y"].dtype != y.dtype):
            if batch is not None:
                batch.close()
                self._batch = None
            self._batch = batch = self._share(
                "batch", [("x", x.shape, x.dtype), ("y", y.shape, y.dtype)])
        batch.arrays["x"][first_row:len(x)] = x[first_row:]
        batch.arrays["y"][first_row:len(y)] = y[first_row:]

    def __call__(self, x: np.ndarray, y: np.ndarray, first_sample_id: int) -> BatchGradient:
        """One batch's (loss_mean, correct, grads); ``first_sample_id`` is the global index of
        ``x[0]`` in the sample stream (dropout masks follow it)."""
        net, model = self.net, self._model.arrays
        x, y = np.asarray(x), np.asarray(y)
        batch_size = len(y)
        own, *others = shard_bounds(batch_size, self.workers)
        busy = [(slot, bounds) for slot, bounds in enumerate(others) if bounds[1] > bounds[0]]

        self._stage_batch(x, y, own[1])
        for name, value in net.params.items():
            np.copyto(model[f"param:{name}"], value)
        for name, value in net.buffers.items():
            np.copyto(model[f"buffer:{name}"], value)
        for slot, (start, stop) in busy:
            self._shards[slot].request("step", start, stop, batch_size, first_sample_id)

        with self._blas.limit(limits=1, user_api="blas"), engine_threads(self.engine_threads):
            loss_sum, correct = shard_gradient(net, x[:own[1]], y[:own[1]], first_sample_id,
                                               batch_size, self.grads, self.loss)
        for slot, _ in busy:
            _, shard_loss, shard_correct = self._shards[slot].reply()
            loss_sum += shard_loss
            correct += shard_correct
        for name, grad in self.grads.items():
            for slot, _ in busy:
                grad += model[f"grad{slot}:{name}"]
        for name, buffer in net.buffers.items():
            buffer *= own[1] / batch_size
            for slot, (start, stop) in busy:
                buffer += (stop - start) / batch_size * model[f"buffer{slot}:{name}"]
        return loss_sum / batch_size, correct, self.grads

    def close(self) -> None:
        """Stop every shard process and free the shared memory. Safe to call more than once."""
        shards, self._shards = self._shards, []
        for shard in shards:
            shard.stop()
        for segment in (self._model, self._batch):
            if segment is not None:
                segment.unlink()
                segment.close()
        self._model = self._batch = None

    def __enter__(self) -> "DataParallel":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
