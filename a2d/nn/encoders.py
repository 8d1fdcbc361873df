"""Encoder lookup by name, so model constructors take JSON-able arguments only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from a2d.contracts.errors import ConfigError

ENCODERS = ("ast", "cnn", "pooled")


def build_encoder(
    name: str, input_shape: Sequence[int], out_dim: int, args: Mapping[str, Any] | None = None
) -> nn.Module:
    """An encoder ``(B, C, n_mels, frames) -> (B, out_dim)``: ``"ast"``, ``"cnn"`` or ``"pooled"``."""
    if name == "ast":
        from a2d.nn.ast import ASTEncoder as cls
    elif name == "cnn":
        from a2d.nn.cnn import CNNEncoder as cls
    elif name == "pooled":
        from a2d.nn.pooled import PooledEncoder as cls
    else:
        raise ConfigError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")
    try:
        return cls(input_shape, out_dim, **dict(args or {}))
    except TypeError as exc:
        raise ConfigError(f"invalid arguments for encoder {name!r}: {exc}") from exc
