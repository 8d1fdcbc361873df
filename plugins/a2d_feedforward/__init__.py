"""Built-in a2d plugin: ``feedforward``, an encoder + MLP regression baseline.

Registration stays cheap (``a2d plugins`` does not import torch): the registry holds a stand-in
whose :meth:`load` imports :class:`a2d_feedforward.model.FeedForwardModel`.
"""

from __future__ import annotations

from typing import Any

import a2d


class FeedForward:
    """Registry stand-in for :class:`a2d_feedforward.model.FeedForwardModel`."""

    name = "feedforward"
    stochastic = False

    @staticmethod
    def load() -> Any:
        from a2d_feedforward.model import FeedForwardModel

        return FeedForwardModel

    def __new__(cls, **model_args: Any) -> Any:  # type: ignore[misc]
        return cls.load().build(**model_args)


@a2d.hookimpl
def a2d_register_models(registry: Any) -> None:
    registry.add(FeedForward)
