"""The model contract shared by every architecture (flow matching, feed-forward, third-party).

A model maps features (log-mel ``(B, C, n_mels, frames)``) to encoded parameter vectors
``(B, width)`` in [0, 1] for one :class:`~a2d.spec.ParamSpec`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass
class LossOutput:
    """What :meth:`Predictor.loss` returns.

    :param loss: scalar tensor to minimise.
    :param metrics: detached scalars for logging (e.g. ``{"mse_continuous": 0.01}``).
    """

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


class Predictor(nn.Module):
    """Base class of registered models.

    Subclasses set :attr:`name` and implement :meth:`loss` and :meth:`predict`. Their constructor
    takes only JSON-able keyword arguments (plus the spec width / feature shape) so checkpoints can
    rebuild them from ``model_args``.
    """

    #: Registered name, e.g. ``"flow"``.
    name: ClassVar[str] = ""
    #: Whether :meth:`predict` draws several distinct candidates (flow) or one (feed-forward).
    stochastic: ClassVar[bool] = False

    @abstractmethod
    def loss(self, batch: dict[str, torch.Tensor]) -> LossOutput:
        """Training loss for a batch with ``features (B, C, M, T)`` (normalised) and
        ``params (B, width)`` in [0, 1]."""

    @abstractmethod
    def predict(
        self, features: torch.Tensor, *, n_candidates: int = 1, **kwargs: Any
    ) -> torch.Tensor:
        """Encoded parameter predictions ``(B, n_candidates, width)`` in [0, 1] for normalised
        ``features (B, C, M, T)``."""
