"""JSON-lines logs: one object a line; lines logged while a job runs carry its id and attempt."""
from __future__ import annotations

import io
import json
import logging

import pytest

from shared.logs import job_context, use_log_format
from worker.training.train_job import run_train_job


@pytest.fixture
def json_lines():
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    use_log_format("json", [handler])
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.removeHandler(handler)
    root.level = level


def test_lines_about_a_job_carry_its_id_and_attempt(json_lines):
    log = logging.getLogger("convforge.test")
    log.info("before")
    with job_context(7, 2):
        log.warning("during %s", "it")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")
    log.info("after")
    before, during, failed, after = json_lines()
    assert "job_id" not in before and "job_id" not in after
    assert (during["message"], during["level"], during["job_id"], during["attempt"]) == ("during it", "WARNING", 7, 2)
    assert "RuntimeError: boom" in failed["exception"] and failed["logger"] == "convforge.test"


def test_a_failing_job_logs_json_with_its_id(json_lines, settings, make_job, no_stop):
    job_id = make_job(optimizer={"type": "sgd", "lr": 1e30})  # the loss overflows: a failed job
    assert run_train_job(job_id, "w1", settings, no_stop) == "failed"
    about_job = [line for line in json_lines() if line.get("job_id") == job_id]
    assert about_job and all(line["attempt"] == 1 for line in about_job)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="CONVFORGE_LOG_FORMAT='xml'"):
        use_log_format("xml", [])
