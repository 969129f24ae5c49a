"""Data-parallel training speed: LeNet-5 training steps with 1 and 2 processes vs PyTorch CPU.

    python benchmarks/data_parallel.py [--seconds 24]
    # with PyTorch: PYTHONPATH=. /tmp/torchvenv/bin/python benchmarks/data_parallel.py

Prints images/s of full training steps (forward, backward, SGD update; float32, Fashion-MNIST
images) at batch 128 and 512 for: one process with 1 BLAS thread, one process with 2 BLAS threads,
2 processes with 1 BLAS thread each (`workers=2`), and PyTorch CPU with 2 threads when importable.
All configurations, both batch sizes, take turns in short rounds and each reports its median
round, so a noisy neighbour on a shared machine hurts all of them alike; ratios come from the same
run. CPU time per image is printed too: it shows the cost of each configuration even when other
load on the machine distorts images/s.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.cnn import Trainer, build_network  # noqa: E402
from benchmarks.torch_lenet import torch_lenet_step  # noqa: E402
from worker.training.parallel import DataParallel  # noqa: E402

LENET = json.loads((ROOT / "examples" / "lenet5.json").read_text())
OPTIMIZER = {"type": "sgd", "lr": 0.01, "momentum": 0.9}
BATCHES = (128, 512)
ROUNDS = 7
DATA_PARALLEL = "2 processes, 1 BLAS thread each"
BLAS = ThreadpoolController()


def fashion_batch(batch: int):
    data = np.load(ROOT / "data" / "fashion-mnist-small.npz")
    return (data["x_train"][:batch] / np.float32(255)).astype(np.float32), data["y_train"][:batch]


def numpy_step(batch: int, threads: int, net=None, gradients=None):
    trainer = Trainer(net or build_network(LENET, seed=0), OPTIMIZER, gradients=gradients)
    x, y = fashion_batch(batch)

    def step():
        with BLAS.limit(limits=threads, user_api="blas"):
            trainer.train_step(x, y)
    return step


def torch_step(batch: int, threads: int):
    return torch_lenet_step(*fashion_batch(batch), threads)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of whole processes (all their threads), from /proc."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def measure(steps: dict, seconds: float, pids: list[int]) -> dict[tuple[int, str], tuple[float, float]]:
    """Per (batch, configuration): median images/s over ROUNDS interleaved rounds, and CPU
    milliseconds per 1000 images summed over ``pids`` (the CPU cost, which other load on the
    machine barely changes, while it can change images/s a lot)."""
    rates = {key: [] for key in steps}
    costs = {key: [] for key in steps}
    for step in steps.values():
        step()  # warm-up: first-touch allocations, lazy imports
    for _ in range(ROUNDS):
        for (batch, name), step in steps.items():
            time.sleep(0.1)  # let the previous configuration's threads go idle
            count, start, cpu = 0, time.perf_counter(), cpu_seconds(pids)
            while time.perf_counter() - start < seconds / ROUNDS / len(steps):
                step()
                count += 1
            rates[batch, name].append(count * batch / (time.perf_counter() - start))
            costs[batch, name].append((cpu_seconds(pids) - cpu) * 1e6 / (count * batch))
    return {key: (statistics.median(rates[key]), statistics.median(costs[key])) for key in steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=24.0, help="timed seconds in all")
    args = parser.parse_args()
    steps, pids = {}, [os.getpid()]
    with contextlib.ExitStack() as stack:
        for batch in BATCHES:
            net = build_network(LENET, seed=0)
            gradients = stack.enter_context(DataParallel(net, 2))
            pids += gradients.shard_pids
            steps[batch, "1 process, 1 BLAS thread"] = numpy_step(batch, 1)
            steps[batch, "1 process, 2 BLAS threads"] = numpy_step(batch, 2)
            steps[batch, DATA_PARALLEL] = numpy_step(batch, 1, net, gradients)
            torch = torch_step(batch, 2)
            if torch is not None:
                steps[batch, "PyTorch CPU, 2 threads"] = torch
        print_table(measure(steps, args.seconds, pids))


def print_table(results: dict[tuple[int, str], tuple[float, float]]) -> None:
    names = list(dict.fromkeys(name for _, name in results))
    header = f"{'configuration':36}" + "".join(f"{f'batch {b}':>14}" for b in BATCHES)
    print(f"LeNet-5 training step, float32, images/s (median of {ROUNDS} interleaved rounds)")
    print(header)
    for name in names:
        print(f"{name:36}" + "".join(f"{results[b, name][0]:>14,.0f}" for b in BATCHES))
    print()
    for name in names:
        if name != DATA_PARALLEL:
            print(f"{'2 processes / ' + name:58}" + "".join(
                f"{results[b, DATA_PARALLEL][0] / results[b, name][0]:>8.2f}x" for b in BATCHES))
    print("\nCPU milliseconds per 1000 images, all processes")
    print(header)
    for name in names:
        print(f"{name:36}" + "".join(f"{results[b, name][1]:>14,.0f}" for b in BATCHES))


if __name__ == "__main__":
    main()
