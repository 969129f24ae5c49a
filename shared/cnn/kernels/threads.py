"""The engine's own threads: the pieces of a convolution shared among the cores.

Many small GEMMs run badly on BLAS's threads, which must all be scheduled at once for every
call: on a busy machine each call waits for a core and a step ran 10-20x slower than on one
BLAS thread. So the engine holds BLAS to one thread while it computes (``single_blas_thread``)
and splits its pieces over its own threads, which sleep rather than spin while they wait.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None
_controller = None
_depth = 0  # single_blas_thread blocks open on the main thread
_limit = None
_engine_threads: int | None = None  # set by limit_engine_threads and engine_threads


def _cores() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def worker_count() -> int:
    return min(_cores(), _engine_threads) if _engine_threads else _cores()


def limit_engine_threads(count: int | None) -> None:
    """At most ``count`` engine threads from now on in this process (None: one per core).
    Processes that split the cores among themselves (data parallelism) each take their share:
    two processes of two engine threads each on two cores trained a ResNet 7% slower than two
    of one thread."""
    global _engine_threads
    _engine_threads = count


@contextlib.contextmanager
def engine_threads(count: int | None):
    """``limit_engine_threads(count)`` inside the block only."""
    previous = _engine_threads
    limit_engine_threads(count)
    try:
        yield
    finally:
        limit_engine_threads(previous)


def run_split(work, count: int) -> list:
    """``work(part, parts)`` for each part of ``parts`` (at most ``count``), side by side; their results in order."""
    global _pool
    parts = min(worker_count(), count)
    if parts <= 1:
        return [work(0, 1)]
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_cores(), thread_name_prefix="convforge-kernel")
    jobs = [_pool.submit(work, part, parts) for part in range(1, parts)]
    first = work(0, parts)
    return [first] + [job.result() for job in jobs]


def _blas_controller():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def single_blas_thread():
    """BLAS held to one thread per call inside the block, when entered on the main thread and
    threadpoolctl is installed. (OpenBLAS's thread count is set from the main thread: a setting
    made on another thread was not seen by the main one. Code that runs networks on its own
    threads sets BLAS's threads itself, as ``Trainer(threads=...)`` asks.)"""
    global _depth, _limit
    if threading.current_thread() is not threading.main_thread() or not _blas_controller():
        yield
        return
    if _depth == 0:
        _limit = _controller.limit(limits=1, user_api="blas")
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            _limit.restore_original_limits()
            _limit = None
