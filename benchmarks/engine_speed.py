"""LeNet-5 training-step speed: convforge vs a loop-per-position reference vs PyTorch CPU.

    python benchmarks/engine_speed.py [--seconds 3]

Prints images/s of a full training step (forward, backward, SGD update) in float32 at batch 32,
128 and 512, with ratios measured in the same run, then per-layer forward and backward
milliseconds. PyTorch is used when importable (it is not a project dependency).

Both use the same number of threads (``--threads``, default: the CPUs this process may use):
PyTorch through ``torch.set_num_threads``; convforge, one process, through its BLAS thread pool
(threadpoolctl). convforge and PyTorch rounds alternate, so both see
the same machine load; each figure is the best round, as timeit advises, since other work on
the machine only ever slows a round down.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.cnn import Trainer, build_network, softmax_cross_entropy  # noqa: E402
from benchmarks.torch_lenet import torch_lenet_step  # noqa: E402
from shared.cnn.layers.base import ForwardContext  # noqa: E402

LENET = json.loads((Path(__file__).resolve().parents[1] / "examples" / "lenet5.json").read_text())
BATCHES = (32, 128, 512)
OPTIMIZER = {"type": "sgd", "lr": 0.01, "momentum": 0.9}


def limit_blas(threads: int):
    """Hold BLAS to ``threads`` threads for the rest of the run (None if threadpoolctl is missing)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads, user_api="blas")


def timed_round(step, batch: int, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return count * batch / (time.perf_counter() - start)


def interleaved(steps: list, batch: int, seconds: float, rounds: int = 9) -> list[float]:
    """Best-round images/s of each step function, their timed rounds taken in turn."""
    for step in steps:
        step()
    rates = [[] for _ in steps]
    for _ in range(rounds):
        for step, rate in zip(steps, rates):
            rate.append(timed_round(step, batch, seconds / rounds))
    return [max(rate) for rate in rates]


def batch_of(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, size=batch)


def convforge_step(batch: int):
    trainer = Trainer(build_network(LENET, seed=0), OPTIMIZER)
    x, y = batch_of(batch)
    return lambda: trainer.train_step(x, y)


# -- the tutorial way: a Python loop over every output position ---------------------------------

class LoopReference:
    """LeNet-5 with convolution and pooling looping over output positions (vectorised over the
    batch and the filters at each position), as tutorials write them."""

    def __init__(self, batch: int):
        net = build_network(LENET, seed=0)
        self.params = {k: v.copy() for k, v in net.params.items()}
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.x, self.y = batch_of(batch)

    @staticmethod
    def conv_forward(x, w, b, pad):
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        n, _, h, width = x.shape
        f, _, k, _ = w.shape
        out_h, out_w = h - k + 1, width - k + 1
        out = np.empty((n, f, out_h, out_w), dtype=x.dtype)
        for i in range(out_h):
            for j in range(out_w):
                out[:, :, i, j] = np.tensordot(x[:, :, i:i + k, j:j + k], w, axes=([1, 2, 3], [1, 2, 3])) + b
        return out, x

    @staticmethod
    def conv_backward(grad, x_pad, w, pad):
        k = w.shape[2]
        grad_x, grad_w = np.zeros_like(x_pad), np.zeros_like(w)
        for i in range(grad.shape[2]):
            for j in range(grad.shape[3]):
                g = grad[:, :, i, j]
                grad_w += np.tensordot(g, x_pad[:, :, i:i + k, j:j + k], axes=([0], [0]))
                grad_x[:, :, i:i + k, j:j + k] += np.tensordot(g, w, axes=([1], [0]))
        h, width = x_pad.shape[2:]
        return grad_x[:, :, pad:h - pad, pad:width - pad], grad_w, grad.sum(axis=(0, 2, 3))

    @staticmethod
    def pool_forward(x):
        n, c, h, w = x.shape
        out = np.empty((n, c, h // 2, w // 2), dtype=x.dtype)
        for i in range(h // 2):
            for j in range(w // 2):
                out[:, :, i, j] = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(2, 3))
        return out

    @staticmethod
    def pool_backward(grad, x, out):
        grad_x = np.zeros_like(x)
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                window = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                mask = window == out[:, :, i, j][:, :, None, None]
                grad_x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2] += mask * grad[:, :, i, j][:, :, None, None]
        return grad_x

    def step(self):
        p = self.params
        c1, x1 = self.conv_forward(self.x, p["conv2d_1.weight"], p["conv2d_1.bias"], 2)
        r1 = np.maximum(c1, 0)
        p1 = self.pool_forward(r1)
        c2, x2 = self.conv_forward(p1, p["conv2d_2.weight"], p["conv2d_2.bias"], 0)
        r2 = np.maximum(c2, 0)
        p2 = self.pool_forward(r2)
        flat = p2.reshape(len(p2), -1)
        h1 = np.maximum(flat @ p["dense_1.weight"].T + p["dense_1.bias"], 0)
        h2 = np.maximum(h1 @ p["dense_2.weight"].T + p["dense_2.bias"], 0)
        logits = h2 @ p["dense_3.weight"].T + p["dense_3.bias"]
        _, g = softmax_cross_entropy(logits, self.y)
        grads = {"dense_3.weight": g.T @ h2, "dense_3.bias": g.sum(0)}
        g = (g @ p["dense_3.weight"]) * (h2 > 0)
        grads["dense_2.weight"], grads["dense_2.bias"] = g.T @ h1, g.sum(0)
        g = (g @ p["dense_2.weight"]) * (h1 > 0)
        grads["dense_1.weight"], grads["dense_1.bias"] = g.T @ flat, g.sum(0)
        g = (g @ p["dense_1.weight"]).reshape(p2.shape)
        g = self.pool_backward(g, r2, p2) * (c2 > 0)
        g, grads["conv2d_2.weight"], grads["conv2d_2.bias"] = self.conv_backward(g, x2, p["conv2d_2.weight"], 0)
        g = self.pool_backward(g, r1, p1) * (c1 > 0)
        _, grads["conv2d_1.weight"], grads["conv2d_1.bias"] = self.conv_backward(g, x1, p["conv2d_1.weight"], 2)
        for key, grad in grads.items():
            self.velocity[key] = 0.9 * self.velocity[key] + grad
            p[key] -= 0.01 * self.velocity[key]


# -- PyTorch, when importable ------------------------------------------------------------------

def torch_step(batch: int, threads: int):
    return torch_lenet_step(*batch_of(batch), threads)


# -- where the time goes -----------------------------------------------------------------------

def per_layer_ms(batch: int, repeats: int = 30) -> list[tuple[str, float, float]]:
    net = build_network(LENET, seed=0)
    x, _ = batch_of(batch)
    ctx = ForwardContext(training=True, sample_ids=np.arange(batch), seed=0)
    inputs = [np.ascontiguousarray(np.moveaxis(x, 0, -1))]
    for layer in net.execution_order:
        inputs.append(layer.forward(inputs[-1], ctx))
    timings = []
    for position, layer in enumerate(net.execution_order):
        forward, backward = [], []
        grad = np.ones_like(inputs[position + 1])
        for _ in range(repeats):
            start = time.perf_counter()
            layer.forward(inputs[position], ctx)
            middle = time.perf_counter()
            layer.backward(grad, need_input_grad=position > 0)
            forward.append(middle - start)
            backward.append(time.perf_counter() - middle)
        timings.append((layer.name, 1000 * min(forward), 1000 * min(backward)))
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="timing budget per measurement")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    limited = limit_blas(args.threads)
    print(f"LeNet-5 training step (forward, backward, SGD momentum update), float32, {args.threads} threads; "
          f"NumPy {np.__version__}, BLAS {f'{args.threads} threads' if limited else 'threads not limited'}")
    rows = []
    for batch in BATCHES:
        steps = [convforge_step(batch)]
        torch_fn = torch_step(batch, args.threads)
        if torch_fn:
            steps.append(torch_fn)
        rates = interleaved(steps, batch, args.seconds)
        reference = None
        if batch == 32:
            loop = LoopReference(batch)
            reference = max(timed_round(loop.step, batch, args.seconds / 6) for _ in range(3))
        rows.append((batch, rates[0], reference, rates[1] if torch_fn else None))

    print()
    print(f"{'batch':>5} | {'convforge img/s':>15} | {'loop reference':>14} | {'convforge/loop':>14} | "
          f"{'PyTorch img/s':>13} | {'convforge/PyTorch':>17}")
    print("-" * 96)
    for batch, ours, reference, theirs in rows:
        ref_text = f"{reference:14,.0f}" if reference else f"{'-':>14}"
        ref_ratio = f"{ours / reference:13.0f}x" if reference else f"{'-':>14}"
        torch_text = f"{theirs:13,.0f}" if theirs else f"{'n/a':>13}"
        torch_ratio = f"{ours / theirs:16.2f}x" if theirs else f"{'n/a':>17}"
        print(f"{batch:>5} | {ours:15,.0f} | {ref_text} | {ref_ratio} | {torch_text} | {torch_ratio}")

    print()
    print("Per layer in the order they run, one thread, batch 128 (best of 30, ms)")
    print(f"{'layer':<14} {'forward':>9} {'backward':>9}")
    timings = per_layer_ms(128)
    for name, forward, backward in timings:
        print(f"{name:<14} {forward:9.3f} {backward:9.3f}")
    print(f"{'total':<14} {sum(t[1] for t in timings):9.3f} {sum(t[2] for t in timings):9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
