"""What every recognizer does with recordings, and the pieces it is built of.

``_Recognition`` turns waves into records: one utterance, one speaker's utterances (their
statistics pooled), long recordings cut into windows or speech stretches (``energy`` /
``silero`` VAD), and conversations cut into their speakers' turns. ``_FrameInput`` adds the fold's feature extraction and frame CMVN, with a
speaker's statistics smoothed with ``PRIOR_FRAMES`` frames of the training speakers'. The
network recognizer (``serkit.recognizer``) and the classical one
(``serkit.classical_recognizer``) build on them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from serkit.errors import ConfigError, DataDirError

# A speaker-CMVN model meets a speaker's statistics smoothed with this many frames of its training
# speakers' pooled statistics: a lone utterance leans on them, many utterances outweigh them.
# Chosen on the valid speakers of EMO-DB's LOSO folds (README).
PRIOR_FRAMES = 1000.0   # 10 s at a 10 ms hop
# A classical system's speaker z-normalises a speaker's utterance vectors: with their statistics
# smoothed with this many utterances of the training utterances'. Chosen likewise (README).
PRIOR_UTTS = 30.0


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


def turn_samples(start: float, end: float, n: int, sr: int) -> Tuple[int, int]:
    """A turn's seconds -> its sample range in a recording of ``n`` samples (cut at its end)."""
    return int(round(start * sr)), int(min(n, round(end * sr)) if np.isfinite(end) else n)


class _Recognition:
    """What every recognizer does with its normalised features: records, files, one speaker's
    recordings, long recordings and conversations. A subclass gives ``names``, ``sample_rate``, ``min_samples``
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

    def turns(self, audio, turns: Sequence[Tuple[float, float, str]], top_k: Optional[int] = None,
              batch_size: int = 16, stats: Optional[Dict[str, Any]] = None) -> Tuple[List[dict], Dict[str, dict]]:
        """A recording of several speakers (a conversation; file path or wave at the model's rate)
        and its turns ``(start, end, speaker)`` in seconds, as a diarization gives them -> (one
        record per turn, in order, with ``start``, ``end`` and ``speaker``; one record per speaker
        with ``turns``: N and their turns' posteriors averaged, weighted by duration). A model
        trained with speaker CMVN normalises each speaker's turns with their pooled statistics,
        or with ``stats[speaker]`` where given (``speaker_stats`` of their turns in several
        recordings). A turn past the end is cut there; one shorter than an analysis window gets a
        record with ``error`` instead of posteriors (and no part in its speaker's)."""
        wave = self.read(audio) if isinstance(audio, (str, os.PathLike)) else np.asarray(audio, np.float32)
        sr, n = self.sample_rate, len(wave)
        cuts = []
        for k, (start, end, spk) in enumerate(turns, 1):
            if not 0 <= start < end:
                raise ConfigError(f"turn {k} of speaker '{spk}': {start}-{end} s is no stretch of time")
            if start * sr >= n:
                raise DataDirError(f"turn {k} of speaker '{spk}' starts at {start} s, after the recording's "
                                   f"end ({n / sr:.3f} s)")
            cuts.append(turn_samples(start, end, n, sr))
        kept = [k for k, (a, b) in enumerate(cuts) if b - a >= self.min_samples]
        raws = {k: self._raw(wave[slice(*cuts[k])]) for k in kept}   # each turn's features computed once
        stats = dict(stats or {})
        for spk in dict.fromkeys(turns[k][2] for k in kept):
            if spk not in stats:
                stats[spk] = self._pooled(raws[k] for k in kept if turns[k][2] == spk)
        found, speakers = {}, {}
        if kept:
            probs, extra = self._posteriors([self._normalise(raws[k], stats[turns[k][2]]) for k in kept], batch_size)
            found = {k: self._record(p, top_k) | e for k, p, e in zip(kept, probs, extra)}
            for spk in dict.fromkeys(turns[k][2] for k in kept):
                mine = [j for j, k in enumerate(kept) if turns[k][2] == spk]
                weights = np.array([cuts[kept[j]][1] - cuts[kept[j]][0] for j in mine], dtype=np.float64)
                p = weights @ probs[mine] / weights.sum()
                speakers[spk] = {"speaker": spk} | self._record(p, top_k) | {"turns": len(mine)}
        last = np.floor(n / sr * 1000) / 1000
        out = []
        for k, ((a, b), (_, _, spk)) in enumerate(zip(cuts, turns)):
            where = {"start": min(round(a / sr, 3), last), "end": min(round(b / sr, 3), last), "speaker": spk}
            out.append(where | found[k] if k in found else
                       where | {"error": f"shorter than the {1000 * self.min_samples / sr:.0f} ms analysis window: "
                                         f"nothing to recognise"})
        return out, speakers


class _FrameInput(_Recognition):
    """The feature extraction and frame normalisation (CMVN) a fold was trained with."""

    def __init__(self, features: dict, cmvn_mode: str, cmvn_stats: Optional[Tuple[np.ndarray, np.ndarray]],
                 input_dim: int, device: str | torch.device = "cpu"):
        from serkit.features.extract import FeatureConfig, FeatureExtractor

        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device '{device}': torch sees no CUDA device here")
        self.feature_config = FeatureConfig.from_dict(features)
        # log-mel / MFCC on the model's device; the other feature types are computed on the CPU
        on_device = self.feature_config.type in ("mfcc", "logmel")
        self.extract = FeatureExtractor(self.feature_config, self.device if on_device else "cpu")
        self.sample_rate = self.feature_config.sample_rate
        self.min_samples = self.feature_config.win_length
        self.cmvn_mode, self.cmvn_stats = cmvn_mode, cmvn_stats
        self.speaker_normalised = cmvn_mode == "speaker"
        self.prior_frames, self.prior_utts = PRIOR_FRAMES, PRIOR_UTTS   # prior_utts: classical systems
        self.input_dim = input_dim
        if self.extract.dim != self.input_dim:
            raise ConfigError(f"the feature config gives {self.extract.dim} columns, the model expects "
                              f"{self.input_dim}")

    def _raw(self, wave: np.ndarray) -> np.ndarray:
        return self.extract(wave)

    def _normalise(self, x: np.ndarray, stats: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
        if self.cmvn_mode == "global":
            mean, inv_std = self.cmvn_stats
            return (x - mean) * inv_std
        if self.cmvn_mode == "speaker":
            mean, inv_std = stats if stats is not None else self._frame_stats([x])
            return (x - mean) * inv_std
        return x

    def _pooled(self, raws: Iterable[np.ndarray]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        return self._frame_stats(raws) if self.speaker_normalised else None

    def _frame_stats(self, raws: Iterable[np.ndarray]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """A speaker's frames -> their statistics, smoothed with ``prior_frames`` frames of the
        training speakers' (files written before those were kept: unsmoothed); None when there
        is nothing to pool (no frames, no prior): each utterance its own."""
        from serkit.features.cmvn import Accumulator

        acc = Accumulator()
        for x in raws:
            acc.add(x)
        if not acc.count and (self.cmvn_stats is None or not self.prior_frames):
            return None
        return acc.mean_inv_std(self.cmvn_stats, self.prior_frames)
