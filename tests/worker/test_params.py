"""Job parameters on the worker's side: the job contract's models parse the row, old rows get the
defaults, the worker decides the processes, and bad values are named."""
import os
import re

import pytest

from services.api.schemas.jobs import TrainJobRequest
from shared.jobs import DEFAULT_OPTIMIZER, EvaluateParams, TrainParams, resolved_params
from worker.lifecycle.errors import JobFailed
from worker.training.params import MIN_IMAGES_PER_SHARD, parse_evaluate_params, parse_train_params


def test_workers_default_to_the_cores_but_keep_shards_large_enough(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    assert parse_train_params({"batch_size": 64}).workers == 1
    assert parse_train_params({"batch_size": 2 * MIN_IMAGES_PER_SHARD}).workers == 2
    assert parse_train_params({"batch_size": 512}).workers == 4  # capped by the cores
    assert parse_train_params({"batch_size": 512, "workers": 1}).workers == 1  # said is said


def test_workers_default_on_one_core_is_in_process(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert parse_train_params({"batch_size": 1024}).workers == 1


def test_params_the_api_stores_parse_unchanged_in_the_worker():
    request = TrainJobRequest.model_validate({"kind": "train", "network_id": 1, "dataset_id": 1, "params": {
        "epochs": 3, "batch_size": 32, "optimizer": {"type": "adam", "lr": 0.002},
        "schedule": {"type": "cosine", "warmup_steps": 2}, "workers": 2, "log_every_steps": 5,
        "augment": {"flip": True}, "scoring_batch_size": 100}})
    stored = resolved_params(request.params)
    assert resolved_params(parse_train_params(stored)) == stored


def test_stored_params_name_every_field():
    stored = resolved_params(TrainParams())
    assert set(stored) == set(TrainParams.model_fields)
    assert stored["optimizer"]["lr"] == DEFAULT_OPTIMIZER["lr"]
    assert (stored["checkpoint_every_steps"], stored["scoring_batch_size"]) == (500, 256)
    # Only what the worker decides is left open, and the model says so.
    assert [name for name, value in stored.items() if value is None] == ["schedule", "workers", "log_every_steps"]


def test_an_older_row_with_partial_params_gets_the_defaults(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    parsed = parse_train_params({"epochs": 2, "batch_size": 128})
    assert (parsed.epochs, parsed.batch_size, parsed.workers) == (2, 128, 2)
    assert parsed.optimizer.model_dump(include={"type", "lr", "momentum"}) == DEFAULT_OPTIMIZER
    assert (parsed.validation_split, parsed.seed, parsed.scoring_batch_size) == (0.1, 0, 256)
    assert parse_train_params(None).epochs == 1
    assert parse_evaluate_params({}) == EvaluateParams(batch_size=256)


@pytest.mark.parametrize("params, message", [
    ({"workers": 0}, "parameter workers=0: Input should be greater than or equal to 1"),
    ({"batch_size": 2.5}, "parameter batch_size=2.5: "),
    ({"validation_split": 1.0}, "parameter validation_split=1.0: Input should be less than 1"),
    ({"optimizer": "adam"}, "parameter optimizer='adam': "),
    ({"optimizer": {"type": "rmsprop"}}, "parameter optimizer.type='rmsprop': "),
    ({"epoch": 3}, "parameter epoch=3: Extra inputs are not permitted"),
])
def test_bad_values_are_named(params, message):
    with pytest.raises(JobFailed, match="^" + re.escape(message)):
        parse_train_params(params)


def test_evaluate_batch_size_is_checked():
    assert parse_evaluate_params({"batch_size": 32}).batch_size == 32
    message = "parameter batch_size=0: Input should be greater than or equal to 1"
    with pytest.raises(JobFailed, match=re.escape(message)):
        parse_evaluate_params({"batch_size": 0})
