"""CNN-BLSTM with multi-head self-attention (Fu et al. 2020, "An end-to-end multitask learning model to
improve speech emotion recognition").

Conv1d over time (filters 512 / 1024 / 2048, kernels 3 / 1 / 3) -> dense bottleneck 512 ->
2-layer BiLSTM (128 per direction) -> 16-head scaled-dot self-attention; dropout 0.35.
Padded frames are masked: zeroed before every convolution (so they never leak into valid
frames through the kernel), skipped by the LSTMs, and excluded as attention keys.

``attn_dropout`` is the dropout on the attention weights, apart from ``dropout`` (unset: the
same, as in the paper). At 0 PyTorch's fused attention kernel runs and never builds the 16 heads'
(T, T) weights: on one CPU thread a training step of 32 x 3 s utterances at the CPU widths takes
1.5 s instead of 2.7 s, and the gap grows with T.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from serkit.errors import ConfigError
from serkit.models.encoders.blstm import BLSTMEncoder
from serkit.models.pooling import valid_mask


class CNNBLSTMAttEncoder(nn.Module):
    """feats (B, T, D), lengths (B,) -> hidden (B, T, 2 * lstm_hidden), lengths (B,)."""

    def __init__(self, input_dim: int, filters: Sequence[int] = (512, 1024, 2048), kernels: Sequence[int] = (3, 1, 3),
                 bottleneck: int = 512, lstm_hidden: int = 128, lstm_layers: int = 2, heads: int = 16,
                 dropout: float = 0.35, attn_dropout: Optional[float] = None):
        super().__init__()
        if len(filters) != len(kernels):
            raise ValueError("filters and kernels must have the same length")
        convs = []
        in_dim = input_dim
        for f, k in zip(filters, kernels):
            convs.append(nn.Conv1d(in_dim, f, k, padding=k // 2))
            in_dim = f
        self.convs = nn.ModuleList(convs)
        self.bottleneck = nn.Linear(in_dim, bottleneck)
        self.dropout = nn.Dropout(dropout)
        self.blstm = BLSTMEncoder(bottleneck, hidden=lstm_hidden, num_layers=lstm_layers, dropout=dropout)
        if attn_dropout is not None and not 0.0 <= attn_dropout < 1.0:
            raise ConfigError(f"model.encoder_conf.attn_dropout is {attn_dropout}; give a value in [0, 1)")
        self.attention = nn.MultiheadAttention(self.blstm.output_dim, heads, batch_first=True,
                                               dropout=dropout if attn_dropout is None else float(attn_dropout))
        self.bidirectional = True
        self.output_dim = self.blstm.output_dim

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        mask = valid_mask(lengths.to(feats.device), feats.size(1))          # (B, T)
        x = feats.transpose(1, 2)                                           # (B, D, T)
        for conv in self.convs:
            x = torch.relu(conv(x * mask[:, None, :].to(x.dtype)))
        x = self.dropout(torch.relu(self.bottleneck(x.transpose(1, 2))))    # (B, T, 512)
        h, _ = self.blstm(x, lengths)                                       # (B, T, 256)
        att = self._self_attention(h, mask)
        return att * mask[..., None].to(att.dtype), lengths

    def _self_attention(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What ``self.attention(h, h, h, key_padding_mask=~mask)`` computes, with its weights, written
        out so that the head reshapes keep the time axis symbolic: an ONNX export of
        ``nn.MultiheadAttention`` fixes it to the example's length. h: (B, T, E), mask: (B, T)."""
        att = self.attention
        B, _, E = h.shape
        q, k, v = F.linear(h, att.in_proj_weight, att.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (x.reshape(B, -1, att.num_heads, E // att.num_heads).transpose(1, 2) for x in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :],
                                           dropout_p=att.dropout if self.training else 0.0)
        return att.out_proj(o.transpose(1, 2).reshape(B, -1, E))
