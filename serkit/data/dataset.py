"""Dataset of dumped features with per-head targets, and its collate function."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from serkit.config import AugmentConf
from serkit.data import augment as aug
from serkit.data.datadir import DataDir
from serkit.errors import ConfigError, DataDirError
from serkit.features.cmvn import CMVN
from serkit.features.storage import FeatReader


def label_set(data: DataDir, target_file: str, declared: Optional[Sequence[str]] = None) -> List[str]:
    """The class list of the labels in ``target_file`` of a (training) data dir: sorted, or the
    ``declared`` order (``data.emotions``), which must hold every label."""
    values = sorted(set(data.get(target_file).values()))
    if declared:
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise DataDirError(f"{data.path}/{target_file}: labels {unknown} are not in the declared classes "
                               f"{list(declared)}")
        values = list(declared)
    return values


class LabelTargets:
    """Targets read as one class label per utterance from a data-dir file (``utt2emo``,
    ``utt2gender``, ...), encoded as class indices and batched as a (B,) long tensor.

    Any object with the same ``encode`` / ``collate`` methods can stand for a head's targets in
    ``FeatDataset`` (the model's head types hand theirs over: ``serkit.models.heads``)."""

    def __init__(self, target_file: str, classes: Sequence[str]):
        self.target_file = target_file
        self.classes = list(classes)
        self.index = {c: i for i, c in enumerate(self.classes)}

    def encode(self, data: DataDir, utts: Sequence[str]) -> List[int]:
        values = data.get(self.target_file)
        out = []
        for u in utts:
            if values[u] not in self.index:
                raise DataDirError(f"{data.path}/{self.target_file}: utterance '{u}' has label "
                                   f"'{values[u]}' unseen in training ({self.classes})")
            out.append(self.index[values[u]])
        return out

    @staticmethod
    def collate(head: str, values: List[int]) -> Dict[str, torch.Tensor]:
        return {head: torch.tensor(values, dtype=torch.long)}


class FrameTargets:
    """The frames of an utterance before SpecAugment's masks, the target of denoising pretraining
    (FOP / MPC see the masked frames and predict the clean ones); batched zero-padded (B, T, D)."""

    @staticmethod
    def collate(head: str, values: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        return {head: pad_frames(values)[0]}


def emotion_targets(classes: Sequence[str]) -> Dict[str, LabelTargets]:
    """The task's own targets (``utt2emo``), for the code that reads no other head's."""
    return {"emotion": LabelTargets("utt2emo", classes)}


class FeatDataset(Dataset):
    """Items: dict(utt, feats (T, D) float32 tensor, targets {head: encoded target}).

    With ``augment`` (training sets only) each item is drawn through ``serkit.data.augment``:
    a speed-perturbed copy, gain and noise (wave features), then CMVN, crop and SpecAugment.
    With ``clean_target`` the frames before SpecAugment's masks (time-warped where the input is)
    are the item's target ``frames``: denoising pretraining.
    """

    def __init__(self, data: DataDir, reader: FeatReader, cmvn: CMVN,
                 targets: Optional[Mapping[str, Any]] = None, crop_frames: int = 0,
                 augment: Optional[AugmentConf] = None, clean_target: bool = False):
        """``targets``: head -> the object that reads and batches its targets (``LabelTargets``,
        or a head type's own); none for unlabelled data."""
        self.utts = data.utts
        missing = [u for u in self.utts if u not in reader]
        if missing:
            raise DataDirError(f"{reader.scp}: no features for {len(missing)} utterance(s) of {data.path}, "
                               f"e.g. {missing[0]}")
        self.reader = reader
        self.cmvn = cmvn
        self.utt2spk = data.get("utt2spk")
        self.crop_frames = crop_frames
        self.target_specs = dict(targets or {})
        self.targets: Dict[str, list] = {h: t.encode(data, self.utts) for h, t in self.target_specs.items()}
        self.clean_target = clean_target and augment is not None and _masks_on(augment)
        if self.clean_target:
            self.target_specs["frames"] = FrameTargets()
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

    def _draw(self, i: int):
        """-> item i's random generator this epoch (None without augmentation) and the key it
        reads: the utterance, or the speed copy drawn for it."""
        a = self.augment
        if a is None:
            return None, self.utts[i]
        # deterministic per (epoch, utterance) so resumed runs see the same draws
        rng = np.random.default_rng([self.epoch_seed, i, 1])
        return rng, aug.speed_utt(self.utts[i], float(rng.choice(a.speed))) if a.speed else self.utts[i]

    def epoch_lengths(self) -> Optional[List[int]]:
        """The items' frame counts this epoch (``epoch_seed``) where the drawn speed copies make them
        differ from ``lengths``, so batches can be cut by what is read; None where they do not."""
        if self.augment is None or not self.augment.speed:
            return None
        n = [self.reader.num_frames(self._draw(i)[1]) for i in range(len(self.utts))]
        return [min(k, self.crop_frames) for k in n] if self.crop_frames else n

    def __getitem__(self, i: int) -> dict:
        utt = self.utts[i]
        a = self.augment
        rng, key = self._draw(i)
        x = self.reader[key]
        if a is not None and (a.gain_db > 0 or a.noise_prob > 0):
            x = self._wave_augment(x[:, 0], a, rng)[:, None]
        x = self.cmvn(x, self.utt2spk[utt])
        if self.crop_frames and x.shape[0] > self.crop_frames:
            crop_rng = np.random.default_rng([self.epoch_seed, i])
            start = int(crop_rng.integers(0, x.shape[0] - self.crop_frames + 1))
            x = x[start:start + self.crop_frames]
        targets = {h: t[i] for h, t in self.targets.items()}
        if a is not None and _masks_on(a):
            clean = x
            x, masks = aug.spec_augment(x, a.spec_augment, rng)
            if self.clean_target:
                warp = [m for m in masks if m[0] == "warp"]
                clean = aug.time_warp(clean, warp[0][1], warp[0][2]) if warp else clean
                targets["frames"] = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32))
        return {"utt": utt, "feats": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "targets": targets}

    def _wave_augment(self, wave: np.ndarray, a: AugmentConf, rng: np.random.Generator) -> np.ndarray:
        if a.gain_db > 0:
            wave = aug.apply_gain(wave, float(rng.uniform(-a.gain_db, a.gain_db)))
        if a.noise_prob > 0 and rng.random() < a.noise_prob:
            noise = aug.make_noise(a.noise_type, len(wave), rng, self.noise_pool)
            wave = aug.mix_at_snr(wave, noise, float(rng.uniform(*a.noise_snr)))
        return wave


    def collate_fn(self, items: List[dict]) -> dict:
        """``collate`` with this dataset's target batching (the DataLoader's ``collate_fn``)."""
        return collate(items, self.target_specs)


def _masks_on(a: AugmentConf) -> bool:
    s = a.spec_augment
    return bool(s.freq_masks or s.time_masks or s.time_warp)


def pad_frames(frames: List[torch.Tensor]):
    """(T_b, D) tensors -> (B, T_max, D) zero-padded, lengths (B,)."""
    lengths = torch.tensor([f.shape[0] for f in frames], dtype=torch.long)
    out = torch.zeros(len(frames), int(lengths.max()), frames[0].shape[1])
    for b, f in enumerate(frames):
        out[b, : f.shape[0]] = f
    return out, lengths


def collate(items: List[dict], targets: Optional[Mapping[str, Any]] = None) -> dict:
    """-> dict(utts, feats (B, T_max, D) zero-padded, lengths (B,), targets {name: tensor});
    ``targets``: head -> its batching (``collate(head, values)``); integer labels by default."""
    feats, lengths = pad_frames([it["feats"] for it in items])
    batch_targets: Dict[str, torch.Tensor] = {}
    for h in items[0]["targets"]:
        values = [it["targets"][h] for it in items]
        spec = (targets or {}).get(h)
        batch_targets.update(spec.collate(h, values) if spec is not None else LabelTargets.collate(h, values))
    return {"utts": [it["utt"] for it in items], "feats": feats, "lengths": lengths, "targets": batch_targets}
