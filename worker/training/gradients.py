"""The one seam between a training job and data parallelism.

`open_gradients(net, workers)` yields what `Trainer(..., gradients=...)` takes: None for `workers == 1`
(the Trainer computes gradients in-process), otherwise the data-parallel strategy from `worker.training.parallel`,
imported only when asked for. `worker.training.parallel.open_gradients(net, workers)` is a context manager that
starts its processes on entry and stops them (and frees shared memory) on exit, also on errors.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def open_gradients(net, workers: int) -> Iterator[object | None]:
    if workers == 1:
        yield None
        return
    from worker.training import parallel  # lazy: single-process jobs never load it

    with parallel.open_gradients(net, workers) as gradients:
        yield gradients
