"""Training configuration: YAML -> typed dataclasses, dotted overrides, strict keys.

``load_config(path, overrides)`` reads YAML with ``yaml.safe_load``, applies command-line
overrides such as ``--model.heads.gender.weight 0.1`` (values parsed as YAML scalars), rejects
unknown keys naming the valid choices, and fills every default, so the resolved config written
to the experiment dir says everything that shaped the run.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import yaml

from serkit.errors import ConfigError


@dataclass
class SpecAugmentConf:
    """Time warp, then frequency and time masks (set to 0, the mean) on the normalised training features."""

    freq_masks: int = 0             # number of frequency masks per utterance
    freq_width: int = 0             # each mask covers 0..freq_width feature columns
    time_masks: int = 0             # number of time masks per utterance
    time_width: int = 0             # each mask covers 0..time_width frames ...
    time_ratio: float = 1.0         # ... and at most this share of the utterance
    time_warp: int = 0              # warp the time axis around a random frame by up to this many frames (0: off)


@dataclass
class AugmentConf:
    """On-the-fly augmentation of training batches only; deterministic from the seed and epoch.

    ``speed`` reads Kaldi-style perturbed copies ``sp<f>-<utt>`` that stage 1 dumps beside the
    originals (``serkit-dump-feats --speed 0.9,1.1``); each epoch every training utterance is
    drawn at one of the factors (1.0 = the original). ``gain_db`` and ``noise`` work on waves
    (``wave`` features) and ``spec_augment`` and ``mixup`` on any features.
    """

    speed: List[float] = field(default_factory=list)   # e.g. [0.9, 1.0, 1.1] (needs speed_perturb dumps)
    gain_db: float = 0.0            # wave: uniform random gain in [-gain_db, +gain_db]
    noise_prob: float = 0.0         # wave: share of utterances that get additive noise ...
    noise_snr: List[float] = field(default_factory=lambda: [5.0, 20.0])   # ... at a uniform SNR (dB)
    noise_type: str = "white"       # white | pink | babble (other training utterances) | a noise wav.scp
    spec_augment: SpecAugmentConf = field(default_factory=SpecAugmentConf)
    mixup: float = 0.0              # Beta(a, a) mixup of batch pairs (0: off); targets mixed alike


@dataclass
class DataConf:
    batch_size: int = 32            # utterances per batch (all processes together)
    max_frames: int = 0             # if > 0, batches hold at most this many padded frames instead
    cmvn: str = "global"            # global | speaker | none
    crop_frames: int = 0            # random crop of training utterances to this length (0: off)
    num_workers: int = 0            # DataLoader worker processes
    emotions: Optional[List[str]] = None   # class order; default: sorted labels of the train split
    augment: AugmentConf = field(default_factory=AugmentConf)


@dataclass
class HeadConf:
    weight: float = 1.0             # loss weight w_k in L = sum_k w_k L_k (0 removes the cost)
    hidden: int = 0                 # optional hidden layer of the classifier (0: linear)
    dropout: float = 0.0
    label_smoothing: float = 0.0    # classifier heads: cross-entropy with smoothed targets
    class_weights: str = "none"     # none | balanced: weight class c by N / (C * N_c) of the train split
    dimensions: List[str] = field(default_factory=list)   # regression head: e.g. [arousal, valence]
    regression_loss: str = "ccc"    # regression head: ccc (1 - CCC per dimension) | mse (of z-scored values)


@dataclass
class ModelConf:
    encoder: str = "blstm"
    encoder_conf: Dict[str, Any] = field(default_factory=dict)
    pooling: str = "last"
    pooling_conf: Dict[str, Any] = field(default_factory=dict)
    heads: Dict[str, HeadConf] = field(default_factory=lambda: {"emotion": HeadConf()})


@dataclass
class OptimConf:
    name: str = "adam"              # adam | adamw | rmsprop | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.0           # rmsprop / sgd


@dataclass
class SchedulerConf:
    name: str = "constant"          # constant | warmup_linear | warmup_constant | warmup_cosine
    warmup_ratio: float = 0.0       # fraction of all optimizer steps spent warming up


@dataclass
class TrainConf:
    max_epochs: int = 30
    patience: int = 0               # stop after this many epochs without a better valid metric (0: never)
    select_metric: str = "ua"       # ua | wa | macro_f1 | loss | ccc (regression head: mean CCC)  (on the valid split)
    accum_grad: int = 1
    grad_clip: float = 5.0
    amp: bool = False               # bf16 autocast on GPU
    compile: str = "none"           # torch.compile the training forward: none | inductor (code generation;
                                    # GPU runs) | aot_eager | eager (tracing only: checks a model compiles)
    log_interval: int = 50
    average_best: int = 0           # > 1: the model is the average of the weights of the k best valid epochs


@dataclass
class PretrainConf:
    """Self-supervised objective of ``serkit-pretrain`` (unused by ``serkit-train``)."""

    objective: str = "none"         # none | fop | mpc | ctc (characters of the data dirs' transcripts)
    loss: str = "l1"                # l1 | l2 (per-frame mean over feature dims)
    shift: int = 1                  # FOP: frame t predicts frame t + shift
    mask_ratio: float = 0.15        # MPC: fraction of frames masked ...
    mask_span: int = 7              # ... in spans of this many frames
    replace_zero: float = 0.8       # MPC: of the masked frames, this share is zeroed,
    replace_random: float = 0.1     # this share replaced by a random frame, the rest kept
    valid_every: int = 20           # every n-th utterance (sorted ids) of each data dir is held out


@dataclass
class Config:
    seed: int = 0
    data: DataConf = field(default_factory=DataConf)
    model: ModelConf = field(default_factory=ModelConf)
    optim: OptimConf = field(default_factory=OptimConf)
    scheduler: SchedulerConf = field(default_factory=SchedulerConf)
    train: TrainConf = field(default_factory=TrainConf)
    pretrain: PretrainConf = field(default_factory=PretrainConf)


CHOICES = {
    "data.cmvn": ("global", "speaker", "none"),
    "optim.name": ("adam", "adamw", "rmsprop", "sgd"),
    "scheduler.name": ("constant", "warmup_linear", "warmup_constant", "warmup_cosine"),
    "train.select_metric": ("ua", "wa", "macro_f1", "loss", "ccc"),
    "train.compile": ("none", "inductor", "aot_eager", "eager"),
    "pretrain.objective": ("none", "fop", "mpc", "ctc"),
    "pretrain.loss": ("l1", "l2"),
}


# Numeric ranges: (lowest, highest, whether highest is excluded); None = unbounded.
RANGES = {
    "seed": (0, None, False),
    "data.batch_size": (1, None, False),
    "data.max_frames": (0, None, False),
    "data.crop_frames": (0, None, False),
    "data.num_workers": (0, None, False),
    "data.augment.gain_db": (0, None, False),
    "data.augment.noise_prob": (0, 1, False),
    "data.augment.mixup": (0, None, False),
    "data.augment.spec_augment.time_warp": (0, None, False),
    "optim.lr": (1e-12, None, False),
    "optim.weight_decay": (0, None, False),
    "optim.eps": (1e-30, None, False),
    "optim.momentum": (0, 1, True),
    "scheduler.warmup_ratio": (0, 1, False),
    "train.max_epochs": (1, None, False),
    "train.patience": (0, None, False),
    "train.accum_grad": (1, None, False),
    "train.grad_clip": (0, None, False),
    "train.log_interval": (1, None, False),
    "train.average_best": (0, None, False),
    "pretrain.shift": (1, None, False),
    "pretrain.mask_ratio": (0, 1, False),
    "pretrain.mask_span": (1, None, False),
    "pretrain.replace_zero": (0, 1, False),
    "pretrain.replace_random": (0, 1, False),
    "pretrain.valid_every": (2, None, False),
}
HEAD_RANGES = {"weight": (0, None, False), "hidden": (0, None, False), "dropout": (0, 1, True)}


def _check_range(value, bounds, path: str) -> None:
    low, high, open_high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if value != value or (low is not None and value < low) or (
            high is not None and (value >= high if open_high else value > high)):
        span = f"[{low}, {high}{')' if open_high else ']'}" if high is not None else f">= {low}"
        raise ConfigError(f"'{path}' is {value}; give a value {'in ' if high is not None else ''}{span}")


def check_ranges(cfg: "Config") -> None:
    """Numbers that would otherwise fail deep inside torch (batch size 0, lr < 0, dropout 1.5)."""
    for key, bounds in RANGES.items():
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        _check_range(value, bounds, key)
    for name, head in cfg.model.heads.items():
        for key, bounds in HEAD_RANGES.items():
            _check_range(getattr(head, key), bounds, f"model.heads.{name}.{key}")
    for section in ("encoder_conf", "pooling_conf"):
        for key, value in getattr(cfg.model, section).items():
            if key.endswith("dropout") or key.endswith("_prob"):
                _check_range(value, (0, 1, True), f"model.{section}.{key}")


def _is_dataclass_type(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def build_dataclass(cls, raw: Any, path: str):
    """A config dataclass ``cls`` from the mapping ``raw`` (at key ``path``): strict keys, checked types."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"'{path or '<root>'}' must be a mapping, got {type(raw).__name__}")
    hints = {f.name: f for f in dataclasses.fields(cls)}
    type_hints = _resolved_types(cls)
    for key in raw:
        if key not in hints:
            where = f"{path}." if path else ""
            raise ConfigError(f"unknown config key '{where}{key}'; valid keys: {sorted(hints)}")
    kwargs = {}
    for name, f in hints.items():
        full = f"{path}.{name}" if path else name
        tp = type_hints[name]
        if name not in raw:
            continue
        value = raw[name]
        if _is_dataclass_type(tp):
            value = build_dataclass(tp, value, full)
        elif cls is ModelConf and name == "heads":
            if not isinstance(value, dict):
                raise ConfigError(f"'{full}' must map head names to their settings")
            value = {k: build_dataclass(HeadConf, v, f"{full}.{k}") for k, v in value.items()}
        else:
            value = _check_scalar(value, tp, full)
        if full in CHOICES and value not in CHOICES[full]:
            raise ConfigError(f"'{full}' is '{value}'; choose from {list(CHOICES[full])}")
        kwargs[name] = value
    return cls(**kwargs)


def _resolved_types(cls) -> Dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _check_scalar(value: Any, tp, path: str):
    import typing

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union and type(None) in args:
        if value is None:
            return None
        tp = next(a for a in args if a is not type(None))
        origin = typing.get_origin(tp)
    if origin is typing.Union:  # e.g. Union[int, str]: the first member that takes the value
        for member in args:
            try:
                return _check_scalar(value, member, path)
            except ConfigError:
                pass
        raise ConfigError(f"'{path}' expects one of {[getattr(a, '__name__', a) for a in args]}, got {value!r}")
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # PyYAML reads "5e-5" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if origin in (list, List) and isinstance(value, list):
        return value
    if origin in (dict, Dict) and isinstance(value, dict):
        return value
    raise ConfigError(f"'{path}' expects {getattr(tp, '__name__', tp)}, got {value!r}")


def to_dict(cfg) -> Dict[str, Any]:
    return dataclasses.asdict(cfg)


def apply_overrides(raw: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Apply ``["--a.b.c", "value", ...]`` to a nested dict (values parsed as YAML)."""
    if len(overrides) % 2:
        raise ConfigError(f"override '{overrides[-1]}' has no value")
    for key, value in zip(overrides[::2], overrides[1::2]):
        if not key.startswith("--"):
            raise ConfigError(f"expected an option like --model.heads.gender.weight, got '{key}'")
        parts = key[2:].split(".")
        node = raw
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override '{key}': '{p}' is not a section")
            node = nxt
        node[parts[-1]] = yaml.safe_load(value)
    return raw


def config_from_dict(raw: Dict[str, Any]) -> Config:
    """A Config from a resolved dict (e.g. the one stored in a checkpoint), checked like a YAML file."""
    cfg = build_dataclass(Config, raw, "")
    check_ranges(cfg)
    return cfg


def read_yaml(path: Optional[str]) -> Dict[str, Any]:
    """A config file as a dict ({} for no path), with errors that name the file."""
    if not path:
        return {}
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except OSError as e:
        raise ConfigError(f"cannot read config '{path}': {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping, got {type(raw).__name__}")
    return raw


def is_classical_config(path: str) -> bool:
    """A classical (functionals + SVM / RF / logistic regression) config names a classifier."""
    return "classifier" in read_yaml(path)


@dataclass
class RepresentationConf:
    checkpoint: str = ""            # serkit-pretrain checkpoint; "" = the features themselves (F)
    mode: str = "frozen"            # frozen | hypercolumns
    layer: Union[int, str] = 0      # frozen: 0 = F, 1..L, -1 = last
    combine: str = "concat"         # hypercolumns: add | concat


@dataclass
class ClassicalAugmentConf:
    """A classical system's training set, augmented: ``speed`` adds the vectors of the Kaldi-style
    speed-perturbed copies ``sp<f>-<utt>`` that stage 1 dumps (1.0 = the originals), each copy a
    training row of its own; valid and test vectors stay the originals."""

    speed: List[float] = field(default_factory=list)   # e.g. [0.9, 1.0, 1.1] (needs speed_perturb dumps)


@dataclass
class ClassicalDataConf:
    """The same keys as a neural config's ``data`` section (``DataConf``); of ``augment``, the
    speed copies alone (a fixed set of vectors has no on-the-fly masks or mixup)."""

    cmvn: str = "global"            # global | speaker | none
    emotions: Optional[List[str]] = None   # class order; default: sorted labels of the train split
    augment: ClassicalAugmentConf = field(default_factory=ClassicalAugmentConf)


@dataclass
class ClassicalConfig:
    seed: int = 0
    data: ClassicalDataConf = field(default_factory=ClassicalDataConf)
    functionals: str = "meanstd"    # meanstd | full (+ percentiles 10/50/90, range, slope)
    vector_norm: str = "none"       # none | speaker: z-normalise utterance vectors per speaker
    classifier: str = "svm"         # svm | logreg | rf
    svm_C: List[float] = field(default_factory=lambda: [0.1, 1.0, 10.0])   # chosen on valid UA
    svm_kernel: str = "rbf"
    logreg_C: List[float] = field(default_factory=lambda: [0.01, 0.1, 1.0])   # chosen on valid UA
    rf_trees: int = 500
    rf_max_depth: Optional[int] = None
    representation: RepresentationConf = field(default_factory=RepresentationConf)


_CLASSICAL_CHOICES = {"data.cmvn": ("global", "speaker", "none"), "functionals": ("meanstd", "full"),
                      "vector_norm": ("none", "speaker"), "classifier": ("svm", "logreg", "rf"),
                      "svm_kernel": ("rbf", "linear"), "representation.mode": ("frozen", "hypercolumns"),
                      "representation.combine": ("add", "concat")}


def load_classical_config(path: Optional[str], overrides: Sequence[str] = ()) -> ClassicalConfig:
    raw = apply_overrides(read_yaml(path), list(overrides))
    for key in ("cmvn", "emotions"):
        if key in raw:
            raise ConfigError(f"{path or 'config'}: '{key}' is now 'data.{key}', as in the neural configs")
    cfg = build_dataclass(ClassicalConfig, raw, "")
    speed = cfg.data.augment.speed
    if any(f <= 0 for f in speed) or len(set(speed)) != len(speed):
        raise ConfigError(f"'data.augment.speed' is {speed}; give distinct factors > 0, e.g. [0.9, 1.0, 1.1]")
    for key, choices in _CLASSICAL_CHOICES.items():
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if value not in choices:
            raise ConfigError(f"'{key}' is '{value}'; choose from {list(choices)}")
    return cfg


def load_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> Config:
    """A checked Config; the model's components (encoder, pooling, heads) are checked and their
    options filled by ``serkit.models.registry.load_train_config``, which the binaries use."""
    raw = apply_overrides(read_yaml(path), list(overrides))
    cfg = build_dataclass(Config, raw, "")
    check_ranges(cfg)
    return cfg


def fill_kwargs(fn, given: Dict[str, Any], path: str, skip: Sequence[str] = ()) -> Dict[str, Any]:
    """Check ``given`` against ``fn``'s keyword parameters and fill in the defaults."""
    sig = inspect.signature(fn)
    params = {n: p for n, p in sig.parameters.items() if n not in ("self", *skip)
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for k in given:
        if k not in params:
            raise ConfigError(f"unknown config key '{path}.{k}'; valid keys: {sorted(params)}")
    hints = _param_types(fn)
    out = {}
    for n, p in params.items():
        if n in given:
            out[n] = _check_param(given[n], hints.get(n), f"{path}.{n}")
        elif p.default is not inspect.Parameter.empty:
            out[n] = p.default
        else:
            raise ConfigError(f"'{path}.{n}' is required")
    return out


def _param_types(fn) -> Dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(fn.__init__ if isinstance(fn, type) else fn)
    except Exception:   # an annotation that cannot be resolved: no type check, as before
        return {}


def _check_param(value: Any, tp, path: str):
    """A component option against its annotation: scalars and sequences of scalars are checked."""
    import collections.abc
    import typing

    plain = (int, float, bool, str)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in plain or (origin is typing.Union and all(a in plain or a is type(None) for a in args)):
        return _check_scalar(value, tp, path)
    if origin in (list, tuple, collections.abc.Sequence) and args and args[0] in plain:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{path}' expects a list of {args[0].__name__}, got {value!r}")
        return [_check_scalar(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
    return value
