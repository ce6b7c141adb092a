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

A classical system's fold (``serkit-train-classical``) exports the same way: its classifier as
arrays, the frozen stack it reads, and the statistics of the training utterance vectors; its
recognizer is :class:`serkit.classical_recognizer.ClassicalRecognizer`. A fused system's fold
(``exp/<fusion>/fold1``, written by ``serkit-fuse``) gives one package per member and the
fold's fusion weights, and ``Recognizer.load`` gives an :class:`Ensemble` that averages the
members' emotion posteriors with those weights, as ``serkit-fuse`` averages their decodes.
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
from serkit.recognition import _FrameInput, _Recognition

PACKAGE_FORMAT = "serkit-model/1"
ENSEMBLE_FORMAT = "serkit-ensemble/1"   # a fused system: member packages and their weights
CLASSICAL_FORMAT = "serkit-classical/1"  # a classical system: its classifier as arrays, stack, features
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


def is_classical_fold(exp: Path) -> bool:
    """A fold trained by ``serkit-train-classical``."""
    return (exp / "classifier.pt").exists() or (exp / "model.pkl").exists()


def _classical_package(exp: Path, feat_conf: Optional[str], cmvn_stats: Optional[str]) -> dict:
    """A classical fold's package: ``classifier.pt`` (never ``model.pkl``, a pickle, whose loading
    could run code) with the fold's features and frame CMVN."""
    from serkit.classical import CLASSIFIER_FORMAT

    if not (exp / "classifier.pt").exists():
        raise ConfigError(f"{exp}: a classical system without classifier.pt (trained before classifiers were kept "
                          f"as arrays; model.pkl is a pickle, which serkit never loads): run its stage 3 again")
    ck = load_checkpoint(exp / "classifier.pt")
    try:
        mode = ck["config"]["data"]["cmvn"] if ck.get("format") == CLASSIFIER_FORMAT else None
    except (AttributeError, KeyError, TypeError):
        mode = None
    if mode is None:
        raise SerkitError(f"{exp / 'classifier.pt'}: not a classifier file of serkit-train-classical")
    return ck | _inputs(exp, mode, feat_conf, cmvn_stats) | {"format": CLASSICAL_FORMAT, "source": str(exp)}


def _inputs(exp: Path, cmvn_mode: str, feat_conf: Optional[str], cmvn_stats: Optional[str]) -> dict:
    """A fold's feature config and frame CMVN as a package holds them."""
    from serkit.features.extract import FeatureConfig

    features, stats = _training_inputs(exp, feat_conf, cmvn_stats)
    cmvn = {"mode": cmvn_mode, "mean": None, "inv_std": None}
    table = _cmvn_table(exp, cmvn_mode, stats)
    if table is not None:
        cmvn.update(mean=torch.from_numpy(table[0]), inv_std=torch.from_numpy(table[1]))
    return {"features": FeatureConfig.from_dict(features).to_dict(),   # checked, defaults written out
            "cmvn": cmvn}


def _package(exp: Path, feat_conf: Optional[str] = None, cmvn_stats: Optional[str] = None,
             which: str = "best") -> dict:
    """The package of one trained fold (plain data: what ``export_package`` writes)."""
    if is_classical_fold(exp):
        return _classical_package(exp, feat_conf, cmvn_stats)
    ck = load_checkpoint(exp / "checkpoints" / f"{which}.pt")
    cfg = config_from_dict(ck["config"])
    return {"format": PACKAGE_FORMAT, "model": ck["model"], "config": ck["config"], "classes": ck["classes"],
            "input_dim": ck["input_dim"], "architecture": ck.get("architecture"), "source": str(exp)
            } | _inputs(exp, cfg.data.cmvn, feat_conf, cmvn_stats)


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


class Recognizer(_FrameInput):
    """A trained model with its feature extraction and normalisation (``Recognizer.load``).

    ``model`` is the PyTorch model, or an ``onnxruntime`` session of an ONNX export (emotion
    posteriors only: the other heads' outputs are not in the exported graph)."""

    def __init__(self, model, cfg, classes: Dict[str, List[str]], features: dict, cmvn_mode: str,
                 cmvn_stats: Optional[Tuple[np.ndarray, np.ndarray]] = None, input_dim: Optional[int] = None,
                 device: str | torch.device = "cpu"):
        self.model, self.cfg, self.classes = model, cfg, classes
        self.onnx = not isinstance(model, torch.nn.Module)
        if self.onnx and torch.device(device).type != "cpu":
            raise ConfigError(f"device '{device}': an ONNX model runs on the CPU here (onnxruntime's CPU provider)")
        super().__init__(features, cmvn_mode, cmvn_stats, input_dim if self.onnx else model.input_dim, device)
        if not self.onnx:
            self.model = model.to(self.device)
        self.names = classes["emotion"]

    @classmethod
    def load(cls, path: str | os.PathLike, feat_conf: Optional[str] = None,
             cmvn_stats: Optional[str] = None, device: str | torch.device = "cpu") -> "_Recognition":
        """From a model file written by ``export_package`` / ``serkit-export``, or a trained fold's
        exp dir (with the recipe's dumps in place, or ``feat_conf`` / ``cmvn_stats`` given); the
        model and its log-mel / MFCC run on ``device``. A classical system gives a
        ``ClassicalRecognizer``, a fused system (its exported file, or a fold of its exp dir) an
        :class:`Ensemble`."""
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
        if path.is_dir() and is_classical_fold(path):
            return _from_package(_classical_package(path, feat_conf, cmvn_stats), str(path), device)
        if path.is_dir():
            from serkit.predict import load_model

            model, cfg, classes = load_model(path)
            features, stats = _training_inputs(path, feat_conf, cmvn_stats)
            table = _cmvn_table(path, cfg.data.cmvn, stats)
            return cls(model, cfg, classes, features, cfg.data.cmvn, table, device=device)
        pkg = load_checkpoint(path)
        if isinstance(pkg, dict) and pkg.get("format") == ENSEMBLE_FORMAT:
            members, weights = pkg.get("members"), pkg.get("weights")
            if not isinstance(members, list) or not isinstance(weights, list) or len(members) != len(weights):
                raise SerkitError(f"{path}: a fused model file without as many weights as members")
            return Ensemble([_from_package(m, f"{path} (member {k + 1})", device) for k, m in enumerate(members)],
                            weights, [str(m.get("source", f"member {k + 1}")) for k, m in enumerate(members)])
        return _from_package(pkg, str(path), device)

    @classmethod
    def _from_package(cls, pkg, where: str, device: str | torch.device = "cpu") -> "Recognizer":
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


def _from_package(pkg, where: str, device: str | torch.device = "cpu") -> _FrameInput:
    """A network's or a classical system's package -> its recognizer."""
    fmt = pkg.get("format") if isinstance(pkg, dict) else None
    if fmt == PACKAGE_FORMAT:
        return Recognizer._from_package(pkg, where, device)
    if fmt == CLASSICAL_FORMAT:
        from serkit.classical_recognizer import ClassicalRecognizer

        return ClassicalRecognizer(pkg, where, device)
    raise SerkitError(f"{where}: not a serkit model file (write one with serkit-export)")


class _ForMembers:
    """A setting of an ensemble that is each member's: read from the first, set on all."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, ensemble, owner=None):
        return self if ensemble is None else getattr(ensemble.members[0], self.name)

    def __set__(self, ensemble, value) -> None:
        for m in ensemble.members:
            setattr(m, self.name, value)


class Ensemble(_Recognition):
    """A fused system: several recognizers whose emotion posteriors are averaged with the fusion's
    weights, as ``serkit-fuse`` averages their decodes (``Recognizer.load`` of an exported fusion,
    or of a fusion's fold dir). Records hold the emotion: other heads' outputs are not fused.
    Members with the same features share one extraction, and networks with the same
    normalisation too share its result."""

    prior_frames = _ForMembers()
    prior_utts = _ForMembers()

    def __init__(self, members: Sequence[_FrameInput], weights: Sequence[float],
                 sources: Optional[Sequence[str]] = None):
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
        # member -> the first member whose features (_extractor) / normalised input (_normaliser) it takes
        self._extractor: List[int] = []
        self._normaliser: List[int] = []
        for k, m in enumerate(members):
            self._extractor.append(next((j for j in range(k) if self._extractor[j] == j
                                         and _same_features(members[j], m)), k))
            self._normaliser.append(next((j for j in range(k) if self._normaliser[j] == j
                                          and self._extractor[j] == self._extractor[k]
                                          and _same_normalisation(members[j], m)), k))

    def _raw(self, wave: np.ndarray) -> Tuple[Optional[np.ndarray], ...]:
        """Each member's features before normalisation, computed by the first member of each
        group that shares them (None for the others)."""
        return tuple(m._raw(wave) if self._extractor[k] == k else None for k, m in enumerate(self.members))

    def _normalise(self, raw: Tuple[Optional[np.ndarray], ...], stats=None) -> Tuple:
        out: List = [None] * len(self.members)
        for k, m in enumerate(self.members):
            j = self._normaliser[k]
            out[k] = m._normalise(raw[self._extractor[k]], stats[k] if stats else None) if j == k else out[j]
        return tuple(out)

    def _pooled(self, raws: Iterable[Tuple[Optional[np.ndarray], ...]]) -> Optional[tuple]:
        """Each member's statistics of one speaker (None for members that take another's input).
        The speaker's features are kept in memory: a classical member pools its vectors after
        its frames."""
        if not self.speaker_normalised:
            return None
        raws = list(raws)
        return tuple(m._pooled([r[self._extractor[k]] for r in raws]) if self._normaliser[k] == k else None
                     for k, m in enumerate(self.members))

    def _posteriors(self, feats: Sequence[Tuple], batch_size: int = 16) -> Tuple[np.ndarray, List[dict]]:
        probs = sum(w * m._posteriors([f[k] for f in feats], batch_size)[0]
                    for k, (m, w) in enumerate(zip(self.members, self.weights)))
        return probs, [{} for _ in feats]

    def export_onnx(self, out: str | os.PathLike, check: bool = True) -> Path:
        raise ConfigError("a fused system is several networks: export each member's fold to ONNX "
                          "(serkit-export --exp_dir <member>/<fold> --out m.pt --onnx m.onnx)")


def _same_features(a: _FrameInput, b: _FrameInput) -> bool:
    """One extraction serves both."""
    return a.feature_config.to_dict() == b.feature_config.to_dict() and a.device == b.device


def _same_normalisation(a: _FrameInput, b: _FrameInput) -> bool:
    """Two networks (not classical systems, whose input is an utterance vector) normalising
    frames alike: one normalisation serves both."""
    if not isinstance(a, Recognizer) or not isinstance(b, Recognizer) or a.cmvn_mode != b.cmvn_mode:
        return False
    if a.cmvn_stats is None or b.cmvn_stats is None:
        return a.cmvn_stats is b.cmvn_stats
    return all(np.array_equal(x, y) for x, y in zip(a.cmvn_stats, b.cmvn_stats))
