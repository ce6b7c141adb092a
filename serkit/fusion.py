"""Late fusion: average the class posteriors of several systems, fold by fold.

Each member is an experiment dir with ``fold<k>/predictions/{valid,test}.tsv`` (a neural model,
a classical one, a seed, or an earlier fusion). The fused posterior of an utterance is
``sum_m w_m p_m / sum_m w_m``. Weights are given (equal by default), or chosen per fold on
that fold's **valid** split (``weights="valid"``: the grid of weights in steps of ``1 / grid``
on the simplex that maximises valid UA; ties go to the most even weights), never on test.
The fused predictions are written in the same TSV format, so ``serkit-score`` scores a fusion
like any system.

Dimensional ratings (``gold_<dim> pred_<dim>`` columns of a regression head) are fused with the
same weights, over the members that predict that dimension (their weights renormalised); the
gold ratings must agree between members.
"""
from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

from serkit.errors import SerkitError
from serkit.metrics import classification_scores
from serkit.predictions import dimension_columns, read_dimensions, read_posteriors, write_predictions

log = logging.getLogger("serkit.fusion")


def _load(member: str | os.PathLike, fold: str, split: str, classes: Optional[List[str]]):
    path = Path(member) / fold / "predictions" / f"{split}.tsv"
    names, utts, gold, probs = read_posteriors(path)
    if classes is not None and names != classes:
        if sorted(names) != sorted(classes):
            raise SerkitError(f"{path}: classes {names} differ from the first system's {classes}")
        probs = probs[:, [names.index(c) for c in classes]]
    return names if classes is None else classes, dict(zip(utts, zip(gold, probs)))


def _stack(members: Sequence[str], fold: str, split: str) -> Tuple[List[str], List[str], List[str], np.ndarray]:
    """-> classes, utts, gold, posteriors (M, N, C) of every member on one fold's split."""
    classes, first = _load(members[0], fold, split, None)
    utts = sorted(first, key=str.encode)
    probs = [np.stack([first[u][1] for u in utts])]
    for m in members[1:]:
        _, table = _load(m, fold, split, classes)
        missing = [u for u in utts if u not in table]
        extra = [u for u in table if u not in first]
        if missing or extra:
            u = (missing or extra)[0]
            raise SerkitError(f"{m}/{fold}/predictions/{split}.tsv: utterance '{u}' is "
                              f"{'missing' if missing else 'not in ' + str(members[0])}: members must predict "
                              "the same utterances")
        probs.append(np.stack([table[u][1] for u in utts]))
    return classes, utts, [first[u][0] for u in utts], np.stack(probs)


def _stack_ratings(members: Sequence[str], fold: str, split: str, utts: List[str]):
    """-> {dim: (member indices, gold (N,), predictions (M_dim, N))} in the order of ``utts``."""
    found: Dict[str, Tuple[List[int], np.ndarray, List[np.ndarray]]] = {}
    for i, m in enumerate(members):
        path = Path(m) / fold / "predictions" / f"{split}.tsv"
        dims, rated_utts, gold, pred = read_dimensions(path)
        if not dims:
            continue
        order = {u: k for k, u in enumerate(rated_utts)}
        rows = [order[u] for u in utts]   # _stack has checked that every member has these utterances
        for k, d in enumerate(dims):
            g, p = gold[rows, k], pred[rows, k]
            if d not in found:
                found[d] = ([], g, [])
            elif not np.allclose(found[d][1], g, atol=1e-4, equal_nan=True):
                u = utts[int(np.argmax(~np.isclose(found[d][1], g, atol=1e-4, equal_nan=True)))]
                raise SerkitError(f"{path}: gold {d} of utterance '{u}' differs from the other members': "
                                  "members must be scored on the same ratings")
            found[d][0].append(i)
            found[d][2].append(p)
    return {d: (idx, g, np.stack(ps)) for d, (idx, g, ps) in found.items()}


def _fmt_rating(x: float) -> str:
    return "-" if np.isnan(x) else f"{x:.4f}"


def weight_grid(n: int, steps: int) -> np.ndarray:
    """All weight vectors of ``n`` members in multiples of 1 / steps that sum to 1, most even first."""
    grid = [np.array(c, dtype=float) / steps for c in itertools.product(range(steps + 1), repeat=n)
            if sum(c) == steps]
    return np.stack(sorted(grid, key=lambda w: (float(np.abs(w - 1.0 / n).sum()), tuple(-w))))


def choose_weights(probs: np.ndarray, gold: Sequence[int], steps: int = 10) -> np.ndarray:
    """The grid weights that maximise UA of the fused posteriors (M, N, C) against ``gold``."""
    best, best_ua = None, -1.0
    n_classes = probs.shape[2]
    for w in weight_grid(probs.shape[0], steps):
        ua = classification_scores(list(gold), np.einsum("m,mnc->nc", w, probs).argmax(1).tolist(), n_classes)["ua"]
        if ua > best_ua + 1e-12:
            best, best_ua = w, ua
    return best


def fuse(members: Sequence[str | os.PathLike], folds: Sequence[str], out_dir: str | os.PathLike,
         weights: Optional[Sequence[float]] = None, choose_on_valid: bool = False, steps: int = 10) -> Dict:
    """Write ``out_dir/<fold>/predictions/{valid,test}.tsv`` and ``out_dir/fusion.yaml``; -> the record."""
    members = [str(m) for m in members]
    if len(members) < 2:
        raise SerkitError("fusion needs at least two systems")
    if weights is not None and len(weights) != len(members):
        raise SerkitError(f"{len(weights)} weights for {len(members)} systems")
    if weights is not None and (min(weights) < 0 or sum(weights) <= 0):
        raise SerkitError(f"fusion weights must be >= 0 with a positive sum, got {list(weights)}")
    out_dir = Path(out_dir)
    record = {"members": members, "method": "mean of posteriors", "folds": {}}
    for fold in folds:
        classes, utts, gold, probs = _stack(members, fold, "valid")
        if choose_on_valid:
            index = {c: i for i, c in enumerate(classes)}
            w = choose_weights(probs, [index[g] for g in gold], steps)
        else:
            w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=float)
        w = w / w.sum()
        record["folds"][fold] = [round(float(x), 6) for x in w]
        for split in ("valid", "test"):
            if split == "test":
                classes, utts, gold, probs = _stack(members, fold, "test")
            fused = np.einsum("m,mnc->nc", w, probs)
            rows = [(u, g, classes[int(p.argmax())], *(f"{v:.5f}" for v in p)) for u, g, p in zip(utts, gold, fused)]
            ratings = _stack_ratings(members, fold, split, utts)
            for d, (idx, g, preds) in ratings.items():
                # weights chosen on valid UA may give these members nothing: then they count equally
                wd = w[idx] / w[idx].sum() if w[idx].sum() > 0 else np.full(len(idx), 1.0 / len(idx))
                p = wd @ preds
                rows = [r + (_fmt_rating(gv), f"{pv:.4f}") for r, gv, pv in zip(rows, g, p)]
                record.setdefault("dimensions", {})[d] = [members[i] for i in idx]
            write_predictions(out_dir / fold / "predictions" / f"{split}.tsv", classes, rows,
                              dimension_columns(list(ratings)))
        log.info("%s: weights %s", fold, record["folds"][fold])
    with open(out_dir / "fusion.yaml", "w") as f:
        yaml.safe_dump(record, f, sort_keys=False)
    return record
