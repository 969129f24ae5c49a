"""Log lines as text (the default) or as JSON lines (CONVFORGE_LOG_FORMAT=json), one object a line with
time, level, logger and message; a line logged while a job runs also carries its job_id and attempt."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Iterable, Iterator

LOG_FORMATS = ("text", "json")
_current_job: ContextVar[tuple[int, int] | None] = ContextVar("convforge_job", default=None)


@contextmanager
def job_context(job_id: int, attempt: int) -> Iterator[None]:
    """Lines logged in this block (in this thread) are about this job."""
    token = _current_job.set((job_id, attempt))
    try:
        yield
    finally:
        _current_job.reset(token)


class JobFields(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = _current_job.get()
        if current is not None and not hasattr(record, "job_id"):
            record.job_id, record.attempt = current
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if getattr(record, "job_id", None) is not None:
            line["job_id"], line["attempt"] = record.job_id, record.attempt
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def use_log_format(log_format: str, handlers: Iterable[logging.Handler]) -> None:
    """Give these handlers the job fields, and the JSON format when asked."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"CONVFORGE_LOG_FORMAT={log_format!r}: use one of {', '.join(LOG_FORMATS)}")
    for handler in handlers:
        if not any(isinstance(existing, JobFields) for existing in handler.filters):
            handler.addFilter(JobFields())
        if log_format == "json":
            handler.setFormatter(JsonLines())
