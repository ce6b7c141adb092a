"""Decode a data dir with a trained model: ``predictions/<set>.tsv`` with class probabilities."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import DataLoader

from serkit.config import Config, config_from_dict
from serkit.data.datadir import DataDir
from serkit.data.dataset import FeatDataset, collate
from serkit.data.sampler import BucketBatchSampler
from serkit.errors import SerkitError
from serkit.features.cmvn import CMVN
from serkit.features.storage import FeatReader
from serkit.models.model import MultiTaskModel
from serkit.text.vocab import greedy_ctc, normalize_transcript
from serkit.train.checkpoint import load_checkpoint

TSV_HEADER = ("utt", "gold", "pred")
TEXT_COLUMNS = ("ref", "hyp")   # models with a CTC head: normalised transcript and greedy CTC output


def load_model(exp_dir: str | os.PathLike, which: str = "best"):
    """Model, config and classes from ``exp_dir/checkpoints/<which>.pt`` (self-describing)."""
    ck = load_checkpoint(Path(exp_dir) / "checkpoints" / f"{which}.pt")
    cfg: Config = config_from_dict(ck["config"])
    # the checkpoint holds every weight, and the architecture of encoders that were built from a
    # pretrained file: the model is rebuilt from it alone
    model = MultiTaskModel(ck["input_dim"], cfg.model, ck["classes"], architecture=ck.get("architecture"))
    model.load_state_dict(ck["model"])
    model.eval()
    return model, cfg, ck["classes"]


@torch.no_grad()
def predict(exp_dir: str | os.PathLike, data_dir: str | os.PathLike, feats: str, cmvn_stats: Optional[str],
            out_tsv: str | os.PathLike, batch_size: int = 32, model=None) -> int:
    """Write ``out_tsv``; ``model`` is ``load_model(exp_dir)``'s result when already loaded."""
    model, cfg, classes = model or load_model(exp_dir)
    data = DataDir.load(data_dir)
    reader = FeatReader(feats)
    if reader.dim != model.input_dim:
        raise SerkitError(f"{feats}: features have {reader.dim} columns, the model of {exp_dir} expects "
                          f"{model.input_dim}: decode with the features it was trained on")
    names = classes["emotion"]
    has_gold = data.has("utt2emo")
    ds = FeatDataset(data, reader, CMVN(cmvn_stats, cfg.data.cmvn), {"emotion": names}, with_targets=has_gold)
    loader = DataLoader(ds, batch_sampler=BucketBatchSampler(ds.lengths, batch_size, shuffle=False),
                        collate_fn=collate)
    ctc = "ctc" in model.heads
    refs = data.get("text") if ctc and data.has("text") else {}
    rows = []
    for batch in loader:
        out, enc_lengths = model.outputs(batch["feats"], batch["lengths"])
        probs = out["emotion"].softmax(-1)
        hyps = greedy_ctc(out["ctc"], enc_lengths, classes["ctc"]) if ctc else None
        gold = batch["targets"].get("emotion")
        for b, utt in enumerate(batch["utts"]):
            g = names[int(gold[b])] if gold is not None else "-"
            p = probs[b]
            row = (utt, g, names[int(p.argmax())], *(f"{float(v):.5f}" for v in p))
            if ctc:   # transcripts as a by-product: the normalised reference and the greedy CTC output
                row += (normalize_transcript(refs.get(utt, "")), hyps[b])
            rows.append(row)
    write_predictions(out_tsv, names, rows, with_text=ctc)
    return len(rows)


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
    import numpy as np

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
