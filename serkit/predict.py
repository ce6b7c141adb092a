"""Decode a data dir with a trained model: ``predictions/<set>.tsv`` with class probabilities."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import DataLoader

from serkit.checkpoint import load_checkpoint
from serkit.config import Config, config_from_dict
from serkit.data.datadir import DataDir
from serkit.data.dataset import FeatDataset, emotion_targets
from serkit.data.sampler import BucketBatchSampler
from serkit.errors import ConfigError, SerkitError
from serkit.features.cmvn import CMVN
from serkit.features.storage import FeatReader
from serkit.models.model import MultiTaskModel
from serkit.predictions import write_predictions


def load_model(exp_dir: str | os.PathLike, which: str = "best"):
    """Model, config and classes of a trained run. ``which``: ``best`` (the selected model: with
    ``train.average_best`` the average of the k best valid epochs), ``last`` (the last epoch),
    ``top1`` (the best valid epoch alone, among those kept for the average) or ``epoch<N>`` (a kept
    epoch); an epoch's file holds its weights only, the rest comes from ``last.pt``."""
    ckpt_dir = Path(exp_dir) / "checkpoints"
    if which in ("best", "last"):
        return model_from_checkpoint(load_checkpoint(ckpt_dir / f"{which}.pt"))
    if which != "top1" and not re.fullmatch(r"epoch[0-9]+", which):
        raise ConfigError(f"checkpoint '{which}': give best, last, top1 or epoch<N>")
    last = load_checkpoint(ckpt_dir / "last.pt")
    if which == "top1":
        top = last["state"].get("top")
        if not top:
            raise ConfigError(f"{ckpt_dir}: no epoch weights were kept (train.average_best was not above 1)")
        which = f"epoch{top[0][1]}"   # the kept list is sorted best first
    return model_from_checkpoint(dict(last, model=load_checkpoint(ckpt_dir / f"{which}.pt")["model"]))


def model_from_checkpoint(ck: dict):
    """Model (eval mode), config and classes from a loaded checkpoint or model package: it holds
    every weight, and the architecture of encoders that were built from a pretrained file, so the
    model is rebuilt from it alone."""
    cfg: Config = config_from_dict(ck["config"])
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
    ds = FeatDataset(data, reader, CMVN(cmvn_stats, cfg.data.cmvn),
                     emotion_targets(names) if data.has("utt2emo") else None)
    loader = DataLoader(ds, batch_sampler=BucketBatchSampler(ds.lengths, batch_size, shuffle=False),
                        collate_fn=ds.collate_fn)
    # heads that add columns to the predictions file (the ctc head: reference and greedy transcript)
    extra = {k: t for k, t in model.head_types.items() if t.prediction_columns}
    rows = []
    for batch in loader:
        out, enc_lengths = model.outputs(batch["feats"], batch["lengths"])
        probs = out["emotion"].softmax(-1)
        cols = [t.predict(out[k], enc_lengths, classes[k], data, batch["utts"]) for k, t in extra.items()]
        gold = batch["targets"].get("emotion")
        for b, utt in enumerate(batch["utts"]):
            g = names[int(gold[b])] if gold is not None else "-"
            p = probs[b]
            row = (utt, g, names[int(p.argmax())], *(f"{float(v):.5f}" for v in p))
            rows.append(row + tuple(v for c in cols for v in c[b]))
    write_predictions(out_tsv, names, rows, extra_columns=[c for t in extra.values() for c in t.prediction_columns])
    return len(rows)
