"""The train task's body with `workers` > 1, in-process on SQLite: same model as one process, also
across a shutdown and resume (dropout masks continue the sample stream), and cancel or a failure
leave nothing behind (checked by the autouse fixture in conftest.py)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import select, update

from shared.cnn import load_model
from shared.db.models import Job, Model
from shared.db.session import session_scope
from tests.worker.conftest import dataset_id, job_row, make_job, network_id, settings  # noqa: F401
from tests.worker.test_train_job import StopAfter
from worker.training.train_job import run_train_job

PARAMS = {"checkpoint_every_steps": 3}  # the tiny network of tests/worker has a dropout layer


def model_weights(settings, job_id: int) -> dict[str, np.ndarray]:  # noqa: F811
    with session_scope(settings.database_url) as session:
        path = session.scalar(select(Model.path).where(Model.job_id == job_id))
    net, _metadata = load_model(settings.artifact_dir / path)
    return net.state_arrays()


def test_workers_2_resumed_job_matches_uninterrupted_single_process(settings, make_job):  # noqa: F811
    single, parallel = make_job(workers=1, **PARAMS), make_job(workers=2, **PARAMS)
    assert run_train_job(single, "w1", settings, threading.Event()) == "succeeded"

    assert run_train_job(parallel, "w1", settings, StopAfter(5)) == "requeued"
    assert run_train_job(parallel, "w2", settings, threading.Event()) == "succeeded"
    assert job_row(settings, parallel).attempt == 2
    expected, actual = model_weights(settings, single), model_weights(settings, parallel)
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the exploding loss
def test_cancel_and_failure_with_workers_3(settings, make_job):  # noqa: F811
    cancelled = make_job(workers=3, epochs=50)

    def request_cancel():
        with session_scope(settings.database_url) as session:
            session.execute(update(Job).where(Job.id == cancelled).values(cancel_requested=True))

    assert run_train_job(cancelled, "w1", settings, StopAfter(3, action=request_cancel)) == "cancelled"

    exploding = make_job(workers=3, optimizer={"type": "sgd", "lr": 10, "momentum": 0.99})
    assert run_train_job(exploding, "w1", settings, threading.Event()) == "failed"
    assert "smaller learning rate" in job_row(settings, exploding).error
