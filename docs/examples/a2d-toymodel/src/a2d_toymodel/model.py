"""A deliberately small model that keeps to a2d's model contract (``a2d.contracts.model``)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from a2d.contracts.model import LossOutput, Predictor


class ToyMLP(Predictor):
    """Mel bands averaged over time (``(B, C * n_mels)``), an MLP, a sigmoid: one candidate.

    :param width: encoded parameter width (a2d passes it from the spec).
    :param input_shape: ``(C, n_mels, frames)`` of the features (a2d passes it from the data).
    :param hidden: width of the hidden layer. :param noise: std of the Gaussian noise added to the
        pooled features while training (drawn from the loss's ``generator``).
    """

    name = "toymlp"
    stochastic = False

    def __init__(
        self, width: int, input_shape: list[int], hidden: int = 64, noise: float = 0.05
    ) -> None:
        super().__init__()
        channels, n_mels = int(input_shape[0]), int(input_shape[1])
        self.noise = float(noise)
        self.net = nn.Sequential(
            nn.Linear(channels * n_mels, hidden), nn.GELU(), nn.Linear(hidden, int(width))
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, width)`` for normalised ``features (B, C, n_mels, frames)``."""
        return self.net(features.mean(dim=-1).flatten(1))

    def loss(
        self, batch: dict[str, torch.Tensor], *, generator: torch.Generator | None = None
    ) -> LossOutput:
        features, params = batch["features"], batch["params"]
        pooled = features.mean(dim=-1).flatten(1)
        if self.training and self.noise > 0:
            # Every random draw comes from `generator` when a2d passes one (validation does).
            noise = torch.randn(pooled.shape, generator=generator, device="cpu")
            pooled = pooled + self.noise * noise.to(pooled.device, pooled.dtype)
        pred = torch.sigmoid(self.net(pooled))
        mse = F.mse_loss(pred.float(), params.float())
        return LossOutput(mse, {"mse": float(mse.detach())})

    def predict(
        self,
        features: torch.Tensor,
        *,
        n_candidates: int = 1,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> torch.Tensor:
        # Deterministic: the candidates are copies, and generator and options are not needed.
        out = torch.sigmoid(self(features))
        return out.unsqueeze(1).expand(-1, int(n_candidates), -1).contiguous()
