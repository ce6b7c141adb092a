"""Name -> class registries for the components a config selects (plain dicts), and the
config loading that checks a config's components against them."""
from __future__ import annotations

from functools import partial
from typing import Any, Dict, Optional, Sequence

from serkit.config import Config, HeadConf, ModelConf, fill_kwargs, load_config
from serkit.errors import ConfigError
from serkit.models.encoders import BASE_ENCODERS
from serkit.models.encoders.pretrained import PretrainedEncoder
from serkit.models.heads import ClassifierType, CTCType, RegressionType
from serkit.models.pooling import (AttentiveStatsPooling, LastPooling, LocalAttentionPooling, MeanPooling,
                                   SumPooling)

ENCODERS = {**BASE_ENCODERS, "pretrained": PretrainedEncoder}
POOLINGS = {"last": LastPooling, "mean": MeanPooling, "sum": SumPooling, "local_attention": LocalAttentionPooling,
            "attentive_stats": AttentiveStatsPooling}
# head name -> its type (serkit.models.heads), built as HEADS[name](name, conf)
HEADS = {
    "emotion": partial(ClassifierType, target_file="utt2emo"),
    "gender": partial(ClassifierType, target_file="utt2gender"),
    "speaker": partial(ClassifierType, target_file="utt2spk"),
    "ctc": CTCType,
    "regression": RegressionType,
}


def head_types(m: ModelConf) -> Dict[str, Any]:
    """The types of the heads that are built: weight-0 heads cost nothing, except the emotion
    head (the task's own output), which is always there."""
    return {k: HEADS[k](k, h) for k, h in m.heads.items() if h.weight > 0 or k == "emotion"}


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
        t = HEADS[name](name, head)
        t.check()
        if cfg.data.augment.mixup > 0 and head.weight > 0 and not t.mixable:
            raise ConfigError(f"data.augment.mixup mixes class targets; the targets of head '{name}' cannot be mixed")
    if "emotion" not in m.heads:  # the task's own head is always there
        m.heads = {"emotion": HeadConf(), **m.heads}
