"""Classical classifiers (scikit-learn SVM, logistic regression, random forest) on utterance vectors.

An utterance vector is a set of functionals over frames of a representation: the features
themselves, or (with ``representation.checkpoint``) a pretrained stack's layer or hypercolumns,
through the same ``PretrainedEncoder`` the neural transfer modes use. ``functionals: meanstd``
takes each column's mean and standard deviation; ``full`` adds the 10th, 50th and 90th
percentiles, the 10-90 range and the linear slope over the utterance (the openSMILE-style
statistics; on features with ``prosody`` columns, the mean of the voicing column is the voiced
ratio). ``vector_norm: speaker`` z-normalises the vectors of each speaker with that speaker's
own mean and std (unlabelled, test speakers included: transductive, like speaker CMVN).
``data.augment.speed`` trains on the vectors of the speed-perturbed copies too (each copy of a
speaker z-normalised as a speaker of its own). C is chosen on the valid split's UA; predictions
are written in the TSV format of ``serkit-decode`` so ``serkit-score`` scores them like any model.

A frozen stack's vectors are the same in every fold where the input normalisation is (speaker
CMVN): ``VectorCache`` keeps them by a hash of each utterance's normalised input frames, so the
folds of a protocol compute each utterance once.

The fitted model is written twice: ``model.pkl`` for scikit-learn users (a pickle, never loaded
by serkit) and ``classifier.pt``, the same classifier as arrays (``serkit.classifiers``) with
the frozen stack's weights and the training vectors' statistics, which ``serkit-export`` packs
for ``serkit-infer`` (``serkit.classical_recognizer``).
"""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import yaml

from serkit.checkpoint import save_atomic
# the config lives in serkit.config, which recipes read without torch
from serkit.config import AugmentConf, ClassicalConfig, is_classical_config, load_classical_config, to_dict  # noqa: F401
from serkit.data.augment import speed_utt
from serkit.data.datadir import DataDir
from serkit.data.dataset import FeatDataset, collate, emotion_targets, label_set
from serkit.data.sampler import BucketBatchSampler
from serkit.errors import ConfigError
from serkit.features.cmvn import CMVN
from serkit.features.storage import FeatReader
from serkit.fileio import atomic_write
from serkit.metrics import classification_scores
from serkit.models.pooling import valid_mask
from serkit.predictions import write_predictions

log = logging.getLogger("serkit.classical")
CLASSIFIER_FORMAT = "serkit-classifier/1"   # exp_dir/classifier.pt: the fitted model as plain data
MAX_ARRAY_DIFFERENCE = 1e-6   # between the arrays' posteriors and scikit-learn's, checked on valid
MIN_STD = 1e-8   # floor of a speaker's vector std in speaker_normalise (one utterance: no spread)


def build_representation(cfg: ClassicalConfig, input_dim: int):
    r = cfg.representation
    if not r.checkpoint:
        if r.layer not in (0, "0"):
            raise ConfigError("representation.layer > 0 needs representation.checkpoint")
        return None
    from serkit.models.encoders.pretrained import PretrainedEncoder

    return PretrainedEncoder(input_dim, r.checkpoint, mode=r.mode, layer=r.layer, combine=r.combine).eval()


FULL_PERCENTILES = (0.1, 0.5, 0.9)


def functionals(x: torch.Tensor, lengths: torch.Tensor, kind: str = "meanstd") -> torch.Tensor:
    """x (B, T, D) padded, lengths (B,) -> (B, k * D) over each utterance's valid frames.

    meanstd: [mean, std] (k = 2); full: [mean, std, p10, p50, p90, p90 - p10, slope] (k = 7),
    percentiles by nearest rank, slope = least-squares change per utterance (time in [0, 1]).
    """
    x = x.double()
    mask = valid_mask(lengths, x.size(1))
    keep = mask.to(x.dtype)[..., None]
    n = lengths[:, None].to(x.dtype)
    mean = (x * keep).sum(1) / n
    centred = (x - mean[:, None]) * keep
    std = (centred ** 2).sum(1).div(n).clamp(min=0).sqrt()
    if kind == "meanstd":
        return torch.cat([mean, std], -1)
    ranked = x.masked_fill(~mask[..., None], float("inf"))
    if ranked.device.type == "cpu":   # numpy sorts along a strided axis about 10x faster than torch here
        ranked = torch.from_numpy(np.sort(ranked.detach().numpy(), axis=1))
    else:
        ranked = ranked.sort(dim=1).values
    pct = []
    for q in FULL_PERCENTILES:
        k = (q * (lengths - 1).to(x.dtype)).round().long()
        pct.append(ranked.gather(1, k[:, None, None].expand(-1, 1, x.size(2))).squeeze(1))
    t = torch.arange(x.size(1), dtype=x.dtype)[None, :] / (lengths[:, None].to(x.dtype) - 1).clamp(min=1)
    t = (t - (t * keep[..., 0]).sum(1, keepdim=True) / n) * keep[..., 0]       # centred time
    slope = torch.einsum("bt,btd->bd", t, centred) / (t * t).sum(1, keepdim=True).clamp(min=1e-12)
    return torch.cat([mean, std, *pct, pct[2] - pct[0], slope], -1)


def speaker_normalise(X: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """z-normalise the rows of each speaker with that speaker's own mean and std."""
    X = X.copy()
    speakers = np.asarray(speakers)
    for spk in np.unique(speakers):
        rows = speakers == spk
        X[rows] = (X[rows] - X[rows].mean(0)) / np.maximum(X[rows].std(0), MIN_STD)
    return X


class VectorCache:
    """Utterance vectors of one representation, kept on disk across folds and runs.

    One ``<root>/<representation key>.npz`` per representation (checkpoint bytes, mode, layer,
    combine, functionals); inside, rows keyed by a hash of the utterance's normalised input
    frames. A fold whose CMVN statistics differ (global CMVN of its train split) hashes to other
    keys and computes its own vectors, so a cached row is always the row it would compute.
    Files are replaced atomically; jobs writing at once lose at most each other's new rows.
    """

    VERSION = 1   # bump when functionals() or a stack's forward changes what a row holds

    def __init__(self, root: Union[str, os.PathLike], cfg: ClassicalConfig):
        r = cfg.representation
        h = hashlib.sha256(f"v{self.VERSION} {r.mode} {r.layer} {r.combine} {cfg.functionals}".encode())
        if r.checkpoint:
            with open(r.checkpoint, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        self.path = Path(root) / f"{h.hexdigest()[:32]}.npz"
        self.rows = self._read()

    def _read(self) -> Dict[str, np.ndarray]:
        if not self.path.is_file():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as z:
                return dict(zip(z["keys"].tolist(), z["X"]))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:   # a cache: recompute, never fail
            log.warning("%s: unreadable vector cache (%s); recomputing its vectors", self.path, e)
            return {}

    @staticmethod
    def key(feats: torch.Tensor) -> str:
        x = np.ascontiguousarray(feats.numpy())
        return hashlib.blake2b(repr(x.shape).encode() + x.tobytes(), digest_size=16).hexdigest()

    def add(self, keys: Sequence[str], X: np.ndarray) -> None:
        rows = self._read()          # rows other jobs wrote since this one read the file
        rows.update(self.rows)
        rows.update(zip(keys, X))
        self.rows = rows
        with atomic_write(self.path, "wb") as f:
            np.savez(f, keys=np.array(list(rows)), X=np.stack(list(rows.values())))


@torch.no_grad()
def utterance_vectors(ds: FeatDataset, encoder=None, batch_size: int = 32, kind: str = "meanstd",
                      cache: Optional[VectorCache] = None) -> Tuple[List[str], np.ndarray]:
    """(utts, X (N, k * dim)): ``functionals`` of each utterance's frames (or encoder outputs),
    longest utterance first; with ``cache``, only the utterances it lacks are computed (and added)."""
    # the row order is the classifier's training order (its calibration folds depend on it)
    order = [i for idx in BucketBatchSampler(ds.lengths, batch_size, shuffle=False) for i in idx]
    todo = order
    keys: List[str] = []
    if cache is not None:
        keys = [cache.key(ds[i]["feats"]) for i in range(len(ds.utts))]
        todo = [i for i in order if keys[i] not in cache.rows]
    new: Dict[int, np.ndarray] = {}
    if todo:
        sampler = BucketBatchSampler([ds.lengths[i] for i in todo], batch_size, shuffle=False)
        for idx in sampler:
            idx = [todo[j] for j in idx]
            batch = collate([ds[i] for i in idx])
            x, lengths = batch["feats"], batch["lengths"]
            if encoder is not None:
                x, _ = encoder(x, lengths)
            new.update(zip(idx, functionals(x, lengths, kind).numpy()))
    if cache is not None:
        if new:
            cache.add([keys[i] for i in new], np.stack(list(new.values())))
        log.info("%d of %d utterance vectors from the cache %s", len(ds.utts) - len(new), len(ds.utts), cache.path)
        rows = [new[i] if i in new else cache.rows[keys[i]] for i in order]
    else:
        rows = [new[i] for i in order]
    return [ds.utts[i] for i in order], np.stack(rows).astype(np.float64)


def grouped_splits(groups: Sequence[str], y: np.ndarray, k: int = 5) -> List[Tuple[np.ndarray, np.ndarray]]:
    """k stratified (train, held-out) index splits of the rows in which the rows of one group
    (an utterance's speed copies) are never on both sides: a held-out copy of a training
    utterance would make the calibration overconfident."""
    from sklearn.model_selection import StratifiedGroupKFold

    return list(StratifiedGroupKFold(k).split(np.zeros(len(y)), y, groups))


def _make(cfg: ClassicalConfig, C: Optional[float], cv: Any = 5):
    """``cv``: the SVM's calibration folds (5 stratified folds, or index splits that keep every
    speed copy of an utterance on the side of the utterance)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if cfg.classifier == "svm":
        # Platt-scaled probabilities from 5-fold cross-validation on the training split
        svc = SVC(C=C, kernel=cfg.svm_kernel, class_weight="balanced")
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(svc, cv=cv, ensemble=False))
    if cfg.classifier == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000))
    return RandomForestClassifier(n_estimators=cfg.rf_trees, max_depth=cfg.rf_max_depth, class_weight="balanced",
                                  random_state=cfg.seed, n_jobs=-1)


def train_classical(cfg: ClassicalConfig, train_data: str, valid_data: str, feats: str, cmvn_stats: Optional[str],
                    exp_dir: str, decode: Sequence[Tuple[str, str]] = (),
                    vector_cache: Optional[str] = None) -> Dict[str, Any]:
    """Fit on train (C chosen on valid UA), save ``exp_dir/model.pkl``, write predictions per (name, dir).
    ``vector_cache``: a dir where the utterance vectors are kept for other folds and runs."""
    exp = Path(exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    with open(exp / "config.yaml", "w") as f:
        yaml.safe_dump(to_dict(cfg), f, sort_keys=False)
    train, valid = DataDir.load(train_data), DataDir.load(valid_data)
    classes = {"emotion": label_set(train, "utt2emo", cfg.data.emotions)}
    names = classes["emotion"]
    reader = FeatReader(feats)
    cmvn = CMVN(cmvn_stats, cfg.data.cmvn)
    encoder = build_representation(cfg, reader.dim)
    disk = VectorCache(vector_cache, cfg) if vector_cache else None

    with open(exp / "run.yaml", "w") as f:   # what serkit-export reads: the features and CMVN of training
        yaml.safe_dump({"train_data": train_data, "valid_data": valid_data, "feats": feats, "cmvn_stats": cmvn_stats,
                        "exp_dir": exp_dir}, f, sort_keys=False)
    cache: Dict[Tuple[Path, float], Tuple[List[str], np.ndarray, Optional[np.ndarray], np.ndarray]] = {}

    def vectors(data: DataDir, speed: float = 1.0):
        """(utts, X, y or None, X before ``vector_norm``) of a data dir's utterances (``speed``: of
        their speed copies); each once (valid is also among the dirs predicted). A speed copy of a
        speaker is a speaker of its own for ``vector_norm``, as in Kaldi's ``sp0.9-<spk>``."""
        key = (Path(data.path).resolve(), speed)
        if key not in cache:
            copies = AugmentConf(speed=[speed]) if speed != 1.0 else None
            ds = FeatDataset(data, reader, cmvn, emotion_targets(names) if data.has("utt2emo") else None,
                             augment=copies)
            utts, raw = utterance_vectors(ds, encoder, kind=cfg.functionals, cache=disk)
            X = raw
            if cfg.vector_norm == "speaker":
                X = speaker_normalise(raw, [speed_utt(ds.utt2spk[u], speed) for u in utts])
            label = dict(zip(ds.utts, ds.targets["emotion"])) if ds.targets else None
            cache[key] = (utts, X, np.array([label[u] for u in utts]) if label else None, raw)
        return cache[key]

    speeds = cfg.data.augment.speed or [1.0]
    parts = [vectors(train, f)[:3] for f in speeds]
    Xtr, ytr = np.concatenate([X for _, X, _ in parts]), np.concatenate([y for _, _, y in parts])
    # the SVM's calibration folds keep an utterance and its copies on one side
    cv = grouped_splits([u for utts, _, _ in parts for u in utts], ytr) if len(speeds) > 1 else 5
    _, Xva, yva, _ = vectors(valid)
    grid = {"svm": cfg.svm_C, "logreg": cfg.logreg_C}.get(cfg.classifier, [None])
    best = None
    for C in grid:
        clf = _make(cfg, C, cv).fit(Xtr, ytr)
        ua = classification_scores(yva.tolist(), clf.predict(Xva).tolist(), len(names))["ua"]
        log.info("%s%s: valid UA %.4f", cfg.classifier, f" C={C}" if C is not None else "", ua)
        if best is None or ua > best[0]:
            best = (ua, C, clf)
    ua, C, clf = best
    log.info("selected %s: valid UA %.4f; %d train vectors (speeds %s), %d-dim vectors",
             f"C={C}" if C is not None else cfg.classifier, ua, len(ytr), ",".join(f"{f:g}" for f in speeds),
             Xtr.shape[1])
    with atomic_write(exp / "model.pkl", "wb") as f:   # for scikit-learn users; serkit never loads a pickle
        pickle.dump({"classifier": clf, "classes": classes, "config": to_dict(cfg), "C": C}, f)
    _save_classifier(exp / "classifier.pt", clf, cfg, classes, C, reader.dim, encoder, vectors(train)[3], Xva)
    for name, data_dir in decode:
        utts, X, y, _ = vectors(DataDir.load(data_dir))
        probs = np.zeros((len(utts), len(names)))
        probs[:, clf.classes_] = clf.predict_proba(X)   # classes absent from train get probability 0
        rows = [(u, names[int(y[i])] if y is not None else "-", names[int(probs[i].argmax())],
                 *(f"{v:.5f}" for v in probs[i])) for i, u in enumerate(utts)]
        write_predictions(exp / "predictions" / f"{name}.tsv", names, rows)
    return {"valid_ua": ua, "C": C, "dim": Xtr.shape[1], "train_vectors": len(ytr)}


def _save_classifier(path: Path, clf, cfg: ClassicalConfig, classes: Dict[str, List[str]], C: Optional[float],
                     input_dim: int, encoder, train_raw: np.ndarray, Xva: np.ndarray) -> None:
    """``classifier.pt``, what ``serkit-export`` packs: the classifier as arrays (checked against
    scikit-learn on the valid vectors), the frozen stack's weights, and the mean and variance of
    the training utterances' vectors before ``vector_norm`` (a new speaker's vectors are
    normalised with their own statistics smoothed with these). Not written, with a warning, where
    the arrays do not give scikit-learn's posteriors (a scikit-learn release that computes them
    otherwise): the fold is then not exported."""
    from serkit.classifiers import classifier_arrays, max_difference

    arrays = classifier_arrays(clf, len(classes["emotion"]))
    diff = max_difference(clf, arrays, Xva)
    if not diff <= MAX_ARRAY_DIFFERENCE:
        log.warning("%s not written: the classifier's arrays give posteriors %.2e from scikit-learn's", path, diff)
        return
    rep = None
    if encoder is not None:
        r = cfg.representation
        rep = {"mode": r.mode, "layer": r.layer, "combine": r.combine, "architecture": encoder.architecture(),
               "weights": encoder.state_dict()}
    save_atomic({"format": CLASSIFIER_FORMAT, "classifier": arrays, "config": to_dict(cfg), "classes": classes,
                 "C": C, "input_dim": int(input_dim), "representation": rep,
                 "vector_prior": {"mean": torch.from_numpy(train_raw.mean(0)),
                                  "var": torch.from_numpy(train_raw.var(0))}}, path)
