"""Data-parallel training for one job: ``DataParallel(net, workers)``, a gradient engine.

``workers`` processes (the caller plus ``workers - 1`` shard processes) each compute the gradient of
one shard of every batch; the sum equals the single-process full-batch gradient. See
``data_parallel.py`` for the process model and ``segment.py`` for how shared memory is cleaned up.
"""
from __future__ import annotations

from worker.training.parallel.data_parallel import DataParallel, DataParallelError, shard_bounds

__all__ = ["DataParallel", "DataParallelError", "shard_bounds"]
