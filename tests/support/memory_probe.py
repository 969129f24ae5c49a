"""Peak memory of a job's computation, measured: `python -m tests.support.memory_probe SPEC_JSON` runs
two training steps and a scoring pass (or an evaluation) of a network as the worker does, and `peak_rss` runs it in
a fresh process and samples the resident memory of that process and all its children together."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil


def peak_rss(spec: dict, interval: float = 0.005) -> int:
    """The largest sum of RSS over the probe process and its children seen while it ran."""
    process = subprocess.Popen([sys.executable, "-m", "tests.support.memory_probe", json.dumps(spec)])
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(_rss(member) for member in tree))
        except psutil.NoSuchProcess:
            pass
        time.sleep(interval)
    if process.returncode != 0:
        raise RuntimeError(f"the memory probe failed for {spec}")
    return peak


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def run(spec: dict) -> None:
    import numpy as np

    import worker.celery_app  # noqa: F401  (the worker's process has it loaded while a job runs)

    from shared.cnn import Trainer, build_network
    from shared.cnn.training import evaluate
    from worker.training.parallel import DataParallel
    from worker.training.scoring import CHUNK_SAMPLES

    net = build_network(spec["definition"], seed=0)
    shape = tuple(spec["definition"]["input_shape"])
    classes = net.layers[-1].plan.output_shape[0]
    rng = np.random.default_rng(0)
    if spec["kind"] == "evaluate":
        count = min(spec["batch_size"], CHUNK_SAMPLES)
        x = rng.random((count, *shape), dtype=np.float32)
        evaluate(net, x, rng.integers(0, classes, count), batch_size=spec["batch_size"])
        return
    x = rng.random((spec["batch_size"], *shape), dtype=np.float32)
    y = rng.integers(0, classes, spec["batch_size"])
    workers = spec.get("workers", 1)
    optimizer = {"type": "adam", "lr": 0.001}
    if workers > 1:
        # As a train job does (worker/training/run.py): it scores while its shard processes still run.
        with DataParallel(net, workers) as gradients:
            trainer = Trainer(net, optimizer, gradients=gradients)
            for _ in range(2):
                trainer.train_step(x, y)
            _score_validation(net, spec, shape, classes, rng)
    else:
        trainer = Trainer(net, optimizer)
        for _ in range(2):
            trainer.train_step(x, y)
        _score_validation(net, spec, shape, classes, rng)


def _score_validation(net, spec: dict, shape, classes: int, rng) -> None:
    """A train job then scores its validation split, `scoring_batch_size` images a pass."""
    import numpy as np

    from worker.training.scoring import CHUNK_SAMPLES, score

    count = min(spec.get("scoring_batch_size", 256), CHUNK_SAMPLES)
    pixels = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
    score(net, pixels, rng.integers(0, classes, count), [0.5] * shape[0], [0.25] * shape[0],
          batch_size=spec.get("scoring_batch_size", 256))

if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
