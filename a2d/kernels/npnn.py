"""Network layers in NumPy, for inference without importing torch.

Each function computes what the torch module of the same name computes in eval mode, in float32
(reductions in float64 where torch's CPU kernels accumulate more precisely): ``linear`` is
``nn.Linear``, ``conv2d_3x3`` is ``nn.Conv2d(kernel_size=3, padding=1)``, ``group_norm`` and
``layer_norm`` the norms (eps 1e-5), ``gelu`` the exact (erf) GELU (``a2d._core.gelu``, with
this module's NumPy erf as its reference), ``silu``, ``max_pool2`` and
``avg_pool`` with ``ceil_mode=True``, ``segment_pool`` the adaptive average and max pooling over
time, ``attention`` is ``F.scaled_dot_product_attention`` without a
mask. ``tests/test_npnn.py`` checks every one against torch (and whole models in
``tests/test_npflow.py``). Weights are the arrays of a state dict, as
:func:`a2d.storage.torchfile.read_torch_file` returns them.
"""

from __future__ import annotations

import numpy as np

from a2d.kernels import _native

__all__ = [
    "attention", "avg_pool", "conv2d_3x3", "erf", "gelu", "group_norm", "layer_norm", "linear",
    "max_pool2", "segment_pool", "silu",
]  # fmt: skip

#: Abramowitz and Stegun 7.1.26: ``erf(z) = 1 - t (a1 + t (a2 + ...)) exp(-z^2)`` with
#: ``t = 1 / (1 + p z)`` for ``z >= 0``; absolute error below 1.5e-7 (float32's own is 6e-8).
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise in float32 (absolute error below 6e-7)."""
    x = np.asarray(x, dtype=np.float32)
    z = np.abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(_AS_P) * z)
    poly = np.float32(_AS_A[4]) * t
    for c in reversed(_AS_A[:4]):
        poly += np.float32(c)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z
    return np.copysign(np.float32(1.0) - poly, x)


def gelu(x: np.ndarray, implementation: str | None = None) -> np.ndarray:
    """``x * Phi(x)`` (torch's default, exact GELU) in float32: ``a2d._core.gelu`` (vectorised),
    or this NumPy reference (``implementation="python"``); both use the erf of torch's own
    vectorised kernel (Abramowitz and Stegun 7.1.26), within 5e-7 of the exact GELU times
    ``max(1, |x|)``; :func:`a2d.kernels._native.select` picks."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if _native.select(implementation) == "cpp":
        return _native.core().gelu(x)  # type: ignore[no-any-return]
    return (np.float32(0.5) * x * (np.float32(1.0) + erf(x * np.float32(1 / np.sqrt(2))))).astype(
        np.float32
    )


def silu(x: np.ndarray) -> np.ndarray:
    return (x / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x (..., in) @ weight (out, in).T + bias``."""
    y = np.matmul(x.reshape(-1, x.shape[-1]), weight.T).reshape(*x.shape[:-1], weight.shape[0])
    return y + bias if bias is not None else y


def layer_norm(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Over the last axis, without affine parameters (float32, two passes, as torch's kernel)."""
    x = np.asarray(x, dtype=np.float32)
    centred = x - x.mean(-1, keepdims=True)
    var = np.square(centred).mean(-1, keepdims=True)
    centred *= 1.0 / np.sqrt(var + np.float32(eps))
    return centred


def group_norm(
    x: np.ndarray, groups: int, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """``nn.GroupNorm(groups, C)`` on ``x (B, C, H, W)``."""
    b, c = x.shape[:2]
    g = x.reshape(b, groups, -1).astype(np.float64)
    mean = g.mean(-1, keepdims=True)
    var = ((g - mean) ** 2).mean(-1, keepdims=True)
    y = ((g - mean) / np.sqrt(var + eps)).reshape(x.shape).astype(np.float32)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return y * weight.reshape(shape) + bias.reshape(shape)


def conv2d_3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``x (B, Cin, H, W)``, ``weight (Cout, Cin, 3, 3)`` -> ``(B, Cout, H, W)`` (padding 1)."""
    b, cin, h, w = x.shape
    padded = np.zeros((b, cin, h + 2, w + 2), dtype=np.float32)
    padded[:, :, 1:-1, 1:-1] = x
    cols = np.empty((b, cin, 3, 3, h, w), dtype=np.float32)
    for i in range(3):
        for j in range(3):
            cols[:, :, i, j] = padded[:, :, i : i + h, j : j + w]
    flat = cols.reshape(b, cin * 9, h * w)
    y = np.matmul(weight.reshape(weight.shape[0], -1), flat)
    return (y + bias[:, None]).reshape(b, -1, h, w)


def _pad_to(x: np.ndarray, k: int | tuple[int, int], fill: float) -> np.ndarray:
    kh, kw = (k, k) if isinstance(k, int) else k
    h, w = x.shape[-2:]
    ph, pw = -h % kh, -w % kw
    if not (ph or pw):
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)], constant_values=fill)


def max_pool2(x: np.ndarray) -> np.ndarray:
    """``nn.MaxPool2d(2, ceil_mode=True)`` on ``(..., H, W)``."""
    p = _pad_to(x, 2, -np.inf)
    h, w = p.shape[-2:]
    return p.reshape(*p.shape[:-2], h // 2, 2, w // 2, 2).max(axis=(-3, -1))


def avg_pool(x: np.ndarray, k: int | tuple[int, int]) -> np.ndarray:
    """``nn.AvgPool2d(k, ceil_mode=True)`` on ``(..., H, W)``, ``k`` an int or ``(kh, kw)``: a
    window cut by the edge averages only the inputs it covers."""
    kh, kw = (k, k) if isinstance(k, int) else (int(k[0]), int(k[1]))
    h, w = x.shape[-2:]
    p = _pad_to(x, (kh, kw), 0.0)
    ph, pw = p.shape[-2:]
    sums = p.reshape(*p.shape[:-2], ph // kh, kh, pw // kw, kw).sum(axis=(-3, -1), dtype=np.float64)
    rows = np.minimum(kh, h - np.arange(0, h, kh))
    cols = np.minimum(kw, w - np.arange(0, w, kw))
    return (sums / (rows[:, None] * cols[None, :])).astype(np.float32)


def segment_pool(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and max of ``(..., W)`` over ``n`` segments of the last axis, as
    ``F.adaptive_avg_pool1d`` / ``adaptive_max_pool1d`` cut them (segment ``i`` spans
    ``floor(i W / n)`` to ``ceil((i + 1) W / n)``): two ``(..., n)`` arrays."""
    w = x.shape[-1]
    means, maxes = [], []
    for i in range(n):
        seg = x[..., (i * w) // n : -((-(i + 1) * w) // n)]
        means.append(seg.mean(-1, dtype=np.float64).astype(np.float32))
        maxes.append(seg.max(-1))
    return np.stack(means, -1), np.stack(maxes, -1)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Softmax attention ``(B, H, L, d)`` x3 -> ``(B, H, L, d)``, scaled by ``1 / sqrt(d)``."""
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * np.float32(1.0 / np.sqrt(q.shape[-1]))
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(-1, keepdims=True)
    return np.matmul(weights, v)
