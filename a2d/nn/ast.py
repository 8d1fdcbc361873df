"""Audio Spectrogram Transformer: overlapping patches of the stereo log-mel, a transformer, and a
few learned output tokens pooled into one conditioning vector."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from a2d.nn.attention import TransformerBlock


class ASTEncoder(nn.Module):
    """``features (B, C, n_mels, frames)`` -> ``(B, out_dim)``.

    :param input_shape: ``(C, n_mels, frames)`` of the features (fixes the positional table).
    :param dim: token width.
    :param depth: transformer blocks.
    :param heads: attention heads.
    :param patch: square patch size (mel bins x frames).
    :param stride: patch stride (< patch: overlapping patches, as the reference's 16/10).
    :param n_out: learned output tokens, flattened and projected to ``out_dim``.
    :param out_dim: width of the returned vector.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_dim: int,
        *,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        patch: int = 16,
        stride: int = 10,
        n_out: int = 4,
    ) -> None:
        super().__init__()
        c, m, t = (int(v) for v in input_shape)
        if m < patch or t < patch:
            raise ValueError(
                f"features {tuple(input_shape)} are smaller than one {patch}x{patch} patch"
            )
        self.patches = nn.Conv2d(c, dim, kernel_size=patch, stride=stride)
        n_patches = ((m - patch) // stride + 1) * ((t - patch) // stride + 1)
        self.pos = nn.Parameter(torch.randn(1, n_patches, dim) * 0.02)
        self.out_tokens = nn.Parameter(torch.randn(1, n_out, dim) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(n_out * dim, out_dim)
        self.n_out = n_out

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.patches(features).flatten(2).transpose(1, 2) + self.pos  # (B, P, dim)
        x = torch.cat([self.out_tokens.expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.proj(self.norm(x[:, : self.n_out]).flatten(1))
