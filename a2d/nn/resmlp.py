"""Residual MLP with adaptive layer norm: a cheap vector field or regression head."""

from __future__ import annotations

import torch
from torch import nn

from a2d.nn.adaln import modulate


class ResidualBlock(nn.Module):
    """``x + gate * mlp(modulate(ln(x)))``, modulated by ``cond``; ``x (B, dim)``, ``cond (B, c)``.

    With ``cond_dim=0`` the block is unconditional (plain pre-norm residual MLP).
    """

    def __init__(self, dim: int, cond_dim: int = 0, ratio: float = 2.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=cond_dim == 0)
        hidden = int(dim * ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.modulation = None
        if cond_dim:
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 3 * dim))
            nn.init.zeros_(self.modulation[1].weight)
            nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(x)
        if self.modulation is None:
            return x + self.mlp(h)
        shift, scale, gate = self.modulation(cond).chunk(3, dim=-1)
        h = modulate(h.unsqueeze(1), shift, scale).squeeze(1)
        return x + gate * self.mlp(h)


class ResidualMLP(nn.Module):
    """``(B, in_dim) -> (B, out_dim)`` through ``depth`` residual blocks of width ``dim``."""

    def __init__(self, in_dim: int, out_dim: int, dim: int, depth: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, dim)
        self.blocks = nn.ModuleList(ResidualBlock(dim, cond_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, cond)
        return self.out(self.norm(h))
