"""Classification and regression metrics for SER.

WA = overall accuracy = correct / total.
UA = mean over classes of per-class recall (classes with no reference sample are skipped).
macro-F1 = mean over classes of per-class F1.
Dimensional emotion (arousal, valence, dominance): CCC (the usual challenge metric), Pearson r, MAE.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np


def confusion_matrix(gold: Sequence[int], pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` = number of utterances of gold class i predicted as j."""
    gold = np.asarray(gold, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    if gold.shape != pred.shape:
        raise ValueError(f"gold and pred differ in length: {gold.shape} vs {pred.shape}")
    return np.bincount(gold * num_classes + pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def scores_from_confusion(cm: np.ndarray) -> Dict[str, float]:
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "wa": float(tp.sum() / total) if total else 0.0,
        "ua": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "num_utts": int(total),
    }


def classification_scores(gold: Sequence[int], pred: Sequence[int], num_classes: int) -> Dict[str, float]:
    return scores_from_confusion(confusion_matrix(gold, pred, num_classes))


def normalise_rows(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm, dtype=np.float64)
    s = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, s, out=np.zeros_like(cm), where=s > 0)


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance between two token sequences."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def error_rate(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    """Corpus-level error rate: total edits / total reference tokens (CER on chars, WER on words)."""
    errors = sum(edit_distance(r, h) for r, h in zip(refs, hyps))
    n = sum(len(r) for r in refs)
    return errors / n if n else 0.0


def mean_std(values: List[float]) -> tuple:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=0))


def ccc(gold: Sequence[float], pred: Sequence[float]) -> float:
    """Lin's concordance correlation coefficient, 2 cov / (var_g + var_p + (mean_g - mean_p)^2),
    with population (co)variances; 0 where it is undefined (both constant and equal)."""
    g = np.asarray(gold, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if g.shape != p.shape or g.size == 0:
        raise ValueError(f"gold and pred must be non-empty and of one length: {g.shape} vs {p.shape}")
    cov = ((g - g.mean()) * (p - p.mean())).mean()
    denom = g.var() + p.var() + (g.mean() - p.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else 0.0


def pearson(gold: Sequence[float], pred: Sequence[float]) -> float:
    """Pearson's r; 0 where either side is constant."""
    g = np.asarray(gold, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    sg, sp = g.std(), p.std()
    return float(((g - g.mean()) * (p - p.mean())).mean() / (sg * sp)) if sg > 0 and sp > 0 else 0.0


def regression_scores(gold: Sequence[float], pred: Sequence[float]) -> Dict[str, float]:
    """CCC, Pearson r and mean absolute error of one dimension."""
    g = np.asarray(gold, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    return {"ccc": ccc(g, p), "r": pearson(g, p), "mae": float(np.abs(g - p).mean()), "num_utts": int(g.size)}
