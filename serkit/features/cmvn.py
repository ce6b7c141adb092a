"""Cepstral mean and variance normalisation statistics.

``global``: one mean/std from a fold's training utterances only.
``speaker``: one mean/std per speaker from all of that speaker's utterances (test speakers
included: unlabelled and transductive, as is common in SER).
Stats are stored as counts, sums and sums of squares (float64) in an ``.npz``.
"""
from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Tuple

import numpy as np

from serkit.errors import ConfigError, DataDirError
from serkit.features.storage import FeatReader
from serkit.fileio import atomic_write

CMVN_MODES = ("global", "speaker", "none")
STD_FLOOR = 1e-5
# what stage 1 writes in every fold's statistics dir (dump/<feats>/<protocol>/fold<k>/)
STATS_FILES = {"global": "cmvn.npz", "speaker": "cmvn_spk.npz"}


def stats_file(cmvn_dir: Optional[str | os.PathLike], mode: str, stats: Optional[str] = None) -> Optional[str]:
    """The statistics a CMVN ``mode`` needs: ``stats`` if given, else the mode's file in
    ``cmvn_dir`` (``cmvn.npz`` or ``cmvn_spk.npz``); None for mode ``none``. The config owns the
    mode; callers hand over a directory, never a mode-specific path."""
    if mode not in CMVN_MODES:
        raise ConfigError(f"unknown cmvn mode '{mode}'; choose from {list(CMVN_MODES)}")
    if mode == "none" or stats:
        return stats if mode != "none" else None
    if cmvn_dir is None:
        raise ConfigError(f"data.cmvn is '{mode}': give --cmvn_dir (the fold's statistics dir, written by stage 1)")
    path = Path(cmvn_dir) / STATS_FILES[mode]
    if not path.is_file():
        raise DataDirError(f"CMVN statistics not found: {path} (stage 1 writes them; rerun it)")
    return str(path)


class Accumulator:
    """Frames added an utterance at a time -> counts, sums and sums of squares (float64), and the
    pooled mean and 1 / std that ``CMVN`` applies."""

    def __init__(self):
        self.count, self.sum, self.sumsq = 0, None, None

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if self.sum is None:
            self.sum, self.sumsq = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        self.count += x.shape[0]
        self.sum += x.sum(0)
        self.sumsq += (x * x).sum(0)

    def mean_inv_std(self, prior: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                     prior_frames: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
        """The pooled statistics; with a ``prior`` (mean, 1 / std), smoothed towards it as if
        ``prior_frames`` frames of it had been added (as Kaldi's online CMVN leans on global
        statistics): few frames lean on the prior, many outweigh it; inf gives the prior itself."""
        count, s, ss = self.count, self.sum, self.sumsq
        if prior is not None and prior_frames > 0:
            if math.isinf(prior_frames):
                return prior
            mean0 = prior[0].astype(np.float64)
            var0 = 1.0 / prior[1].astype(np.float64) ** 2
            count = count + prior_frames
            s = prior_frames * mean0 + (0.0 if s is None else s)
            ss = prior_frames * (var0 + mean0 * mean0) + (0.0 if ss is None else ss)
        if not count:
            raise DataDirError("CMVN: no frames to accumulate")
        return mean_inv_std(count, s, ss)


def mean_inv_std(count, s: np.ndarray, ss: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """float32 mean and 1 / std (std floored at ``STD_FLOOR``) from stored statistics."""
    mean = s / count
    std = np.sqrt(np.maximum(ss / count - mean * mean, STD_FLOOR ** 2))
    return mean.astype(np.float32), (1.0 / std).astype(np.float32)


def _accumulate(reader: FeatReader, utts: Iterable[str]):
    acc = Accumulator()
    for utt in utts:
        x = reader[utt]
        if not np.isfinite(x).all():   # one NaN would turn every statistic, and every loss, into NaN
            raise DataDirError(f"CMVN: utterance '{utt}' has non-finite (NaN / inf) features; redo its dump")
        acc.add(x)
    if acc.sum is None:
        raise DataDirError("CMVN: no utterances to accumulate")
    return acc.count, acc.sum, acc.sumsq


def pooled_stats(path: str | os.PathLike, keys: Iterable[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and 1 / std of the frames of the ``keys`` (speakers) of a statistics file pooled, as if
    they were one speaker: for a global file, its one entry."""
    try:
        with np.load(path) as z:   # no pickles
            table = {str(k): (c, s, ss) for k, c, s, ss in zip(z["keys"], z["count"], z["sum"], z["sumsq"])}
            mode = str(z["mode"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise DataDirError(f"{path}: not a CMVN statistics file: {e}") from None
    keys = ["global"] if mode == "global" else sorted(set(keys))
    missing = [k for k in keys if k not in table]
    if missing or not keys:
        raise DataDirError(f"{path}: no statistics for speaker '{missing[0] if missing else '(none given)'}'")
    return mean_inv_std(sum(table[k][0] for k in keys), sum(table[k][1] for k in keys), sum(table[k][2] for k in keys))


def compute_cmvn(reader: FeatReader, utts: Iterable[str], out: str | os.PathLike) -> None:
    count, s, ss = _accumulate(reader, utts)
    _save(out, mode="global", keys=np.array(["global"]), count=np.array([count]), sum=s[None], sumsq=ss[None])


def compute_speaker_cmvn(reader: FeatReader, utt2spk: Mapping[str, str], out: str | os.PathLike) -> None:
    spk2utts: Dict[str, list] = {}
    for u, spk in utt2spk.items():
        spk2utts.setdefault(spk, []).append(u)
    keys = sorted(spk2utts)
    stats = [_accumulate(reader, spk2utts[k]) for k in keys]
    _save(out, mode="speaker", keys=np.array(keys), count=np.array([c for c, _, _ in stats]),
          sum=np.stack([s for _, s, _ in stats]), sumsq=np.stack([ss for _, _, ss in stats]))


def _save(out, **arrays) -> None:
    with atomic_write(out, "wb") as f:
        np.savez(f, **arrays)


class CMVN:
    """Apply stored statistics: ``cmvn(feats, spk) -> normalised feats``."""

    def __init__(self, path: Optional[str | os.PathLike], mode: str):
        if mode not in CMVN_MODES:
            raise ConfigError(f"unknown cmvn mode '{mode}'; choose from {list(CMVN_MODES)}")
        self.mode = mode
        self.table: Dict[str, tuple] = {}
        if mode == "none":
            return
        self.path = path
        if path is None:
            if mode == "speaker":   # no statistics: every utterance is normalised with its own
                return
            raise ConfigError(f"cmvn mode '{mode}' needs a statistics file (--cmvn_dir or --cmvn_stats)")
        if not Path(path).is_file():
            raise DataDirError(f"CMVN statistics not found: {path} (stage 1 writes them)")
        try:
            with np.load(path) as z:   # allow_pickle stays off: a statistics file cannot run code
                stored = str(z["mode"])
                if stored != mode:
                    raise ConfigError(f"{path}: holds '{stored}' CMVN statistics but the config asks for '{mode}'")
                for k, c, s, ss in zip(z["keys"], z["count"], z["sum"], z["sumsq"]):
                    self.table[str(k)] = mean_inv_std(c, s, ss)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise DataDirError(f"{path}: not a CMVN statistics file: {e}") from None

    def __call__(self, feats: np.ndarray, spk: Optional[str] = None) -> np.ndarray:
        if self.mode == "none":
            return feats
        if self.mode == "speaker" and spk is None:
            # no speaker: the utterance's own statistics (serkit's recognizer smooths them with the
            # training speakers' instead: serkit.recognizer)
            return (feats - feats.mean(0)) / np.maximum(feats.std(0), STD_FLOOR)
        key = "global" if self.mode == "global" else spk
        if key not in self.table:
            raise DataDirError(f"CMVN: no statistics for speaker '{spk}'")
        mean, inv_std = self.table[key]
        if feats.shape[-1] != mean.shape[0]:
            raise DataDirError(f"CMVN: {self.path} has statistics of {mean.shape[0]} columns, the features have "
                               f"{feats.shape[-1]}: use the statistics of the same feature dump")
        return (feats - mean) * inv_std
