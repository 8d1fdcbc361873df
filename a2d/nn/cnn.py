"""A light convolutional encoder for CPU-sized models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class CNNEncoder(nn.Module):
    """``features (B, C, n_mels, frames)`` -> ``(B, out_dim)``: conv blocks (3x3 conv, GroupNorm,
    GELU, 2x2 max-pool), average + max pooling over time (globally, or per time segment), a
    linear projection.

    :param input_shape: ``(C, n_mels, frames)``.
    :param channels: output channels of each conv block.
    :param pool_input: average-pool the input by this factor first (2: 4x fewer conv FLOPs), or by
        ``(bands, frames)``: ``[1, 4]`` keeps every mel band (the harmonics an FM timbre is made
        of) and pools time by 4 for the same cost as 2.
    :param time_segments: 0 pools over the whole clip (when things happen is lost beyond the
        convolutions' reach); ``N`` pools each of ``N`` equal time segments (torch's adaptive
        pooling), so the projection sees the envelope's course.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_dim: int,
        *,
        channels: Sequence[int] = (16, 32, 64, 128),
        pool_input: int | Sequence[int] = 1,
        time_segments: int = 0,
    ) -> None:
        super().__init__()
        c_in = int(input_shape[0])
        pool = input_pool(pool_input)
        layers: list[nn.Module] = [nn.AvgPool2d(pool, ceil_mode=True)] if pool != (1, 1) else []
        self.time_segments = int(time_segments)
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
        self.proj = nn.Linear(2 * c_in * m * max(1, self.time_segments), out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = self.convs(features)  # (B, ch, m', t')
        if self.time_segments:  # (B, 2 ch, m', N): pooled per time segment, per band
            n = self.time_segments
            pooled = torch.cat([F.adaptive_avg_pool2d(h, (h.shape[2], n)),
                                F.adaptive_max_pool2d(h, (h.shape[2], n))], dim=1)  # fmt: skip
        else:  # (B, 2 ch, m'): pooled over time, per band
            pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=1)
        return self.proj(pooled.flatten(1))


def input_pool(pool_input: int | Sequence[int]) -> tuple[int, int]:
    """``(bands, frames)`` factors of the encoder's input pooling from an int or a pair."""
    if isinstance(pool_input, int | float):
        return int(pool_input), int(pool_input)
    kh, kw = (int(v) for v in pool_input)
    return kh, kw
