"""A compact nearest-neighbour index of a dataset's sounds, small enough to ship inside a model.

Retrieval from the training data is the strongest simple baseline for sound matching, and on
sounds the model has not seen (real instruments) it proposes starting points the model does not
(docs/results.md). ``a2d predict`` therefore proposes from both: the model's samples and the
training rows nearest to the input. A full scan needs the dataset (gigabytes); this index keeps,
per training row, a few bytes:

- **Features:** the log-mel, averaged over channels and over :data:`POOL` frames
  (:func:`pooled`), projected on its first principal components (fitted on the rows), and stored
  as int8 with one scale per component.
- **Parameters:** the encoded vector, quantised to :data:`LEVELS` steps (uint8). A column with at
  most 128 choices or steps decodes to exactly the stored value; a continuous column moves by at
  most ``1 / 510`` (of its range), which the refine stage then searches around anyway.

Distances are Euclidean in the projected space: the projection keeps the directions along which
the training sounds differ most, so neighbours there are (measured in docs/results.md) nearly the
neighbours of the full pooled log-mel scan that ``a2d evaluate`` uses as its baseline.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: Frames averaged together before projection (the nearest-neighbour baseline's pooling).
POOL = 4
#: Quantisation steps of the stored parameters (uint8).
LEVELS = 255


def pooled(mels: np.ndarray) -> np.ndarray:
    """``(B, C, M, F)`` log-mels -> ``(B, M * (F // POOL))`` float32: mean over channels and over
    each run of :data:`POOL` frames (a trailing partial run is dropped)."""
    mels = np.asarray(mels, dtype=np.float32)
    b, _, m, f = mels.shape
    f4 = f // POOL * POOL
    return mels[..., :f4].mean(axis=1).reshape(b, m, -1, POOL).mean(-1).reshape(b, -1)


@dataclass
class RetrievalIndex:
    """Projected, quantised features and parameters of ``N`` rows.

    :param mean: ``(D,)`` feature mean. :param components: ``(n, D)`` orthonormal projection.
    :param keys: ``(N, n)`` int8 projected features. :param scale: ``(n,)`` their scales.
    :param params: ``(N, width)`` uint8 encoded parameters (``value * LEVELS``, rounded).
    """

    mean: np.ndarray
    components: np.ndarray
    keys: np.ndarray
    scale: np.ndarray
    params: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def width(self) -> int:
        """Encoded parameter width."""
        return int(self.params.shape[1])

    def project(self, features: np.ndarray) -> np.ndarray:
        """``(B, D)`` pooled features -> ``(B, n)`` projected (float32)."""
        x = np.asarray(features, dtype=np.float32) - self.mean
        return x @ self.components.T.astype(np.float32)

    def query(self, mels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows nearest to each of ``(Q, C, M, F)`` log-mels.

        :returns: ``(Q, k)`` row indices, nearest first (ties by row), and their ``(Q, k, width)``
            encoded parameters (float64, dequantised).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = self.project(pooled(mels))
        keys, norms = self._dequantized
        d = (q * q).sum(1)[:, None] - 2.0 * q @ keys.T + norms[None]
        k = min(k, len(keys))
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        order = np.lexsort((part, np.take_along_axis(d, part, 1)), axis=1)
        rows = np.take_along_axis(part, order, 1)
        return rows, self.params[rows].astype(np.float64) / LEVELS

    @functools.cached_property
    def _dequantized(self) -> tuple[np.ndarray, np.ndarray]:
        """Keys as float32 and their squared norms, computed on the first query."""
        keys = self.keys.astype(np.float32) * self.scale
        return keys, (keys * keys).sum(1)

    def to_state(self) -> dict[str, object]:
        """Plain tensors for a checkpoint (loads with ``torch.load(weights_only=True)``)."""
        import torch

        return {
            "kind": "pca_pooled_logmel", "pool": POOL, "levels": LEVELS,
            "mean": torch.from_numpy(self.mean.astype(np.float32)),
            "components": torch.from_numpy(self.components.astype(np.float16)),
            "keys": torch.from_numpy(self.keys), "scale": torch.from_numpy(self.scale),
            "params": torch.from_numpy(self.params),
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, object]) -> RetrievalIndex:
        """The inverse of :meth:`to_state`; a layout this version does not know is a ValueError."""
        if state.get("kind") != "pca_pooled_logmel" or state.get("pool") != POOL:
            raise ValueError(f"unknown retrieval index layout {state.get('kind')!r}")
        if state.get("levels") != LEVELS:
            raise ValueError(f"retrieval index quantised to {state.get('levels')} levels")

        def arr(name: str) -> np.ndarray:
            value = state[name]  # a tensor (torch.load) or an array (a2d.storage.torchfile)
            return value if isinstance(value, np.ndarray) else value.numpy()  # type: ignore[attr-defined]

        return cls(
            mean=arr("mean").astype(np.float32),
            components=arr("components").astype(np.float32),
            keys=arr("keys"), scale=arr("scale").astype(np.float32), params=arr("params"),
        )  # fmt: skip

    @property
    def nbytes(self) -> int:
        """Stored size in bytes (components as float16)."""
        return int(
            self.mean.nbytes + self.components.size * 2 + self.keys.nbytes
            + self.scale.nbytes + self.params.nbytes
        )  # fmt: skip


def quantize_params(params: np.ndarray) -> np.ndarray:
    """Encoded ``[0, 1]`` parameters -> uint8 steps of ``1 / LEVELS``."""
    return np.rint(np.clip(params, 0.0, 1.0) * LEVELS).astype(np.uint8)


def build_index(
    chunks: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    components: int = 128,
    fit_rows: int = 16384,
    seed: int = 0,
) -> RetrievalIndex:
    """Build an index from ``(mel (B, C, M, F), params (B, width))`` chunks (e.g. a train split
    read in order): pooled features of every row are kept (float32, ``D = M * F / POOL`` each),
    the principal components are fitted on up to ``fit_rows`` of them chosen at random (``seed``),
    and every row is projected and quantised.

    :param components: projected dimensions ``n`` (at most the fitted rows and ``D``).
    """
    import torch

    feats, params = [], []
    for mel, par in chunks:
        feats.append(pooled(mel))
        params.append(quantize_params(np.asarray(par, dtype=np.float64)))
    if not feats:
        raise ValueError("no rows to index")
    x = np.concatenate(feats)
    rng = np.random.default_rng(seed)
    fit = x if len(x) <= fit_rows else x[np.sort(rng.choice(len(x), fit_rows, replace=False))]
    mean = fit.mean(axis=0)
    n = int(min(components, len(fit), x.shape[1]))
    centred = torch.from_numpy(fit - mean)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # svd_lowrank draws a random test matrix
    try:
        _, _, v = torch.svd_lowrank(centred, q=min(n + 16, min(centred.shape)), niter=4)
    finally:
        torch.random.set_rng_state(gen_state)
    comps = v[:, :n].T.contiguous().numpy().astype(np.float16).astype(np.float32)
    proj = (x - mean) @ comps.T
    scale = np.maximum(np.abs(proj).max(axis=0), 1e-12).astype(np.float32) / 127.0
    keys = np.clip(np.rint(proj / scale), -127, 127).astype(np.int8)
    return RetrievalIndex(mean.astype(np.float32), comps, keys, scale, np.concatenate(params))
