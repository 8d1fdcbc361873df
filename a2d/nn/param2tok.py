"""Parameter tokens: a learned assignment of ``N`` parameters to ``K`` tokens and back.

The reference design ("Param2Tok"): each parameter value is embedded with its own vector, tokens are
learned mixtures of parameter embeddings, and each parameter is read back from a learned mixture of
tokens. There is no positional encoding over tokens, so a transformer over them is (nearly)
permutation-symmetric; an L1 penalty on both assignment matrices favours sparse, interpretable
assignments.
"""

from __future__ import annotations

import torch
from torch import nn


class ParamToTokens(nn.Module):
    """``x (B, N)`` in [-1, 1] -> tokens ``(B, K, dim)`` through a learned ``(K, N)`` assignment."""

    def __init__(self, n_params: int, n_tokens: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Parameter(torch.randn(n_params, dim) / dim**0.5)
        self.bias = nn.Parameter(torch.zeros(n_params, dim))
        self.assign = nn.Parameter(torch.rand(n_tokens, n_params) / n_params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_param = x.unsqueeze(-1) * self.embed + self.bias  # (B, N, dim)
        return torch.einsum("kn,bnd->bkd", self.assign, per_param)


class TokensToParam(nn.Module):
    """Tokens ``(B, K, dim)`` -> values ``(B, N)`` through a learned ``(N, K)`` assignment."""

    def __init__(self, n_params: int, n_tokens: int, dim: int) -> None:
        super().__init__()
        self.assign = nn.Parameter(torch.rand(n_params, n_tokens) / n_tokens)
        self.readout = nn.Parameter(torch.randn(n_params, dim) / dim**0.5)
        self.bias = nn.Parameter(torch.zeros(n_params))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        per_param = torch.einsum("nk,bkd->bnd", self.assign, tokens)  # (B, N, dim)
        return (per_param * self.readout).sum(-1) + self.bias


def assignment_l1(*modules: nn.Module) -> torch.Tensor:
    """Mean absolute value of the assignment matrices of ``modules`` (a scalar penalty)."""
    terms = [m.assign.abs().mean() for m in modules]
    return torch.stack(terms).sum()
