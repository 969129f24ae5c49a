"""Graceful shutdown: SIGTERM to a worker asks the running job to stop at the next step.

Celery turns SIGTERM into a warm shutdown and sends `worker_shutting_down`; we set an event that the
training loop checks every step. The job then writes a checkpoint, goes back to `queued` and is sent
again (a new message, persisted by Redis), so the next worker to start resumes it from the checkpoint.
The worker exits once the task has returned.
"""
from __future__ import annotations

import threading

from celery.signals import worker_shutting_down

stop_requested = threading.Event()


@worker_shutting_down.connect
def _on_shutting_down(**_kwargs) -> None:
    stop_requested.set()
