"""The flow model's sampling in NumPy: :meth:`a2d_flow.model.FlowModel.predict` without torch.

``a2d predict`` spends 1.5-2.5 s of a 2-core machine importing torch before it can sample; a
shipped model needs only a forward pass. :class:`NumpyFlow` rebuilds the encoder (``cnn``) and
the vector field (``param2tok`` or ``mlp``) from the checkpoint's state dict and samples the same
ODE (:func:`a2d.kernels.ode.sample_ode` on NumPy arrays). Given the same noise it returns the
torch model's candidates within float32 rounding (``tests/test_npflow.py``). Other encoders (the
``ast``) are not rebuilt: :meth:`NumpyFlow.from_state` raises :class:`NotImplementedError` and
the caller loads the model with torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np

from a2d.kernels import npnn
from a2d.kernels.ode import sample_ode

Array = np.ndarray

#: Rows of the field's input below which a lane is not worth its thread hand-off.
MIN_LANE_ROWS = 8


def sampling_lanes() -> int:
    """Threads the sampler splits each field call over: ``A2D_NUM_THREADS`` if set (worker
    processes set 1), else the cores, at most 2 (the field's rows are few: K = 16 with guidance
    is 32)."""
    from a2d.kernels._native import num_threads

    return max(1, min(2, num_threads() or os.cpu_count() or 1))


@cache
def _lane_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=3, thread_name_prefix="a2d-flow-lane")


os.register_at_fork(after_in_child=_lane_pool.cache_clear)  # a forked child has no pool threads

#: The constructor defaults of FlowModel, CNNEncoder, Param2TokField and MLPField that a
#: checkpoint's ``model_args`` may leave out.
_DEFAULTS = {"encoder": "cnn", "field": "param2tok", "guidance_weight": 2.0, "steps": 8,
             "method": "midpoint"}  # fmt: skip


class NumpyFlow:
    """A flow checkpoint's sampler in NumPy; see the module docstring."""

    name = "flow"
    stochastic = True

    def __init__(self, model_args: Mapping[str, Any], state: Mapping[str, Array]) -> None:
        args = {**_DEFAULTS, **dict(model_args)}
        if args["encoder"] not in ("cnn", "pooled") or args["field"] not in ("param2tok", "mlp"):
            raise NotImplementedError(
                f"no NumPy sampler for encoder {args['encoder']!r} with field {args['field']!r}"
            )
        self.model_args = dict(model_args)
        self.width = int(args["width"])
        self.guidance_weight = args["guidance_weight"]
        self.steps, self.method = int(args["steps"]), str(args["method"])
        self.s = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}
        enc = dict(args.get("encoder_args") or {})
        pool = enc.get("pool_input", 1)
        self.pool_input = (int(pool),) * 2 if isinstance(pool, int | float) else tuple(pool)
        self.time_segments = int(enc.get("time_segments", 0))
        self.encoder_kind = args["encoder"]
        if self.encoder_kind == "pooled":
            self.time_segments = int(enc.get("time_segments", 8))
        self.n_convs = len(enc.get("channels", (16, 32, 64, 128)))
        fargs = dict(args.get("field_args") or {})
        self.field_kind = args["field"]
        self.heads = int(fargs.get("heads", 4))
        self.depth = int(fargs.get("depth", 4))
        freqs = np.exp(-math.log(10000.0) * np.arange(64, dtype=np.float64) / 64)
        self.freqs = (freqs.astype(np.float32) * np.float32(1000.0)).astype(np.float32)

    @classmethod
    def from_state(cls, model_args: Mapping[str, Any], state: Mapping[str, Array]) -> NumpyFlow:
        """The sampler, or :class:`NotImplementedError` for an architecture it does not rebuild;
        a state that does not fit the arguments is a KeyError or ValueError (as torch's
        ``load_state_dict`` refuses it)."""
        model = cls(model_args, state)
        if model.encoder_kind == "pooled":
            if "encoder.net.0.weight" not in state:
                raise KeyError("the encoder's state is not a pooled encoder's")
        else:
            convs = {k.rsplit(".", 1)[0] for k in state if k.startswith("encoder.convs.")}
            if len(convs) != 2 * model.n_convs or "encoder.proj.weight" not in state:
                raise KeyError(f"the encoder's state does not match {model.n_convs} conv blocks")
        probe = np.zeros((1, model.width), np.float32)
        cond = np.zeros((1, len(model.s["null_cond"])), np.float32)
        if model.velocity(probe, np.zeros(1, np.float32), cond).shape != (1, model.width):
            raise ValueError("the vector field's state does not match the width")
        return model

    # -- the network ------------------------------------------------------------------------
    def encode(self, features: Array) -> Array:
        """``(B, C, M, F)`` normalised features -> ``(B, cond_dim)`` (CNNEncoder or
        PooledEncoder)."""
        if self.encoder_kind == "pooled":
            return self._encode_pooled(np.asarray(features, dtype=np.float32))
        s, h = self.s, np.asarray(features, dtype=np.float32)
        i = 0
        if self.pool_input != (1, 1):
            h, i = npnn.avg_pool(h, self.pool_input), 1
        for _ in range(self.n_convs):
            conv, norm = f"encoder.convs.{i}", f"encoder.convs.{i + 1}"
            h = npnn.conv2d_3x3(h, s[f"{conv}.weight"], s[f"{conv}.bias"])
            groups = min(8, h.shape[1])
            h = npnn.group_norm(h, groups, s[f"{norm}.weight"], s[f"{norm}.bias"])
            h = npnn.max_pool2(npnn.gelu(h))
            i += 4
        if self.time_segments:
            pooled = np.concatenate(npnn.segment_pool(h, self.time_segments), 1)
        else:
            pooled = np.concatenate([h.mean(-1, dtype=np.float64).astype(np.float32), h.max(-1)], 1)
        return npnn.linear(
            pooled.reshape(len(h), -1), s["encoder.proj.weight"], s["encoder.proj.bias"]
        )

    def _encode_pooled(self, features: Array) -> Array:
        mean, peak = npnn.segment_pool(features, self.time_segments)
        h = np.concatenate([mean, peak], 1).reshape(len(features), -1)
        i = 0
        while f"encoder.net.{i + 2}.weight" in self.s:  # Linear, GELU, ..., Linear
            h = npnn.gelu(npnn.linear(h, self.s[f"encoder.net.{i}.weight"],
                                      self.s[f"encoder.net.{i}.bias"]))  # fmt: skip
            i += 2
        return npnn.linear(h, self.s[f"encoder.net.{i}.weight"], self.s[f"encoder.net.{i}.bias"])

    def _time(self, t: Array) -> Array:
        s = self.s
        angles = t.astype(np.float32).reshape(-1, 1) * self.freqs
        h = np.concatenate([np.cos(angles), np.sin(angles)], -1).astype(np.float32)
        h = npnn.silu(npnn.linear(h, s["field.time.mlp.0.weight"], s["field.time.mlp.0.bias"]))
        return npnn.linear(h, s["field.time.mlp.2.weight"], s["field.time.mlp.2.bias"])

    def _adaln(self, cond: Array, prefix: str, n: int) -> list[Array]:
        mod = npnn.linear(npnn.silu(cond), self.s[f"{prefix}.weight"], self.s[f"{prefix}.bias"])
        return np.split(mod, n, axis=-1)

    def _block(self, x: Array, c: Array, p: str) -> Array:
        s = self.s
        s1, c1, g1, s2, c2, g2 = self._adaln(c, f"{p}.modulation.1", 6)
        h = npnn.layer_norm(x) * (1 + c1[:, None]) + s1[:, None]
        b, n, d = h.shape
        qkv = npnn.linear(h, s[f"{p}.attn.qkv.weight"], s[f"{p}.attn.qkv.bias"])
        q, k, v = qkv.reshape(b, n, 3, self.heads, d // self.heads).transpose(2, 0, 3, 1, 4)
        y = npnn.attention(q, k, v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = x + g1[:, None] * npnn.linear(y, s[f"{p}.attn.out.weight"], s[f"{p}.attn.out.bias"])
        h = npnn.layer_norm(x) * (1 + c2[:, None]) + s2[:, None]
        h = npnn.gelu(npnn.linear(h, s[f"{p}.ff.net.0.weight"], s[f"{p}.ff.net.0.bias"]))
        return x + g2[:, None] * npnn.linear(h, s[f"{p}.ff.net.2.weight"], s[f"{p}.ff.net.2.bias"])

    def _param2tok(self, x: Array, c: Array) -> Array:
        s = self.s
        per_param = x[..., None] * s["field.to_tokens.embed"] + s["field.to_tokens.bias"]
        h = np.matmul(s["field.to_tokens.assign"], per_param)  # (B, K, dim)
        for i in range(self.depth):
            h = self._block(h, c, f"field.blocks.{i}")
        shift, scale = self._adaln(c, "field.final.modulation.1", 2)
        h = npnn.layer_norm(h) * (1 + scale[:, None]) + shift[:, None]
        h = npnn.linear(h, s["field.final.proj.weight"], s["field.final.proj.bias"])
        per_param = np.matmul(s["field.from_tokens.assign"], h)  # (B, N, dim)
        return (per_param * s["field.from_tokens.readout"]).sum(-1) + s["field.from_tokens.bias"]

    def _mlp(self, x: Array, c: Array) -> Array:
        s, p = self.s, "field.mlp"
        h = npnn.linear(x, s[f"{p}.inp.weight"], s[f"{p}.inp.bias"])
        for i in range(self.depth):
            b = f"{p}.blocks.{i}"
            shift, scale, gate = self._adaln(c, f"{b}.modulation.1", 3)
            z = npnn.layer_norm(h) * (1 + scale) + shift
            z = npnn.gelu(npnn.linear(z, s[f"{b}.mlp.0.weight"], s[f"{b}.mlp.0.bias"]))
            h = h + gate * npnn.linear(z, s[f"{b}.mlp.2.weight"], s[f"{b}.mlp.2.bias"])
        h = npnn.layer_norm(h) * s[f"{p}.norm.weight"] + s[f"{p}.norm.bias"]
        return npnn.linear(h, s[f"{p}.out.weight"], s[f"{p}.out.bias"])

    def velocity(self, x: Array, t: Array, cond: Array) -> Array:
        """The field ``v(x (R, W), t (R,), cond (R, cond_dim)) -> (R, W)`` float32."""
        c = cond + self._time(t)
        x = np.asarray(x, dtype=np.float32)
        v = self._param2tok(x, c) if self.field_kind == "param2tok" else self._mlp(x, c)
        return np.ascontiguousarray(v, dtype=np.float32)

    def split_velocity(self, lanes: int) -> Callable[[Array, Array, Array], Array]:
        """:meth:`velocity` with its rows in ``lanes`` parts computed in threads (NumPy's
        products and element-wise loops release the GIL), the same values within float32 rounding:
        every layer works row by row. One lane, or fewer than :data:`MIN_LANE_ROWS` rows per lane, runs inline."""
        if lanes <= 1:
            return self.velocity

        def velocity(x: Array, t: Array, cond: Array) -> Array:
            rows = len(x)
            if rows < 2 * MIN_LANE_ROWS:
                return self.velocity(x, t, cond)
            n = min(lanes, rows // MIN_LANE_ROWS)
            cuts = [rows * i // n for i in range(n + 1)]
            parts = [(x[a:b], t[a:b] if np.ndim(t) else t, cond[a:b]) for a, b in pairwise(cuts)]
            futures = [_lane_pool().submit(self.velocity, *p) for p in parts[1:]]
            first = self.velocity(*parts[0])
            return np.concatenate([first, *(f.result() for f in futures)])

        return velocity

    # -- sampling ---------------------------------------------------------------------------
    def predict(
        self,
        features: Array,
        *,
        noise: Array,
        n_candidates: int = 1,
        steps: int | None = None,
        guidance_weight: float | None = None,
        method: str | None = None,
        t0: float = 0.0,
        lanes: int | None = None,
    ) -> Array:
        """``(B, n_candidates, W)`` encoded parameters in [0, 1] for normalised ``features
        (B, C, M, F)``, integrating from ``noise (B * n_candidates, W)`` (the state at ``t0``: the
        noise itself at 0), as :meth:`FlowModel.predict` does. ``lanes``: threads sharing each
        call of the field (default :func:`sampling_lanes`)."""
        from threadpoolctl import threadpool_limits

        w = self.guidance_weight if guidance_weight is None else guidance_weight
        guided = w is not None and float(w) != 1.0
        b, k = features.shape[0], int(n_candidates)
        velocity = self.split_velocity(sampling_lanes() if lanes is None else lanes)
        # One BLAS thread per lane: these matrices are small, and OpenBLAS's extra threads keep
        # spinning after each product, taking the cores from the renders and scoring that follow
        # (measured: scoring 16 renders went from 0.05 to 1.25 s).
        with threadpool_limits(limits=1, user_api="blas"):
            cond = np.repeat(self.encode(features), k, axis=0)
            if guided:
                cond = np.concatenate([cond, np.broadcast_to(self.s["null_cond"], cond.shape)])
            x1 = sample_ode(
                lambda x, t: velocity(x, t, cond),
                np.ascontiguousarray(noise, dtype=np.float32),
                steps=self.steps if steps is None else int(steps),
                method=method or self.method,
                t0=t0,
                guidance_weight=float(w) if guided else None,
            )
        return np.clip((x1 + 1) / 2, 0, 1).reshape(b, k, self.width)
