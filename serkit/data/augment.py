"""Data augmentation for training batches: speed perturbation, gain, additive noise at a chosen
SNR, SpecAugment masks and mixup.

Every random draw comes from a generator seeded by (seed, epoch, utterance index) or
(seed, epoch, step), never from global state, so a run resumed after a kill sees exactly the
augmentation it would have seen, and two runs with the same seed are identical.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from serkit.config import SpecAugmentConf
from serkit.errors import ConfigError

NOISE_TYPES = ("white", "pink", "babble")
BABBLE_TALKERS = 5


def speed_perturb(wave: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Kaldi / sox ``speed``: play at ``factor`` times the rate (tempo and pitch change together);
    the length becomes ``len / factor``. Done as a resampling from ``rate * factor`` to ``rate``."""
    if factor == 1.0:
        return wave
    from serkit.features.extract import resample

    src = int(round(sample_rate * factor))
    return resample(np.ascontiguousarray(wave, dtype=np.float32), src, sample_rate)


def speed_utt(utt: str, factor: float) -> str:
    """Id of an utterance's speed-perturbed copy (Kaldi's ``sp0.9-<utt>``); 1.0 is the utterance itself."""
    return utt if factor == 1.0 else f"sp{factor:g}-{utt}"


def apply_gain(wave: np.ndarray, gain_db: float) -> np.ndarray:
    return wave * np.float32(10.0 ** (gain_db / 20.0))


def mix_at_snr(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """wave + noise scaled so that 10 log10(P_wave / P_noise) = snr_db (noise tiled or cut to length)."""
    if len(noise) < len(wave):
        noise = np.tile(noise, int(np.ceil(len(wave) / len(noise))))
    noise = noise[: len(wave)].astype(np.float64)
    p_wave = float(np.mean(wave.astype(np.float64) ** 2))
    p_noise = float(np.mean(noise ** 2))
    if p_wave == 0.0 or p_noise == 0.0:
        return wave
    scale = np.sqrt(p_wave / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (wave + scale * noise).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain (power falls 3 dB per octave)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n).astype(np.float32)


def make_noise(kind: str, n: int, rng: np.random.Generator, pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    """n samples of ``kind`` noise; babble sums a few waves drawn from ``pool`` (the training set),
    a noise corpus draws one wave of ``pool``."""
    if kind == "white":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "pink":
        return pink_noise(n, rng)
    if not pool:
        raise ConfigError(f"noise '{kind}' needs waves to draw from")
    if kind == "babble":
        picks = rng.choice(len(pool), size=min(BABBLE_TALKERS, len(pool)), replace=False)
        out = np.zeros(n, dtype=np.float32)
        for k in picks:
            w = pool[k]
            w = np.tile(w, int(np.ceil(n / len(w))))[:n]
            out += w / max(float(np.sqrt(np.mean(w.astype(np.float64) ** 2))), 1e-8)
        return out
    w = pool[int(rng.integers(len(pool)))]
    start = int(rng.integers(0, max(1, len(w) - n + 1)))
    return w[start:start + n]


def time_warp(feats: np.ndarray, center: int, shift: int) -> np.ndarray:
    """SpecAugment's time warp: frame ``center`` moves to ``center + shift``; the frames before it
    are stretched (or squeezed) linearly into [0, center + shift), those after into the rest.
    The number of frames is kept; values are interpolated linearly between frames."""
    frames = feats.shape[0]
    dest = center + shift
    src = np.concatenate([np.linspace(0.0, center, dest, endpoint=False),
                          np.linspace(center, frames - 1, frames - dest)])
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, frames - 1)
    frac = (src - lo)[:, None]
    return ((1.0 - frac) * feats[lo] + frac * feats[hi]).astype(feats.dtype)


def spec_augment(feats: np.ndarray, conf: SpecAugmentConf, rng: np.random.Generator) -> Tuple[np.ndarray, List]:
    """Time warp by up to ``time_warp`` frames (utterances longer than 2 * time_warp + 1 frames),
    then zero ``freq_masks`` bands of 0..freq_width columns and ``time_masks`` spans of
    0..min(time_width, time_ratio * T) frames; -> (augmented copy, [(kind, start, width), ...])."""
    x = feats.copy()
    frames, dim = x.shape
    masks = []
    if conf.time_warp > 0 and frames > 2 * conf.time_warp + 1:   # no draw when off: old streams unchanged
        center = int(rng.integers(conf.time_warp + 1, frames - conf.time_warp))
        shift = int(rng.integers(-conf.time_warp, conf.time_warp + 1))
        x = time_warp(x, center, shift)
        masks.append(("warp", center, shift))
    for _ in range(conf.freq_masks):
        w = int(rng.integers(0, min(conf.freq_width, dim) + 1))
        f0 = int(rng.integers(0, dim - w + 1))
        x[:, f0:f0 + w] = 0.0
        masks.append(("freq", f0, w))
    max_t = min(conf.time_width, int(conf.time_ratio * frames))
    for _ in range(conf.time_masks):
        w = int(rng.integers(0, max_t + 1))
        t0 = int(rng.integers(0, frames - w + 1))
        x[t0:t0 + w] = 0.0
        masks.append(("time", t0, w))
    return x, masks


def mixup(feats: torch.Tensor, lengths: torch.Tensor, targets: Dict[str, torch.Tensor],
          num_classes: Dict[str, int], alpha: float, rng: np.random.Generator):
    """Mix each utterance with a partner of the batch: x = lam x_i + (1 - lam) x_j and the
    targets of every classifier head alike (one-hot -> soft), lam ~ Beta(alpha, alpha) per batch.
    -> feats, lengths (the longer of each pair), soft targets (B, C) per head, lam."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.as_tensor(rng.permutation(feats.size(0)), device=feats.device)
    mixed = lam * feats + (1.0 - lam) * feats[perm]
    soft = {}
    for head, c in num_classes.items():
        one_hot = torch.nn.functional.one_hot(targets[head], c).to(feats.dtype)
        soft[head] = lam * one_hot + (1.0 - lam) * one_hot[perm]
    return mixed, torch.maximum(lengths, lengths[perm]), soft, lam
