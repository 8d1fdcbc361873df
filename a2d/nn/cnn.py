"""A light convolutional encoder for CPU-sized models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class CNNEncoder(nn.Module):
    """``features (B, C, n_mels, frames)`` -> ``(B, out_dim)``: conv blocks (3x3 conv, GroupNorm,
    GELU, 2x2 max-pool), global average + max pooling over time, a linear projection.

    :param input_shape: ``(C, n_mels, frames)``.
    :param channels: output channels of each conv block.
    :param pool_input: average-pool the input by this factor first (2: 4x fewer conv FLOPs).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_dim: int,
        *,
        channels: Sequence[int] = (16, 32, 64, 128),
        pool_input: int = 1,
    ) -> None:
        super().__init__()
        c_in = int(input_shape[0])
        layers: list[nn.Module] = (
            [nn.AvgPool2d(pool_input, ceil_mode=True)] if pool_input > 1 else []
        )
        for c_out in channels:
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                nn.GroupNorm(min(8, c_out), c_out),
                nn.GELU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            _, _, m, _ = self.convs(torch.zeros(1, *(int(v) for v in input_shape))).shape
        self.proj = nn.Linear(2 * c_in * m, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = self.convs(features)  # (B, ch, m', t')
        pooled = torch.cat(
            [h.mean(-1), h.amax(-1)], dim=1
        )  # (B, 2 ch, m'): pooled over time, per band
        return self.proj(pooled.flatten(1))
