"""The predictions TSV every system writes and every scorer reads (no torch needed).

Columns: ``utt gold pred p_<class> ...`` and, for models with a CTC head, ``ref hyp`` (the
normalised reference transcript and the greedy CTC output). Rows are sorted by utt (C locale);
``gold`` is ``-`` where the data dir has no labels.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from serkit.errors import SerkitError

TSV_HEADER = ("utt", "gold", "pred")
TEXT_COLUMNS = ("ref", "hyp")   # models with a CTC head: normalised transcript and greedy CTC output


def write_predictions(out_tsv: str | os.PathLike, names, rows, with_text: bool = False) -> None:
    """Write rows ``(utt, gold, pred, p_1, ..., p_C[, ref, hyp])`` sorted by utt, atomically."""
    rows = sorted(rows, key=lambda r: r[0].encode())
    out_tsv = Path(out_tsv)
    out_tsv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_tsv.with_name(out_tsv.name + ".tmp")
    with open(tmp, "w") as f:
        f.write("\t".join(TSV_HEADER + tuple(f"p_{c}" for c in names) + (TEXT_COLUMNS if with_text else ())) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    os.replace(tmp, out_tsv)


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
        texts = tuple(header[-2:]) == TEXT_COLUMNS
        rows = []
        for lineno, line in enumerate(f, 2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != len(header):
                raise SerkitError(f"{path}:{lineno}: expected {len(header)} columns, got {len(parts)}")
            row = tuple(parts[:3])
            if with_text:
                row += tuple(parts[-2:]) if texts else (None, None)
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
