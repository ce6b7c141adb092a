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
    r.export_onnx("model.onnx")  # the network as ONNX; Recognizer.load("model.onnx") runs it with onnxruntime

A model trained with per-speaker CMVN was trained on each speaker's frames normalised with that
speaker's statistics, and is decoded so. At inference the speaker's statistics come from their
recordings: ``r.speaker_stats(waves)`` pools them, ``r.predict_speaker(waves)`` recognises one
speaker's utterances with them, and a long recording's segments share the recording's. A lone
utterance of an unknown speaker is normalised with the training speakers' pooled statistics
(kept in the file), not with its own: normalised alone, an utterance loses its level and
spectral tilt, the very cues that tell its emotion from the speaker's others (README: on
EMO-DB, 35 UA alone, 63 with the training speakers', 80 with the speaker's own recordings).

A fused system's fold (``exp/<fusion>/fold1``, written by ``serkit-fuse``) exports the same way:
the file holds one package per member and the fold's fusion weights, and ``Recognizer.load``
gives an :class:`Ensemble` that averages the members' emotion posteriors with those weights,
as ``serkit-fuse`` averages their decodes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml

from serkit.checkpoint import load_checkpoint, save_atomic
from serkit.config import config_from_dict
from serkit.errors import ConfigError, DataDirError, SerkitError
from serkit.fileio import atomic_write

PACKAGE_FORMAT = "serkit-model/1"
ENSEMBLE_FORMAT = "serkit-ensemble/1"   # a fused system: member packages and their weights
# A speaker-CMVN model meets a speaker's statistics smoothed with this many frames of its training
# speakers' pooled statistics: a lone utterance leans on them, many utterances outweigh them.
# Chosen on the valid speakers of EMO-DB's LOSO folds (README).
PRIOR_FRAMES = 1000.0   # 10 s at a 10 ms hop
ONNX_META_KEY = "serkit"   # metadata of an exported ONNX model: features, CMVN, classes (JSON)
# encoders whose ONNX graph keeps the batch and time axes dynamic (checked in the tests), with
# the exporter used: the TorchScript one traces the recurrent and convolutional encoders in
# seconds (the dynamo one takes minutes on the BLSTM's time loop), the dynamo one keeps the
# transformers' attention reshapes dynamic (and wav2vec2's, whose masks the TorchScript graph
# broadcasts wrongly at other lengths: measured). The CNN-BLSTM-attention writes its attention
# out (nn.MultiheadAttention's reshapes are fixed to the example's length by both exporters).
ONNX_ENCODERS = {"blstm": "torchscript", "resnet": "torchscript", "cnn_blstm_att": "torchscript",
                 "fop_transformer": "dynamo", "mpc_transformer": "dynamo", "pretrained": "dynamo",
                 "wav2vec2": "dynamo"}


class _Posteriors(torch.nn.Module):
    """feats (B, T, D), lengths (B,) -> emotion posteriors (B, C): the exported graph."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, feats, lengths):
        return self.model.logits(feats, lengths)["emotion"].softmax(-1)


def _training_inputs(exp: Path, feat_conf: Optional[str], cmvn_stats: Optional[str]) -> Tuple[dict, Optional[str]]:
    """The feature config (dict) and CMVN statistics file a fold was trained with (run.yaml)."""
    run = _run_record(exp)
    feat_conf = feat_conf or (str(Path(run["feats"]).parent / "feats.yaml") if run.get("feats") else None)
    if feat_conf is None or not Path(feat_conf).exists():
        raise ConfigError(f"{exp}: the training features' config is not found ({feat_conf}); give --feat_conf")
    with open(feat_conf) as f:
        features = yaml.safe_load(f)
    return features, cmvn_stats or run.get("cmvn_stats")


def _run_record(exp: Path) -> dict:
    run_file = exp / "run.yaml"
    return yaml.safe_load(run_file.read_text()) if run_file.exists() else {}


def _cmvn_table(exp: Path, mode: str, stats: Optional[str]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """What a fold's recognizer normalises with when no speaker statistics are given: the global
    statistics (``global``), or those of its training speakers pooled (``speaker``: an unknown
    speaker is met as the average training speaker); None for ``none``."""
    from serkit.features.cmvn import CMVN, pooled_stats

    if mode == "none":
        return None
    if mode == "global":
        return CMVN(stats, "global").table["global"]
    train = _run_record(exp).get("train_data")
    utt2spk = Path(train) / "utt2spk" if train else None
    if not stats or not Path(stats).is_file():
        raise ConfigError(f"{exp}: the CMVN statistics ({stats}) are not found: run from the recipe dir (run.yaml's "
                          f"paths are relative to it) or give --cmvn_stats")
    if utt2spk is None or not utt2spk.is_file():
        try:   # a global statistics file of the training data needs no speaker list
            return pooled_stats(stats, ())
        except DataDirError:
            raise ConfigError(f"{exp}: the training data dir ({train}, run.yaml) is not found, so neither are its "
                              f"speakers, whose pooled statistics a speaker-CMVN model meets an unknown speaker "
                              f"with: run from the recipe dir, or give --cmvn_stats a global statistics file of "
                              f"the training data") from None
    from serkit.data.datadir import read_kv

    return pooled_stats(stats, read_kv(utt2spk).values())


def _refuse_classical(exp: Path) -> None:
    if (exp / "model.pkl").exists():   # a pickle: loading it could run code, so serkit never does
        raise ConfigError(f"{exp}: a scikit-learn model (model.pkl, a pickle); only neural models are "
                          f"packed and run")


def _package(exp: Path, feat_conf: Optional[str] = None, cmvn_stats: Optional[str] = None,
             which: str = "best") -> dict:
    """The package of one trained fold (plain data: what ``export_package`` writes)."""
    from serkit.features.extract import FeatureConfig

    _refuse_classical(exp)
    ck = load_checkpoint(exp / "checkpoints" / f"{which}.pt")
    cfg = config_from_dict(ck["config"])
    features, stats = _training_inputs(exp, feat_conf, cmvn_stats)
    features = FeatureConfig.from_dict(features).to_dict()   # checked, defaults written out
    cmvn = {"mode": cfg.data.cmvn, "mean": None, "inv_std": None}
    table = _cmvn_table(exp, cfg.data.cmvn, stats)
    if table is not None:
        cmvn.update(mean=torch.from_numpy(table[0]), inv_std=torch.from_numpy(table[1]))
    return {"format": PACKAGE_FORMAT, "model": ck["model"], "config": ck["config"], "classes": ck["classes"],
            "input_dim": ck["input_dim"], "architecture": ck.get("architecture"), "features": features,
            "cmvn": cmvn, "source": str(exp)}


def is_fusion_fold(path: str | os.PathLike) -> bool:
    """A fold of a fused system: ``<fusion>/<fold>`` with ``<fusion>/fusion.yaml`` beside it."""
    path = Path(path)
    return (path.parent / "fusion.yaml").is_file() and not (path / "checkpoints").exists()


def _resolve_member(member: str, fusion_dir: Path) -> Path:
    """A member as ``serkit-fuse`` recorded it: relative to where it ran (the recipe dir), so
    found from here or from a dir above the fusion."""
    p = Path(member)
    if p.is_absolute() or p.exists():
        return p
    for base in fusion_dir.resolve().parents:
        if (base / p).exists():
            return base / p
    raise ConfigError(f"{fusion_dir / 'fusion.yaml'}: member '{member}' is not found here or above {fusion_dir}")


def fusion_members(fold_dir: str | os.PathLike, _seen: Tuple[Path, ...] = ()) -> List[Tuple[Path, float]]:
    """A fused system's fold -> (member fold dir, weight) pairs: the fold's weights of
    ``fusion.yaml``, nested fusions flattened (weights multiplied, a system met twice added up),
    members of weight 0 left out; the weights sum to 1."""
    fold_dir = Path(fold_dir)
    record_file = fold_dir.parent / "fusion.yaml"
    if fold_dir.resolve() in _seen:
        raise ConfigError(f"{record_file}: the fusion contains itself")
    fold = fold_dir.name
    try:
        record = yaml.safe_load(record_file.read_text())
        members, weights = [str(m) for m in record["members"]], [float(w) for w in record["folds"][fold]]
    except yaml.YAMLError as e:
        raise ConfigError(f"{record_file}: not YAML ({str(e).splitlines()[0]})") from None
    except (TypeError, KeyError, ValueError):
        raise ConfigError(f"{record_file}: no members and weights for fold '{fold}'") from None
    if len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0:
        raise ConfigError(f"{record_file}: fold '{fold}' has weights {weights} for {len(members)} members")
    out: Dict[Path, Tuple[Path, float]] = {}   # by resolved path: a system in two places runs once
    for member, w in zip(members, weights):
        if w == 0:
            continue
        member_fold = _resolve_member(member, fold_dir.parent) / fold
        if is_fusion_fold(member_fold):
            parts = [(m, w * v) for m, v in fusion_members(member_fold, _seen + (fold_dir.resolve(),))]
        else:
            parts = [(member_fold, w)]
        for m, v in parts:
            key = m.resolve()
            out[key] = (out[key][0], out[key][1] + v) if key in out else (m, v)
    total = sum(w for _, w in out.values())
    return [(m, w / total) for m, w in out.values()]


def export_package(exp_dir: str | os.PathLike, out: str | os.PathLike, feat_conf: Optional[str] = None,
                   cmvn_stats: Optional[str] = None, which: str = "best") -> Path:
    """Write the self-contained model file ``out`` from a trained fold ``exp_dir``, or from a fold
    of a fused system (every member's package and the fold's fusion weights)."""
    exp = Path(exp_dir)
    if is_fusion_fold(exp):
        if feat_conf or cmvn_stats:
            raise ConfigError(f"{exp}: a fused system's members each use their own features and CMVN "
                              f"(their run.yaml); --feat_conf / --cmvn_stats name one model's")
        members = fusion_members(exp)
        pkg = {"format": ENSEMBLE_FORMAT, "members": [_package(m, which=which) for m, _ in members],
               "weights": [w for _, w in members], "source": str(exp)}
        _check_members([m["classes"]["emotion"] for m in pkg["members"]],
                       [m["features"]["sample_rate"] for m in pkg["members"]], [str(m) for m, _ in members])
    else:
        pkg = _package(exp, feat_conf, cmvn_stats, which)
    save_atomic(pkg, out)
    return Path(out)


def _check_members(names: Sequence[List[str]], rates: Sequence[int], sources: Sequence[str]) -> None:
    """Members of one ensemble share the class list (in order) and the sample rate."""
    for k in range(1, len(names)):
        if list(names[k]) != list(names[0]):
            raise ConfigError(f"{sources[k]}: classes {list(names[k])}, but {sources[0]} has {list(names[0])}: "
                              f"a fusion averages posteriors over one class list")
        if rates[k] != rates[0]:
            raise ConfigError(f"{sources[k]}: features at {rates[k]} Hz, but {sources[0]} at {rates[0]} Hz")


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
    return _cut_long([(max(0.0, s - pad), min(dur, e + pad)) for s, e in merged if e - s >= min_speech], max_len)


def _cut_long(spans: Sequence[Tuple[float, float]], max_len: float) -> List[Tuple[float, float]]:
    """Stretches longer than ``max_len`` cut into equal parts (the model was trained on utterances)."""
    out = []
    for s, e in spans:
        n = int(np.ceil((e - s) / max_len))
        out += [(s + k * (e - s) / n, s + (k + 1) * (e - s) / n) for k in range(n)]
    return out


_SILERO = {}


def silero_segments(wave: np.ndarray, sr: int, min_speech: float = 0.25, min_gap: float = 0.3,
                    pad: float = 0.1, max_len: float = 10.0) -> List[Tuple[float, float]]:
    """Speech stretches (start, end) in seconds found by Silero VAD, a small neural voice-activity
    model (MIT) whose weights ship inside the ``silero-vad`` wheel; it tells speech from noise
    and music where the energy rule cannot. Same stretch rules as :func:`energy_segments`."""
    if "model" not in _SILERO:
        threads = torch.get_num_threads()
        try:
            from silero_vad import get_speech_timestamps, load_silero_vad
        except ImportError:
            raise ConfigError("--vad silero needs the silero-vad package: pip install 'serkit[vad]'") from None
        finally:
            torch.set_num_threads(threads)   # importing silero_vad sets one thread for the process
        import warnings

        with warnings.catch_warnings():   # deprecations inside silero_vad's loader, not ours to act on
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            _SILERO.update(model=load_silero_vad(), stamps=get_speech_timestamps)
    from serkit.features.extract import resample

    x = np.asarray(wave, np.float32)
    if sr != 16000:   # the model runs at 16 kHz (or 8 kHz)
        x = resample(x, sr, 16000)
    if len(x) < 512:
        return []
    with torch.inference_mode():
        stamps = _SILERO["stamps"](torch.from_numpy(x), _SILERO["model"], sampling_rate=16000,
                                   min_speech_duration_ms=int(min_speech * 1000),
                                   min_silence_duration_ms=int(min_gap * 1000), speech_pad_ms=int(pad * 1000))
    dur = len(wave) / sr
    return _cut_long([(t["start"] / 16000, min(dur, t["end"] / 16000)) for t in stamps], max_len)


VADS = {"energy": energy_segments, "silero": silero_segments}


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


class _Recognition:
    """What every recognizer does with its normalised features: records, files, one speaker's
    recordings and long recordings. A subclass gives ``names``, ``sample_rate``, ``min_samples``
    (the shortest segment it can take), ``speaker_normalised``, ``_raw``, ``_normalise``,
    ``_pooled`` and ``_posteriors``.

    A model trained with speaker CMVN needs a speaker's statistics: ``speaker_stats`` pools them
    over that speaker's recordings, and ``predict`` / ``segments`` take them as ``stats``. Without
    them a long recording's segments share the recording's statistics, and a lone utterance is
    normalised with the training speakers' pooled statistics (README has what each costs)."""

    names: List[str]
    sample_rate: int
    min_samples: int
    speaker_normalised: bool   # trained with speaker CMVN: inference needs the speaker's statistics

    def _raw(self, wave: np.ndarray):
        """A wave at the model's rate -> its features before normalisation."""
        raise NotImplementedError

    def _normalise(self, raw, stats=None):
        """``_raw``'s features -> the model's input; ``stats``: the speaker's (``speaker_stats``)."""
        raise NotImplementedError

    def _pooled(self, raws: Iterable):
        """``_raw``'s features of one speaker's pieces -> their statistics (None: no speaker CMVN)."""
        raise NotImplementedError

    def features(self, wave: np.ndarray, sr: Optional[int] = None, stats=None):
        """Mono wave (at ``sr``, resampled to the model's rate) -> normalised features; ``stats``:
        the speaker's (``speaker_stats``) for a model trained with speaker CMVN, else the
        utterance's own, smoothed with the training speakers' (``prior_frames``)."""
        return self._normalise(self._raw(self._wave(wave, sr)), stats)

    def _posteriors(self, feats: Sequence, batch_size: int = 16) -> Tuple[np.ndarray, List[dict]]:
        """-> emotion posteriors (N, classes) and what the other heads add, one dict each."""
        raise NotImplementedError

    def _wave(self, wave: np.ndarray, sr: Optional[int] = None) -> np.ndarray:
        """A mono wave at ``sr`` -> float32 at the model's rate."""
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 1:
            raise DataDirError(f"expected a mono wave (samples,), got shape {wave.shape}")
        if sr is not None and sr != self.sample_rate:
            from serkit.features.extract import resample

            wave = resample(wave, int(sr), self.sample_rate)
        return wave

    def speaker_stats(self, waves: Iterable[np.ndarray], sr: Optional[int] = None, window: Optional[float] = None,
                      hop: Optional[float] = None, vad: Optional[str] = None):
        """One speaker's statistics for ``features`` / ``predict`` / ``segments``: the frames of
        ``waves`` (mono, at ``sr``) pooled, or of their segments (``window`` / ``vad`` as in
        ``segments``). Read once (a generator will do); None, without reading it, for a model
        that was not trained with speaker CMVN. Recordings with nothing to recognise are skipped."""
        if not self.speaker_normalised:
            return None

        def pieces():
            for wave in waves:
                wave = self._wave(wave, sr)
                try:
                    yield from (self._raw(wave[a:b]) for a, b in self._samples(wave, window, hop, vad))
                except DataDirError:   # silent or too short: it adds nothing
                    continue
        return self._pooled(pieces())

    def _samples(self, wave: np.ndarray, window: Optional[float], hop: Optional[float],
                 vad: Optional[str]) -> List[Tuple[int, int]]:
        """The sample ranges to recognise: the whole wave, or its windows / speech stretches."""
        duration = len(wave) / self.sample_rate
        if window:
            spans = window_segments(duration, window, hop or window)
        elif not vad:
            spans = [(0.0, duration)]
        elif vad in VADS:
            spans = VADS[vad](wave, self.sample_rate)
        else:
            raise ConfigError(f"vad '{vad}': choose one of {', '.join(VADS)}")
        out = [(int(round(a * self.sample_rate)), int(round(b * self.sample_rate))) for a, b in spans]
        out = [(a, b) for a, b in out if b - a >= self.min_samples]
        if not out:
            raise DataDirError(f"no segment to recognise in {duration:.2f} s of audio (silent or too short)")
        return out

    def predict_features(self, feats: Sequence, top_k: Optional[int] = None, batch_size: int = 16) -> List[dict]:
        """Normalised features of several utterances (``features``' results) -> one record each."""
        probs, extra = self._posteriors(feats, batch_size)
        return [self._record(p, top_k) | e for p, e in zip(probs, extra)]

    def _record(self, p: np.ndarray, top_k: Optional[int]) -> dict:
        ranked = np.argsort(-p, kind="stable")[: top_k or len(p)]
        return {"emotion": self.names[int(ranked[0])],
                "probs": {c: round(float(v), 5) for c, v in zip(self.names, p)},
                "scores": [{"label": self.names[int(j)], "score": round(float(p[j]), 5)} for j in ranked]}

    def predict(self, wave: np.ndarray, sr: Optional[int] = None, top_k: Optional[int] = None, stats=None) -> dict:
        """One utterance (mono wave at ``sr``) -> {"emotion", "probs", "scores", head fields};
        ``stats``: its speaker's (``speaker_stats``)."""
        return self.predict_features([self.features(wave, sr, stats)], top_k)[0]

    def predict_speaker(self, waves: Sequence[np.ndarray], sr: Optional[int] = None, top_k: Optional[int] = None,
                        batch_size: int = 16) -> List[dict]:
        """Several utterances of one speaker (mono waves at ``sr``) -> one record each, normalised
        with their pooled statistics (a model trained with speaker CMVN) and batched by length."""
        raws = [self._raw(self._wave(w, sr)) for w in waves]
        stats = self._pooled(raws)   # None for a model without speaker CMVN
        return self.predict_features([self._normalise(x, stats) for x in raws], top_k, batch_size)

    def read(self, path: str | os.PathLike) -> np.ndarray:
        """An audio file as a mono wave at the model's rate (always a file, never a command)."""
        from serkit.features.extract import read_audio

        if not Path(path).is_file():
            raise DataDirError(f"{path}: no such file")
        return read_audio(path, self.sample_rate)

    def predict_file(self, path: str | os.PathLike, top_k: Optional[int] = None, stats=None) -> dict:
        return self.predict(self.read(path), None, top_k, stats)

    def segments(self, audio, window: Optional[float] = None, hop: Optional[float] = None,
                 top_k: Optional[int] = None, batch_size: int = 16, vad: str = "energy",
                 stats=None) -> Tuple[List[dict], dict]:
        """A long recording (file path or wave at the model's rate) -> (one record per segment with
        ``start`` / ``end`` in seconds, the file's record). Segments are fixed windows (``window``,
        ``hop``) or, without ``window``, the speech stretches of ``vad``: ``energy``
        (:func:`energy_segments`, no dependency) or ``silero`` (:func:`silero_segments`); the
        file's posteriors are the segments' averaged, weighted by duration. ``stats``: the
        speaker's (``speaker_stats``); by default the recording is one speaker, its segments'
        frames pooled."""
        wave = self.read(audio) if isinstance(audio, (str, os.PathLike)) else np.asarray(audio, np.float32)
        sr = self.sample_rate
        duration = len(wave) / sr
        samples = self._samples(wave, window, hop, vad)
        raws = [self._raw(wave[a:b]) for a, b in samples]   # each piece's features computed once
        if stats is None:
            stats = self._pooled(raws)   # None for a model without speaker CMVN
        feats = [self._normalise(x, stats) for x in raws]
        probs, extra = self._posteriors(feats, batch_size)
        records = [self._record(p, top_k) | e for p, e in zip(probs, extra)]
        last = np.floor(duration * 1000) / 1000   # times in ms, never past the end of the file
        segs = [{"start": min(round(a / sr, 3), last), "end": min(round(b / sr, 3), last), **r}
                for (a, b), r in zip(samples, records)]
        weights = np.array([b - a for a, b in samples], dtype=np.float64)
        p = weights @ probs / weights.sum()
        return segs, self._record(p, top_k) | {"segments": len(segs)}


class Recognizer(_Recognition):
    """A trained model with its feature extraction and normalisation (``Recognizer.load``).

    ``model`` is the PyTorch model, or an ``onnxruntime`` session of an ONNX export (emotion
    posteriors only: the other heads' outputs are not in the exported graph)."""

    def __init__(self, model, cfg, classes: Dict[str, List[str]], features: dict, cmvn_mode: str,
                 cmvn_stats: Optional[Tuple[np.ndarray, np.ndarray]] = None, input_dim: Optional[int] = None,
                 device: str | torch.device = "cpu"):
        from serkit.features.extract import FeatureConfig, FeatureExtractor

        self.model, self.cfg, self.classes = model, cfg, classes
        self.onnx = not isinstance(model, torch.nn.Module)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device '{device}': torch sees no CUDA device here")
        if self.onnx and self.device.type != "cpu":
            raise ConfigError(f"device '{device}': an ONNX model runs on the CPU here (onnxruntime's CPU provider)")
        if not self.onnx:
            self.model = model.to(self.device)
        self.feature_config = FeatureConfig.from_dict(features)
        # log-mel / MFCC on the model's device; the other feature types are computed on the CPU
        on_device = self.feature_config.type in ("mfcc", "logmel")
        self.extract = FeatureExtractor(self.feature_config, self.device if on_device else "cpu")
        self.sample_rate = self.feature_config.sample_rate
        self.min_samples = self.feature_config.win_length
        self.cmvn_mode, self.cmvn_stats = cmvn_mode, cmvn_stats
        self.speaker_normalised = cmvn_mode == "speaker"
        self.prior_frames = PRIOR_FRAMES
        self.names = classes["emotion"]
        self.input_dim = input_dim if self.onnx else model.input_dim
        if self.extract.dim != self.input_dim:
            raise ConfigError(f"the feature config gives {self.extract.dim} columns, the model expects "
                              f"{self.input_dim}")

    @classmethod
    def load(cls, path: str | os.PathLike, feat_conf: Optional[str] = None,
             cmvn_stats: Optional[str] = None, device: str | torch.device = "cpu") -> "Recognizer | Ensemble":
        """From a model file written by ``export_package`` / ``serkit-export``, or a trained fold's
        exp dir (with the recipe's dumps in place, or ``feat_conf`` / ``cmvn_stats`` given); the
        model and its log-mel / MFCC run on ``device``. A fused system (its exported file, or a
        fold of its exp dir) gives an :class:`Ensemble`."""
        path = Path(path)
        if path.suffix == ".onnx":
            return cls._load_onnx(path, device)
        if path.is_dir() and is_fusion_fold(path):
            if feat_conf or cmvn_stats:
                raise ConfigError(f"{path}: a fused system's members each use their own features and CMVN "
                                  f"(their run.yaml); feat_conf / cmvn_stats name one model's")
            members = fusion_members(path)
            return Ensemble([cls.load(m, device=device) for m, _ in members], [w for _, w in members],
                            [str(m) for m, _ in members])
        if path.is_dir():
            from serkit.predict import load_model

            _refuse_classical(path)
            model, cfg, classes = load_model(path)
            features, stats = _training_inputs(path, feat_conf, cmvn_stats)
            table = _cmvn_table(path, cfg.data.cmvn, stats)
            return cls(model, cfg, classes, features, cfg.data.cmvn, table, device=device)
        pkg = load_checkpoint(path)
        if isinstance(pkg, dict) and pkg.get("format") == ENSEMBLE_FORMAT:
            members, weights = pkg.get("members"), pkg.get("weights")
            if not isinstance(members, list) or not isinstance(weights, list) or len(members) != len(weights):
                raise SerkitError(f"{path}: a fused model file without as many weights as members")
            return Ensemble([cls._from_package(m, f"{path} (member {k + 1})", device) for k, m in enumerate(members)],
                            weights, [str(m.get("source", f"member {k + 1}")) for k, m in enumerate(members)])
        return cls._from_package(pkg, str(path), device)

    @classmethod
    def _from_package(cls, pkg, where: str, device: str | torch.device = "cpu") -> "Recognizer":
        if not isinstance(pkg, dict) or pkg.get("format") != PACKAGE_FORMAT:
            raise SerkitError(f"{where}: not a serkit model file (write one with serkit-export)")
        from serkit.predict import model_from_checkpoint

        try:
            model, cfg, _ = model_from_checkpoint(pkg)
            c = pkg["cmvn"]   # speaker mode: the training speakers' pooled statistics (older files: none)
            table = (c["mean"].numpy(), c["inv_std"].numpy()) if c.get("mean") is not None else None
            classes, features, mode = pkg["classes"], pkg["features"], c["mode"]
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:   # RuntimeError: weights
            raise SerkitError(f"{where}: a damaged serkit model file ({type(e).__name__}: {e}); export it again") from None
        return cls(model, cfg, classes, features, mode, table, device=device)

    @classmethod
    def _load_onnx(cls, path: Path, device: str | torch.device = "cpu") -> "Recognizer":
        import json

        try:
            import onnxruntime
        except ImportError:
            raise ConfigError(f"{path}: running an ONNX model needs onnxruntime (pip install onnxruntime)") from None
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map.get(ONNX_META_KEY)
        if meta is None:
            raise SerkitError(f"{path}: not an ONNX model exported by serkit-export (no '{ONNX_META_KEY}' metadata)")
        m = json.loads(meta)
        c = m["cmvn"]
        table = (np.array(c["mean"], np.float32), np.array(c["inv_std"], np.float32)) if c.get("mean") else None
        return cls(session, None, {"emotion": m["classes"]}, m["features"], c["mode"], table, input_dim=m["input_dim"],
                   device=device)

    def export_onnx(self, out: str | os.PathLike, check: bool = True) -> Path:
        """The network from normalised features to emotion posteriors as ONNX (dynamic batch and
        time axes; ``ONNX_ENCODERS`` says which exporter), with the feature config, CMVN
        statistics and classes in its metadata, so that ``Recognizer.load(out)`` runs it with
        onnxruntime alone. ``check``: compare with PyTorch on a batch of other lengths (≤ 1e-4)."""
        import json
        import warnings

        if self.onnx:
            raise ConfigError("this recognizer already runs an ONNX model")
        if self.cfg.model.encoder not in ONNX_ENCODERS:
            raise ConfigError(f"ONNX export of the '{self.cfg.model.encoder}' encoder is not supported "
                              f"(supported: {list(ONNX_ENCODERS)})")
        try:
            import onnx
        except ImportError:
            raise ConfigError("ONNX export needs onnx and onnxscript (pip install onnx onnxscript onnxruntime)") from None
        net = _Posteriors(self.model).eval()
        # example and check lengths in frames, or in samples for a wave model (its convolutions
        # need at least 400)
        wave = self.feature_config.type == "wave"
        n, n_check, n_min = (16000, 9700, 800) if wave else (200, 97, 16)
        x, lengths = torch.randn(2, n, self.input_dim), torch.tensor([n, 3 * n // 4])
        batch, time = torch.export.Dim("batch"), torch.export.Dim("time", min=n_min)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if ONNX_ENCODERS[self.cfg.model.encoder] == "dynamo":
                proto = torch.onnx.export(net, (x, lengths), dynamo=True, input_names=["feats", "lengths"],
                                          output_names=["probs"],
                                          dynamic_shapes={"feats": {0: batch, 1: time}, "lengths": {0: batch}}
                                          ).model_proto
            else:
                import io

                buf = io.BytesIO()
                torch.onnx.export(net, (x, lengths), buf, dynamo=False, input_names=["feats", "lengths"],
                                  output_names=["probs"], opset_version=17,
                                  dynamic_axes={"feats": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                                                "probs": {0: "batch"}})
                proto = onnx.load_from_string(buf.getvalue())
        mean, inv_std = self.cmvn_stats if self.cmvn_stats is not None else (None, None)
        meta = {"classes": self.names, "features": self.feature_config.to_dict(), "input_dim": self.input_dim,
                "cmvn": {"mode": self.cmvn_mode, "mean": None if mean is None else mean.tolist(),
                         "inv_std": None if inv_std is None else inv_std.tolist()}}
        onnx.helper.set_model_props(proto, {ONNX_META_KEY: json.dumps(meta)})
        out = Path(out)
        with atomic_write(out, "wb") as f:
            onnx.save(proto, f)
        if check:
            other = Recognizer._load_onnx(out)
            x, lengths = torch.randn(3, n_check, self.input_dim), torch.tensor([n_check, 2 * n_check // 5, 3 * n_check // 4])
            with torch.no_grad():
                ref = net(x, lengths).numpy()
            got = other._run_onnx(x.numpy(), lengths.numpy())
            diff = float(np.abs(got - ref).max())
            if not diff <= 1e-4:
                out.unlink()
                raise SerkitError(f"{out}: the ONNX model differs from PyTorch by {diff:.2e} (> 1e-4); not written")
        return out

    def _run_onnx(self, feats: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.model.run(None, {"feats": feats.astype(np.float32), "lengths": lengths.astype(np.int64)})[0]

    # ------------------------------------------------------------------ features
    def _raw(self, wave: np.ndarray) -> np.ndarray:
        return self.extract(wave)

    def _normalise(self, x: np.ndarray, stats: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
        if self.cmvn_mode == "global":
            mean, inv_std = self.cmvn_stats
            return (x - mean) * inv_std
        if self.cmvn_mode == "speaker":
            mean, inv_std = stats if stats is not None else self._pooled([x])
            return (x - mean) * inv_std
        return x

    def _pooled(self, raws: Iterable[np.ndarray]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        if not self.speaker_normalised:
            return None
        from serkit.features.cmvn import Accumulator

        acc = Accumulator()
        for x in raws:
            acc.add(x)
        return self._smooth(acc)

    def _smooth(self, acc) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """A speaker's accumulated frames -> their statistics, smoothed with ``prior_frames``
        frames of the training speakers' (files written before those were kept: unsmoothed);
        None when there is nothing to pool (no frames, no prior): each utterance its own."""
        if not acc.count and (self.cmvn_stats is None or not self.prior_frames):
            return None
        return acc.mean_inv_std(self.cmvn_stats, self.prior_frames)

    # ------------------------------------------------------------------ recognition
    @torch.no_grad()
    def _posteriors(self, feats: Sequence[np.ndarray], batch_size: int = 16) -> Tuple[np.ndarray, List[dict]]:
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]))   # batched by length
        probs_out = np.zeros((len(feats), len(self.names)), np.float32)
        extra: List[dict] = [{} for _ in feats]
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            lengths = torch.tensor([len(feats[i]) for i in idx])
            x = torch.zeros(len(idx), int(lengths.max()), feats[idx[0]].shape[1])
            for b, i in enumerate(idx):
                x[b, : len(feats[i])] = torch.from_numpy(np.ascontiguousarray(feats[i], dtype=np.float32))
            if self.onnx:
                probs = torch.from_numpy(self._run_onnx(x.numpy(), lengths.numpy()))
            else:
                outputs, enc_lengths = self.model.outputs(x.to(self.device), lengths.to(self.device))
                probs = outputs["emotion"].float().softmax(-1).cpu()
                for name, t in self.model.head_types.items():   # transcripts, ratings, ...
                    if name != "emotion":
                        for b, fields in enumerate(t.describe(outputs[name], enc_lengths, self.classes[name])):
                            extra[idx[b]].update(fields)
            if not torch.isfinite(probs).all():
                raise SerkitError("the model's outputs are not finite (NaN / inf)")
            probs_out[idx] = probs.numpy()
        return probs_out, extra


class Ensemble(_Recognition):
    """A fused system: several recognizers whose emotion posteriors are averaged with the fusion's
    weights, as ``serkit-fuse`` averages their decodes (``Recognizer.load`` of an exported fusion,
    or of a fusion's fold dir). Records hold the emotion: other heads' outputs are not fused.
    Members with the same features and normalisation share one extraction."""

    def __init__(self, members: Sequence[Recognizer], weights: Sequence[float], sources: Optional[Sequence[str]] = None):
        sources = list(sources or [f"member {k + 1}" for k in range(len(members))])
        w = np.asarray(weights, dtype=np.float64)
        if not members or len(w) != len(members) or (w < 0).any() or w.sum() <= 0:
            raise ConfigError(f"an ensemble needs members and as many weights >= 0 with a positive sum; got "
                              f"{len(members)} members, weights {list(weights)}")
        _check_members([m.names for m in members], [m.sample_rate for m in members], sources)
        self.members, self.weights, self.sources = list(members), w / w.sum(), sources
        self.names, self.sample_rate = members[0].names, members[0].sample_rate
        self.min_samples = max(m.min_samples for m in members)
        self.speaker_normalised = any(m.speaker_normalised for m in members)
        self._extractor: List[int] = []   # member -> the first member whose features it shares
        for k, m in enumerate(members):
            same = (j for j in range(k) if self._extractor[j] == j and _same_inputs(members[j], m))
            self._extractor.append(next(same, k))

    def _raw(self, wave: np.ndarray) -> Tuple[Optional[np.ndarray], ...]:
        """Each member's features before normalisation, computed by the first member of each
        group that shares them (None for the others)."""
        return tuple(m._raw(wave) if self._extractor[k] == k else None for k, m in enumerate(self.members))

    def _normalise(self, raw: Tuple[Optional[np.ndarray], ...], stats=None) -> Tuple[np.ndarray, ...]:
        out: List[Optional[np.ndarray]] = [None] * len(self.members)
        for k, m in enumerate(self.members):
            j = self._extractor[k]
            out[k] = m._normalise(raw[k], stats[k] if stats else None) if j == k else out[j]
        return tuple(out)

    def _pooled(self, raws: Iterable[Tuple[Optional[np.ndarray], ...]]) -> Optional[tuple]:
        if not self.speaker_normalised:
            return None
        from serkit.features.cmvn import Accumulator

        accs = {k: Accumulator() for k, m in enumerate(self.members) if self._extractor[k] == k and m.speaker_normalised}
        for raw in raws:
            for k, acc in accs.items():
                acc.add(raw[k])
        return tuple(self.members[self._extractor[k]]._smooth(accs[self._extractor[k]]) if m.speaker_normalised
                     else None for k, m in enumerate(self.members))

    @property
    def prior_frames(self) -> float:
        return self.members[0].prior_frames

    @prior_frames.setter
    def prior_frames(self, frames: float) -> None:
        for m in self.members:
            m.prior_frames = frames

    def _posteriors(self, feats: Sequence[Tuple[np.ndarray, ...]], batch_size: int = 16) -> Tuple[np.ndarray, List[dict]]:
        probs = sum(w * m._posteriors([f[k] for f in feats], batch_size)[0]
                    for k, (m, w) in enumerate(zip(self.members, self.weights)))
        return probs, [{} for _ in feats]

    def export_onnx(self, out: str | os.PathLike, check: bool = True) -> Path:
        raise ConfigError("a fused system is several networks: export each member's fold to ONNX "
                          "(serkit-export --exp_dir <member>/<fold> --out m.pt --onnx m.onnx)")


def _same_inputs(a: Recognizer, b: Recognizer) -> bool:
    """The same features and the same normalisation: one extraction serves both."""
    if a.feature_config.to_dict() != b.feature_config.to_dict() or a.cmvn_mode != b.cmvn_mode:
        return False
    if a.cmvn_stats is None or b.cmvn_stats is None:
        return a.cmvn_stats is b.cmvn_stats
    return all(np.array_equal(x, y) for x, y in zip(a.cmvn_stats, b.cmvn_stats))
