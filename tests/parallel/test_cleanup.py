"""No shard process and no shared-memory segment outlives a job: normal end, failure, killed shard,
killed parent. (The autouse fixture in conftest.py also checks after every test.)"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import psutil
import pytest

from shared.cnn import build_network
from shared.cnn.kernels.threads import worker_count
from tests.parallel.conftest import ROOT, SMALL_CONV, random_batch, segments_of, shard_processes
from worker.training.parallel import DataParallel, DataParallelError
from worker.lifecycle.errors import JobFailed
from worker.training.parallel.segment import PREFIX, SHM_DIR, Segment, sweep_stale_segments


def test_processes_run_single_threaded_and_segments_are_unlinked_while_running():
    net = build_network(SMALL_CONV, seed=0)
    x, y = random_batch(SMALL_CONV, 30, seed=0)
    with DataParallel(net, 3) as gradients:
        gradients(x, y, 0)
        shards = shard_processes()
        assert len(shards) == 2
        # One BLAS thread: OpenBLAS starts no threads of its own in a shard process.
        assert [shard.num_threads() for shard in shards] == [1, 1]
        assert segments_of(os.getpid()) == []
    assert not any(shard.is_running() for shard in shards)


WIDE_CONV = {"name": "wide", "input_shape": [32, 28, 28], "layers": [
    {"type": "conv2d", "filters": 32, "kernel_size": 3, "padding": 1}, {"type": "global_avgpool2d"},
    {"type": "dense", "units": 3}]}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to share")
def test_processes_that_share_the_cores_run_one_engine_thread_each_and_nothing_else_is_limited():
    cores = len(os.sched_getaffinity(0))
    net = build_network(WIDE_CONV, seed=0, dtype="float32")
    x, y = random_batch(WIDE_CONV, 64, seed=0, dtype=np.float32)
    with DataParallel(net, 2) as gradients:
        assert gradients.engine_threads == cores // 2
        gradients(x, y, 0)  # enough pieces that a shard with a core to spare would start threads
        assert [shard.num_threads() for shard in shard_processes()] == [1]
        assert worker_count() == cores  # a network run beside it in this process keeps every core


def test_failure_in_a_shard_process_is_raised_naming_its_exception():
    net = build_network(SMALL_CONV, seed=0)
    x, y = random_batch(SMALL_CONV, 10, seed=0)
    y[-1] = 99  # only the second shard, computed by the shard process, sees the bad label
    with DataParallel(net, 2) as gradients:
        with pytest.raises(DataParallelError, match=r"failed: ValueError: labels must be in"):
            gradients(x, y, 0)


def test_a_killed_shard_process_is_reported():
    net = build_network(SMALL_CONV, seed=0)
    x, y = random_batch(SMALL_CONV, 10, seed=0)
    with DataParallel(net, 2) as gradients:
        gradients(x, y, 0)
        shard = shard_processes()[0]
        shard.kill()  # not reaped here: the parent must see its exit status
        with pytest.raises(DataParallelError, match=f"{shard.pid} exited with status -9"):
            gradients(x, y, 0)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_shard_processes_leave_group_signals_to_the_parent(signum):
    # Ctrl-C and a stopping `convforge up` signal the whole process group; the parent finishes
    # the step and checkpoints, so its shard processes must still be there.
    net = build_network(SMALL_CONV, seed=0)
    x, y = random_batch(SMALL_CONV, 10, seed=0)
    with DataParallel(net, 2) as gradients:
        gradients(x, y, 0)
        shard_processes()[0].send_signal(signum)
        loss, _, _ = gradients(x, y, 0)
        assert np.isfinite(loss)


PARENT = textwrap.dedent("""
    import sys
    from shared.cnn import build_network
    from tests.parallel.conftest import SMALL_CONV, random_batch
    from worker.training.parallel import DataParallel

    net = build_network(SMALL_CONV, seed=0)
    x, y = random_batch(SMALL_CONV, 64, seed=0)
    gradients = DataParallel(net, 3)
    gradients(x, y, 0)
    print("running", flush=True)
    while True:
        gradients(x, y, 0)
""")


def test_shard_processes_exit_when_the_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    shards = []
    try:
        assert parent.stdout.readline().strip() == "running"
        shards = shard_processes(parent.pid)
        assert len(shards) == 2
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        gone, alive = psutil.wait_procs(shards, timeout=20)
        assert alive == [], f"orphaned shard processes: {[p.pid for p in alive]}"
        assert segments_of(parent.pid) == []
    finally:
        for process in [*shards, psutil.Process(parent.pid)] if parent.poll() is None else shards:
            if process.is_running():
                process.kill()
        parent.wait(timeout=10)


def test_sweep_removes_only_segments_of_dead_parents():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = os.path.join(SHM_DIR, f"{PREFIX}{int(finished.stdout)}-test")
    live = os.path.join(SHM_DIR, f"{PREFIX}{os.getpid()}-test")
    try:
        for path in (dead, live):
            open(path, "wb").close()
        sweep_stale_segments()
        # (A job starting elsewhere on this machine may sweep first; the outcome is the same.)
        assert not os.path.exists(dead)
        assert os.path.exists(live)
    finally:
        for path in (dead, live):
            if os.path.exists(path):
                os.unlink(path)


def test_full_shared_memory_fails_the_job_with_advice(monkeypatch):
    def no_space(fd, offset, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(JobFailed, match=r"needs \d+ MiB of shared memory .* shm_size"):
        Segment.create([("x", (1024, 1024), "float32")])
    assert segments_of(os.getpid()) == []
