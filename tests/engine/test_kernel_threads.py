"""The engine holds BLAS to one thread while it computes and gives the caller's setting back."""
import os
import threading

import numpy as np
import pytest

from shared.cnn import build_network
from shared.cnn.kernels.threads import engine_threads, limit_engine_threads, run_split, single_blas_thread, worker_count

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]


def test_blas_is_one_thread_inside_nested_blocks_and_restored_after():
    with threadpoolctl.threadpool_limits(2, "blas"):
        before = blas_threads()
        with single_blas_thread():
            with single_blas_thread():
                assert blas_threads() == [1] * len(before)
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before


def test_other_threads_leave_the_setting_alone():
    with threadpoolctl.threadpool_limits(2, "blas"):
        before = blas_threads()
        seen = []

        def run():
            with single_blas_thread():
                seen.append(blas_threads())

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        assert seen == [before] and blas_threads() == before


def test_a_training_pass_leaves_the_blas_setting_as_it_was():
    net = build_network({"input_shape": [2, 6, 6], "layers": [
        {"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": 1}, {"type": "flatten"},
        {"type": "dense", "units": 2}]})
    with threadpoolctl.threadpool_limits(2, "blas"):
        before = blas_threads()
        net.backward(np.ones((4, 2), np.float32) * net.forward(np.ones((4, 2, 6, 6), np.float32), training=True))
        assert blas_threads() == before


def test_run_split_runs_every_part_once_and_keeps_their_order():
    seen = []
    results = run_split(lambda part, parts: seen.append((part, parts)) or part, 5)
    assert results == list(range(len(results)))
    assert sorted(seen) == [(part, len(results)) for part in range(len(results))]
    assert run_split(lambda part, parts: (part, parts), 1) == [(0, 1)]


def test_an_engine_thread_limit_keeps_the_pieces_on_the_calling_thread_inside_its_block():
    cores = len(os.sched_getaffinity(0))
    with engine_threads(1):
        threads = set()
        assert run_split(lambda part, parts: threads.add(threading.get_ident()) or parts, 4) == [1]
        assert threads == {threading.get_ident()} and worker_count() == 1
    assert worker_count() == cores
    try:
        limit_engine_threads(1)
        assert worker_count() == 1
    finally:
        limit_engine_threads(None)
    assert worker_count() == cores
