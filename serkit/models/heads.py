"""Heads: utterance-level classifiers (emotion, gender, speaker) and the frame-level CTC head."""
from __future__ import annotations

import torch
from torch import nn


class ClassifierHead(nn.Module):
    """pooled (B, D) -> logits (B, C); an optional hidden layer with ReLU and dropout."""

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

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


class CTCHead(nn.Module):
    """hidden (B, T, D) -> character logits (B, T, C), class 0 the CTC blank (Cai et al. 2021: one FC layer)."""

    def __init__(self, input_dim: int, num_classes: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(input_dim, num_classes)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(hidden))
