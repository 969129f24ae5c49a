"""Time rules for job rows."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time this project stores is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def lease_expired(heartbeat_at: datetime | None, now: datetime, lease_seconds: float) -> bool:
    """Whether a running job's worker counts as gone: no heartbeat, or none for longer than the lease."""
    return heartbeat_at is None or now - as_utc(heartbeat_at) > timedelta(seconds=lease_seconds)
