"""Dynamic time warping, batched: a numba kernel when numba is installed (it comes with librosa),
else numpy vectorised over anti-diagonals.

numpy: every cell of one anti-diagonal (``i + j = d``) depends only on the two previous
anti-diagonals, so the dynamic programme runs as ``N + M - 1`` vector steps instead of ``N * M``
scalar ones, and a whole batch of cost matrices advances together. numba: the plain scalar loops,
compiled (about 10x faster than the numpy form; ``benchmarks/bench_metrics.py``). Both take the
classic three steps ((1, 0), (0, 1), (1, 1)) with unit weights, as ``librosa.sequence.dtw`` with its
defaults, and break ties diagonal, vertical, horizontal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class DTWResult:
    """What :func:`dtw` returns.

    :param cost: ``(B,)`` accumulated cost of the optimal path from ``(0, 0)`` to ``(N-1, M-1)``.
    :param length: ``(B,)`` number of cells on that path (between ``max(N, M)`` and ``N + M - 1``).
    """

    cost: np.ndarray
    length: np.ndarray

    @property
    def normalized(self) -> np.ndarray:
        """``(B,)`` mean cost per path step (``cost / length``)."""
        return self.cost / self.length


def dtw(cost: np.ndarray, implementation: Literal["auto", "numba", "numpy"] = "auto") -> DTWResult:
    """Optimal monotone alignment cost of each ``(N, M)`` local-cost matrix.

    :param cost: ``(N, M)`` or ``(B, N, M)`` non-negative local costs (float).
    :param implementation: ``"auto"`` (numba when installed), ``"numba"`` or ``"numpy"``.
    :returns: :class:`DTWResult` with ``(B,)`` arrays (``(1,)`` for a single matrix). Ties between
        steps prefer the diagonal, then the vertical, then the horizontal step (shortest path).
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim == 2:
        c = c[None]
    if c.ndim != 3 or c.shape[1] == 0 or c.shape[2] == 0:
        raise ValueError(f"dtw needs a (N, M) or (B, N, M) cost with N, M >= 1, got {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("dtw cost matrix contains NaN or inf")
    kernel = _numba_kernel() if implementation != "numpy" else None
    if kernel is None and implementation == "numba":
        raise ValueError("dtw implementation 'numba' needs numba; install it or use 'numpy'")
    if kernel is not None:
        total, length = kernel(np.ascontiguousarray(c))
        return DTWResult(cost=total, length=length)
    b, n, m = c.shape
    # acc[:, i + 1, j + 1] is the best cost to reach cell (i, j); row/column 0 is the inf border.
    acc = np.full((b, n + 1, m + 1), np.inf)
    acc[:, 0, 0] = 0.0
    steps = np.zeros((b, n + 1, m + 1), dtype=np.int64)
    for d in range(n + m - 1):
        i = np.arange(max(0, d - m + 1), min(d, n - 1) + 1)
        j = d - i
        diag, up, left = acc[:, i, j], acc[:, i, j + 1], acc[:, i + 1, j]
        choice = np.stack([diag, up, left])  # (3, B, cells); argmin keeps the first on ties
        k = np.argmin(choice, axis=0)
        best = np.take_along_axis(choice, k[None], axis=0)[0]
        prev_len = np.stack([steps[:, i, j], steps[:, i, j + 1], steps[:, i + 1, j]])
        acc[:, i + 1, j + 1] = best + c[:, i, j]
        steps[:, i + 1, j + 1] = np.take_along_axis(prev_len, k[None], axis=0)[0] + 1
    return DTWResult(cost=acc[:, n, m].copy(), length=steps[:, n, m].astype(np.float64))


@cache
def _numba_kernel() -> Any:
    """The compiled kernel ``(B, N, M) -> (cost (B,), length (B,))``, or None without numba."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(cache=True, nogil=True)
    def kernel(c):  # pragma: no cover - compiled
        b, n, m = c.shape
        total, length = np.empty(b), np.empty(b)
        acc = np.empty((n + 1, m + 1))
        steps = np.zeros((n + 1, m + 1), dtype=np.int64)
        for k in range(b):
            acc[:, :] = np.inf
            acc[0, 0] = 0.0
            for i in range(n):
                for j in range(m):
                    best, prev = acc[i, j], steps[i, j]  # diagonal wins ties
                    if acc[i, j + 1] < best:
                        best, prev = acc[i, j + 1], steps[i, j + 1]
                    if acc[i + 1, j] < best:
                        best, prev = acc[i + 1, j], steps[i + 1, j]
                    acc[i + 1, j + 1] = best + c[k, i, j]
                    steps[i + 1, j + 1] = prev + 1
            total[k], length[k] = acc[n, m], float(steps[n, m])
        return total, length

    return kernel


def l1_cost(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairwise L1 distance between frames.

    :param x: ``(B, N, D)`` frames; :param y: ``(B, M, D)`` frames.
    :returns: ``(B, N, M)`` ``sum_d |x[b, i, d] - y[b, j, d]|``.
    """
    return np.abs(x[:, :, None, :] - y[:, None, :, :]).sum(axis=-1)
