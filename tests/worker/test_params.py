"""Job parameters: defaults and the messages for bad values."""
import os
import re

import pytest

from worker.lifecycle.errors import JobFailed
from worker.training.params import MIN_IMAGES_PER_SHARD, parse_evaluate_batch_size, parse_train_params


def test_workers_default_to_the_cores_but_keep_shards_large_enough(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    assert parse_train_params({"batch_size": 64}).workers == 1
    assert parse_train_params({"batch_size": 2 * MIN_IMAGES_PER_SHARD}).workers == 2
    assert parse_train_params({"batch_size": 512}).workers == 4  # capped by the cores
    assert parse_train_params({"batch_size": 512, "workers": 1}).workers == 1  # said is said


def test_workers_default_on_one_core_is_in_process(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert parse_train_params({"batch_size": 1024}).workers == 1


@pytest.mark.parametrize("params, message", [
    ({"workers": 0}, "workers=0 must be a whole number from 1 to 256"),
    ({"batch_size": 2.5}, "batch_size=2.5 must be a whole number"),
    ({"validation_split": 1.0}, "validation_split=1.0 must be a number in [0, 1)"),
    ({"optimizer": "adam"}, "optimizer='adam' must be an object"),
])
def test_bad_values_are_named(params, message):
    with pytest.raises(JobFailed, match=re.escape(message)):
        parse_train_params(params)


def test_evaluate_batch_size_defaults_and_is_checked():
    assert parse_evaluate_batch_size(None) == 256
    assert parse_evaluate_batch_size({"batch_size": 32}) == 32
    with pytest.raises(JobFailed, match=re.escape("batch_size=0 must be a whole number from 1 to 65536")):
        parse_evaluate_batch_size({"batch_size": 0})
