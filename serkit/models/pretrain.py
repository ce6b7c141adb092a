"""Pretraining objectives for an encoder: FOP and MPC on unlabelled features, CTC on transcripts.

``PretrainModel.forward`` returns ``(loss, stats, weight, outputs)`` like ``MultiTaskModel`` so the
same trainer runs it (outputs: None, or CTC's logits and lengths). FOP and MPC losses are means
over the frames that carry a target:
- FOP (Lian et al. 2019): the causal encoder's output at frame t predicts frame t + k (k = ``shift``);
  frames with t + k beyond the utterance carry none.
- MPC (the MPC paper, Mockingjay): ~``mask_ratio`` of the frames, in spans of ``mask_span``, are
  replaced by zero (``replace_zero``), by a random frame of the same utterance
  (``replace_random``) or kept; the model reconstructs them, and only they carry a loss.
- Denoising: where the batch's targets hold ``frames`` (the clean frames of an input that
  SpecAugment masked), FOP and MPC predict those instead of their input.
- CTC (the "pretrained ASR encoder" idea, from scratch): a linear layer on the encoder's frames
  predicts the characters of the utterance's transcript (``text``), blank at 0; the loss is
  PyTorch's CTC loss (per utterance over its target length, batch mean), and the weight of a
  batch is its number of utterances. Its last output is (logits, encoder lengths), for decoding.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from serkit.config import ModelConf, PretrainConf
from serkit.models.heads import CTCHead
from serkit.models.pooling import valid_mask
from serkit.models.registry import ENCODERS


def frame_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean over the frames with weight 1 of the per-frame mean L1 (or L2) error; (B, T, D), (B, T)."""
    err = (pred.float() - target.float()).abs() if kind == "l1" else (pred.float() - target.float()).pow(2)
    w = weight.to(err.dtype)
    return (err.mean(-1) * w).sum() / w.sum().clamp(min=1.0)


def span_mask(lengths: torch.Tensor, max_len: int, ratio: float, span: int, generator=None) -> torch.Tensor:
    """(B, T) bool: spans of ``span`` frames starting at random valid frames, ~``ratio`` of each
    utterance masked, never a padded frame, at least one frame per utterance."""
    device = lengths.device
    valid = valid_mask(lengths, max_len)
    p_start = min(1.0, ratio / span)
    starts = (torch.rand(valid.shape, generator=generator, device=device) < p_start) & valid
    # an utterance left without a span gets one at a random valid frame
    none = ~starts.any(-1)
    if none.any():
        pick = (torch.rand(lengths.shape, generator=generator, device=device) * lengths.clamp(min=1)).long()
        starts[none, pick[none]] = True
    # dilate each start over the next span - 1 frames: a causal box filter over the start flags
    k = torch.ones(1, 1, span, device=device)
    covered = F.conv1d(F.pad(starts[:, None].float(), (span - 1, 0)), k)[:, 0] > 0
    return covered & valid


class PretrainModel(nn.Module):
    def __init__(self, input_dim: int, conf: ModelConf, pretrain: PretrainConf, num_symbols: Optional[int] = None):
        """``num_symbols``: the CTC vocabulary size (blank included), for the ctc objective."""
        super().__init__()
        self.encoder = ENCODERS[conf.encoder](input_dim, **conf.encoder_conf)
        if pretrain.objective == "fop" and not getattr(self.encoder, "causal", False):
            raise ValueError(f"FOP needs a causal encoder (fop_transformer), not '{conf.encoder}'")
        self.conf = pretrain
        d = self.encoder.output_dim
        if pretrain.objective == "ctc":
            if not num_symbols:
                raise ValueError("the ctc objective needs the vocabulary size (num_symbols)")
            self.predictor = CTCHead(d, num_symbols)
        elif pretrain.objective == "fop":
            self.predictor = nn.Linear(d, input_dim)
        else:  # Mockingjay's prediction head: dense + GELU + layer norm, then to the input dim
            self.predictor = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, input_dim))

    def architecture(self) -> dict:
        """As ``MultiTaskModel.architecture``: the transformers need nothing beyond the config."""
        return self.encoder.architecture() if hasattr(self.encoder, "architecture") else {}

    def corrupt(self, feats: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """MPC input and the mask of frames that carry the loss."""
        c = self.conf
        mask = span_mask(lengths, feats.size(1), c.mask_ratio, c.mask_span)
        r = torch.rand(mask.shape, device=feats.device)
        zero = mask & (r < c.replace_zero)
        rand = mask & (r >= c.replace_zero) & (r < c.replace_zero + c.replace_random)
        x = feats.masked_fill(zero[..., None], 0.0)
        if rand.any():  # a random valid frame of the same utterance
            src = (torch.rand(mask.shape, device=feats.device) * lengths[:, None].clamp(min=1)).long()
            picked = torch.gather(feats, 1, src[..., None].expand_as(feats))
            x = torch.where(rand[..., None], picked, x)
        return x, mask

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, targets=None):
        c = self.conf
        lengths = lengths.to(feats.device)
        if c.objective == "ctc":
            hidden, enc_lengths = self.encoder(feats, lengths)
            logits = self.predictor(hidden)
            log_probs = logits.float().log_softmax(-1).transpose(0, 1)
            loss = F.ctc_loss(log_probs, targets["ctc"], enc_lengths, targets["ctc_lengths"], blank=0,
                              zero_infinity=True)
            stats = {"loss": loss.detach(), "ctc": loss.detach()}
            return loss, stats, torch.tensor(float(feats.size(0)), device=feats.device), (logits, enc_lengths)
        clean = (targets or {}).get("frames")
        if clean is None:
            clean = feats
        elif clean.shape != feats.shape:
            raise ValueError(f"clean frames {tuple(clean.shape)} and input {tuple(feats.shape)} differ in shape")
        if c.objective == "fop":
            k = c.shift
            hidden, _ = self.encoder(feats, lengths)
            pred = self.predictor(hidden[:, :-k])
            weight = valid_mask((lengths - k).clamp(min=0), feats.size(1) - k)
            loss = frame_loss(pred, clean[:, k:], weight, c.loss)
        else:
            x, weight = self.corrupt(feats, lengths)
            hidden, _ = self.encoder(x, lengths)
            loss = frame_loss(self.predictor(hidden), clean, weight, c.loss)
        frames = weight.sum()
        stats = {"loss": loss.detach(), f"{c.objective}_{c.loss}": loss.detach()}
        return loss, stats, frames, None
