"""Classifiers kept as plain arrays give scikit-learn's posteriors, and their files hold no pickle."""
import io

import numpy as np
import pytest
import torch

from serkit.classical import _make, load_classical_config
from serkit.classifiers import ArrayClassifier, classifier_arrays, max_difference
from serkit.errors import SerkitError


def _data(n_classes, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(120) % n_classes
    X = rng.normal(size=(120, 6))
    X[:, 0] += 1.5 * y
    X[:, 1] -= y
    return X, y, rng.normal(size=(40, 6)) * 2


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("classifier,kernel", [("svm", "rbf"), ("svm", "linear"),
                                               ("logreg", "rbf"), ("rf", "rbf")])
def test_arrays_give_scikit_learns_posteriors(n_classes, classifier, kernel):
    X, y, X_new = _data(n_classes)
    cfg = load_classical_config(None, ["--classifier", classifier, "--svm_kernel", kernel, "--rf_trees", "20"])
    clf = _make(cfg, 1.0).fit(X, y + 1)   # class 0 of the list never seen in training
    arrays = classifier_arrays(clf, n_classes + 1)
    buf = io.BytesIO()
    torch.save(arrays, buf)
    buf.seek(0)
    back = ArrayClassifier(torch.load(buf, weights_only=True))   # plain data: no pickled object
    p = back.probs(X_new)
    assert p.shape == (40, n_classes + 1)
    assert np.array_equal(p[:, 0], np.zeros(40))                 # the unseen class
    assert np.allclose(p.sum(1), 1.0)
    assert np.abs(p[:, 1:] - clf.predict_proba(X_new)).max() < 1e-12
    assert max_difference(clf, arrays, X_new) < 1e-12
    assert (p.argmax(1) == clf.predict(X_new)).all()


def test_a_svm_without_its_calibration_is_caught():
    """The check itself can fail: arrays whose Platt sigmoids are changed are far from scikit-learn."""
    X, y, X_new = _data(3)
    clf = _make(load_classical_config(None, []), 1.0).fit(X, y)
    arrays = classifier_arrays(clf, 3)
    arrays["platt_a"] = torch.zeros_like(arrays["platt_a"])
    assert max_difference(clf, arrays, X_new) > 0.05


def test_damaged_arrays_and_other_estimators_give_one_line():
    from sklearn.neighbors import KNeighborsClassifier

    X, y, _ = _data(3)
    with pytest.raises(SerkitError, match="KNeighborsClassifier: not a classifier serkit keeps"):
        classifier_arrays(KNeighborsClassifier().fit(X, y), 3)
    with pytest.raises(SerkitError, match="damaged classifier"):
        ArrayClassifier({"kind": "svm"})
