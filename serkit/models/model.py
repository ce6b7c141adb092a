"""The multi-task SER model: encoder -> pooling -> heads, L = sum_k w_k L_k."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import nn
from torch.nn import functional as F

from serkit.config import ModelConf
from serkit.models.registry import ENCODERS, FRAME_HEADS, HEADS, POOLINGS


def active_heads(conf: ModelConf) -> Dict[str, float]:
    """Heads that are built, with their loss weights: weight-0 heads cost nothing, except the
    emotion head (the task's own output) which is always there."""
    return {k: h.weight for k, h in conf.heads.items() if h.weight > 0 or k == "emotion"}


class MultiTaskModel(nn.Module):
    """feats (B, T, D), lengths (B,) -> logits per head (B, C_k).

    Heads with weight 0 are not built, so they cost nothing. ``forward`` with targets returns
    ``(loss, stats, weight)`` as ESPnet models do, so one trainer serves every model.
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
        self.weights = active_heads(conf)
        self.heads = nn.ModuleDict({
            k: HEADS[k](self.pooling.output_dim, len(classes[k]), hidden=h.hidden, dropout=h.dropout)
            for k, h in conf.heads.items() if k in self.weights
        })
        self.label_smoothing = {k: h.label_smoothing for k, h in conf.heads.items() if k in self.weights}
        for k in self.heads:
            if k not in FRAME_HEADS:   # loss weights per class; set from the train split (set_class_weights)
                self.register_buffer(f"class_weight_{k}", torch.ones(len(classes[k])), persistent=False)

    def architecture(self) -> Dict[str, Any]:
        """What the encoder needs, beyond the config, to be rebuilt without external files."""
        return self.encoder.architecture() if hasattr(self.encoder, "architecture") else {}

    def set_class_weights(self, head: str, weights: torch.Tensor) -> None:
        getattr(self, f"class_weight_{head}").copy_(weights)

    def outputs(self, feats: torch.Tensor, lengths: torch.Tensor):
        """-> logits per head ((B, C), or (B, T', C) for frame heads), encoder lengths (B,)."""
        hidden, lengths = self.encoder(feats, lengths)
        pooled = self.pooling(hidden, lengths)
        return {k: head(hidden if k in FRAME_HEADS else pooled) for k, head in self.heads.items()}, lengths

    def logits(self, feats: torch.Tensor, lengths: torch.Tensor) -> Dict[str, torch.Tensor]:
        return self.outputs(feats, lengths)[0]

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                targets: Optional[Mapping[str, torch.Tensor]] = None):
        out, enc_lengths = self.outputs(feats, lengths)
        if targets is None:
            return out
        stats = {}
        loss = feats.new_zeros(())
        for k, logits in out.items():
            if self.weights[k] == 0:
                continue
            if k == "ctc":
                # torch.nn.CTCLoss defaults: per-utterance loss over its target length, batch mean
                log_probs = logits.float().log_softmax(-1).transpose(0, 1)
                lk = F.ctc_loss(log_probs, targets["ctc"], enc_lengths, targets["ctc_lengths"], blank=0,
                                zero_infinity=True)
                stats["loss_ctc"] = lk.detach()
                loss = loss + self.weights[k] * lk
                continue
            # targets: class indices (B,), or class probabilities (B, C) after mixup
            lk = F.cross_entropy(logits.float(), targets[k], weight=getattr(self, f"class_weight_{k}"),
                                 label_smoothing=self.label_smoothing[k])
            gold = targets[k] if targets[k].dim() == 1 else targets[k].argmax(-1)
            stats[f"loss_{k}"] = lk.detach()
            stats[f"acc_{k}"] = (logits.argmax(-1) == gold).float().mean().detach()
            loss = loss + self.weights[k] * lk
        stats["loss"] = loss.detach()
        return loss, stats, torch.tensor(feats.size(0), device=feats.device), out
