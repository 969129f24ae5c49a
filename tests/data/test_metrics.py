from __future__ import annotations

import numpy as np
import pytest

from shared.cnn.metrics import classification_report


def test_report_matches_a_hand_computed_confusion_matrix():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 0, 1, 2, 2, 2, 0, 2]
    report = classification_report(np.array(y_true), np.array(y_pred), 3, ["ant", "bee", "cat"])
    # rows: true class, columns: predicted class
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert report["accuracy"] == pytest.approx(6 / 9)
    ant, bee, cat = report["per_class"]
    assert ant == {"name": "ant", "precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3),
                   "f1": pytest.approx(2 / 3), "support": 3}
    assert (bee["precision"], bee["recall"], bee["f1"]) == pytest.approx((1 / 2, 1 / 2, 1 / 2))
    assert (cat["precision"], cat["recall"], cat["support"]) == (pytest.approx(3 / 4), pytest.approx(3 / 4), 4)
    assert report["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 3 / 4) / 3)


def test_classes_never_predicted_or_never_present_score_zero():
    report = classification_report([0, 0, 1], [0, 0, 0], 3)
    assert [c["name"] for c in report["per_class"]] == ["0", "1", "2"]
    assert report["per_class"][1] == {"name": "1", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_class"][2]["support"] == 0 and report["per_class"][2]["f1"] == 0.0
    assert report["per_class"][0]["precision"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("y_true, y_pred, names", [([0, 3], [0, 1], None), ([0, 1], [0], None),
                                                    ([0, 1], [0, -1], None), ([0, 1], [0, 1], ["a"])])
def test_inconsistent_inputs_are_errors(y_true, y_pred, names):
    with pytest.raises(ValueError):
        classification_report(y_true, y_pred, 3 if names is None else 2, names)
