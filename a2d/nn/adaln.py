"""Transformer block with adaptive layer norm (DiT's adaLN-Zero) driven by a conditioning vector."""

from __future__ import annotations

import torch
from torch import nn

from a2d.nn.attention import FeedForward, SelfAttention


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x * (1 + scale) + shift`` with ``x (B, L, D)`` and ``shift, scale (B, D)``."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class AdaLNBlock(nn.Module):
    """Self-attention + MLP block whose norms are scaled, shifted and gated by ``cond``.

    The modulation layer starts at zero, so every block is the identity at initialisation
    (adaLN-Zero). ``x (B, L, dim)``, ``cond (B, cond_dim)`` -> ``(B, L, dim)``.
    """

    def __init__(self, dim: int, heads: int, cond_dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.ff = FeedForward(dim, mlp_ratio)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        s1, c1, g1, s2, c2, g2 = self.modulation(cond).chunk(6, dim=-1)
        x = x + g1.unsqueeze(1) * self.attn(modulate(self.norm1(x), s1, c1))
        return x + g2.unsqueeze(1) * self.ff(modulate(self.norm2(x), s2, c2))


class AdaLNFinal(nn.Module):
    """Final adaLN norm + linear projection ``(B, L, dim) -> (B, L, out_dim)``."""

    def __init__(self, dim: int, cond_dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim))
        self.proj = nn.Linear(dim, out_dim)
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.modulation(cond).chunk(2, dim=-1)
        return self.proj(modulate(self.norm(x), shift, scale))
