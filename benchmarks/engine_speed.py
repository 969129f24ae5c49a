"""Training-step speed of the engine against PyTorch CPU on three networks.

    python benchmarks/engine_speed.py [--seconds 3] [--rounds 7] [--threads 2] [--workers 2]
                                      [--only colour] [--layer-batch 32] [--runs 1]

For LeNet-5, a VGG-style 3x3 stack with batchnorm (examples/fashion_mnist_fast.json) and a
colour 3x32x32 network, prints images/s of a full training step (forward, backward, SGD
momentum update) in float32 through the engine's ordinary API (``Trainer(net, optimizer)``, one
process) and through PyTorch CPU with ``--threads`` threads, their ratio, the GFLOP/s each
reaches (6 FLOP per multiply-add: forward, input gradient and weight gradient) and the float32
GEMM peak measured in the same run. convforge, PyTorch and the GEMM take their timed rounds in
turn, so all see the same machine load; rates are medians of the rounds, and the ratio's spread
is its lowest and highest over pairs of rounds taken side by side. The last columns are the same
step through the worker's data-parallel gradient engine with ``--workers`` processes (a job's
``workers: 2``) and its ratio to PyTorch, timed in the same rounds. Then the per-layer forward
and backward milliseconds of the networks past LeNet-5 (``--layer-batch``, 32 by default).
With ``--runs N`` the table is measured N times over and each row's ratios are summed up as
lowest-highest (median) over the runs: on a shared machine one run is not enough to tell.
PyTorch is used when importable (it is not a project dependency).

PyTorch's OpenMP threads are made to sleep rather than spin while they wait
(OMP_WAIT_POLICY=PASSIVE, set before torch is imported; ``--torch-spin`` leaves its default), as
the engine's threads do: on the shared 2-core machine, spinning threads made PyTorch 10-40x
slower than sleeping ones. The GEMM peak is the better of BLAS on one thread and on all.

The process keeps freed memory for the next step, as the worker's training processes do
(``worker/training/allocator.py``), for both engines: without it, glibc gives blocks of a few
megabytes back to the system when they are freed unless a larger block was freed earlier in the
process, and PyTorch's colour-network step at 32 ran at 690 images/s in a fresh process and at
830 after the other networks had run.

Check which BLAS kernel runs (the header names it): OPENBLAS_CORETYPE, where set, slows NumPy.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.torch_model import torch_step  # noqa: E402
from shared.cnn import Trainer, build_network  # noqa: E402
from shared.cnn.kernels.threads import single_blas_thread  # noqa: E402
from shared.cnn.layers.base import ForwardContext  # noqa: E402
from worker.training.allocator import keep_freed_memory  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LENET = json.loads((EXAMPLES / "lenet5.json").read_text())
VGG_BN = json.loads((EXAMPLES / "fashion_mnist_fast.json").read_text())
COLOUR = {"name": "colour_cnn", "input_shape": [3, 32, 32], "layers": [
    {"type": "conv2d", "filters": 32, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "conv2d", "filters": 32, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "global_avgpool2d"}, {"type": "dense", "units": 10}]}
NETWORKS = (("LeNet-5", LENET, (32, 128, 512)),
            ("VGG-style 3x3 + batchnorm", VGG_BN, (32, 128)),
            ("colour 3x32x32", COLOUR, (32, 128)))
OPTIMIZER = {"type": "sgd", "lr": 0.01, "momentum": 0.9}
FLOP_PER_MAC = 6
GEMM_SIZE = 1024


def blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown BLAS"
    return ", ".join(f"{i['internal_api']} {i.get('architecture', '?')} kernel, {i['num_threads']} threads"
                     for i in threadpool_info() if i["user_api"] == "blas")


def batch_of(definition: dict, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.random((batch, *definition["input_shape"]), dtype=np.float32),
            rng.integers(0, 10, size=batch))


def convforge_step(definition: dict, batch: int, gradients=None, net=None):
    trainer = Trainer(net or build_network(definition, seed=0), OPTIMIZER, gradients=gradients)
    x, y = batch_of(definition, batch)
    return lambda: trainer.train_step(x, y)


def data_parallel_step(definition: dict, batch: int, workers: int, stack: contextlib.ExitStack):
    """A training step through the worker's data-parallel gradient engine (``workers: N`` in a job)."""
    from worker.training.parallel import DataParallel
    net = build_network(definition, seed=0)
    return convforge_step(definition, batch, stack.enter_context(DataParallel(net, workers)), net)


def gemm_steps() -> list:
    """A GEMM on one BLAS thread and one on BLAS's own number of threads."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((GEMM_SIZE, GEMM_SIZE), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)

    def one_thread():
        with single_blas_thread():
            np.matmul(a, b, out=out)
    return [one_thread, lambda: np.matmul(a, b, out=out)]


def timed_round(step, seconds: float) -> float:
    """Steps per second over about ``seconds``."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return count / (time.perf_counter() - start)


def interleaved(steps: list, seconds: float, rounds: int) -> list[list[float]]:
    """Steps per second of each step function in each round, their rounds taken in turn."""
    for step in steps:
        step()
    rates = [[] for _ in steps]
    for _ in range(rounds):
        for step, rate in zip(steps, rates):
            rate.append(timed_round(step, seconds / rounds))
    return rates


def per_layer_ms(definition: dict, batch: int, repeats: int = 20) -> list[tuple[str, float, float]]:
    net = build_network(definition, seed=0)
    x, _ = batch_of(definition, batch)
    ctx = ForwardContext(training=True, sample_ids=np.arange(batch), seed=0)
    inputs = [np.ascontiguousarray(np.moveaxis(x, 0, -1))]
    for layer in net.execution_order:
        inputs.append(layer.forward(inputs[-1].copy(), ctx))
    timings = []
    with single_blas_thread():  # as the network runs its layers
        for position, layer in enumerate(net.execution_order):
            timings.append(_layer_ms(layer, inputs[position], inputs[position + 1], ctx, position > 0, repeats))
    return timings


def _layer_ms(layer, x, out, ctx, need_input_grad: bool, repeats: int) -> tuple[str, float, float]:
    forward, backward = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        layer.forward(x.copy(), ctx)
        middle = time.perf_counter()
        layer.backward(np.ones_like(out), need_input_grad=need_input_grad)
        forward.append(middle - start)
        backward.append(time.perf_counter() - middle)
    return layer.name, 1000 * min(forward), 1000 * min(backward)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per engine and batch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's threads")
    parser.add_argument("--torch-spin", action="store_true", help="leave PyTorch's OpenMP wait policy as it is")
    parser.add_argument("--only", default="", help="run only the networks whose title contains this text")
    parser.add_argument("--layer-batch", type=int, default=32, help="batch of the per-layer timings")
    parser.add_argument("--workers", type=int, default=2, help="processes of the data-parallel column (0: none)")
    parser.add_argument("--runs", type=int, default=1, help="times to measure the table (their spread is printed)")
    args = parser.parse_args()
    keep_freed_memory()
    with contextlib.ExitStack() as stack:
        return run(args, stack)


def run(args, stack: contextlib.ExitStack) -> int:
    if not args.torch_spin:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(f"Training step (forward, backward, SGD momentum update), float32; convforge: Trainer(net, optimizer), "
          f"one process; PyTorch CPU: {args.threads} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}. "
          f"NumPy {np.__version__}, {blas_kernel()}")
    networks = [network for network in NETWORKS if args.only.lower() in network[0].lower()]
    runs = [timing_table(args, stack, networks) for _ in range(args.runs)]
    if args.runs > 1:
        print_spread(runs, args.workers)

    for title, definition, _ in networks[1:] or networks:
        print()
        print(f"Per layer of {title} in the order they run, batch {args.layer_batch} (best of 20, ms)")
        print(f"{'layer':<20} {'forward':>9} {'backward':>9}")
        timings = per_layer_ms(definition, args.layer_batch)
        for name, forward, backward in timings:
            print(f"{name:<20} {forward:9.3f} {backward:9.3f}")
        print(f"{'total':<20} {sum(t[1] for t in timings):9.3f} {sum(t[2] for t in timings):9.3f}")
    return 0


def timing_table(args, stack: contextlib.ExitStack, networks) -> dict:
    """Print one timing table; return each row's ratios to PyTorch, (one process, data parallel),
    by (network, batch) (None where not measured)."""
    parallel = f"workers: {args.workers}"
    print()
    print(f"{'network':<26} {'batch':>5} | {'convforge img/s':>15} | {'PyTorch img/s':>13} | "
          f"{'ratio':>6} {'(spread)':>13} | {'GFLOP/s ours':>12} | {'GFLOP/s torch':>13} | {'GEMM peak':>9}"
          + (f" | {parallel + ' img/s':>16} | {'ratio':>6} {'(spread)':>13}" if args.workers > 1 else ""))
    print("-" * (136 + 40 * (args.workers > 1)))
    gemms = gemm_steps()
    gemm_flop = 2 * GEMM_SIZE ** 3
    ratios = {}
    for title, definition, batches in networks:
        flop_per_image = FLOP_PER_MAC * build_network(definition).summary.total_macs
        for batch in batches:
            x, y = batch_of(definition, batch)
            steps = [convforge_step(definition, batch), *gemms]
            theirs = torch_step(definition, x, y, args.threads)
            if theirs:
                steps.append(theirs)
            if args.workers > 1:
                steps.append(data_parallel_step(definition, batch, args.workers, stack))
            rates = interleaved(steps, args.seconds * len(steps) / 2, args.rounds)
            ours = statistics.median(rates[0]) * batch
            peak = max(max(rates[1]), max(rates[2])) * gemm_flop / 1e9
            row = (f"{title:<26} {batch:>5} | {ours:15,.0f} | ")
            if theirs:
                torch_rate = statistics.median(rates[3]) * batch
                pairs = [a / b for a, b in zip(rates[0], rates[3])]
                row += (f"{torch_rate:13,.0f} | {ours / torch_rate:5.2f}x ({min(pairs):.2f}-{max(pairs):.2f}x) | "
                        f"{ours * flop_per_image / 1e9:12.1f} | {torch_rate * flop_per_image / 1e9:13.1f} | ")
            else:
                row += f"{'n/a':>13} | {'n/a':>20} | {ours * flop_per_image / 1e9:12.1f} | {'n/a':>13} | "
            row += f"{peak:9.0f}"
            if args.workers > 1:
                shared = statistics.median(rates[-1]) * batch
                row += f" | {shared:16,.0f} | "
                if theirs:
                    pairs = [a / b for a, b in zip(rates[-1], rates[3])]
                    row += f"{shared / torch_rate:5.2f}x ({min(pairs):.2f}-{max(pairs):.2f}x)"
            ratios[title, batch] = (ours / torch_rate if theirs else None,
                                    shared / torch_rate if theirs and args.workers > 1 else None)
            print(row, flush=True)
            stack.close()  # the shard processes of this row
    return ratios


def print_spread(runs: list[dict], workers: int) -> None:
    print()
    print(f"Ratio to PyTorch over {len(runs)} runs: lowest-highest (median)")
    print(f"{'network':<26} {'batch':>5} | {'one process':>22}" + (f" | {f'workers: {workers}':>22}" if workers > 1 else ""))
    for key in runs[0]:
        columns = [[run[key][column] for run in runs if run[key][column] is not None] for column in (0, 1)]
        cells = [f"{min(c):.2f}-{max(c):.2f}x ({statistics.median(c):.2f}x)" if c else "n/a" for c in columns]
        print(f"{key[0]:<26} {key[1]:>5} | {cells[0]:>22}" + (f" | {cells[1]:>22}" if workers > 1 else ""))


if __name__ == "__main__":
    sys.exit(main())
