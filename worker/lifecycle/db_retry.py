"""Database writes that survive a brief outage: retried with backoff on connection errors.

A worker that loses its database for a few seconds (a restart, a failover) keeps its job instead of
failing it; after `RETRY_SECONDS` the error propagates and the job is left for the reaper.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

RETRY_SECONDS = 120.0
T = TypeVar("T")


def _is_transient(exc: Exception) -> bool:
    # OperationalError covers "connection refused", "server closed the connection" and SQLite's
    # "database is locked"; DBAPIError.connection_invalidated covers a dropped pooled connection.
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def with_retry(action: Callable[[], T], what: str) -> T:
    """Run `action` (one whole transaction), retrying it while the database is unreachable."""
    deadline = time.monotonic() + RETRY_SECONDS
    delay = 0.25
    while True:
        try:
            return action()
        except DBAPIError as exc:
            if not _is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable while %s (%s); retrying in %.1fs", what, exc.orig, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
