"""The multi-task SER model: encoder -> pooling -> heads, L = sum_k w_k L_k."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import nn

from serkit.config import ModelConf
from serkit.models.registry import ENCODERS, POOLINGS, head_types


class MultiTaskModel(nn.Module):
    """feats (B, T, D), lengths (B,) -> outputs per head ((B, C_k), or (B, T', C_k) on frames).

    Heads with weight 0 are not built, so they cost nothing; each head's type
    (``serkit.models.heads``) builds its module and computes its loss. ``forward`` with targets
    returns ``(loss, stats, weight, outputs)`` as ESPnet models do, so one trainer serves every model.
    """

    def __init__(self, input_dim: int, conf: ModelConf, classes: Mapping[str, List[str]],
                 architecture: Optional[Dict[str, Any]] = None):
        """``architecture``: ``self.architecture()`` of the trained model, stored in its checkpoint,
        so that a model rebuilds from that checkpoint alone (no pretrained file is read)."""
        super().__init__()
        self.input_dim = input_dim
        self.encoder = ENCODERS[conf.encoder](input_dim, **conf.encoder_conf, **(architecture or {}))
        self.pooling = POOLINGS[conf.pooling](
            self.encoder.output_dim, bidirectional=getattr(self.encoder, "bidirectional", False),
            **conf.pooling_conf)
        self.head_types = head_types(conf)
        self.weights = {k: conf.heads[k].weight for k in self.head_types}
        self.heads = nn.ModuleDict({k: t.build(self.pooling.output_dim, classes[k])
                                    for k, t in self.head_types.items()})

    def architecture(self) -> Dict[str, Any]:
        """What the encoder needs, beyond the config, to be rebuilt without external files."""
        return self.encoder.architecture() if hasattr(self.encoder, "architecture") else {}

    def set_class_weights(self, head: str, weights: torch.Tensor) -> None:
        self.heads[head].class_weight.copy_(weights)

    def outputs(self, feats: torch.Tensor, lengths: torch.Tensor):
        """-> outputs per head ((B, C), or (B, T', C) for frame-level heads), encoder lengths (B,)."""
        hidden, lengths = self.encoder(feats, lengths)
        pooled = self.pooling(hidden, lengths)
        return {k: head(hidden if self.head_types[k].frame_level else pooled)
                for k, head in self.heads.items()}, lengths

    def logits(self, feats: torch.Tensor, lengths: torch.Tensor) -> Dict[str, torch.Tensor]:
        return self.outputs(feats, lengths)[0]

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                targets: Optional[Mapping[str, torch.Tensor]] = None):
        out, enc_lengths = self.outputs(feats, lengths)
        if targets is None:
            return out
        stats = {}
        loss = feats.new_zeros(())
        for k, output in out.items():
            if self.weights[k] == 0:
                continue
            lk, head_stats = self.head_types[k].loss(self.heads[k], output, targets, enc_lengths)
            stats.update(head_stats)
            loss = loss + self.weights[k] * lk
        stats["loss"] = loss.detach()
        return loss, stats, torch.tensor(feats.size(0), device=feats.device), out
