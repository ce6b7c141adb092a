"""A classical system (``serkit-train-classical``: SVM, logistic regression or random forest on
utterance vectors) run on recordings, as ``Recognizer`` runs a network.

The path is the one of training: the fold's features and frame CMVN, the frozen pretrained
stack where there is one, the functionals over frames, the speaker normalisation of the
vectors (``vector_norm: speaker``), and the classifier kept as arrays (``serkit.classifiers``).
A speaker's vectors are z-normalised with that speaker's statistics, pooled over their
recordings (``speaker_stats``, ``predict_speaker``, ``serkit-infer --utt2spk``) and smoothed
with ``prior_utts`` utterances of the training utterances' statistics: one vector alone has no
spread of its own, so a lone file leans on them.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from serkit.classical import MIN_STD, VectorCache, functionals
from serkit.errors import ConfigError, SerkitError
from serkit.recognition import _FrameInput

MEMO = 4096      # utterance vectors kept, by their normalised frames: pooling, then recognising


class ClassicalRecognizer(_FrameInput):
    """A trained classical fold: features -> frame CMVN -> [frozen stack] -> functionals ->
    [speaker z-norm] -> classifier. Emotion posteriors only; ``Recognizer.load`` gives one for a
    classical fold's exp dir or its exported file."""

    def __init__(self, pkg: Dict[str, Any], where: str, device: str | torch.device = "cpu"):
        from serkit.classifiers import ArrayClassifier

        try:
            c = pkg["cmvn"]
            table = (c["mean"].numpy(), c["inv_std"].numpy()) if c.get("mean") is not None else None
            super().__init__(pkg["features"], c["mode"], table, int(pkg["input_dim"]), device)
            self.classifier = ArrayClassifier(pkg["classifier"])
            self.names = list(pkg["classes"]["emotion"])
            self.functionals = pkg["config"]["functionals"]
            self.vector_norm = pkg["config"]["vector_norm"]
            prior = pkg["vector_prior"]
            self.vector_prior = (prior["mean"].numpy(), prior["var"].numpy())
            self.encoder = self._stack(pkg["representation"])
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
            raise SerkitError(f"{where}: a damaged serkit model file ({type(e).__name__}: {e}); "
                              f"export it again") from None
        except SerkitError as e:
            raise SerkitError(f"{where}: {e}; export it again") from None
        if self.classifier.n_classes != len(self.names):
            raise SerkitError(f"{where}: a classifier of {self.classifier.n_classes} classes for {len(self.names)} "
                              f"names; export it again")
        self.speaker_normalised = self.cmvn_mode == "speaker" or self.vector_norm == "speaker"
        self._memo: "OrderedDict[str, np.ndarray]" = OrderedDict()

    def _stack(self, rep: Optional[Dict[str, Any]]):
        if rep is None:
            return None
        from serkit.models.encoders.pretrained import PretrainedEncoder

        enc = PretrainedEncoder(self.input_dim, mode=rep["mode"], layer=rep["layer"], combine=rep["combine"],
                                **rep["architecture"])
        enc.load_state_dict(rep["weights"])
        return enc.to(self.device).eval()

    # ------------------------------------------------------------------ vectors
    @torch.no_grad()
    def _vector(self, frames: np.ndarray) -> np.ndarray:
        """Normalised frames (T, D) -> the utterance vector before ``vector_norm``, as training
        computes it (``serkit.classical.utterance_vectors``)."""
        x = np.ascontiguousarray(frames, dtype=np.float32)
        key = VectorCache.key(torch.from_numpy(x))   # as training's cache keys an utterance's frames
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        feats, lengths = torch.from_numpy(x)[None].to(self.device), torch.tensor([len(x)], device=self.device)
        if self.encoder is not None:
            feats, lengths = self.encoder(feats, lengths)
        v = functionals(feats.cpu(), lengths.cpu(), self.functionals)[0].numpy()
        self._memo[key] = v
        if len(self._memo) > MEMO:
            self._memo.popitem(last=False)
        return v

    def _vector_stats(self, vectors: Sequence[np.ndarray]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """A speaker's vectors -> (mean, std), smoothed with ``prior_utts`` utterances of the
        training vectors' statistics (0: the speaker's alone, as training normalised them)."""
        n, n0 = len(vectors), float(self.prior_utts)
        if n == 0 and not n0:
            return None
        mu0, var0 = self.vector_prior
        if np.isinf(n0):
            return mu0, np.maximum(np.sqrt(var0), MIN_STD)
        V = np.asarray(vectors, np.float64).reshape(n, -1)
        mean = V.mean(0) if n else mu0
        var = V.var(0) if n else var0
        # n vectors and n0 pseudo-vectors of the prior, pooled (centred: no cancellation)
        total = n + n0
        pooled_mean = (n * mean + n0 * mu0) / total
        pooled_var = (n * var + n0 * var0 + n * n0 / total * (mean - mu0) ** 2) / total
        return pooled_mean, np.maximum(np.sqrt(pooled_var), MIN_STD)

    # ------------------------------------------------------------------ the recognition protocol
    def _normalise(self, raw: np.ndarray, stats=None) -> np.ndarray:
        """Features -> the classifier's input vector; ``stats``: (frame, vector) statistics."""
        frame_stats, vector_stats = stats if stats is not None else (None, None)
        v = self._vector(super()._normalise(raw, frame_stats))
        if self.vector_norm != "speaker":
            return v
        mean, std = vector_stats if vector_stats is not None else self._vector_stats([v])
        return (v - mean) / std

    def _pooled(self, raws: Iterable[np.ndarray]):
        """One speaker's frame statistics, then those of their vectors normalised with them."""
        if not self.speaker_normalised:
            return None
        raws = list(raws)
        frame_stats = self._frame_stats(raws) if self.cmvn_mode == "speaker" else None
        if self.vector_norm != "speaker":
            return frame_stats, None
        frames = super()._normalise
        return frame_stats, self._vector_stats([self._vector(frames(x, frame_stats)) for x in raws])

    def _posteriors(self, feats: Sequence[np.ndarray], batch_size: int = 16) -> Tuple[np.ndarray, List[dict]]:
        if not len(feats):
            return np.zeros((0, len(self.names))), []
        probs = self.classifier.probs(np.stack(feats))
        if not np.isfinite(probs).all():
            raise SerkitError("the classifier's outputs are not finite (NaN / inf)")
        return probs.astype(np.float32), [{} for _ in feats]

    def export_onnx(self, out, check: bool = True):
        raise ConfigError("a classical system (scikit-learn classifier on utterance vectors) has no ONNX graph "
                          "here: run its exported .pt with serkit-infer")
