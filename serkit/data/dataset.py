"""Dataset of dumped features with per-head integer targets, and its collate function."""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from serkit.config import AugmentConf
from serkit.data import augment as aug
from serkit.data.datadir import DataDir
from serkit.errors import ConfigError, DataDirError
from serkit.features.cmvn import CMVN
from serkit.features.storage import FeatReader


EMOTION_TARGETS = {"emotion": "utt2emo"}   # the task's own labels; other heads' files come from their owner


def build_classes(data: DataDir, targets: Mapping[str, str], emotions: Optional[List[str]] = None) -> Dict[str, List[str]]:
    """Class lists per head (``targets``: head -> the data-dir file of its labels) from a
    (training) data dir; the emotion order may be fixed by the config."""
    classes = {}
    for head, target in targets.items():
        if head == "ctc":   # characters: the vocabulary is trained on the split's text (serkit.text.vocab)
            continue
        values = sorted(set(data.get(target).values()))
        if head == "emotion" and emotions:
            unknown = sorted(set(values) - set(emotions))
            if unknown:
                raise DataDirError(f"{data.path}/utt2emo: labels {unknown} are not in data.emotions {emotions}")
            values = list(emotions)
        classes[head] = values
    return classes


class FeatDataset(Dataset):
    """Items: dict(utt, feats (T, D) float32 tensor, targets {head: int}).

    With ``augment`` (training sets only) each item is drawn through ``serkit.data.augment``:
    a speed-perturbed copy, gain and noise (wave features), then CMVN, crop and SpecAugment.
    """

    def __init__(self, data: DataDir, reader: FeatReader, cmvn: CMVN,
                 classes: Mapping[str, List[str]], crop_frames: int = 0, with_targets: bool = True,
                 vocab=None, augment: Optional[AugmentConf] = None,
                 targets: Mapping[str, str] = EMOTION_TARGETS):
        """``classes``: the class list of each head to read targets for; ``targets``: head -> the
        data-dir file holding them (the model registry's ``HEAD_TARGETS`` for auxiliary heads)."""
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
                if head not in targets:
                    raise ValueError(f"no data-dir file given for the targets of head '{head}'")
                values = data.get(targets[head])
                tgt = []
                for u in self.utts:
                    if values[u] not in index:
                        raise DataDirError(f"{data.path}/{targets[head]}: utterance '{u}' has label "
                                           f"'{values[u]}' unseen in training ({names})")
                    tgt.append(index[values[u]])
                self.targets[head] = tgt
        self.lengths = [reader.num_frames(u) for u in self.utts]
        if crop_frames:
            self.lengths = [min(n, crop_frames) for n in self.lengths]
        self.epoch_seed = 0
        self.augment = augment
        self.noise_pool: List[np.ndarray] = []
        if augment is not None:
            self._check_augment(augment)

    def _check_augment(self, a: AugmentConf) -> None:
        if len(a.noise_snr) != 2 or a.noise_snr[0] > a.noise_snr[1]:
            raise ConfigError(f"data.augment.noise_snr is {a.noise_snr}; give [lowest, highest] in dB")
        for f in a.speed:
            missing = [u for u in self.utts if aug.speed_utt(u, f) not in self.reader]
            if missing:
                raise DataDirError(f"{self.reader.scp}: no speed-perturbed copy '{aug.speed_utt(missing[0], f)}' "
                                   f"(factor {f:g}); dump with 'speed_perturb: [...]' in the feature config")
        wave_ops = a.gain_db > 0 or a.noise_prob > 0
        feat_type = self.reader.feature_type
        if wave_ops and feat_type != "wave":
            raise ConfigError(f"data.augment gain_db / noise_prob work on waves; {self.reader.scp} holds "
                              f"'{feat_type}' features")
        if a.noise_prob > 0 and a.noise_type not in aug.NOISE_TYPES[:2]:
            if a.noise_type == "babble":   # a fixed draw of training utterances, the same every run
                picks = np.random.default_rng(0).choice(len(self.utts), size=min(50, len(self.utts)), replace=False)
                self.noise_pool = [self.reader[self.utts[k]][:, 0] for k in sorted(picks)]
            else:                           # a wav.scp of noises
                from serkit.data.datadir import read_kv
                from serkit.features.extract import read_scp_audio

                try:
                    noises = read_kv(a.noise_type)
                except OSError as e:
                    raise ConfigError(f"data.augment.noise_type: '{a.noise_type}' is none of "
                                      f"{list(aug.NOISE_TYPES)} nor a readable wav.scp: {e}") from None
                rate = self.reader.sample_rate
                self.noise_pool = [read_scp_audio(spec, rate) for spec in noises.values()]

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, i: int) -> dict:
        utt = self.utts[i]
        a = self.augment
        # deterministic per (epoch, utterance) so resumed runs see the same draws
        rng = np.random.default_rng([self.epoch_seed, i, 1]) if a is not None else None
        key = aug.speed_utt(utt, float(rng.choice(a.speed))) if a is not None and a.speed else utt
        x = self.reader[key]
        if a is not None and (a.gain_db > 0 or a.noise_prob > 0):
            x = self._wave_augment(x[:, 0], a, rng)[:, None]
        x = self.cmvn(x, self.utt2spk[utt])
        if self.crop_frames and x.shape[0] > self.crop_frames:
            crop_rng = np.random.default_rng([self.epoch_seed, i])
            start = int(crop_rng.integers(0, x.shape[0] - self.crop_frames + 1))
            x = x[start:start + self.crop_frames]
        if a is not None and (a.spec_augment.freq_masks or a.spec_augment.time_masks or a.spec_augment.time_warp):
            x, _ = aug.spec_augment(x, a.spec_augment, rng)
        return {"utt": utt, "feats": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "targets": {h: t[i] for h, t in self.targets.items()}}

    def _wave_augment(self, wave: np.ndarray, a: AugmentConf, rng: np.random.Generator) -> np.ndarray:
        if a.gain_db > 0:
            wave = aug.apply_gain(wave, float(rng.uniform(-a.gain_db, a.gain_db)))
        if a.noise_prob > 0 and rng.random() < a.noise_prob:
            noise = aug.make_noise(a.noise_type, len(wave), rng, self.noise_pool)
            wave = aug.mix_at_snr(wave, noise, float(rng.uniform(*a.noise_snr)))
        return wave


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
