"""Self-supervised pretraining (FOP, MPC) on unlabelled features of one or more data dirs.

The generic ``Trainer`` loop (bucketing, accumulation, AMP, DDP, checkpoints, resume,
TensorBoard) with the data and model swapped: no label file is read, every ``valid_every``-th
utterance of each data dir is held out to select the checkpoint on reconstruction loss.
``checkpoints/best.pt`` holds the config and input dim, so a fine-tune config needs only its path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from torch.utils.data import ConcatDataset

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

    def __init__(self, parts: List[FeatDataset]):
        super().__init__(parts)
        self.lengths = [n for p in parts for n in p.lengths]
        self.collate_fn = collate   # unlabelled: features and lengths only

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
        if cfg.pretrain.objective == "none":
            raise ConfigError("pretrain.objective is 'none': choose fop or mpc")
        if not (len(paths.data) == len(paths.feats) == len(paths.cmvn_stats)):
            raise ConfigError(f"{len(paths.data)} data dirs, {len(paths.feats)} feats.scp and "
                              f"{len(paths.cmvn_stats)} CMVN files: give one of each per data dir")
        train_parts, valid_parts, dim = [], [], None
        for data_dir, scp, stats in zip(paths.data, paths.feats, paths.cmvn_stats):
            data = DataDir.load(data_dir)
            reader = FeatReader(scp)
            if dim is not None and reader.dim != dim:
                raise ConfigError(f"{scp}: {reader.dim}-dim features, but {paths.feats[0]} has {dim}")
            dim = reader.dim
            cmvn = CMVN(stats, cfg.data.cmvn)
            train, valid = split_heldout(data.utts, cfg.pretrain.valid_every)
            train_parts.append(FeatDataset(data.subset(train, data.path), reader, cmvn,
                                           crop_frames=cfg.data.crop_frames))
            if valid:  # valid utterances are cropped too: the same lengths the model trains on
                valid_parts.append(FeatDataset(data.subset(valid, data.path), reader, cmvn,
                                               crop_frames=cfg.data.crop_frames))
        if not valid_parts:
            raise ConfigError("no held-out utterances: pretrain.valid_every must be > 0 and below the corpus size")
        return ConcatFeats(train_parts), ConcatFeats(valid_parts), dim, {}

    def _build_model(self) -> torch.nn.Module:
        return PretrainModel(self.input_dim, self.cfg.model, self.cfg.pretrain)

    def _describe(self) -> str:
        p = self.cfg.pretrain
        what = f"frame t+{p.shift}" if p.objective == "fop" else f"{p.mask_ratio:.0%} masked frames"
        return f"pretraining {self.cfg.model.encoder} ({p.objective}: {p.loss} on {what})"

    def _epoch_line(self, tr: Dict[str, float], va: Dict[str, float]) -> str:
        return f"train loss {tr['loss']:.4f} | valid loss {va['loss']:.4f} ({va['frames']:.0f} frames)"

    @torch.no_grad()
    def evaluate(self) -> Dict[str, float]:
        """Frame-weighted mean loss on the held-out utterances; MPC masks drawn from a fixed seed."""
        self.model.eval()
        loss_sum, frames = 0.0, 0.0
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.cfg.seed + 1)
            for batch in self.valid_loader:
                feats = batch["feats"].to(self.device)
                lengths = batch["lengths"].to(self.device)
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    loss, _, n, _ = self.model(feats, lengths)
                loss_sum += float(loss) * float(n)
                frames += float(n)
        loss_sum = all_reduce_sum(loss_sum, self.dist, self.device)
        frames = all_reduce_sum(frames, self.dist, self.device)
        return {"loss": loss_sum / max(frames, 1.0), "frames": frames}
