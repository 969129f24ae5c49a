"""Data-parallel training for one job: ``open_data_parallel(net, workers)``.

``workers`` processes (the caller plus ``workers - 1`` shard processes) each compute the gradient of
one shard of every batch; the sum equals the single-process full-batch gradient. See
``data_parallel.py`` for the process model and ``segment.py`` for how shared memory is cleaned up.
"""
from __future__ import annotations

from worker.training.parallel.data_parallel import DataParallel, DataParallelError, open_data_parallel, shard_bounds

# The name the training job's seam (worker/training/gradients.py) calls.
open_gradients = open_data_parallel

__all__ = ["DataParallel", "DataParallelError", "open_data_parallel", "open_gradients", "shard_bounds"]
