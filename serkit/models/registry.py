"""Name -> class registries for the components a config selects (plain dicts), and the
config loading that checks a config's components against them."""
from __future__ import annotations

from typing import Optional, Sequence

from serkit.config import Config, HeadConf, fill_kwargs, load_config
from serkit.errors import ConfigError
from serkit.models.encoders import BASE_ENCODERS
from serkit.models.encoders.pretrained import PretrainedEncoder
from serkit.models.heads import ClassifierHead, CTCHead
from serkit.models.pooling import (AttentiveStatsPooling, LastPooling, LocalAttentionPooling, MeanPooling,
                                   SumPooling)

ENCODERS = {**BASE_ENCODERS, "pretrained": PretrainedEncoder}
POOLINGS = {"last": LastPooling, "mean": MeanPooling, "sum": SumPooling, "local_attention": LocalAttentionPooling,
            "attentive_stats": AttentiveStatsPooling}
HEADS = {"emotion": ClassifierHead, "gender": ClassifierHead, "speaker": ClassifierHead, "ctc": CTCHead}
# heads on the encoder's frames rather than on the pooled utterance vector
FRAME_HEADS = {"ctc"}
# data-dir file that holds each head's targets
HEAD_TARGETS = {"emotion": "utt2emo", "gender": "utt2gender", "speaker": "utt2spk", "ctc": "text"}


def load_train_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> Config:
    """``serkit.config.load_config``, then the components resolved (``resolve_components``)."""
    cfg = load_config(path, overrides)
    resolve_components(cfg)
    return cfg


def resolve_components(cfg: Config) -> None:
    """Check component names against the registries and fill their confs' defaults."""
    m = cfg.model
    if m.encoder not in ENCODERS:
        raise ConfigError(f"unknown encoder '{m.encoder}'; choose from {sorted(ENCODERS)}")
    # 'architecture' is not a config key: a trained model's checkpoint hands it to its encoder
    m.encoder_conf = fill_kwargs(ENCODERS[m.encoder], m.encoder_conf, "model.encoder_conf",
                                 skip=("input_dim", "architecture"))
    if m.pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling '{m.pooling}'; choose from {sorted(POOLINGS)}")
    m.pooling_conf = fill_kwargs(POOLINGS[m.pooling], m.pooling_conf, "model.pooling_conf",
                                 skip=("input_dim", "bidirectional"))
    for name, head in m.heads.items():
        if name not in HEADS:
            raise ConfigError(f"unknown head '{name}'; choose from {sorted(HEADS)}")
        if head.class_weights not in ("none", "balanced"):
            raise ConfigError(f"'model.heads.{name}.class_weights' is '{head.class_weights}'; "
                              "choose from ['none', 'balanced']")
        if not 0.0 <= head.label_smoothing < 1.0:
            raise ConfigError(f"'model.heads.{name}.label_smoothing' is {head.label_smoothing}; give a value in [0, 1)")
    if cfg.data.augment.mixup > 0 and "ctc" in m.heads and m.heads["ctc"].weight > 0:
        raise ConfigError("data.augment.mixup mixes class targets; a ctc head's transcripts cannot be mixed")
    if "emotion" not in m.heads:  # the task's own head is always there
        m.heads = {"emotion": HeadConf(), **m.heads}
