"""Utterance pooling over valid frames: hidden (B, T, D), lengths (B,) -> (B, D)."""
from __future__ import annotations

import torch
from torch import nn


def valid_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) -> (B, T) bool, True on frames inside each utterance."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def masked_sum(hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, D): sum over each utterance's valid frames."""
    mask = valid_mask(lengths.to(hidden.device), hidden.size(1)).unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1)


class LastPooling(nn.Module):
    """Last valid frame; for a bidirectional encoder, concat of the forward half at the last
    frame and the backward half at the first frame (the final states of both directions)."""

    def __init__(self, input_dim: int, bidirectional: bool = False):
        super().__init__()
        self.bidirectional = bidirectional
        self.output_dim = input_dim

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        idx = (lengths - 1).clamp(min=0).to(hidden.device)
        last = hidden[torch.arange(hidden.size(0), device=hidden.device), idx]
        if not self.bidirectional:
            return last
        half = hidden.size(2) // 2
        return torch.cat([last[:, :half], hidden[:, 0, half:]], dim=-1)


class MeanPooling(nn.Module):
    """Global average pooling over valid frames (GAP)."""

    def __init__(self, input_dim: int, bidirectional: bool = False):
        super().__init__()
        self.output_dim = input_dim

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_sum(hidden, lengths) / lengths.to(hidden.device, hidden.dtype).clamp(min=1)[:, None]


class SumPooling(nn.Module):
    """Sum over valid frames."""

    def __init__(self, input_dim: int, bidirectional: bool = False):
        super().__init__()
        self.output_dim = input_dim

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_sum(hidden, lengths)


class LocalAttentionPooling(nn.Module):
    """alpha_i = softmax_i(u . h_i) over valid frames, o = sum_i alpha_i h_i (Fu et al. 2020)."""

    def __init__(self, input_dim: int, bidirectional: bool = False):
        super().__init__()
        self.u = nn.Linear(input_dim, 1, bias=False)
        self.output_dim = input_dim

    def weights(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) attention weights; 0 on padded frames, each row sums to 1."""
        scores = self.u(hidden).squeeze(-1)
        mask = valid_mask(lengths.to(hidden.device), hidden.size(1))
        return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bt,btd->bd", self.weights(hidden, lengths).to(hidden.dtype), hidden)


class AttentiveStatsPooling(nn.Module):
    """Attention-weighted mean and standard deviation over valid frames -> (B, 2 D).

    alpha_t = softmax_t(v . tanh(W h_t + b)); mean = sum_t alpha_t h_t,
    std = sqrt(sum_t alpha_t h_t^2 - mean^2): the attentive statistics pooling of speaker and
    emotion embeddings (Okabe et al., "Attentive Statistics Pooling for Deep Speaker Embedding").
    """

    def __init__(self, input_dim: int, bidirectional: bool = False, attention_dim: int = 64):
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(input_dim, attention_dim), nn.Tanh(),
                                       nn.Linear(attention_dim, 1, bias=False))
        self.output_dim = 2 * input_dim

    def weights(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) attention weights; 0 on padded frames, each row sums to 1."""
        scores = self.attention(hidden).squeeze(-1)
        mask = valid_mask(lengths.to(hidden.device), hidden.size(1))
        return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        alpha = self.weights(hidden, lengths).to(hidden.dtype)
        mean = torch.einsum("bt,btd->bd", alpha, hidden)
        var = torch.einsum("bt,btd->bd", alpha, hidden * hidden) - mean * mean
        return torch.cat([mean, var.clamp(min=1e-6).sqrt()], dim=-1)
