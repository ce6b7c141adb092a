"""A trained model as one self-contained file, and the Python API that runs it on recordings.

``export_package(exp_dir, "model.pt")`` writes everything inference needs into one file that
``torch.load(weights_only=True)`` reads (tensors and plain values only, no pickled objects):
the weights, the resolved config, the classes (the CTC head's symbols are its vocabulary), the
encoder architecture, the feature config and the CMVN statistics. ``Recognizer.load`` takes
such a file or a trained fold's exp dir::

    from serkit import Recognizer
    r = Recognizer.load("model.pt")
    r.predict_file("a.wav")      # {"emotion": "ang", "probs": {...}, "scores": [...], ...}
    r.segments("long.wav", window=3.0, hop=1.0)   # one record per window (or per voiced stretch)

A model trained with per-speaker CMVN meets an unknown speaker at inference: each utterance (or
segment) is normalised with its own statistics.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml

from serkit.checkpoint import load_checkpoint, save_atomic
from serkit.config import config_from_dict
from serkit.errors import ConfigError, DataDirError, SerkitError

PACKAGE_FORMAT = "serkit-model/1"


def _training_inputs(exp: Path, feat_conf: Optional[str], cmvn_stats: Optional[str]) -> Tuple[dict, Optional[str]]:
    """The feature config (dict) and global CMVN statistics file a fold was trained with (run.yaml)."""
    run_file = exp / "run.yaml"
    run = yaml.safe_load(run_file.read_text()) if run_file.exists() else {}
    feat_conf = feat_conf or (str(Path(run["feats"]).parent / "feats.yaml") if run.get("feats") else None)
    if feat_conf is None or not Path(feat_conf).exists():
        raise ConfigError(f"{exp}: the training features' config is not found ({feat_conf}); give --feat_conf")
    with open(feat_conf) as f:
        features = yaml.safe_load(f)
    return features, cmvn_stats or run.get("cmvn_stats")


def export_package(exp_dir: str | os.PathLike, out: str | os.PathLike, feat_conf: Optional[str] = None,
                   cmvn_stats: Optional[str] = None, which: str = "best") -> Path:
    """Write the self-contained model file ``out`` from a trained fold ``exp_dir``."""
    from serkit.features.cmvn import CMVN
    from serkit.features.extract import FeatureConfig

    exp = Path(exp_dir)
    ck = load_checkpoint(exp / "checkpoints" / f"{which}.pt")
    cfg = config_from_dict(ck["config"])
    features, stats = _training_inputs(exp, feat_conf, cmvn_stats)
    features = FeatureConfig.from_dict(features).to_dict()   # checked, defaults written out
    cmvn = {"mode": cfg.data.cmvn, "mean": None, "inv_std": None}
    if cfg.data.cmvn == "global":
        mean, inv_std = CMVN(stats, "global").table["global"]
        cmvn.update(mean=torch.from_numpy(mean), inv_std=torch.from_numpy(inv_std))
    pkg = {"format": PACKAGE_FORMAT, "model": ck["model"], "config": ck["config"], "classes": ck["classes"],
           "input_dim": ck["input_dim"], "architecture": ck.get("architecture"), "features": features,
           "cmvn": cmvn, "source": str(exp)}
    save_atomic(pkg, out)
    return Path(out)


def energy_segments(wave: np.ndarray, sr: int, min_speech: float = 0.25, min_gap: float = 0.3,
                    pad: float = 0.1, max_len: float = 10.0) -> List[Tuple[float, float]]:
    """Voiced stretches (start, end) in seconds from frame energy (25 ms / 10 ms): frames above both
    the noise floor (10th percentile) + 12 dB and the peak - 40 dB; gaps shorter than ``min_gap``
    are bridged, stretches shorter than ``min_speech`` dropped, ``pad`` added on each side, and
    stretches longer than ``max_len`` cut into equal parts."""
    hop, win = int(sr * 0.01), int(sr * 0.025)
    if len(wave) < win:
        return []
    frames = np.lib.stride_tricks.sliding_window_view(wave.astype(np.float64), win)[::hop]
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    voiced = db > max(np.percentile(db, 10) + 12, db.max() - 40)
    runs, start = [], None
    for t, v in enumerate(np.append(voiced, False)):
        if v and start is None:
            start = t
        elif not v and start is not None:
            runs.append([start * 0.01, (t - 1) * 0.01 + 0.025])
            start = None
    merged: List[List[float]] = []
    for s, e in runs:
        if merged and s - merged[-1][1] < min_gap:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    dur = len(wave) / sr
    out = []
    for s, e in merged:
        if e - s < min_speech:
            continue
        s, e = max(0.0, s - pad), min(dur, e + pad)
        n = int(np.ceil((e - s) / max_len))
        out += [(s + k * (e - s) / n, s + (k + 1) * (e - s) / n) for k in range(n)]
    return out


def window_segments(duration: float, window: float, hop: float) -> List[Tuple[float, float]]:
    """Fixed windows of ``window`` s every ``hop`` s covering [0, duration]; the last one ends at
    the file's end; a file shorter than one window is one segment."""
    if window <= 0 or hop <= 0:
        raise ConfigError(f"--window {window} and --hop {hop} must be positive")
    if duration <= window:
        return [(0.0, duration)]
    starts = list(np.arange(0.0, duration - window + 1e-9, hop))
    if starts[-1] + window < duration - 1e-9:
        starts.append(duration - window)
    return [(float(s), float(s) + window) for s in starts]


class Recognizer:
    """A trained model with its feature extraction and normalisation (``Recognizer.load``)."""

    def __init__(self, model, cfg, classes: Dict[str, List[str]], features: dict, cmvn_mode: str,
                 cmvn_stats: Optional[Tuple[np.ndarray, np.ndarray]] = None):
        from serkit.features.extract import FeatureConfig, FeatureExtractor

        self.model, self.cfg, self.classes = model, cfg, classes
        self.feature_config = FeatureConfig.from_dict(features)
        self.extract = FeatureExtractor(self.feature_config)
        self.sample_rate = self.feature_config.sample_rate
        self.cmvn_mode, self.cmvn_stats = cmvn_mode, cmvn_stats
        self.names = classes["emotion"]
        if self.extract.dim != model.input_dim:
            raise ConfigError(f"the feature config gives {self.extract.dim} columns, the model expects "
                              f"{model.input_dim}")

    @classmethod
    def load(cls, path: str | os.PathLike, feat_conf: Optional[str] = None,
             cmvn_stats: Optional[str] = None) -> "Recognizer":
        """From a model file written by ``export_package`` / ``serkit-export``, or a trained fold's
        exp dir (with the recipe's dumps in place, or ``feat_conf`` / ``cmvn_stats`` given)."""
        from serkit.features.cmvn import CMVN
        from serkit.models.model import MultiTaskModel

        path = Path(path)
        if path.is_dir():
            from serkit.predict import load_model

            model, cfg, classes = load_model(path)
            features, stats = _training_inputs(path, feat_conf, cmvn_stats)
            table = CMVN(stats, "global").table["global"] if cfg.data.cmvn == "global" else None
            return cls(model, cfg, classes, features, cfg.data.cmvn, table)
        pkg = load_checkpoint(path)
        if not isinstance(pkg, dict) or pkg.get("format") != PACKAGE_FORMAT:
            raise SerkitError(f"{path}: not a serkit model file (write one with serkit-export)")
        cfg = config_from_dict(pkg["config"])
        model = MultiTaskModel(pkg["input_dim"], cfg.model, pkg["classes"], architecture=pkg.get("architecture"))
        model.load_state_dict(pkg["model"])
        model.eval()
        c = pkg["cmvn"]
        table = (c["mean"].numpy(), c["inv_std"].numpy()) if c["mode"] == "global" else None
        return cls(model, cfg, pkg["classes"], pkg["features"], c["mode"], table)

    # ------------------------------------------------------------------ features
    def features(self, wave: np.ndarray, sr: Optional[int] = None) -> np.ndarray:
        """Mono wave (at ``sr``, resampled to the model's rate) -> normalised features (T, D)."""
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 1:
            raise DataDirError(f"expected a mono wave (samples,), got shape {wave.shape}")
        if sr is not None and sr != self.sample_rate:
            from serkit.features.extract import resample

            wave = resample(wave, int(sr), self.sample_rate)
        x = self.extract(wave)
        if self.cmvn_mode == "global":
            mean, inv_std = self.cmvn_stats
            return (x - mean) * inv_std
        if self.cmvn_mode == "speaker":   # an unknown speaker: the utterance's own statistics
            from serkit.features.cmvn import STD_FLOOR

            return (x - x.mean(0)) / np.maximum(x.std(0), STD_FLOOR)
        return x

    # ------------------------------------------------------------------ recognition
    @torch.no_grad()
    def predict_features(self, feats: Sequence[np.ndarray], top_k: Optional[int] = None,
                         batch_size: int = 16) -> List[dict]:
        """Normalised features of several utterances -> one record each; batched by length."""
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]))
        out: List[Optional[dict]] = [None] * len(feats)
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            lengths = torch.tensor([len(feats[i]) for i in idx])
            x = torch.zeros(len(idx), int(lengths.max()), feats[idx[0]].shape[1])
            for b, i in enumerate(idx):
                x[b, : len(feats[i])] = torch.from_numpy(np.ascontiguousarray(feats[i], dtype=np.float32))
            outputs, enc_lengths = self.model.outputs(x, lengths)
            probs = outputs["emotion"].float().softmax(-1)
            if not torch.isfinite(probs).all():
                raise SerkitError("the model's outputs are not finite (NaN / inf)")
            extra = [{} for _ in idx]
            for name, t in self.model.head_types.items():   # transcripts, ratings, ...
                if name != "emotion":
                    for b, fields in enumerate(t.describe(outputs[name], enc_lengths, self.classes[name])):
                        extra[b].update(fields)
            for b, i in enumerate(idx):
                out[i] = self._record(probs[b].numpy(), top_k) | extra[b]
        return out

    def _record(self, p: np.ndarray, top_k: Optional[int]) -> dict:
        ranked = np.argsort(-p, kind="stable")[: top_k or len(p)]
        return {"emotion": self.names[int(ranked[0])],
                "probs": {c: round(float(v), 5) for c, v in zip(self.names, p)},
                "scores": [{"label": self.names[int(j)], "score": round(float(p[j]), 5)} for j in ranked]}

    def predict(self, wave: np.ndarray, sr: Optional[int] = None, top_k: Optional[int] = None) -> dict:
        """One utterance (mono wave at ``sr``) -> {"emotion", "probs", "scores", head fields}."""
        return self.predict_features([self.features(wave, sr)], top_k)[0]

    def read(self, path: str | os.PathLike) -> np.ndarray:
        """An audio file as a mono wave at the model's rate (always a file, never a command)."""
        from serkit.features.extract import read_audio

        if not Path(path).is_file():
            raise DataDirError(f"{path}: no such file")
        return read_audio(path, self.sample_rate)

    def predict_file(self, path: str | os.PathLike, top_k: Optional[int] = None) -> dict:
        return self.predict(self.read(path), None, top_k)

    def segments(self, audio, window: Optional[float] = None, hop: Optional[float] = None,
                 top_k: Optional[int] = None, batch_size: int = 16) -> Tuple[List[dict], dict]:
        """A long recording (file path or wave at the model's rate) -> (one record per segment with
        ``start`` / ``end`` in seconds, the file's record). Segments are fixed windows (``window``,
        ``hop``) or, without ``window``, the voiced stretches of ``energy_segments``; the file's
        posteriors are the segments' averaged, weighted by duration."""
        wave = self.read(audio) if isinstance(audio, (str, os.PathLike)) else np.asarray(audio, np.float32)
        sr = self.sample_rate
        duration = len(wave) / sr
        spans = window_segments(duration, window, hop or window) if window else energy_segments(wave, sr)
        spans = [(s, e) for s, e in spans if int(round((e - s) * sr)) >= self.feature_config.win_length]
        if not spans:
            raise DataDirError(f"no segment to recognise in {duration:.2f} s of audio (silent or too short)")
        feats = [self.features(wave[int(round(s * sr)): int(round(e * sr))]) for s, e in spans]
        records = self.predict_features(feats, top_k, batch_size)
        last = np.floor(duration * 1000) / 1000   # times in ms, never past the end of the file
        segs = [{"start": min(round(s, 3), last), "end": min(round(e, 3), last), **r}
                for (s, e), r in zip(spans, records)]
        weights = np.array([e - s for s, e in spans])
        p = sum(w * np.array([r["probs"][c] for c in self.names]) for w, r in zip(weights, records)) / weights.sum()
        return segs, self._record(p, top_k) | {"segments": len(segs)}
