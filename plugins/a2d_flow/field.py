"""Vector fields ``v(x, t, cond)`` for flow matching over encoded parameters."""

from __future__ import annotations

import torch
from torch import nn

from a2d.contracts.errors import ConfigError
from a2d.nn.adaln import AdaLNBlock, AdaLNFinal
from a2d.nn.param2tok import ParamToTokens, TokensToParam, assignment_l1
from a2d.nn.resmlp import ResidualMLP
from a2d.nn.time_embedding import TimeEmbedding


class Param2TokField(nn.Module):
    """The reference's field: parameters -> ``n_tokens`` learned tokens -> adaLN transformer driven
    by ``cond + time`` -> parameters. No positional encoding over tokens.

    ``forward(x (B, W) in [-1, 1], t (B,) in [0, 1], *, cond (B, cond_dim)) -> (B, W)``.
    """

    def __init__(
        self,
        width: int,
        cond_dim: int,
        *,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        n_tokens: int = 32,
    ) -> None:
        super().__init__()
        self.to_tokens = ParamToTokens(width, n_tokens, dim)
        self.from_tokens = TokensToParam(width, n_tokens, dim)
        self.time = TimeEmbedding(cond_dim)
        self.blocks = nn.ModuleList(AdaLNBlock(dim, heads, cond_dim) for _ in range(depth))
        self.final = AdaLNFinal(dim, cond_dim, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, cond: torch.Tensor) -> torch.Tensor:
        c = cond + self.time(t)
        h = self.to_tokens(x)
        for block in self.blocks:
            h = block(h, c)
        return self.from_tokens(self.final(h, c))

    def penalty(self) -> torch.Tensor:
        """L1 of the two assignment matrices (scalar)."""
        return assignment_l1(self.to_tokens, self.from_tokens)


class MLPField(nn.Module):
    """Residual-MLP field conditioned (adaLN) on ``cond + time``; same call as
    :class:`Param2TokField`."""

    def __init__(self, width: int, cond_dim: int, *, dim: int = 256, depth: int = 4) -> None:
        super().__init__()
        self.time = TimeEmbedding(cond_dim)
        self.mlp = ResidualMLP(width, width, dim, depth, cond_dim=cond_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, cond: torch.Tensor) -> torch.Tensor:
        return self.mlp(x, cond + self.time(t))

    def penalty(self) -> torch.Tensor:
        return torch.zeros((), device=self.mlp.out.weight.device)


FIELDS = {"param2tok": Param2TokField, "mlp": MLPField}


def build_field(name: str, width: int, cond_dim: int, args: dict | None = None) -> nn.Module:
    """A vector field by name: ``"param2tok"`` or ``"mlp"``."""
    if name not in FIELDS:
        raise ConfigError(f"unknown vector field {name!r}; known: {', '.join(FIELDS)}")
    try:
        return FIELDS[name](width, cond_dim, **dict(args or {}))
    except TypeError as exc:
        raise ConfigError(f"invalid arguments for vector field {name!r}: {exc}") from exc
