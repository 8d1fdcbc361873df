"""The flow ODE sampler: integrate dx/dt = v(x, t) from t0 to t1 on a uniform grid.

``sample_ode(velocity, x0, steps=100, method="rk4")`` runs Euler, midpoint, Heun or classic RK4.
With ``guidance_weight=w`` (classifier-free guidance) the velocity is called once per stage on the
stacked batch ``[x; x]`` of ``2B`` rows (first ``B`` conditional, last ``B`` unconditional: the
callback decides what that means) and ``v = (1 - w) * v_uncond + w * v_cond``.

Implementations (``a2d.kernels._native.select``): ``cpp`` runs the time grid, stages, guidance combination
and all state updates in C++ (``a2d._core.ode_sample``) and calls back into Python only for the
velocity; ``python`` is the pure-PyTorch reference loop; ``cuda`` (device tensors) is the same
torch loop on the device: its state updates are torch ops, which launch the device kernels.

``x0`` may also be a float32 NumPy array, with a velocity that takes and returns NumPy arrays (the
torch-free sampler of shipped models, :mod:`a2d_flow.numpy_model`): ``cpp`` runs the same C++ loop
on it, ``python`` the same reference loop in NumPy; this module imports torch only for tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from a2d.contracts.errors import ConfigError
from a2d.kernels import _native

if TYPE_CHECKING:
    import torch

__all__ = ["METHODS", "sample_ode"]

Velocity = Callable[[Any, Any], Any]

#: Explicit Runge-Kutta tableaus (a: stage inputs, b: final weights, c: stage times), the same
#: numbers as csrc/include/a2d/ode.h.
_TABLEAUS: dict[str, tuple[list[list[float]], list[float], list[float]]] = {
    "euler": ([[]], [1.0], [0.0]),
    "midpoint": ([[], [0.5]], [0.0, 1.0], [0.0, 0.5]),
    "heun": ([[], [1.0]], [0.5, 0.5], [0.0, 1.0]),
    "rk4": (
        [[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]],
        [1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
        [0.0, 0.5, 0.5, 1.0],
    ),
}
METHODS: tuple[str, ...] = tuple(_TABLEAUS)


def _f32(value: float) -> np.float32:
    return np.float32(value)


def _check_velocity(v: object, rows: int, dim: int, kind: str = "tensor") -> Any:
    """``v`` if it is a float32 ``kind`` ("tensor" or "array") of shape ``(rows, dim)``, else
    one ConfigError line naming what came back."""
    if kind == "array":
        ok_type, is_f32 = isinstance(v, np.ndarray), lambda x: x.dtype == np.float32
    else:
        import torch

        ok_type, is_f32 = isinstance(v, torch.Tensor), lambda x: x.dtype == torch.float32
    if not ok_type or not is_f32(v) or tuple(v.shape) != (rows, dim):  # type: ignore[attr-defined]
        got = f"{v.dtype} {tuple(v.shape)}" if ok_type else type(v).__name__  # type: ignore[attr-defined]
        raise ConfigError(
            f"velocity must return a float32 {kind} of shape ({rows}, {dim}), got {got}; "
            "check the callback's output layer"
        )
    return v


def sample_ode(
    velocity: Velocity,
    x0: Any,
    *,
    steps: int = 100,
    method: str = "rk4",
    t0: float = 0.0,
    t1: float = 1.0,
    guidance_weight: float | None = None,
    implementation: str | None = None,
) -> Any:
    """Integrate ``x0`` along ``velocity`` and return the state at ``t1``.

    :param velocity: ``velocity(x, t) -> v`` with ``x`` ``(R, D)`` float32, ``t`` ``(R,)``
        float32 and ``v`` ``(R, D)`` float32 (``R = B``, or ``2B`` with guidance). The ``cpp``
        loop reuses the ``x``/``t`` buffers between calls: do not keep references to them.
    :param x0: ``(B, D)`` float32 initial state: a tensor (CPU for ``cpp``, CUDA for ``cuda``), or
        a NumPy array (``cpp`` or ``python``; the velocity then takes and returns arrays).
    :param steps: uniform steps from ``t0`` to ``t1`` (>= 1).
    :param method: ``euler``, ``midpoint``, ``heun`` or ``rk4``.
    :param guidance_weight: classifier-free guidance weight ``w``, or None for no guidance.
    :param implementation: ``python``, ``cpp`` or ``cuda`` (default: ``a2d.kernels._native.select``).
    :returns: ``(B, D)`` float32 state at ``t1``, of ``x0``'s kind and device (a new one).
    """
    if method not in _TABLEAUS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if int(steps) != steps or steps < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    w = None if guidance_weight is None else float(guidance_weight)
    if isinstance(x0, np.ndarray):
        if x0.ndim != 2 or x0.dtype != np.float32:
            raise ConfigError(
                f"x0 must be a float32 array of shape (B, D), got {x0.dtype} {x0.shape}"
            )
        choice = _native.select(implementation, on_gpu=False)
        if choice == "cuda":
            raise ConfigError("implementation 'cuda' needs a CUDA tensor, not a NumPy array")
        sampler = _sample_cpp_numpy if choice == "cpp" else _sample_numpy
        return sampler(velocity, x0, int(steps), method, float(t0), float(t1), w)
    import torch

    if not isinstance(x0, torch.Tensor) or x0.ndim != 2 or x0.dtype != torch.float32:
        got = f"{x0.dtype} {tuple(x0.shape)}" if isinstance(x0, torch.Tensor) else type(x0).__name__
        raise ConfigError(f"x0 must be a float32 tensor or array of shape (B, D), got {got}")
    choice = _native.select(implementation, on_gpu=x0.is_cuda)
    if choice == "cpp" and x0.is_cuda:
        raise ConfigError("implementation 'cpp' needs x0 on the CPU; use 'cuda' or move x0")
    if choice == "cuda" and not x0.is_cuda:
        raise ConfigError("implementation 'cuda' needs x0 on a CUDA device; use 'cpp' or move x0")
    if choice == "cpp":
        return _sample_cpp(velocity, x0, int(steps), method, float(t0), float(t1), w)
    return _sample_torch(velocity, x0, int(steps), method, float(t0), float(t1), w)


def _check_array(v: object, rows: int, dim: int) -> np.ndarray:
    return _check_velocity(v, rows, dim, "array")  # type: ignore[no-any-return]


def _sample_cpp_numpy(
    velocity: Velocity, x0: np.ndarray, steps: int, method: str, t0: float, t1: float,
    w: float | None,
) -> np.ndarray:  # fmt: skip
    """The C++ loop on NumPy arrays (the velocity takes and returns arrays)."""
    rows, dim = x0.shape
    call_rows = rows if w is None else 2 * rows
    x = np.array(x0, dtype=np.float32, order="C")
    xin = np.empty((call_rows, dim), dtype=np.float32)
    tin = np.empty((call_rows,), dtype=np.float32)

    def call() -> np.ndarray:
        return np.ascontiguousarray(_check_array(velocity(xin, tin), call_rows, dim))

    _native.core().ode_sample(call, x, xin, tin, method, steps, t0, t1, w, 1)
    return x


def _sample_numpy(
    velocity: Velocity, x0: np.ndarray, steps: int, method: str, t0: float, t1: float,
    w: float | None,
) -> np.ndarray:  # fmt: skip
    """The reference loop in NumPy (the same float32 arithmetic and order as the torch loop)."""
    a, b, c = _TABLEAUS[method]
    rows, dim = x0.shape
    call_rows = rows if w is None else 2 * rows
    h = _f32((t1 - t0) / steps)
    x = np.array(x0, dtype=np.float32)
    ks: list[np.ndarray] = []
    for i in range(steps):
        ks.clear()
        for s in range(len(b)):
            xs = x
            for j, coef in enumerate(a[s]):
                if coef != 0.0:
                    xs = xs + np.float32(h * _f32(coef)) * ks[j]
            t = _f32(t0 + (i + c[s]) * ((t1 - t0) / steps))
            if w is None:
                ks.append(_check_array(velocity(xs, np.full(rows, t, np.float32)), rows, dim))
            else:
                v = velocity(np.concatenate([xs, xs]), np.full(call_rows, t, np.float32))
                v = _check_array(v, call_rows, dim)
                ks.append(_f32(1.0 - w) * v[rows:] + _f32(w) * v[:rows])
        for s, coef in enumerate(b):
            if coef != 0.0:
                x = x + np.float32(h * _f32(coef)) * ks[s]
    return x


def _sample_cpp(
    velocity: Velocity,
    x0: torch.Tensor,
    steps: int,
    method: str,
    t0: float,
    t1: float,
    w: float | None,
) -> torch.Tensor:
    import torch

    rows, dim = x0.shape
    call_rows = rows if w is None else 2 * rows
    x = x0.detach().clone(memory_format=torch.contiguous_format)
    xin = torch.empty((call_rows, dim), dtype=torch.float32)
    tin = torch.empty((call_rows,), dtype=torch.float32)

    def call() -> np.ndarray:
        v = _check_velocity(velocity(xin, tin), call_rows, dim)
        if v.device.type != "cpu":
            raise ConfigError("velocity returned a CUDA tensor for CPU x; keep it on the CPU")
        return v.detach().contiguous().numpy()

    # State updates run on this thread: they are memory-bound axpys, and worker threads would only
    # compete with torch's intra-op threads, which keep spinning after the velocity call (measured:
    # at batch 1024 x 300 two update threads made the loop ~20 % slower than the PyTorch loop, one
    # thread makes it faster).
    _native.core().ode_sample(
        call, x.numpy(), xin.numpy(), tin.numpy(), method, steps, t0, t1, w, 1
    )
    return x


def _sample_torch(
    velocity: Velocity,
    x0: torch.Tensor,
    steps: int,
    method: str,
    t0: float,
    t1: float,
    w: float | None,
) -> torch.Tensor:
    """The reference loop (same float32 arithmetic and order as the C++ loop)."""
    import torch

    a, b, c = _TABLEAUS[method]
    rows, dim = x0.shape
    call_rows = rows if w is None else 2 * rows
    h = _f32((t1 - t0) / steps)
    x = x0.detach().clone()
    ks: list[torch.Tensor] = []
    for i in range(steps):
        ks.clear()
        for s in range(len(b)):
            xs = x
            for j, coef in enumerate(a[s]):
                if coef != 0.0:
                    xs = xs + float(h * _f32(coef)) * ks[j]
            t = float(_f32(t0 + (i + c[s]) * ((t1 - t0) / steps)))
            if w is None:
                v = _check_velocity(velocity(xs, x.new_full((rows,), t)), call_rows, dim)
                ks.append(v.detach())
            else:
                v = _check_velocity(
                    velocity(torch.cat([xs, xs]), x.new_full((call_rows,), t)), call_rows, dim
                )
                v = v.detach()
                ks.append(float(_f32(1.0 - w)) * v[rows:] + float(_f32(w)) * v[:rows])
        for s, coef in enumerate(b):
            if coef != 0.0:
                x = x + float(h * _f32(coef)) * ks[s]
    return x
