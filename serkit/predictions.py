"""The predictions TSV every system writes and every scorer reads (no torch needed).

Columns: ``utt gold pred p_<class> ...``, then the columns a model's heads add (a CTC head:
``ref hyp``, the normalised reference transcript and the greedy CTC output; a regression head:
``gold_<dim> pred_<dim>`` per dimension, gold ``-`` where unknown). Rows are sorted by utt (C locale);
``gold`` is ``-`` where the data dir has no labels.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from serkit.errors import SerkitError
from serkit.fileio import atomic_write

TSV_HEADER = ("utt", "gold", "pred")
TEXT_COLUMNS = ("ref", "hyp")   # models with a CTC head: normalised transcript and greedy CTC output


def dimension_columns(dimensions) -> tuple:
    """Columns of a regression head: ``gold_<dim> pred_<dim>`` per dimension."""
    return tuple(c for d in dimensions for c in (f"gold_{d}", f"pred_{d}"))


def write_predictions(out_tsv: str | os.PathLike, names, rows, extra_columns: Sequence[str] = ()) -> None:
    """Write rows ``(utt, gold, pred, p_1, ..., p_C, *extra)`` sorted by utt, atomically;
    ``extra_columns`` names the values a model's heads add (``ref hyp`` for a ctc head)."""
    rows = sorted(rows, key=lambda r: r[0].encode())
    out_tsv = Path(out_tsv)
    with atomic_write(out_tsv) as f:
        f.write("\t".join(TSV_HEADER + tuple(f"p_{c}" for c in names) + tuple(extra_columns)) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")


def read_predictions(path: str | os.PathLike, with_text: bool = False):
    """-> (classes, rows [(utt, gold, pred)]) from a predictions TSV; with ``with_text``, rows are
    ``(utt, gold, pred, ref, hyp)`` (``None`` texts where the file has no transcripts)."""
    path = Path(path)
    if not path.exists():
        raise SerkitError(f"predictions not found: {path}")
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        if tuple(header[:3]) != TSV_HEADER:
            raise SerkitError(f"{path}:1: not a predictions file (header {header[:3]})")
        classes = [h[2:] for h in header[3:] if h.startswith("p_")]
        # the transcript columns by name: other heads may add columns of their own
        texts = [header.index(c) for c in TEXT_COLUMNS] if set(TEXT_COLUMNS) <= set(header) else None
        rows = []
        for lineno, line in enumerate(f, 2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != len(header):
                raise SerkitError(f"{path}:{lineno}: expected {len(header)} columns, got {len(parts)}")
            row = tuple(parts[:3])
            if with_text:
                row += tuple(parts[i] for i in texts) if texts else (None, None)
            rows.append(row)
    return classes, rows


def read_posteriors(path: str | os.PathLike):
    """-> (classes, utts, gold labels, posteriors (N, C) float64) from a predictions TSV."""
    classes, rows = read_predictions(path)
    n = len(classes)
    probs = np.zeros((len(rows), n))
    with open(path) as f:
        f.readline()
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            try:
                probs[i] = [float(v) for v in parts[3:3 + n]]
            except ValueError:
                raise SerkitError(f"{path}:{i + 2}: class probabilities are not numbers") from None
    return classes, [r[0] for r in rows], [r[1] for r in rows], probs


def read_dimensions(path: str | os.PathLike):
    """-> (dimensions, utts, gold (N, K) with NaN where unknown, pred (N, K)) of the regression
    columns of a predictions TSV (no dimensions: an empty list)."""
    path = Path(path)
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        dims = [h[5:] for h in header if h.startswith("pred_") and f"gold_{h[5:]}" in header]
        if not dims:
            return [], [], np.zeros((0, 0)), np.zeros((0, 0))
        gi = [header.index(f"gold_{d}") for d in dims]
        pi = [header.index(f"pred_{d}") for d in dims]
        utts, gold, pred = [], [], []
        for lineno, line in enumerate(f, 2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != len(header):
                raise SerkitError(f"{path}:{lineno}: expected {len(header)} columns, got {len(parts)}")
            try:
                gold.append([float("nan") if parts[i] == "-" else float(parts[i]) for i in gi])
                pred.append([float(parts[i]) for i in pi])
            except ValueError:
                raise SerkitError(f"{path}:{lineno}: a dimension value is not a number") from None
            utts.append(parts[0])
    shape = (len(utts), len(dims))
    return dims, utts, np.array(gold, dtype=np.float64).reshape(shape), np.array(pred, dtype=np.float64).reshape(shape)
