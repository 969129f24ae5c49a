"""The memory estimate of a job (shared.jobs.memory) against the peak resident memory measured while
the engine runs it, over networks, batch sizes, kinds and processes: an upper bound within 1.5x."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.jobs.memory import job_memory
from tests.support.memory_probe import peak_rss
from worker.lifecycle.errors import JobFailed
from worker.training.memory import check_fits

LENET = json.loads((Path(__file__).resolve().parents[2] / "examples" / "lenet5.json").read_text())
TINY = {"name": "tiny", "input_shape": [1, 8, 8], "layers": [{"type": "flatten"}, {"type": "dense", "units": 3}]}
# A wide "same" convolution: 289 kernel offsets, gathered a few pieces at a time, never all at once.
WIDE_WINDOW = {"name": "wide", "input_shape": [1, 64, 64], "layers": [
    {"type": "conv2d", "filters": 4, "kernel_size": 17, "padding": "same"}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 4}, {"type": "flatten"}, {"type": "dense", "units": 10}]}
WITH_BATCHNORM = {"name": "bn", "input_shape": [3, 32, 32], "layers": [
    {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"},
    {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]}
# 3x3 "same" convolutions of 32 and more channels run Winograd, and do the 2x2 max pools after them.
COLOUR = {"name": "colour", "input_shape": [3, 32, 32], "layers": [
    {"type": "conv2d", "filters": 32, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "conv2d", "filters": 32, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2}, {"type": "global_avgpool2d"}, {"type": "dense", "units": 10}]}

CASES = [
    (TINY, "train", 1, 1),
    (LENET, "train", 128, 1),
    (LENET, "train", 256, 4),
    (WIDE_WINDOW, "train", 64, 1),
    (WIDE_WINDOW, "evaluate", 256, 1),
    (LENET, "evaluate", 4096, 1),
    (WITH_BATCHNORM, "train", 96, 2),
    (COLOUR, "train", 128, 1),
]


@pytest.mark.parametrize(("definition", "kind", "batch_size", "workers"), CASES,
                         ids=["tiny-train-batch1-workers1", "lenet5-train-batch128-workers1", "lenet5-train-batch256-workers4",
                              "wide-train-batch64-workers1", "wide-evaluate-batch256-workers1",
                              "lenet5-evaluate-batch4096-workers1", "bn-train-batch96-workers2",
                              "colour-train-batch128-workers1"])
def test_the_estimate_bounds_the_measured_peak_within_one_and_a_half_times(definition, kind, batch_size, workers):
    estimate = job_memory(definition, kind, batch_size, workers).total_bytes
    measured = peak_rss({"definition": definition, "kind": kind, "batch_size": batch_size, "workers": workers})
    print(f"{definition['name']} {kind} batch {batch_size} workers {workers}: "
          f"estimate {estimate / 2**20:.0f} MiB, measured {measured / 2**20:.0f} MiB")
    assert measured <= estimate <= 1.5 * measured


def test_more_processes_and_wider_windows_cost_more():
    one, sixteen = (job_memory(LENET, "train", 512, workers).total_bytes for workers in (1, 16))
    assert sixteen > one + 15 * 50 * 2**20  # each shard process is an interpreter with NumPy
    narrow = {**WIDE_WINDOW, "layers": [{**WIDE_WINDOW["layers"][0], "kernel_size": 3}, *WIDE_WINDOW["layers"][1:]]}
    wide, narrow = (job_memory(definition, "evaluate", 256).total_bytes for definition in (WIDE_WINDOW, narrow))
    assert narrow < wide < 1.5 * narrow  # its windows cost pieces of a bounded size, not a buffer of the batch


def test_the_worker_refuses_an_evaluation_it_cannot_hold_with_the_estimate_and_the_limit():
    with pytest.raises(JobFailed) as refused:
        check_fits(WIDE_WINDOW, "evaluate", 65_536, configured_limit=512 * 2**20)
    estimate = job_memory(WIDE_WINDOW, "evaluate", 65_536)
    assert estimate.total_bytes > 512 * 2**20
    assert "512 MiB" in str(refused.value) and f"needs {estimate.describe()}" in str(refused.value)
    check_fits(WIDE_WINDOW, "evaluate", 16, configured_limit=512 * 2**20)
