"""Feature normalisation statistics from the training split."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

#: Floor of the standard deviation (dB): constant bins are centred but not blown up.
MIN_STD = 1e-2


def feature_stats(
    ds: Any, *, rows: int = 2048, kind: Literal["bin", "element"] = "bin", chunk_rows: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of ``mel`` over up to ``rows`` rows of ``ds`` (evenly spread chunks).

    :returns: ``(mean, std)`` of shape ``(C, n_mels, 1)`` for ``kind="bin"`` (per channel and mel
        bin, over rows and frames) or ``(C, n_mels, frames)`` for ``"element"`` (over rows).
    """
    n = len(ds)
    n_chunks = max(1, min(-(-n // chunk_rows), -(-rows // chunk_rows)))
    starts = np.linspace(0, max(0, n - chunk_rows), n_chunks).astype(int)
    total = total_sq = None
    count = 0
    axes = (0, 3) if kind == "bin" else (0,)
    for s in starts:
        block = ds.read(int(s), int(min(n, s + chunk_rows)), fields=("mel",))
        ds.check_finite(block, int(s))  # NaN statistics would silently poison every step
        mel = block["mel"].astype(np.float64)
        part, part_sq = mel.sum(axis=axes), np.square(mel).sum(axis=axes)
        total = part if total is None else total + part
        total_sq = part_sq if total_sq is None else total_sq + part_sq
        count += mel.shape[0] * (mel.shape[3] if kind == "bin" else 1)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    if kind == "bin":
        mean, std = mean[..., None], std[..., None]
    return torch.from_numpy(mean).float(), torch.from_numpy(np.maximum(std, MIN_STD)).float()
