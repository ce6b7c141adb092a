"""Pretraining of an encoder on one or more data dirs: self-supervised (FOP, MPC) on unlabelled
features, or CTC on the characters of their transcripts.

The generic ``Trainer`` loop (bucketing, accumulation, AMP, DDP, checkpoints, resume,
TensorBoard) with the data and model swapped: no emotion label is read, every ``valid_every``-th
utterance of each data dir is held out to select the checkpoint on its loss (and, for CTC, to
report the greedy character error rate). ``checkpoints/best.pt`` holds the config and input dim,
so a fine-tune config needs only its path. ``data.augment`` applies to the training utterances:
speed-perturbed copies and SpecAugment for every objective. FOP and MPC then denoise: the masks
corrupt the model's input only, and the frames it predicts are the clean ones. The CTC
vocabulary (a sentencepiece char model of the training transcripts) is kept as
``ctc_vocab.model`` and the symbols in ``classes.yaml``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Dict, List, Optional

import torch
from torch.utils.data import ConcatDataset

from serkit.config import HeadConf
from serkit.data.datadir import DataDir
from serkit.data.dataset import FeatDataset, collate
from serkit.errors import ConfigError
from serkit.features.cmvn import CMVN
from serkit.features.storage import FeatReader
from serkit.models.pretrain import PretrainModel
from serkit.train.distributed import all_reduce_sum
from serkit.train.trainer import Trainer


@dataclass
class PretrainPaths:
    """Inputs of one pretraining run: data dirs with their feats.scp and CMVN statistics."""

    data: List[str]
    feats: List[str]
    cmvn_stats: List[Optional[str]]
    exp_dir: str


class ConcatFeats(ConcatDataset):
    """Several FeatDatasets as one, with the ``lengths`` and ``epoch_seed`` the trainer uses."""

    def __init__(self, parts: List[FeatDataset], targets: Optional[Dict] = None):
        super().__init__(parts)
        self.lengths = [n for p in parts for n in p.lengths]
        # unlabelled: features and lengths only; CTC: the transcripts' character ids too
        self.collate_fn = partial(collate, targets=targets) if targets else collate

    def epoch_lengths(self) -> Optional[List[int]]:
        drawn = [p.epoch_lengths() for p in self.datasets]
        if all(d is None for d in drawn):
            return None
        return [n for p, d in zip(self.datasets, drawn) for n in (p.lengths if d is None else d)]

    @property
    def epoch_seed(self) -> int:
        return self.datasets[0].epoch_seed

    @epoch_seed.setter
    def epoch_seed(self, value: int) -> None:
        for p in self.datasets:
            p.epoch_seed = value


def split_heldout(utts: List[str], every: int):
    """Every ``every``-th utterance in sorted order -> valid; the rest -> train."""
    ordered = sorted(utts)
    valid = ordered[every - 1::every] if every > 0 else []
    held = set(valid)
    return [u for u in ordered if u not in held], valid


class PretrainTrainer(Trainer):
    def _build_data(self):
        cfg, paths = self.cfg, self.paths
        objective = cfg.pretrain.objective
        if objective == "none":
            raise ConfigError("pretrain.objective is 'none': choose fop, mpc or ctc")
        if not (len(paths.data) == len(paths.feats) == len(paths.cmvn_stats)):
            raise ConfigError(f"{len(paths.data)} data dirs, {len(paths.feats)} feats.scp and "
                              f"{len(paths.cmvn_stats)} CMVN files: give one of each per data dir")
        if objective == "ctc" and cfg.data.crop_frames:
            raise ConfigError(f"data.crop_frames is {cfg.data.crop_frames}: the ctc objective needs whole "
                              "utterances (a crop would cut the audio but not its transcript); set it to 0")
        a = cfg.data.augment
        if a.mixup > 0:
            raise ConfigError("data.augment.mixup mixes emotion targets: pretraining has none; set it to 0")
        dirs = [DataDir.load(d) for d in paths.data]
        splits = [split_heldout(d.utts, cfg.pretrain.valid_every) for d in dirs]
        targets, classes = None, {}
        if objective == "ctc":
            targets, classes = self._ctc_targets(dirs, [train for train, _ in splits])
        train_parts, valid_parts, dim = [], [], None
        for data, (train, valid), scp, stats in zip(dirs, splits, paths.feats, paths.cmvn_stats):
            reader = FeatReader(scp)
            if dim is not None and reader.dim != dim:
                raise ConfigError(f"{scp}: {reader.dim}-dim features, but {paths.feats[0]} has {dim}")
            dim = reader.dim
            cmvn = CMVN(stats, cfg.data.cmvn)
            # training utterances only: speed copies, SpecAugment (on the input only for fop / mpc)
            train_parts.append(FeatDataset(data.subset(train, data.path), reader, cmvn, targets,
                                           crop_frames=cfg.data.crop_frames, augment=a,
                                           clean_target=objective != "ctc"))
            if valid:  # valid utterances are cropped too: the same lengths the model trains on
                valid_parts.append(FeatDataset(data.subset(valid, data.path), reader, cmvn, targets,
                                               crop_frames=cfg.data.crop_frames))
        if not valid_parts:
            raise ConfigError("no held-out utterances: pretrain.valid_every must be > 0 and below the corpus size")
        train_targets = dict(train_parts[0].target_specs) if train_parts[0].clean_target else targets
        return ConcatFeats(train_parts, train_targets), ConcatFeats(valid_parts, targets), dim, classes

    def _ctc_targets(self, dirs: List[DataDir], train_utts: List[List[str]]):
        """The character vocabulary of the training transcripts of every data dir -> (targets, classes);
        the ctc head type keeps it (``ctc_vocab.model`` beside the checkpoints)."""
        from serkit.models.heads import CTCType
        from serkit.text.vocab import CharVocab

        texts = []
        for data, utts in zip(dirs, train_utts):
            if not data.has("text"):
                raise ConfigError(f"{data.path}: no 'text' file: the ctc objective needs a transcript per utterance")
            text = data.get("text")
            texts += [text.get(u, "") for u in utts]
        ctc = CTCType("ctc", HeadConf())
        ctc.vocab = CharVocab.train(texts)
        self.head_types = {"ctc": ctc}   # what _write_setup keeps: the vocabulary
        return {"ctc": ctc.targets(ctc.vocab.symbols)}, {"ctc": ctc.vocab.symbols}

    def _build_model(self) -> torch.nn.Module:
        symbols = self.classes.get("ctc")
        return PretrainModel(self.input_dim, self.cfg.model, self.cfg.pretrain,
                             num_symbols=len(symbols) if symbols else None)

    def _describe(self) -> str:
        p = self.cfg.pretrain
        if p.objective == "ctc":
            return f"pretraining {self.cfg.model.encoder} (ctc: {len(self.classes['ctc'])} symbols of the transcripts)"
        what = f"frame t+{p.shift}" if p.objective == "fop" else f"{p.mask_ratio:.0%} masked frames"
        return f"pretraining {self.cfg.model.encoder} ({p.objective}: {p.loss} on {what})"

    def _epoch_line(self, tr: Dict[str, float], va: Dict[str, float]) -> str:
        if "cer" in va:
            return (f"train loss {tr['loss']:.4f} | valid loss {va['loss']:.4f} CER {va['cer']:.4f} "
                    f"({va['utts']:.0f} utts)")
        return f"train loss {tr['loss']:.4f} | valid loss {va['loss']:.4f} ({va['frames']:.0f} frames)"

    @torch.no_grad()
    def evaluate(self) -> Dict[str, float]:
        """Mean loss on the held-out utterances, weighted by frames (FOP, MPC; MPC masks drawn from
        a fixed seed) or by utterances (CTC, which adds the greedy character error rate)."""
        self.model.eval()
        ctc = self.cfg.pretrain.objective == "ctc"
        loss_sum, weight, edits, chars = 0.0, 0.0, 0.0, 0.0
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.cfg.seed + 1)
            for batch in self.valid_loader:
                feats = batch["feats"].to(self.device)
                lengths = batch["lengths"].to(self.device)
                targets = {k: v.to(self.device) for k, v in batch["targets"].items()}
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    loss, _, n, out = self.model(feats, lengths, targets)
                loss_sum += float(loss) * float(n)
                weight += float(n)
                if ctc:
                    e, c = self._char_errors(*out, batch["targets"])
                    edits, chars = edits + e, chars + c
        loss_sum = all_reduce_sum(loss_sum, self.dist, self.device)
        weight = all_reduce_sum(weight, self.dist, self.device)
        if not ctc:
            return {"loss": loss_sum / max(weight, 1.0), "frames": weight}
        edits = all_reduce_sum(edits, self.dist, self.device)
        chars = all_reduce_sum(chars, self.dist, self.device)
        return {"loss": loss_sum / max(weight, 1.0), "cer": edits / max(chars, 1.0), "utts": weight}

    def _char_errors(self, logits: torch.Tensor, lengths: torch.Tensor, targets: Dict[str, torch.Tensor]):
        """(character edits, reference characters) of the greedy CTC output against the targets."""
        from serkit.metrics import edit_distance
        from serkit.text.vocab import greedy_ctc, ids_to_text

        symbols = self.classes["ctc"]
        hyps = greedy_ctc(logits.float(), lengths, symbols)
        refs = [ids_to_text(ids[:n].tolist(), symbols) for ids, n in zip(targets["ctc"], targets["ctc_lengths"])]
        return float(sum(edit_distance(list(r), list(h)) for r, h in zip(refs, hyps))), float(sum(map(len, refs)))
