import numpy as np
import pytest

from serkit.metrics import (classification_scores, confusion_matrix, edit_distance, error_rate,
                            normalise_rows, scores_from_confusion)


def test_scores_on_crafted_confusion():
    # rows gold, cols pred
    cm = np.array([[8, 2, 0],
                   [1, 3, 0],
                   [0, 4, 2]])
    s = scores_from_confusion(cm)
    assert s["num_utts"] == 20
    assert s["wa"] == pytest.approx(13 / 20)
    assert s["ua"] == pytest.approx((8 / 10 + 3 / 4 + 2 / 6) / 3)
    p = np.array([8 / 9, 3 / 9, 2 / 2])
    r = np.array([8 / 10, 3 / 4, 2 / 6])
    assert s["macro_f1"] == pytest.approx(np.mean(2 * p * r / (p + r)))


def test_confusion_from_labels_and_ua_differs_from_wa():
    gold = [0, 0, 0, 0, 1]
    pred = [0, 0, 0, 0, 0]
    cm = confusion_matrix(gold, pred, 2)
    assert cm.tolist() == [[4, 0], [1, 0]]
    s = classification_scores(gold, pred, 2)
    assert s["wa"] == pytest.approx(0.8)
    assert s["ua"] == pytest.approx(0.5)  # majority class guesser: UA is chance


def test_absent_class_is_skipped_in_ua():
    s = classification_scores([0, 0, 1], [0, 1, 1], 3)
    assert s["ua"] == pytest.approx((0.5 + 1.0) / 2)


def test_normalise_rows_handles_empty_rows():
    assert normalise_rows(np.array([[1, 3], [0, 0]])).tolist() == [[0.25, 0.75], [0.0, 0.0]]


def test_edit_distance_and_error_rates():
    assert edit_distance("kitten", "sitting") == 3
    assert error_rate(["abc", "de"], ["abd", "de"]) == pytest.approx(1 / 5)
    assert error_rate([["the", "cat", "sat"]], [["the", "sat"]]) == pytest.approx(1 / 3)


def test_ccc_pearson_mae_on_hand_computed_cases():
    from serkit.metrics import ccc, pearson, regression_scores

    gold = [1.0, 2.0, 3.0]
    assert ccc(gold, gold) == pytest.approx(1.0)
    assert ccc(gold, [2.0, 2.0, 2.0]) == 0.0                      # a constant prediction: no concordance
    # shifted by 1: cov 2/3, variances 2/3 each, squared mean difference 1 -> (4/3) / (7/3)
    assert ccc(gold, [2.0, 3.0, 4.0]) == pytest.approx(4 / 7)
    assert pearson(gold, [2.0, 3.0, 4.0]) == pytest.approx(1.0)
    assert ccc(gold, [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    s = regression_scores(gold, [2.0, 3.0, 4.0])
    assert s["mae"] == pytest.approx(1.0) and s["num_utts"] == 3
    assert ccc([2.0, 2.0], [2.0, 2.0]) == 0.0                      # undefined: reported as 0
