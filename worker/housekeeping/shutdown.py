"""Graceful shutdown: SIGTERM to a worker asks the running job to stop at the next step.

Celery turns SIGTERM into a warm shutdown and sends `worker_shutting_down`; we set an event that the
training loop checks every step. The job then writes a checkpoint and goes back to `queued`, and the
task rejects its message with requeue (worker/celery_app.py): the same message goes back to Redis, so
the next worker to take it resumes the job from the checkpoint. The worker exits once the task has
returned.
"""
from __future__ import annotations

import threading

from celery.signals import worker_shutting_down

stop_requested = threading.Event()


@worker_shutting_down.connect
def _on_shutting_down(**_kwargs) -> None:
    stop_requested.set()
