"""Bidirectional LSTM encoder (the MPC paper's baseline)."""
from __future__ import annotations

import torch
from torch import nn


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` (B, T, D) within its own length; padding stays at the end."""
    T = x.size(1)
    t = torch.arange(T, device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    idx = torch.where(t < lengths, lengths - 1 - t, t)
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.size(2)))


class BLSTMEncoder(nn.Module):
    """feats (B, T, D), lengths (B,) -> hidden (B, T, 2H), lengths (B,).

    Each layer runs a forward LSTM on the padded batch and a backward LSTM on the batch with
    every sequence reversed within its length. Outputs at valid frames are exactly those of a
    packed bidirectional LSTM, without packing, which is several times slower on CPU for
    batches of mixed lengths. Dropout is applied between layers only.
    """

    def __init__(self, input_dim: int, hidden: int = 256, num_layers: int = 2, dropout: float = 0.5,
                 bidirectional: bool = True):
        super().__init__()
        self.bidirectional = bidirectional
        dirs = 2 if bidirectional else 1
        self.fwd = nn.ModuleList()
        self.bwd = nn.ModuleList()
        for layer in range(num_layers):
            in_dim = input_dim if layer == 0 else hidden * dirs
            self.fwd.append(nn.LSTM(in_dim, hidden, batch_first=True))
            if bidirectional:
                self.bwd.append(nn.LSTM(in_dim, hidden, batch_first=True))
        self.dropout = nn.Dropout(dropout) if num_layers > 1 and dropout > 0 else nn.Identity()
        self.output_dim = hidden * dirs

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        x = feats
        for layer in range(len(self.fwd)):
            if layer > 0:
                x = self.dropout(x)
            out, _ = self.fwd[layer](x)
            if self.bidirectional:
                rev, _ = self.bwd[layer](reverse_padded(x, lengths))
                out = torch.cat([out, reverse_padded(rev, lengths)], dim=-1)
            x = out
        return x, lengths
