"""Checkpoints: a nested state in, the same state out; never a half-written file."""
from __future__ import annotations

import numpy as np

from worker.training.checkpoint import load_checkpoint, save_checkpoint


def test_nested_state_round_trips(tmp_path):
    state = {"weights": {"conv2d_1.weight": np.arange(6, dtype=np.float32).reshape(2, 3)},
             "trainer": {"step": np.array(7), "optimizer.momentum": [np.ones(2), np.zeros(1)]},
             "position": {"epoch": 1, "seq": 12, "window_loss": 0.25, "rng": 2**100 + 1, "name": "x"}}
    path = tmp_path / "checkpoints" / "job-1.npz"
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    np.testing.assert_array_equal(loaded["weights"]["conv2d_1.weight"], state["weights"]["conv2d_1.weight"])
    assert loaded["weights"]["conv2d_1.weight"].dtype == np.float32
    assert int(loaded["trainer"]["step"]) == 7
    np.testing.assert_array_equal(loaded["trainer"]["optimizer.momentum"][0], np.ones(2))
    assert loaded["position"] == state["position"]
    assert [p.name for p in path.parent.iterdir()] == ["job-1.npz"]  # no partial file left


def test_missing_checkpoint_is_none(tmp_path):
    assert load_checkpoint(tmp_path / "job-2.npz") is None


def test_a_new_checkpoint_replaces_the_old_one_whole(tmp_path):
    path = tmp_path / "job-3.npz"
    save_checkpoint(path, {"position": {"seq": 1}})
    save_checkpoint(path, {"position": {"seq": 2}})
    assert load_checkpoint(path)["position"]["seq"] == 2
