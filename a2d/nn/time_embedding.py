"""Embedding of the flow time ``t`` in [0, 1]."""

from __future__ import annotations

import math

import torch
from torch import nn


class TimeEmbedding(nn.Module):
    """Sinusoidal features of ``t (B,)`` in [0, 1] followed by an MLP -> ``(B, dim)``.

    :param dim: output width.
    :param frequencies: number of sinusoid frequencies (features = 2 * frequencies).
    """

    def __init__(self, dim: int, frequencies: int = 64) -> None:
        super().__init__()
        freqs = torch.exp(-math.log(10000.0) * torch.arange(frequencies) / frequencies)
        self.register_buffer("freqs", freqs * 1000.0, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float().reshape(-1, 1) * self.freqs
        return self.mlp(torch.cat([angles.cos(), angles.sin()], dim=-1))
