"""scikit-learn classifiers as plain arrays, and their posteriors computed from those arrays.

A fitted classifier of ``serkit.classical`` (standard scaler + logistic regression, standard
scaler + SVM with sigmoid-calibrated probabilities, or random forest) becomes a dict of tensors
and plain values (``classifier_arrays``) that ``torch.load(weights_only=True)`` reads back: a
model file never holds a pickle, whose loading could run code. ``ArrayClassifier`` gives the
same posteriors as the scikit-learn object's ``predict_proba`` (checked when the classifier is
trained) with numpy alone:

- logistic regression: softmax of ``X W^T + b`` (sigmoid of the one column for two classes);
- SVM (RBF or linear kernel): libsvm's one-vs-one decision values (dual coefficients times
  the kernel of the support vectors, plus the intercept), turned into scikit-learn's
  one-vs-rest scores (votes plus confidences squashed into (-1/3, 1/3)), each squashed by its
  class's Platt sigmoid ``1 / (1 + exp(a f + b))`` and normalised to sum to 1;
- random forest: the mean over trees of the class fractions of the leaf each vector reaches
  (vectors compared in float32, as scikit-learn's trees do).
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import torch

from serkit.errors import SerkitError

KINDS = ("logreg", "svm", "rf")


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def classifier_arrays(clf: Any, n_classes: int) -> Dict[str, Any]:
    """A fitted classifier of ``serkit.classical._make`` -> plain data (tensors, numbers, strings).
    ``n_classes``: the length of the class list (classes absent from training get probability 0)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    out: Dict[str, Any] = {"n_classes": int(n_classes), "classes": _t(np.asarray(clf.classes_, np.int64)),
                           "scaler": None}
    steps = list(clf.named_steps.values()) if isinstance(clf, Pipeline) else [clf]
    if isinstance(steps[0], StandardScaler):
        scaler = steps.pop(0)
        scale = scaler.scale_ if scaler.scale_ is not None else np.ones_like(scaler.mean_)
        out["scaler"] = {"mean": _t(scaler.mean_.astype(np.float64)), "scale": _t(scale.astype(np.float64))}
    (est,) = steps
    if isinstance(est, LogisticRegression):
        return out | {"kind": "logreg", "coef": _t(est.coef_), "intercept": _t(est.intercept_)}
    if isinstance(est, CalibratedClassifierCV):
        if est.method != "sigmoid" or len(est.calibrated_classifiers_) != 1:
            raise SerkitError(f"calibration '{est.method}' with {len(est.calibrated_classifiers_)} classifiers: "
                              f"only one sigmoid-calibrated SVM (ensemble=False) is kept as arrays")
        cal = est.calibrated_classifiers_[0]
        svc = cal.estimator
        if svc.kernel not in ("linear", "rbf"):
            raise SerkitError(f"SVM kernel '{svc.kernel}': only linear and rbf are kept as arrays")
        return out | {"kind": "svm", "kernel": str(svc.kernel), "gamma": float(svc._gamma),
                      "support_vectors": _t(svc.support_vectors_),
                      "n_support": _t(np.asarray(svc.n_support_, np.int64)), "dual_coef": _t(svc.dual_coef_),
                      "intercept": _t(svc.intercept_),
                      "platt_a": _t(np.array([float(c.a_) for c in cal.calibrators])),
                      "platt_b": _t(np.array([float(c.b_) for c in cal.calibrators]))}
    if isinstance(est, RandomForestClassifier):
        trees = []
        for tree in est.estimators_:
            t = tree.tree_
            value = t.value[:, 0, :].astype(np.float64)
            value /= np.maximum(value.sum(1, keepdims=True), 1e-300)   # class fractions per node
            trees.append({"left": _t(t.children_left.astype(np.int64)), "right": _t(t.children_right.astype(np.int64)),
                          "feature": _t(t.feature.astype(np.int64)), "threshold": _t(t.threshold.astype(np.float64)),
                          "value": _t(value)})
        return out | {"kind": "rf", "trees": trees}
    raise SerkitError(f"{type(est).__name__}: not a classifier serkit keeps as arrays ({', '.join(KINDS)})")


class ArrayClassifier:
    """The posteriors of a classifier kept by ``classifier_arrays``: ``probs(X)`` -> (N, n_classes)."""

    def __init__(self, arrays: Dict[str, Any]):
        try:
            self.kind = arrays["kind"]
            self.n_classes = int(arrays["n_classes"])
            self.classes = arrays["classes"].numpy()
            s = arrays["scaler"]
            self.scaler = None if s is None else (s["mean"].numpy(), s["scale"].numpy())
            a = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in arrays.items() if k != "trees"}
            if self.kind == "rf":
                self.trees = [{k: v.numpy() for k, v in t.items()} for t in arrays["trees"]]
        except (KeyError, TypeError, AttributeError) as e:
            raise SerkitError(f"a damaged classifier ({type(e).__name__}: {e})") from None
        if self.kind not in KINDS:
            raise SerkitError(f"classifier kind '{self.kind}': not one of {', '.join(KINDS)}")
        self.a = a

    def probs(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float64)
        if self.scaler is not None:
            X = (X - self.scaler[0]) / self.scaler[1]
        p = {"logreg": self._logreg, "svm": self._svm, "rf": self._forest}[self.kind](X)
        out = np.zeros((len(X), self.n_classes))
        out[:, self.classes] = p
        return out

    def _logreg(self, X: np.ndarray) -> np.ndarray:
        z = X @ self.a["coef"].T + self.a["intercept"]
        if z.shape[1] == 1:   # two classes: one logit
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1 - p, p], 1)
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def _kernel(self, X: np.ndarray) -> np.ndarray:
        a, sv = self.a, self.a["support_vectors"]
        if a["kernel"] == "rbf":
            d2 = (X ** 2).sum(1)[:, None] + (sv ** 2).sum(1)[None, :] - 2 * X @ sv.T
            return np.exp(-a["gamma"] * np.maximum(d2, 0))
        return X @ sv.T

    def _svm(self, X: np.ndarray) -> np.ndarray:
        a = self.a
        K = self._kernel(X)                          # (N, n_SV)
        start = np.concatenate([[0], np.cumsum(a["n_support"])])
        C = len(a["n_support"])
        if C == 2:
            dec = (K @ a["dual_coef"][0] + a["intercept"][0])[:, None]
        else:
            # libsvm's one-vs-one values: for the pair (i, j) the support vectors of class i carry
            # coefficients in row j - 1, those of class j in row i
            votes = np.zeros((len(X), C))
            conf = np.zeros((len(X), C))
            k = 0
            for i in range(C):
                si = slice(start[i], start[i + 1])
                for j in range(i + 1, C):
                    sj = slice(start[j], start[j + 1])
                    d = K[:, si] @ a["dual_coef"][j - 1, si] + K[:, sj] @ a["dual_coef"][i, sj] + a["intercept"][k]
                    conf[:, i] += d
                    conf[:, j] -= d
                    votes[:, i] += d >= 0
                    votes[:, j] += d < 0
                    k += 1
            dec = votes + conf / (3 * (np.abs(conf) + 1))   # scikit-learn's one-vs-rest scores
        p = 1.0 / (1.0 + np.exp(a["platt_a"][None, :] * dec + a["platt_b"][None, :]))
        if C == 2:
            return np.stack([1 - p[:, 0], p[:, 0]], 1)
        total = p.sum(1, keepdims=True)
        return np.divide(p, total, out=np.full_like(p, 1.0 / C), where=total != 0)

    def _forest(self, X: np.ndarray) -> np.ndarray:
        X = X.astype(np.float32).astype(np.float64)   # trees compare float32 vectors
        rows = np.arange(len(X))
        p = 0.0
        for t in self.trees:
            node = np.zeros(len(X), np.int64)
            while True:
                inner = t["left"][node] >= 0
                if not inner.any():
                    break
                go_left = X[rows, np.maximum(t["feature"][node], 0)] <= t["threshold"][node]
                node = np.where(inner, np.where(go_left, t["left"][node], t["right"][node]), node)
            p = p + t["value"][node]
        return p / len(self.trees)


def max_difference(clf: Any, arrays: Dict[str, Any], X: np.ndarray) -> float:
    """How far the arrays' posteriors are from the scikit-learn object's on ``X``."""
    got = ArrayClassifier(arrays).probs(X)[:, np.asarray(clf.classes_)]
    return float(np.abs(got - clf.predict_proba(X)).max()) if len(X) else 0.0


__all__: List[str] = ["ArrayClassifier", "classifier_arrays", "max_difference"]
