"""Heads and what each kind owns.

A head *type* holds everything that differs between kinds of heads, so that adding one touches
this module and the registry only: the data-dir file its targets come from, its label inventory
(``fit`` on the training split), how targets are encoded and batched (``targets``), the module
(``build``), its loss and training statistics (``loss``), what it adds to the predictions file
(``prediction_columns`` / ``predict``) and to ``serkit-infer``'s records (``describe``).

- ``ClassifierType``: one label per utterance (``utt2emo``, ``utt2gender``, ``utt2spk``) on the
  pooled vector; cross-entropy with label smoothing and class weights; accuracy.
- ``CTCType``: the transcript (``text``) as characters on the encoder's frames (Cai et al. 2021);
  CTC loss; greedy transcripts in the predictions (scored as CER / WER) and in inference.
- ``RegressionType``: dimensional ratings (``utt2arousal``, ``utt2valence``, ``utt2dominance``)
  on the pooled vector; 1 - CCC or MSE; CCC / r / MAE on the valid split and in the scores.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from serkit.config import HeadConf
from serkit.data.datadir import DIMENSIONS, DataDir
from serkit.data.dataset import LabelTargets, label_set
from serkit.errors import ConfigError, DataDirError
from serkit.metrics import regression_scores
from serkit.predictions import TEXT_COLUMNS, dimension_columns


class ClassifierHead(nn.Module):
    """pooled (B, D) -> logits (B, C); an optional hidden layer with ReLU and dropout.

    ``class_weight`` (C,) weighs the classes in the loss (``ClassifierType.class_weights``);
    it is not saved with the weights: training sets it from its own split."""

    def __init__(self, input_dim: int, num_classes: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        layers = [nn.Dropout(dropout)] if dropout > 0 else []
        if hidden > 0:
            layers += [nn.Linear(input_dim, hidden), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            input_dim = hidden
        layers.append(nn.Linear(input_dim, num_classes))
        self.net = nn.Sequential(*layers)
        self.register_buffer("class_weight", torch.ones(num_classes), persistent=False)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


class RegressionHead(ClassifierHead):
    """pooled (B, D) -> ratings (B, K) on the data's scale: the layers predict z-scores, mapped
    back with the training split's mean and std per dimension (buffers saved with the weights)."""

    def __init__(self, input_dim: int, num_dims: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__(input_dim, num_dims, hidden=hidden, dropout=dropout)
        self.register_buffer("target_mean", torch.zeros(num_dims))
        self.register_buffer("target_std", torch.ones(num_dims))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.target_mean + self.target_std * self.net(pooled)


class CTCHead(nn.Module):
    """hidden (B, T, D) -> character logits (B, T, C), class 0 the CTC blank (Cai et al. 2021: one FC layer)."""

    def __init__(self, input_dim: int, num_classes: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(input_dim, num_classes)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(hidden))


class ClassifierType:
    """A classifier over one label per utterance, read from ``target_file``."""

    frame_level = False               # reads the pooled utterance vector
    mixable = True                    # mixup may mix its targets into class probabilities
    prediction_columns: Tuple[str, ...] = ()

    def __init__(self, name: str, conf: HeadConf, target_file: str):
        self.name, self.conf, self.target_file = name, conf, target_file

    def check(self) -> None:
        """Config errors of this head's conf (``model.heads.<name>``)."""
        c = self.conf
        if c.class_weights not in ("none", "balanced"):
            raise ConfigError(f"'model.heads.{self.name}.class_weights' is '{c.class_weights}'; "
                              "choose from ['none', 'balanced']")
        if not 0.0 <= c.label_smoothing < 1.0:
            raise ConfigError(f"'model.heads.{self.name}.label_smoothing' is {c.label_smoothing}; "
                              "give a value in [0, 1)")
        if c.dimensions:
            raise ConfigError(f"'model.heads.{self.name}.dimensions' belongs to a regression head")

    def fit(self, train: DataDir, declared: Optional[Sequence[str]] = None) -> List[str]:
        """The classes, from the training split (in the ``declared`` order where one is given)."""
        return label_set(train, self.target_file, declared)

    def artifacts(self) -> Dict[str, bytes]:
        """Files to keep beside the trained model (name -> bytes)."""
        return {}

    def targets(self, classes: Sequence[str]) -> LabelTargets:
        return LabelTargets(self.target_file, classes)

    def build(self, input_dim: int, classes: Sequence[str]) -> nn.Module:
        return ClassifierHead(input_dim, len(classes), hidden=self.conf.hidden, dropout=self.conf.dropout)

    validates = False                 # the trainer scores it on the valid split (valid_scores)

    def prepare(self, head: nn.Module, encoded: Sequence, classes: Sequence[str]) -> None:
        """Set what the module learns from the training split's targets before training: the
        class weights (``class_weights: balanced``)."""
        w = self.class_weights(encoded, classes)
        if w is not None:
            head.class_weight.copy_(w)

    def class_weights(self, encoded: Sequence[int], classes: Sequence[str]) -> Optional[torch.Tensor]:
        """Loss weights per class from the encoded training targets, or None (all 1)."""
        if self.conf.class_weights != "balanced":
            return None
        # N / (C * N_c): each class weighs as much as the others in the loss (absent classes 0)
        counts = np.bincount(np.asarray(encoded, dtype=np.int64), minlength=len(classes))
        w = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
        return torch.tensor(w, dtype=torch.float32)

    def loss(self, head: nn.Module, logits: torch.Tensor, targets: Dict[str, torch.Tensor],
             enc_lengths: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """targets[name]: class indices (B,), or class probabilities (B, C) after mixup."""
        gold = targets[self.name]
        lk = F.cross_entropy(logits.float(), gold, weight=head.class_weight,
                             label_smoothing=self.conf.label_smoothing)
        hard = gold if gold.dim() == 1 else gold.argmax(-1)
        return lk, {f"loss_{self.name}": lk.detach(),
                    f"acc_{self.name}": (logits.argmax(-1) == hard).float().mean().detach()}

    def predict(self, logits, enc_lengths, classes, data: DataDir, utts: Sequence[str]) -> List[tuple]:
        """Extra predictions-file values per utterance (``prediction_columns``)."""
        return [() for _ in utts]

    def describe(self, logits, enc_lengths, classes) -> List[dict]:
        """Extra fields of each utterance's ``serkit-infer`` record: the emotion head's own
        posteriors are written by the caller, auxiliary classifiers add nothing."""
        return [{} for _ in range(logits.size(0))]


class CTCTargets:
    """A transcript per utterance -> character ids; batched padded with 0 and lengths beside."""

    def __init__(self, vocab):
        self.vocab = vocab

    def encode(self, data: DataDir, utts: Sequence[str]) -> List[List[int]]:
        text = data.get("text")
        return [self.vocab.encode(text.get(u, "")) for u in utts]

    @staticmethod
    def collate(head: str, values: List[List[int]]) -> Dict[str, torch.Tensor]:
        n = torch.tensor([len(v) for v in values], dtype=torch.long)
        padded = torch.zeros(len(values), max(int(n.max()), 1), dtype=torch.long)
        for b, v in enumerate(values):
            padded[b, : len(v)] = torch.tensor(v, dtype=torch.long)
        return {head: padded, f"{head}_lengths": n}


class CTCType:
    """Characters of the transcript (``text``) on the encoder's frames; the vocabulary is a
    sentencepiece char model trained on the training split (``serkit.text.vocab``)."""

    frame_level = True
    mixable = False                   # transcripts cannot be mixed
    validates = False
    prediction_columns = TEXT_COLUMNS
    target_file = "text"

    def __init__(self, name: str, conf: HeadConf):
        self.name, self.conf = name, conf
        self.vocab = None

    def check(self) -> None:
        if self.conf.class_weights != "none" or self.conf.label_smoothing or self.conf.dimensions:
            raise ConfigError(f"'model.heads.{self.name}': class_weights, label_smoothing and dimensions "
                              "do not apply to a ctc head")

    def fit(self, train: DataDir, declared: Optional[Sequence[str]] = None) -> List[str]:
        from serkit.text.vocab import CharVocab

        self.vocab = CharVocab.train(train.get("text").values())
        return self.vocab.symbols

    def artifacts(self) -> Dict[str, bytes]:
        return {"ctc_vocab.model": self.vocab.proto} if self.vocab is not None else {}   # sentencepiece char model

    def targets(self, classes: Sequence[str]) -> CTCTargets:
        if self.vocab is None:
            raise ValueError("a ctc head's targets need its vocabulary: call fit on the training split first")
        return CTCTargets(self.vocab)

    def build(self, input_dim: int, classes: Sequence[str]) -> nn.Module:
        return CTCHead(input_dim, len(classes), hidden=self.conf.hidden, dropout=self.conf.dropout)

    def prepare(self, head, encoded, classes) -> None:
        pass

    def loss(self, head, logits, targets, enc_lengths):
        # torch.nn.CTCLoss defaults: per-utterance loss over its target length, batch mean
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)
        lk = F.ctc_loss(log_probs, targets[self.name], enc_lengths, targets[f"{self.name}_lengths"], blank=0,
                        zero_infinity=True)
        return lk, {f"loss_{self.name}": lk.detach()}

    def predict(self, logits, enc_lengths, classes, data: DataDir, utts: Sequence[str]) -> List[tuple]:
        """The normalised reference (empty where the data dir has no ``text``) and the greedy output."""
        from serkit.text.vocab import greedy_ctc, normalize_transcript

        refs = data.get("text") if data.has("text") else {}
        hyps = greedy_ctc(logits, enc_lengths, classes)
        return [(normalize_transcript(refs.get(u, "")), h) for u, h in zip(utts, hyps)]

    def describe(self, logits, enc_lengths, classes) -> List[dict]:
        from serkit.text.vocab import greedy_ctc

        return [{"transcript": h} for h in greedy_ctc(logits, enc_lengths, classes)]


class RatingTargets:
    """Dimensional ratings per utterance (``utt2<dimension>`` files) -> (B, K) float tensors."""

    def __init__(self, dimensions: Sequence[str]):
        self.dimensions = list(dimensions)

    def encode(self, data: DataDir, utts: Sequence[str]) -> List[List[float]]:
        columns = []
        for d in self.dimensions:
            values = data.get(f"utt2{d}")
            col = []
            for u in utts:
                if u not in values:
                    raise DataDirError(f"{data.path}/utt2{d}: no {d} for utterance '{u}'")
                try:
                    v = float(values[u])
                except ValueError:
                    v = float("nan")
                if not np.isfinite(v):
                    raise DataDirError(f"{data.path}/utt2{d}: utterance '{u}' has {d} '{values[u]}', "
                                       "expected a finite number")
                col.append(v)
            columns.append(col)
        return [list(row) for row in zip(*columns)]

    @staticmethod
    def collate(head: str, values: List[List[float]]) -> Dict[str, torch.Tensor]:
        return {head: torch.tensor(values, dtype=torch.float32)}


def ccc_loss(pred: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """1 - CCC per dimension over the batch, averaged over dimensions; (B, K), (B, K) -> ()."""
    pm, gm = pred.mean(0), gold.mean(0)
    cov = ((pred - pm) * (gold - gm)).mean(0)
    denom = pred.var(0, unbiased=False) + gold.var(0, unbiased=False) + (pm - gm) ** 2
    return (1 - 2 * cov / denom.clamp_min(1e-8)).mean()


class RegressionType:
    """Dimensional emotion: one value per utterance and dimension (``model.heads.<name>.dimensions``,
    each read from ``utt2<dimension>``), predicted from the pooled vector."""

    frame_level = False
    mixable = False                   # mixup mixes class targets only
    validates = True                  # CCC on the valid split (train.select_metric: ccc)

    def __init__(self, name: str, conf: HeadConf):
        self.name, self.conf = name, conf
        self.dimensions = list(conf.dimensions)
        self.prediction_columns = dimension_columns(self.dimensions)

    def check(self) -> None:
        c = self.conf
        if not self.dimensions:
            raise ConfigError(f"'model.heads.{self.name}.dimensions': name the dimensions to predict, "
                              f"some of {list(DIMENSIONS)}")
        unknown = [d for d in self.dimensions if d not in DIMENSIONS]
        if unknown or len(set(self.dimensions)) != len(self.dimensions):
            raise ConfigError(f"'model.heads.{self.name}.dimensions' is {self.dimensions}; give distinct names "
                              f"from {list(DIMENSIONS)}")
        if c.regression_loss not in ("ccc", "mse"):
            raise ConfigError(f"'model.heads.{self.name}.regression_loss' is '{c.regression_loss}'; "
                              "choose from ['ccc', 'mse']")
        if c.class_weights != "none" or c.label_smoothing:
            raise ConfigError(f"'model.heads.{self.name}': class_weights and label_smoothing apply to "
                              "classifier heads, not to a regression head")

    def fit(self, train: DataDir, declared: Optional[Sequence[str]] = None) -> List[str]:
        for d in self.dimensions:
            if not train.has(f"utt2{d}"):
                raise DataDirError(f"{train.path}: no utt2{d} for the '{self.name}' head's dimension '{d}'")
        return list(self.dimensions)

    def artifacts(self) -> Dict[str, bytes]:
        return {}

    def targets(self, classes: Sequence[str]) -> RatingTargets:
        return RatingTargets(classes)

    def build(self, input_dim: int, classes: Sequence[str]) -> nn.Module:
        return RegressionHead(input_dim, len(classes), hidden=self.conf.hidden, dropout=self.conf.dropout)

    def prepare(self, head: nn.Module, encoded: Sequence, classes: Sequence[str]) -> None:
        """The training split's mean and std per dimension: the head predicts z-scores."""
        y = torch.tensor(encoded, dtype=torch.float32).reshape(-1, len(classes))
        head.target_mean.copy_(y.mean(0))
        head.target_std.copy_(y.std(0, unbiased=False).clamp_min(1e-3))

    def loss(self, head, pred, targets, enc_lengths):
        gold = targets[self.name]
        pred = pred.float()
        if self.conf.regression_loss == "ccc":
            lk = ccc_loss(pred, gold)
        else:   # on z-scores, so that every dimension weighs alike whatever its scale
            lk = (((pred - gold) / head.target_std) ** 2).mean()
        return lk, {f"loss_{self.name}": lk.detach()}

    def valid_scores(self, gold: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
        """Per dimension CCC (``ccc_<dim>``) and their mean (``ccc``) on the valid split; (N, K) arrays."""
        out = {f"ccc_{d}": regression_scores(gold[:, k], pred[:, k])["ccc"] for k, d in enumerate(self.dimensions)}
        out["ccc"] = float(np.mean(list(out.values())))
        return out

    def predict(self, pred, enc_lengths, classes, data: DataDir, utts: Sequence[str]) -> List[tuple]:
        """``gold_<dim> pred_<dim>`` per dimension; gold ``-`` where the data dir has no rating."""
        golds = [data.get(f"utt2{d}") if data.has(f"utt2{d}") else {} for d in classes]
        return [tuple(v for k in range(len(classes))
                      for v in (golds[k].get(u, "-"), f"{float(pred[b, k]):.4f}")) for b, u in enumerate(utts)]

    def describe(self, pred, enc_lengths, classes) -> List[dict]:
        return [{d: round(float(pred[b, k]), 4) for k, d in enumerate(classes)} for b in range(pred.size(0))]
