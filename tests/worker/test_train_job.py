"""The train task's body, in-process on SQLite: success, resume after a stop or a crash, cancel, NaN."""
from __future__ import annotations

import dataclasses
import re
import threading
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select, update

from shared.cnn import load_model
from shared.db.models import Job, Metric, Model, utcnow
from shared.db.session import session_scope
from shared.jobs import TrainParams, resolved_params
from tests.worker.conftest import job_row, stored_checkpoints
from worker.training.evaluate_job import run_evaluate_job
from worker.training.train_job import run_train_job


class StopAfter(threading.Event):
    """Reads as set from the `calls`-th check on: the loop checks once per step."""

    def __init__(self, calls: int, action=None):
        super().__init__()
        self.remaining = calls
        self.action = action

    def is_set(self) -> bool:
        self.remaining -= 1
        if self.remaining == 0 and self.action:
            self.action()
        return self.remaining <= 0 and self.action is None


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing in the task catches it, so nothing is cleaned up."""


def metric_rows(settings, job_id: int) -> list[tuple]:
    with session_scope(settings.database_url) as session:
        return session.execute(
            select(Metric.seq, Metric.kind, Metric.epoch, Metric.step, Metric.loss, Metric.accuracy)
            .where(Metric.job_id == job_id).order_by(Metric.seq)).all()


def model_weights(settings, job_id: int) -> dict[str, np.ndarray]:
    with session_scope(settings.database_url) as session:
        path = session.scalar(select(Model.path).where(Model.job_id == job_id))
    net, _metadata = load_model(settings.artifact_dir / path)
    return net.state_arrays()


def test_job_trains_and_stores_model_metrics_and_result(settings, make_job, no_stop):
    job_id = make_job()
    assert run_train_job(job_id, "w1", settings, no_stop) == "succeeded"
    job = job_row(settings, job_id)
    assert job.status == "succeeded" and job.error is None and job.finished_at is not None
    assert (job.epoch, job.epochs, job.step, job.steps) == (2, 2, 16, 16)  # 120 train samples / 16 -> 8 a epoch
    rows = metric_rows(settings, job_id)
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    assert [row.kind for row in rows].count("val") == 2
    assert rows[-1].loss < rows[0].loss
    assert job.result["split"] == "test" and 0 <= job.result["accuracy"] <= 1
    assert np.asarray(job.result["confusion_matrix"]).sum() == 30
    assert set(job.latest_metrics) >= {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    _net, metadata = load_model(settings.artifact_dir / _model_path(settings, job.model_id))
    assert metadata["class_names"] == ["a", "b", "c"] and metadata["mean"] == [0.35]
    assert stored_checkpoints(settings, job_id) == []


def test_the_row_says_the_parameters_the_job_runs_with(settings, make_job):
    job_id = make_job()  # partial params, as an older row has them
    with session_scope(settings.database_url) as session:
        partial = session.get(Job, job_id).params
    seen_while_training = []
    stop = StopAfter(1, action=lambda: seen_while_training.append(job_row(settings, job_id).params))
    assert run_train_job(job_id, "w1", settings, stop) == "succeeded"
    # 120 training samples in batches of 16: 8 steps an epoch, too few for 20 points, so every step is
    # logged; 16 images a step are too few to share, so one process.
    expected = resolved_params(TrainParams(**partial, workers=1, log_every_steps=1))
    assert seen_while_training == [expected]
    assert job_row(settings, job_id).params == expected


def test_the_recipe_changes_what_is_trained(settings, make_job, no_stop):
    plain, smoothed = make_job(), make_job(label_smoothing=0.1)
    assert run_train_job(plain, "w1", settings, no_stop) == "succeeded"
    assert run_train_job(smoothed, "w1", settings, no_stop) == "succeeded"
    assert job_row(settings, smoothed).params["label_smoothing"] == 0.1
    first = metric_rows(settings, plain)[0].loss, metric_rows(settings, smoothed)[0].loss
    assert first[1] != pytest.approx(first[0], rel=1e-6)  # the same batches, another loss


def _model_path(settings, model_id: int):
    with session_scope(settings.database_url) as session:
        return session.get(Model, model_id).path


# warm-up then cosine, label smoothing, random crop, flip and erasing: all seeded, so all resumable
RECIPE = {"schedule": {"type": "cosine", "warmup_steps": 4}, "label_smoothing": 0.1,
          "augment": {"crop_padding": 2, "flip": True, "erase": 0.5}}


@pytest.mark.parametrize("recipe", [{}, RECIPE], ids=["plain", "recipe"])
def test_resume_after_shutdown_matches_uninterrupted_run(settings, make_job, no_stop, recipe):
    params = {"checkpoint_every_steps": 3, **recipe}
    straight, interrupted = make_job(**params), make_job(**params)
    assert run_train_job(straight, "w1", settings, no_stop) == "succeeded"

    assert run_train_job(interrupted, "w1", settings, StopAfter(11)) == "requeued"
    job = job_row(settings, interrupted)
    assert job.status == "queued" and job.worker_name is None
    assert stored_checkpoints(settings, interrupted) == [job.checkpoint_path]  # the latest only

    assert run_train_job(interrupted, "w2", settings, no_stop) == "succeeded"
    assert job_row(settings, interrupted).attempt == 2
    for key, value in model_weights(settings, straight).items():
        np.testing.assert_allclose(model_weights(settings, interrupted)[key], value, rtol=1e-6, atol=1e-7)
    assert [r[:4] for r in metric_rows(settings, interrupted)] == [r[:4] for r in metric_rows(settings, straight)]


def test_resume_after_crash_drops_metrics_logged_after_the_checkpoint(settings, make_job, no_stop):
    params = {"checkpoint_every_steps": 4, "log_every_steps": 1}
    straight, crashed = make_job(**params), make_job(**params)
    assert run_train_job(straight, "w1", settings, no_stop) == "succeeded"

    def kill():
        raise WorkerKilled()

    with pytest.raises(WorkerKilled):
        run_train_job(crashed, "w1", settings, StopAfter(11, action=kill))
    assert job_row(settings, crashed).status == "running"
    # Steps 9-11 were logged after the step-8 checkpoint.
    assert max(row.step for row in metric_rows(settings, crashed)) == 11
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == crashed).values(heartbeat_at=utcnow() - timedelta(hours=1)))

    assert run_train_job(crashed, "w2", settings, no_stop) == "succeeded"
    rows, expected = metric_rows(settings, crashed), metric_rows(settings, straight)
    assert [row.seq for row in rows] == list(range(1, len(expected) + 1))
    assert [r[:4] for r in rows] == [r[:4] for r in expected]
    np.testing.assert_allclose([r.loss for r in rows], [r.loss for r in expected], rtol=1e-5)
    for key, value in model_weights(settings, straight).items():
        np.testing.assert_allclose(model_weights(settings, crashed)[key], value, rtol=1e-6, atol=1e-7)


def test_cancel_while_running_stops_the_job(settings, make_job):
    job_id = make_job(epochs=50)

    def request_cancel():
        with session_scope(settings.database_url) as session:
            session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))

    assert run_train_job(job_id, "w1", settings, StopAfter(3, action=request_cancel)) == "cancelled"
    job = job_row(settings, job_id)
    assert job.status == "cancelled" and job.model_id is None and job.step < 50 * 8
    assert stored_checkpoints(settings, job_id) == []
    # A later delivery of the same message does nothing.
    assert run_train_job(job_id, "w2", settings, threading.Event()) == "skipped"
    assert job_row(settings, job_id).status == "cancelled"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_fails_with_an_actionable_message(settings, make_job, no_stop):
    job_id = make_job(optimizer={"type": "sgd", "lr": 10, "momentum": 0.99})
    assert run_train_job(job_id, "w1", settings, no_stop) == "failed"
    job = job_row(settings, job_id)
    assert job.status == "failed"
    assert re.fullmatch(r"loss became (NaN|infinite) at epoch \d+ step \d+; "
                        r"try a smaller learning rate \(now 10\)", job.error), job.error


def test_bad_parameter_fails_with_its_name(settings, make_job, no_stop):
    job_id = make_job(batch_size=0)
    assert run_train_job(job_id, "w1", settings, no_stop) == "failed"
    assert "batch_size=0" in job_row(settings, job_id).error


@pytest.mark.parametrize("params", [{}, {"batch_size": 7}])
def test_evaluate_job_scores_the_trained_model(settings, make_job, no_stop, dataset_id, params):
    train_id = make_job()
    run_train_job(train_id, "w1", settings, no_stop)
    trained = job_row(settings, train_id)
    with session_scope(settings.database_url) as session:
        job = Job(kind="evaluate", dataset_id=dataset_id, model_id=trained.model_id, params=params)
        session.add(job)
        session.flush()
        evaluate_id = job.id
    assert run_evaluate_job(evaluate_id, "w1", settings) == "succeeded"
    result = job_row(settings, evaluate_id).result
    assert result["split"] == "test" and result["num_samples"] == 30
    assert result["accuracy"] == pytest.approx(trained.result["accuracy"])
    assert np.asarray(result["confusion_matrix"]).shape == (3, 3)


def test_test_time_flip_scores_the_mirror_images_too_and_the_model_keeps_the_choice(
        settings, make_job, no_stop, dataset_id):
    plain, flipped = make_job(), make_job(test_time_flip=True)
    for job_id in (plain, flipped):
        assert run_train_job(job_id, "w1", settings, no_stop) == "succeeded"
    plain_row, flipped_row = job_row(settings, plain), job_row(settings, flipped)
    # The same seed trains the same weights; only the scoring differs.
    assert all(np.array_equal(a, b) for a, b in zip(model_weights(settings, plain).values(),
                                                     model_weights(settings, flipped).values()))
    assert (plain_row.result["test_time_flip"], flipped_row.result["test_time_flip"]) == (False, True)
    assert flipped_row.result["loss"] != pytest.approx(plain_row.result["loss"], rel=1e-9)
    assert flipped_row.latest_metrics["val_loss"] != pytest.approx(plain_row.latest_metrics["val_loss"], rel=1e-9)
    _net, metadata = load_model(settings.artifact_dir / _model_path(settings, flipped_row.model_id))
    assert metadata["test_time_flip"] is True
    # An evaluate job scores as the model was trained to be scored, unless it says otherwise.
    results = {}
    for asked in (None, False):
        with session_scope(settings.database_url) as session:
            job = Job(kind="evaluate", dataset_id=dataset_id, model_id=flipped_row.model_id,
                      params={} if asked is None else {"test_time_flip": asked})
            session.add(job)
            session.flush()
            evaluate_id = job.id
        assert run_evaluate_job(evaluate_id, "w1", settings) == "succeeded"
        results[asked] = job_row(settings, evaluate_id).result
    assert results[None]["test_time_flip"] and results[None]["loss"] == pytest.approx(flipped_row.result["loss"])
    assert not results[False]["test_time_flip"] and results[False]["loss"] == pytest.approx(plain_row.result["loss"])


def test_evaluate_job_with_a_bad_batch_size_fails_with_the_reason(settings, make_job, no_stop, dataset_id):
    train_id = make_job()
    run_train_job(train_id, "w1", settings, no_stop)
    with session_scope(settings.database_url) as session:
        job = Job(kind="evaluate", dataset_id=dataset_id, model_id=job_row(settings, train_id).model_id,
                  params={"batch_size": 0})
        session.add(job)
        session.flush()
        evaluate_id = job.id
    assert run_evaluate_job(evaluate_id, "w1", settings) == "failed"
    assert job_row(settings, evaluate_id).error == "parameter batch_size=0: Input should be greater than or equal to 1"


def test_job_too_big_for_the_worker_is_refused_with_the_estimate(settings, make_job, no_stop):
    job_id = make_job(batch_size=64)
    limited = dataclasses.replace(settings, worker_memory_bytes=10_000)
    assert run_train_job(job_id, "w1", limited, no_stop) == "failed"
    job = job_row(settings, job_id)
    assert re.fullmatch(r"the job needs about \d+ MiB in 1 process \(up to \d+ MiB each\) but a worker may use "
                        r"9\.8 KiB \(WORKER_MEMORY_BYTES\); use a smaller batch_size, fewer workers or a smaller "
                        r"network", job.error), job.error
    assert job.step == 0 and job.model_id is None
