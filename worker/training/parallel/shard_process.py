"""A shard process: computes one shard of every batch of a job, until told to stop or orphaned.

Started by `DataParallel` as ``python -m worker.training.parallel.shard_process FD PARENT_PID`` with the BLAS
thread variables set to 1 (so they are read before NumPy loads). It talks to the parent over the
socket FD; weights, batches and gradients travel through shared-memory segments.

It ends when the parent says "stop", when the socket closes (the parent died: the kernel closes
its end), or when its parent pid changes, whichever comes first; it then unlinks the segments it
knows, in case the parent died before doing so. SIGINT and SIGTERM are ignored: they reach the
whole process group (Ctrl-C, `convforge up` stopping its worker), and the parent decides what
happens to the job, e.g. finishes the step and checkpoints before it stops this process.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection

import numpy as np

from shared.cnn import build_network
from shared.cnn.gradients import shard_gradient
from shared.cnn.kernels.threads import limit_engine_threads
from worker.training.allocator import keep_freed_memory
from worker.training.parallel.segment import Segment

PARENT_CHECK_SECONDS = 1.0


class ShardProcess:
    def __init__(self, conn: Connection, parent_pid: int):
        self.conn = conn
        self.parent_pid = parent_pid
        self.net = None
        self.slot = None
        self.loss = None
        self.segments: dict[str, Segment] = {}

    def run(self) -> None:
        handlers = {"init": self.init, "attach": self.attach, "step": self.step}
        while True:
            message = self.receive()
            if message is None or message[0] == "stop":
                return
            try:
                reply = handlers[message[0]](*message[1:])
            except Exception:
                reply = ("error", traceback.format_exc())
            try:
                self.conn.send(reply)
            except OSError:
                return

    def receive(self):
        """The next message, or None once the parent is gone."""
        try:
            while not self.conn.poll(PARENT_CHECK_SECONDS):
                if os.getppid() != self.parent_pid:
                    return None
            return self.conn.recv()
        except (EOFError, OSError):
            return None

    def init(self, slot: int, definition, seed: int, dtype: str, loss: str | dict, engine_threads: int):
        limit_engine_threads(engine_threads)
        self.slot = slot
        self.loss = loss
        self.net = build_network(definition, seed=seed, dtype=dtype)
        return ("ready",)

    def attach(self, role: str, path: str, specs, size: int):
        old = self.segments.pop(role, None)
        if old is not None:
            old.close()
        self.segments[role] = Segment.attach(path, specs, size)
        return ("attached",)

    def step(self, start: int, stop: int, batch_size: int, first_sample_id: int):
        model = self.segments["model"].arrays
        batch = self.segments["batch"].arrays
        net = self.net
        for name, value in net.params.items():
            np.copyto(value, model[f"param:{name}"])
        for name, value in net.buffers.items():
            np.copyto(value, model[f"buffer:{name}"])
        grads = {name: model[f"grad{self.slot}:{name}"] for name in net.grads}
        loss_sum, correct = shard_gradient(net, batch["x"][start:stop], batch["y"][start:stop],
                                           first_sample_id + start, batch_size, grads, self.loss)
        for name, value in net.buffers.items():
            np.copyto(model[f"buffer{self.slot}:{name}"], value)
        return ("done", loss_sum, correct)

    def release(self) -> None:
        for segment in self.segments.values():
            segment.unlink()
            segment.close()
        self.segments = {}
        self.conn.close()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    keep_freed_memory()
    process = ShardProcess(Connection(int(argv[1])), int(argv[2]))
    try:
        process.run()
    finally:
        process.release()


if __name__ == "__main__":
    main(sys.argv)
