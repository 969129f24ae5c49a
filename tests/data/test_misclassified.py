from shared.misclassified import misclassified_examples


def test_cells_list_the_first_indices_of_each_mistake():
    y_true = [0, 1, 1, 2, 1, 1, 0, 2]
    y_pred = [0, 2, 2, 2, 0, 2, 2, 0]
    assert misclassified_examples(y_true, y_pred, per_cell=2) == [
        {"true": 0, "predicted": 2, "indices": [6]},
        {"true": 1, "predicted": 0, "indices": [4]},
        {"true": 1, "predicted": 2, "indices": [1, 2]},  # index 5 is past the per-cell limit
        {"true": 2, "predicted": 0, "indices": [7]},
    ]
    assert misclassified_examples([1, 2], [1, 2]) == []
