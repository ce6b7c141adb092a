"""Prosodic and voice-quality frame features that stack with log-mel / MFCC frame by frame.

Every feature is computed on the same centred frames as torchaudio's mel spectrogram
(``1 + samples // hop`` frames), so the columns line up with the spectral features:

- ``f0``: two columns, log-F0 (Hz) and the voicing probability, from probabilistic YIN (pYIN:
  ``serkit.features.pyin``, librosa's numbers). Unvoiced frames get log-F0 interpolated linearly
  between the neighbouring voiced frames (held at the edges), as Kaldi's pitch features do, so
  the track is continuous and per-speaker normalisation turns it into semitones relative to the
  speaker's mean.
- ``energy``: log frame energy (sum of the power spectrum).
- ``flux``: spectral flux, the L2 distance between successive unit-norm magnitude spectra.
- ``centroid``: spectral centroid in kHz (0 on silent frames).

pYIN is the slow part (about 170x real time per core at 16 kHz, librosa's own 30x); the spectral
columns cost one STFT.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import torch

PROSODY_FEATURES = {"f0": ("log_f0", "voicing"), "energy": ("log_energy",), "flux": ("flux",),
                    "centroid": ("centroid",)}
ENERGY_FLOOR = 1e-10


def prosody_dim_names(names: Sequence[str]) -> List[str]:
    return [col for n in names for col in PROSODY_FEATURES[n]]


def interpolate_unvoiced(log_f0: np.ndarray, voiced: np.ndarray, fallback: float) -> np.ndarray:
    """Fill unvoiced frames by linear interpolation between voiced ones (edges held)."""
    idx = np.flatnonzero(voiced)
    if idx.size == 0:
        return np.full_like(log_f0, fallback)
    return np.interp(np.arange(len(log_f0)), idx, log_f0[idx]).astype(log_f0.dtype)


def pyin_settings(sample_rate: int, hop_length: int, fmin: float, fmax: float) -> dict:
    """The keyword arguments of pYIN (``serkit.features.pyin.pyin`` or ``librosa.pyin``) for the
    f0 columns."""
    frame_length = 1 << int(np.ceil(np.log2(0.064 * sample_rate)))   # 64 ms: several periods of fmin
    return dict(fmin=fmin, fmax=fmax, sr=sample_rate, frame_length=frame_length, hop_length=hop_length,
                n_thresholds=20, resolution=0.2)


def f0_track(wave: np.ndarray, sample_rate: int, hop_length: int, fmin: float, fmax: float) -> np.ndarray:
    """wave (samples,) -> (frames, 2): interpolated log-F0 and voicing probability."""
    from serkit.features.pyin import pyin

    settings = pyin_settings(sample_rate, hop_length, fmin, fmax)
    frame_length = settings["frame_length"]
    # pYIN needs at least one full frame; shorter waves are zero-padded (frames counted on the original)
    n_frames = 1 + len(wave) // hop_length
    x = wave if len(wave) >= frame_length else np.pad(wave, (0, frame_length - len(wave)))
    f0, voiced, prob = pyin(x.astype(np.float32), **settings)
    f0, voiced, prob = f0[:n_frames], voiced[:n_frames], prob[:n_frames]
    log_f0 = np.log(np.where(voiced, f0, 1.0))
    log_f0 = interpolate_unvoiced(log_f0, voiced & np.isfinite(f0), float(np.log(np.sqrt(fmin * fmax))))
    return np.stack([log_f0, np.nan_to_num(prob)], axis=1).astype(np.float32)


def spectral_track(wave: np.ndarray, sample_rate: int, n_fft: int, win_length: int, hop_length: int,
                   names: Sequence[str]) -> np.ndarray:
    """wave (samples,) -> (frames, len(names)) for names among energy, flux, centroid."""
    x = torch.as_tensor(wave, dtype=torch.float32)
    spec = torch.stft(x, n_fft, hop_length=hop_length, win_length=win_length,
                      window=torch.hann_window(win_length), center=True, pad_mode="constant",
                      return_complex=True).abs().T          # (frames, bins) magnitude
    power = spec ** 2
    cols = []
    for name in names:
        if name == "energy":
            cols.append(power.sum(1).clamp(min=ENERGY_FLOOR).log())
        elif name == "flux":
            unit = spec / spec.norm(dim=1, keepdim=True).clamp(min=ENERGY_FLOOR)
            diff = (unit[1:] - unit[:-1]).norm(dim=1)
            cols.append(torch.cat([diff.new_zeros(1), diff]))
        elif name == "centroid":
            freqs = torch.linspace(0, sample_rate / 2000, spec.size(1))     # kHz
            total = power.sum(1)
            cols.append(torch.where(total > ENERGY_FLOOR, (power * freqs).sum(1) / total.clamp(min=ENERGY_FLOOR),
                                    torch.zeros_like(total)))
    return torch.stack(cols, 1).numpy()


def prosody_frames(wave: np.ndarray, names: Sequence[str], sample_rate: int, n_fft: int, win_length: int,
                   hop_length: int, f0_min: float, f0_max: float) -> np.ndarray:
    """wave (samples,) -> (1 + samples // hop, D) columns in ``prosody_dim_names(names)`` order."""
    parts = []
    spectral = [n for n in names if n != "f0"]
    spec = spectral_track(wave, sample_rate, n_fft, win_length, hop_length, spectral) if spectral else None
    for n in names:
        if n == "f0":
            parts.append(f0_track(wave, sample_rate, hop_length, f0_min, f0_max))
        else:
            k = spectral.index(n)
            parts.append(spec[:, k:k + 1])
    n_frames = min(p.shape[0] for p in parts)
    return np.concatenate([p[:n_frames] for p in parts], axis=1)
