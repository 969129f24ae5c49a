"""Worker writes outlive a brief database outage and give up on real errors at once."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from worker.lifecycle import db_retry


def test_connection_errors_are_retried_until_the_write_succeeds(monkeypatch):
    monkeypatch.setattr(db_retry.time, "sleep", lambda seconds: None)
    calls = []

    def write():
        calls.append(1)
        if len(calls) < 4:
            raise OperationalError("UPDATE jobs", {}, Exception("connection refused"))
        return "written"

    assert db_retry.with_retry(write, "saving progress") == "written"
    assert len(calls) == 4


def test_other_database_errors_are_not_retried(monkeypatch):
    monkeypatch.setattr(db_retry.time, "sleep", lambda seconds: None)
    calls = []

    def write():
        calls.append(1)
        raise IntegrityError("INSERT INTO metrics", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        db_retry.with_retry(write, "saving metrics")
    assert len(calls) == 1


def test_retries_stop_after_the_deadline(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(db_retry.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(db_retry.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))

    def write():
        raise OperationalError("UPDATE jobs", {}, Exception("connection refused"))

    with pytest.raises(OperationalError):
        db_retry.with_retry(write, "saving progress")
    assert clock[0] <= db_retry.RETRY_SECONDS
