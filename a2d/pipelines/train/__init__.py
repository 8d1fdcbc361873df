"""Training: configuration, streaming loader, schedule, loop, DDP.

``train(config) -> TrainResult`` is what ``a2d train`` calls; import it from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a2d.pipelines.train.config import TrainConfig, resolve_config
    from a2d.pipelines.train.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "resolve_config", "train"]


def __getattr__(name: str) -> Any:  # import torch only when training is actually used
    if name in ("TrainConfig", "resolve_config"):
        from a2d.pipelines.train import config

        return getattr(config, name)
    if name in ("TrainResult", "train"):
        from a2d.pipelines.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'a2d.pipelines.train' has no attribute {name!r}")
