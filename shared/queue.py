"""The Celery application settings shared by the API (which only sends) and the workers.

The API enqueues by task name (`shared.jobs.TASK_BY_KIND`) and never imports `worker/`.
Messages carry only a job id; the database row is the source of truth for the job's state.
"""
from __future__ import annotations

from celery import Celery
from kombu.transport.redis import PRIORITY_STEPS

from shared.config import Settings, load_settings
from shared.jobs.tasks import JOB_TASKS

JOB_QUEUE = "convforge.jobs"
# Redis keys `<prefix><worker name>`, kept alive by each worker (worker/housekeeping/presence.py): a
# solo-pool worker busy with a job answers no broadcast ping, so "live workers" are the ping replies plus these keys.
WORKER_PRESENCE_PREFIX = "convforge:worker:"
# Message priorities on Redis: kombu keeps one list per step and hands out the lowest step first
# (services/api/fairness.py picks them; worker/lost_messages.py reads every list).
PRIORITY_LEVELS = tuple(PRIORITY_STEPS)


def make_celery(settings: Settings | None = None, name: str = "convforge") -> Celery:
    settings = settings or load_settings()
    app = Celery(name, broker=settings.broker_url)
    transport = {"visibility_timeout": settings.visibility_timeout_seconds}
    app.conf.update(
        task_default_queue=JOB_QUEUE,
        task_routes={task: {"queue": JOB_QUEUE} for task in JOB_TASKS},
        task_serializer="json",
        accept_content=["json"],
        # No result backend: job state lives in the database row.
        task_ignore_result=True,
        # Acknowledge after the task ran, and give the message back if the worker process dies, so a
        # SIGKILLed job is delivered again; the conditional claim in the task keeps it from running twice.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Celery reads the visibility timeout from these three places (Redis transport docs).
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        visibility_timeout=settings.visibility_timeout_seconds,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app
