"""The API's side of the job queue: it sends and revokes Celery messages by task name, and asks the
broker and the workers whether they are alive. It never imports the worker's code."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import redis
from kombu.exceptions import KombuError

from shared.config import Settings
from shared.db.models import Job
from shared.jobs import TASK_BY_KIND, as_utc
from shared.queue import JOB_QUEUE, WORKER_PRESENCE_PREFIX, make_celery

log = logging.getLogger(__name__)

# Fail fast when the broker is down: the request is waiting.
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 0.5}
CONNECT_TIMEOUT_SECONDS = 2
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class BrokerUnavailable(RuntimeError):
    pass


def task_id_for(job: Job) -> str:
    """The Celery task id of a job's message, derived from the row so a queued job can be revoked.

    The creation time is part of it: workers remember revoked ids, and a fresh database reuses job ids.
    """
    micros = (as_utc(job.created_at) - EPOCH) // timedelta(microseconds=1)
    return f"convforge-job-{job.id}-{micros}"


class JobQueue:
    def __init__(self, settings: Settings):
        self.broker_url = settings.broker_url
        self.celery = make_celery(settings, name="convforge-api")
        self.celery.conf.broker_connection_timeout = CONNECT_TIMEOUT_SECONDS
        self.celery.conf.broker_transport_options = {
            **self.celery.conf.broker_transport_options,
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        }

    def send(self, job: Job, priority: int = 0) -> None:
        try:
            self.celery.send_task(TASK_BY_KIND[job.kind], args=[job.id], task_id=task_id_for(job),
                                  priority=priority, retry=True, retry_policy=SEND_RETRY_POLICY)
        except (KombuError, OSError, redis.RedisError) as exc:
            raise BrokerUnavailable(f"the message broker at {self.safe_broker_url()} cannot be reached "
                                    f"({exc})") from exc

    def revoke(self, job: Job) -> None:
        """Best effort: a worker also skips any job whose row is no longer queued."""
        try:
            self.celery.control.revoke(task_id_for(job))
        except (KombuError, OSError, redis.RedisError) as exc:
            log.warning("could not revoke job %s: %s", job.id, exc)

    def ping_broker(self) -> str | None:
        """None when Redis answers PING, else why not."""
        client = redis.Redis.from_url(self.broker_url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
            return None
        except (redis.RedisError, OSError) as exc:
            return str(exc) or exc.__class__.__name__
        finally:
            client.close()

    def queue_depth(self) -> int | None:
        """Messages waiting in the broker's job queue; None when the broker cannot be reached."""
        client = redis.Redis.from_url(self.broker_url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return int(client.llen(JOB_QUEUE))
        except (redis.RedisError, OSError) as exc:
            log.warning("could not read the queue depth: %s", exc)
            return None
        finally:
            client.close()

    def live_workers(self, timeout: float = 1.0) -> list[str]:
        """Names of the workers that answer a broadcast ping within `timeout` seconds, or that keep their
        presence key alive (a worker busy with a job answers no ping)."""
        try:
            replies = self.celery.control.ping(timeout=timeout) or []
            client = redis.Redis.from_url(self.broker_url, socket_connect_timeout=1, socket_timeout=1)
            with client:
                present = [key.decode()[len(WORKER_PRESENCE_PREFIX):]
                           for key in client.scan_iter(match=WORKER_PRESENCE_PREFIX + "*", count=1000)]
        except (KombuError, OSError, redis.RedisError) as exc:
            log.warning("could not ping workers: %s", exc)
            return []
        return sorted({name for reply in replies for name in reply} | set(present))

    def safe_broker_url(self) -> str:
        """The broker URL without its password, for messages."""
        from sqlalchemy.engine import make_url  # same URL grammar; hides the password

        try:
            return make_url(self.broker_url).render_as_string(hide_password=True)
        except Exception:  # not parseable: do not echo it
            return "(configured broker)"
