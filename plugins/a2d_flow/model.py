"""Rectified flow matching from noise to encoded synth parameters, conditioned on audio.

Training (:meth:`FlowModel.loss`): parameters ``p`` in [0, 1] become ``x1 = 2p - 1``; noise ``x0``
is paired with ``x1`` by exact optimal transport inside the batch; ``t ~ U(0, 1)``,
``x_t = (1 - t) x0 + t x1`` and the field regresses ``x1 - x0``. With probability ``p_uncond`` the
audio conditioning is replaced by a learned null vector (classifier-free guidance).

Sampling (:meth:`FlowModel.predict`): integrate ``dx/dt = v`` from ``t = 0`` to ``1`` with
:func:`a2d.kernels.ode.sample_ode` (by default the midpoint method at 8 steps: as good in best-of-16 MSS
as RK4 at 100, docs/results.md "Speed (issue 17)"); with guidance weight ``w`` the sampler evaluates
the stacked batch ``[cond; null]`` and combines ``v = (1 - w) v_uncond + w v_cond``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from a2d.contracts.model import LossOutput, Predictor
from a2d.kernels.ode import sample_ode
from a2d.nn.encoders import build_encoder
from a2d_flow.field import build_field
from a2d_flow.ot import ot_pair


class FlowModel(Predictor):
    """Audio encoder + vector field; see the module docstring.

    :param width: encoded parameter columns ``W``.
    :param input_shape: feature shape ``(C, n_mels, frames)``.
    :param encoder: ``"ast"`` or ``"cnn"``; ``encoder_args`` go to its constructor.
    :param cond_dim: width of the conditioning vector.
    :param field: ``"param2tok"`` or ``"mlp"``; ``field_args`` go to its constructor.
    :param p_uncond: probability of dropping the conditioning during training.
    :param guidance_weight: default CFG weight ``w`` at sampling (None or 1: no guidance).
    :param steps: default ODE steps at sampling.
    :param method: default ODE method (``"midpoint"``, ``"rk4"``, ``"heun"``, ``"euler"``).
    :param ot_pairing: pair noise and targets by exact OT inside each batch.
    :param assign_l1: weight of the L1 penalty on the Param2Tok assignments.
    """

    name = "flow"
    stochastic = True

    def __init__(
        self,
        width: int,
        input_shape: Sequence[int],
        *,
        encoder: str = "cnn",
        encoder_args: dict[str, Any] | None = None,
        cond_dim: int = 128,
        field: str = "param2tok",
        field_args: dict[str, Any] | None = None,
        p_uncond: float = 0.1,
        guidance_weight: float | None = 2.0,
        steps: int = 8,
        method: str = "midpoint",
        ot_pairing: bool = True,
        assign_l1: float = 0.01,
    ) -> None:
        super().__init__()
        self.width = int(width)
        self.encoder = build_encoder(encoder, input_shape, cond_dim, encoder_args)
        self.field = build_field(field, self.width, cond_dim, field_args)
        self.null_cond = nn.Parameter(torch.randn(cond_dim) * 0.02)
        self.p_uncond = float(p_uncond)
        self.guidance_weight = guidance_weight
        self.steps = int(steps)
        self.method = method
        self.ot_pairing = bool(ot_pairing)
        self.assign_l1 = float(assign_l1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, cond: torch.Tensor) -> torch.Tensor:
        """Velocity ``(B, W)`` at ``x (B, W)`` in [-1, 1], time ``t (B,)``, ``cond (B, cond_dim)``."""
        return self.field(x, t, cond=cond)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Conditioning ``(B, cond_dim)`` from normalised ``features (B, C, M, T)``."""
        return self.encoder(features)

    def loss(
        self, batch: dict[str, torch.Tensor], *, generator: torch.Generator | None = None
    ) -> LossOutput:
        """Flow-matching MSE (+ assignment L1) for ``features (B, C, M, T)`` and ``params (B, W)``
        in [0, 1]. Randomness (noise, times, guidance dropout) comes from ``generator``."""
        features, params = batch["features"], batch["params"]
        x1 = params * 2 - 1
        b, dev = x1.shape[0], x1.device
        x0 = torch.randn(x1.shape, generator=generator, device="cpu").to(dev, x1.dtype)
        t = torch.rand(b, generator=generator, device="cpu").to(dev, x1.dtype)
        drop = torch.rand(b, generator=generator, device="cpu").to(dev) < self.p_uncond
        if self.ot_pairing:
            x0 = ot_pair(x0, x1)
        xt = (1 - t[:, None]) * x0 + t[:, None] * x1
        cond = self.encode(features)
        cond = torch.where(drop[:, None], self.null_cond.to(cond.dtype).expand_as(cond), cond)
        v = self(xt, t, cond=cond)
        mse = F.mse_loss(v.float(), (x1 - x0).float())
        penalty = self.field.penalty()
        loss = mse + self.assign_l1 * penalty
        return LossOutput(
            loss, {"flow_mse": float(mse.detach()), "assign_l1": float(penalty.detach())}
        )

    @torch.no_grad()
    def predict(
        self,
        features: torch.Tensor,
        *,
        n_candidates: int = 1,
        steps: int | None = None,
        guidance_weight: float | None = None,
        method: str | None = None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        t0: float = 0.0,
    ) -> torch.Tensor:
        """Sample ``(B, n_candidates, W)`` encoded parameters in [0, 1] for normalised
        ``features (B, C, M, T)``. ``steps``, ``method`` and ``guidance_weight`` default to the
        model's settings (``guidance_weight=1``: no guidance, the conditional field alone); noise
        comes from ``generator``, or is given as ``noise (B * n_candidates, W)``: the state at
        time ``t0`` that the ODE integrates to 1 (at ``t0 = 0``, the noise itself; later, a
        partly noised start, as :func:`a2d_flow.numpy_model.start_state` makes)."""
        w = self.guidance_weight if guidance_weight is None else guidance_weight
        guided = w is not None and float(w) != 1.0
        b, k = features.shape[0], int(n_candidates)
        cond = self.encode(features).repeat_interleave(k, dim=0)  # (B K, cond_dim)
        if guided:
            cond = torch.cat([cond, self.null_cond.to(cond.dtype).expand_as(cond)])
        if noise is None:
            noise = torch.randn((b * k, self.width), generator=generator, device="cpu")
        x0 = noise.to(features.device, cond.dtype)
        x1 = sample_ode(
            self._velocity(cond),
            x0,
            steps=self.steps if steps is None else int(steps),
            method=method or self.method,
            t0=float(t0),
            guidance_weight=float(w) if guided else None,
        )
        return ((x1 + 1) / 2).clamp(0, 1).view(b, k, self.width)

    def _velocity(self, cond: torch.Tensor) -> Callable[[torch.Tensor, Any], torch.Tensor]:
        def velocity(x: torch.Tensor, t: Any) -> torch.Tensor:
            t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1)
            return self(x, t.expand(x.shape[0]), cond=cond)

        return velocity
