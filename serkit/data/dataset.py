"""Dataset of dumped features with per-head integer targets, and its collate function."""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from serkit.data.datadir import DataDir
from serkit.errors import DataDirError
from serkit.features.cmvn import CMVN
from serkit.features.storage import FeatReader
from serkit.models.registry import HEAD_TARGETS


def build_classes(data: DataDir, heads: Sequence[str], emotions: Optional[List[str]] = None) -> Dict[str, List[str]]:
    """Class lists per head from a (training) data dir; emotion order may be fixed by config."""
    classes = {}
    for head in heads:
        if head == "ctc":   # characters: the vocabulary is trained on the split's text (serkit.text.vocab)
            continue
        values = sorted(set(data.get(HEAD_TARGETS[head]).values()))
        if head == "emotion" and emotions:
            unknown = sorted(set(values) - set(emotions))
            if unknown:
                raise DataDirError(f"{data.path}/utt2emo: labels {unknown} are not in data.emotions {emotions}")
            values = list(emotions)
        classes[head] = values
    return classes


class FeatDataset(Dataset):
    """Items: dict(utt, feats (T, D) float32 tensor, targets {head: int})."""

    def __init__(self, data: DataDir, reader: FeatReader, cmvn: CMVN,
                 classes: Mapping[str, List[str]], crop_frames: int = 0, with_targets: bool = True,
                 vocab=None):
        self.utts = data.utts
        missing = [u for u in self.utts if u not in reader]
        if missing:
            raise DataDirError(f"{reader.scp}: no features for {len(missing)} utterance(s) of {data.path}, "
                               f"e.g. {missing[0]}")
        self.reader = reader
        self.cmvn = cmvn
        self.utt2spk = data.get("utt2spk")
        self.crop_frames = crop_frames
        self.targets: Dict[str, List[int]] = {}
        if with_targets:
            for head, names in classes.items():
                if head == "ctc":
                    if vocab is None:
                        raise ValueError("a ctc head needs the CTC vocabulary")
                    text = data.get("text")
                    self.targets["ctc"] = [vocab.encode(text.get(u, "")) for u in self.utts]
                    continue
                index = {c: i for i, c in enumerate(names)}
                values = data.get(HEAD_TARGETS[head])
                tgt = []
                for u in self.utts:
                    if values[u] not in index:
                        raise DataDirError(f"{data.path}/{HEAD_TARGETS[head]}: utterance '{u}' has label "
                                           f"'{values[u]}' unseen in training ({names})")
                    tgt.append(index[values[u]])
                self.targets[head] = tgt
        self.lengths = [reader.num_frames(u) for u in self.utts]
        if crop_frames:
            self.lengths = [min(n, crop_frames) for n in self.lengths]
        self.epoch_seed = 0

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, i: int) -> dict:
        utt = self.utts[i]
        x = self.cmvn(self.reader[utt], self.utt2spk[utt])
        if self.crop_frames and x.shape[0] > self.crop_frames:
            # deterministic per (epoch, utterance) so resumed runs see the same crops
            rng = np.random.default_rng([self.epoch_seed, i])
            start = int(rng.integers(0, x.shape[0] - self.crop_frames + 1))
            x = x[start:start + self.crop_frames]
        return {"utt": utt, "feats": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "targets": {h: t[i] for h, t in self.targets.items()}}


def collate(items: List[dict]) -> dict:
    """-> dict(utts, feats (B, T_max, D) zero-padded, lengths (B,), targets {head: (B,)})."""
    lengths = torch.tensor([it["feats"].shape[0] for it in items], dtype=torch.long)
    dim = items[0]["feats"].shape[1]
    feats = torch.zeros(len(items), int(lengths.max()), dim)
    for b, it in enumerate(items):
        feats[b, : it["feats"].shape[0]] = it["feats"]
    targets = {}
    for h in items[0]["targets"]:
        values = [it["targets"][h] for it in items]
        if isinstance(values[0], list):   # token sequences (ctc): padded with 0, lengths beside
            n = torch.tensor([len(v) for v in values], dtype=torch.long)
            padded = torch.zeros(len(values), max(int(n.max()), 1), dtype=torch.long)
            for b, v in enumerate(values):
                padded[b, : len(v)] = torch.tensor(v, dtype=torch.long)
            targets[h], targets[f"{h}_lengths"] = padded, n
        else:
            targets[h] = torch.tensor(values, dtype=torch.long)
    return {"utts": [it["utt"] for it in items], "feats": feats, "lengths": lengths, "targets": targets}
