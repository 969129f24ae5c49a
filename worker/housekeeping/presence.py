"""A worker's presence in Redis: one key per worker, refreshed by a thread, expiring soon after the
worker dies. A solo-pool worker busy with a job answers no broadcast ping until the job ends, so the
API's health check reads these keys as well as the ping replies."""
from __future__ import annotations

import logging
import threading
import time

import redis

from shared.queue import WORKER_PRESENCE_PREFIX

log = logging.getLogger(__name__)


def start_presence(broker_url: str, worker_name: str, ttl_seconds: float, stopping: threading.Event
                   ) -> threading.Thread:
    key = WORKER_PRESENCE_PREFIX + worker_name
    ttl = max(int(ttl_seconds), 3)

    def loop() -> None:
        client = redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=5)
        while True:
            try:
                client.set(key, str(time.time()), ex=ttl)
            except redis.RedisError as exc:  # the broker restarting; the next beat tries again
                log.warning("could not announce %s: %s", worker_name, exc)
            if stopping.wait(ttl / 3):
                break
        try:
            client.delete(key)
        except redis.RedisError:
            pass  # it expires on its own

    thread = threading.Thread(target=loop, name="convforge-presence", daemon=True)
    thread.start()
    return thread
