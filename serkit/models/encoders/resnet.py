"""A compact 2-D residual CNN for small corpora, on log-mel (or any frame features).

The features are an image (frequency x time). Each stage is a residual block (two 3x3
convolutions with batch norm, a 1x1 projection where the width changes) followed by 2x2
average pooling, so every stage halves both axes. After the last stage the channels of every
remaining frequency row are flattened per frame and projected to ``output_dim``:
(B, T, D) -> (B, ceil(T / 2^S), output_dim). With widths (16, 32, 64, 128) on 64 mel bands it
has about 0.35 M parameters; (8, 16, 32, 64) about 0.1 M.

Padded frames are masked: zeroed before every convolution and pooling, and each stage pads the
time axis to an even length with zeros, so an utterance gives the same outputs alone and in a
padded batch (in eval mode; batch norm uses running statistics there).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from serkit.models.pooling import valid_mask


class ResBlock2d(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
                     if c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x (B, C, F, T), keep (B, 1, 1, T) 1 on valid frames."""
        h = torch.relu(self.bn1(self.conv1(x * keep)))
        h = self.bn2(self.conv2(h * keep))
        return torch.relu(h + self.skip(x)) * keep


class ResNetEncoder(nn.Module):
    """feats (B, T, D), lengths (B,) -> hidden (B, T', output_dim), lengths (B,) with T' = ceil(T / 2^S)."""

    def __init__(self, input_dim: int, channels: Sequence[int] = (16, 32, 64, 128), output_dim: int = 128,
                 dropout: float = 0.2):
        super().__init__()
        if not channels:
            raise ValueError("channels needs at least one stage")
        self.blocks = nn.ModuleList()
        c_in = 1
        for c in channels:
            self.blocks.append(ResBlock2d(c_in, c))
            c_in = c
        freq = input_dim
        for _ in channels:
            freq = -(-freq // 2)
        self.proj = nn.Linear(c_in * freq, output_dim)
        self.dropout = nn.Dropout(dropout)
        self.output_dim = output_dim

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        lengths = lengths.to(feats.device)
        x = feats.transpose(1, 2).unsqueeze(1)                         # (B, 1, D, T)
        for block in self.blocks:
            keep = valid_mask(lengths, x.size(-1))[:, None, None, :].to(x.dtype)
            x = block(x, keep)
            # zero-pad both axes to even sizes so a lone utterance pools like one in a batch
            x = F.pad(x, (0, x.size(-1) % 2, 0, x.size(-2) % 2))
            x = F.avg_pool2d(x, 2)
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
        b, c, f, t = x.shape
        h = x.permute(0, 3, 1, 2).reshape(b, t, c * f)                 # channels x frequency per frame
        h = self.dropout(torch.relu(self.proj(self.dropout(h))))
        return h * valid_mask(lengths, t)[..., None].to(h.dtype), lengths
