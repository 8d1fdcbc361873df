"""Feed-forward regression from audio features to encoded parameters.

Scalar columns (continuous, discrete, scalar categoricals, note) are sigmoid outputs trained with
MSE; each one-hot categorical group is a softmax trained with cross-entropy (the reference uses MSE
on everything, which treats a wrong category as a small numeric error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from a2d.contracts.model import LossOutput, Predictor
from a2d.nn.encoders import build_encoder
from a2d.nn.resmlp import ResidualMLP


class FeedForwardModel(Predictor):
    """Encoder -> residual MLP head -> ``(B, W)`` in [0, 1].

    :param width: encoded parameter columns ``W``.
    :param input_shape: feature shape ``(C, n_mels, frames)``.
    :param onehot_groups: ``[start, stop)`` column ranges of one-hot groups (from ``spec.groups``).
    :param encoder: ``"ast"`` or ``"cnn"``; ``encoder_args`` go to its constructor.
    :param embed_dim: encoder output width.
    :param head_dim: MLP head width; ``head_depth`` residual blocks.
    """

    name = "feedforward"
    stochastic = False

    def __init__(
        self,
        width: int,
        input_shape: Sequence[int],
        *,
        onehot_groups: Sequence[Sequence[int]] = (),
        encoder: str = "cnn",
        encoder_args: dict[str, Any] | None = None,
        embed_dim: int = 256,
        head_dim: int = 256,
        head_depth: int = 2,
    ) -> None:
        super().__init__()
        self.width = int(width)
        self.encoder = build_encoder(encoder, input_shape, embed_dim, encoder_args)
        self.head = ResidualMLP(embed_dim, self.width, head_dim, head_depth)
        self.groups = [(int(a), int(b)) for a, b in onehot_groups]
        scalar = torch.ones(self.width, dtype=torch.bool)
        for a, b in self.groups:
            scalar[a:b] = False
        self.register_buffer("scalar_mask", scalar, persistent=False)

    @classmethod
    def spec_args(cls, spec: Any, input_shape: tuple[int, ...]) -> dict[str, Any]:
        args = super().spec_args(spec, input_shape)
        args["onehot_groups"] = [[g.slice.start, g.slice.stop] for g in spec.groups if g.onehot]
        return args

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, W)`` for normalised ``features (B, C, M, T)``."""
        return self.head(self.encoder(features))

    def loss(
        self, batch: dict[str, torch.Tensor], *, generator: torch.Generator | None = None
    ) -> LossOutput:
        """MSE on scalar columns (after a sigmoid) + mean cross-entropy over one-hot groups, for
        ``features (B, C, M, T)`` and ``params (B, W)`` in [0, 1]. Deterministic (no randomness)."""
        logits = self(batch["features"]).float()
        target = batch["params"].float()
        mse = F.mse_loss(torch.sigmoid(logits[:, self.scalar_mask]), target[:, self.scalar_mask])
        metrics = {"mse_scalar": float(mse.detach())}
        loss = mse
        if self.groups:
            ce = torch.stack(
                [F.cross_entropy(logits[:, a:b], target[:, a:b].argmax(-1)) for a, b in self.groups]
            ).mean()
            metrics["cross_entropy"] = float(ce.detach())
            loss = loss + ce
        return LossOutput(loss, metrics)

    @torch.no_grad()
    def predict(self, features: torch.Tensor, *, n_candidates: int = 1, **_: Any) -> torch.Tensor:
        """``(B, n_candidates, W)`` in [0, 1]: sigmoids for scalar columns, softmax
        probabilities for one-hot groups. The model is deterministic, so candidates are copies."""
        logits = self(features).float()
        out = torch.sigmoid(logits)
        for a, b in self.groups:
            out[:, a:b] = torch.softmax(logits[:, a:b], dim=-1)
        return out.unsqueeze(1).expand(-1, int(n_candidates), -1).contiguous()
