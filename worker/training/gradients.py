"""Where a training job's gradients come from: this process for one worker, else shard processes too.

`gradient_engine(net, workers, loss)` returns what `Trainer(..., gradients=...)` takes, a context manager
that stops the processes it started (and frees their shared memory) on exit, also on errors.
"""
from __future__ import annotations

from shared.cnn.gradients import GradientEngine, InProcessGradients, Loss
from worker.training.parallel import DataParallel


def gradient_engine(net, workers: int, loss: Loss = "cross_entropy") -> GradientEngine:
    return InProcessGradients(net, loss) if workers == 1 else DataParallel(net, workers, loss)
