"""An encoder without convolutions: the log-mel pooled over time segments, then an MLP.

The retrieval index finds a training row's sound from the log-mel pooled over time
(:mod:`a2d.storage.pretrained.index`); this encoder gives the flow the same kind of view, per band
and per time segment (so the envelope's course stays), and learns from it in a fraction of a CNN's
cost: a Dexed training step is dominated by the CNN (about 70 % of a `small` step on 2 cores), and
Dexed data is cheap, so more steps per hour is what its training needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class PooledEncoder(nn.Module):
    """``features (B, C, n_mels, frames)`` -> ``(B, out_dim)``: the mean and max of each band over
    ``time_segments`` equal segments of the clip (torch's adaptive pooling), flattened, then
    ``depth`` GELU layers of width ``hidden`` and a linear projection.

    :param input_shape: ``(C, n_mels, frames)``.
    :param time_segments: segments the clip's frames are pooled over.
    :param hidden: width of the MLP.
    :param depth: hidden layers of the MLP (>= 1).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_dim: int,
        *,
        time_segments: int = 8,
        hidden: int = 512,
        depth: int = 2,
    ) -> None:
        super().__init__()
        c, m = int(input_shape[0]), int(input_shape[1])
        self.time_segments = int(time_segments)
        if self.time_segments < 1 or int(depth) < 1:
            raise ValueError("time_segments and depth must be >= 1")
        layers: list[nn.Module] = [nn.Linear(2 * c * m * self.time_segments, hidden), nn.GELU()]
        for _ in range(int(depth) - 1):
            layers += [nn.Linear(hidden, hidden), nn.GELU()]
        layers.append(nn.Linear(hidden, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        size = (features.shape[2], self.time_segments)
        pooled = torch.cat(
            [F.adaptive_avg_pool2d(features, size), F.adaptive_max_pool2d(features, size)], dim=1
        )  # (B, 2 C, n_mels, N)
        return self.net(pooled.flatten(1))
