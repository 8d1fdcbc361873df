"""Build the retrieval index a shipped model carries (:mod:`a2d.kernels.retrieval`) from the
training split of its dataset: ``a2d models export CKPT --index DATA``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import CheckpointError
from a2d.kernels.retrieval import RetrievalIndex, build_index


def index_from_dataset(
    data: str | Path,
    payload: dict[str, Any],
    *,
    rows: int | None = None,
    components: int = 128,
    seed: int = 0,
    chunk: int = 1024,
) -> tuple[RetrievalIndex, dict[str, Any]]:
    """The index of ``data``'s train split, for the checkpoint ``payload`` (same spec and mel).

    :param rows: keep this many train rows, spread evenly over the split (default: all).
    :returns: the index and its description for the model card.
    """
    from a2d.contracts.spec import ParamSpec
    from a2d.kernels.features import MelSettings
    from a2d.storage.dataset import open_dataset

    train = open_dataset(data, "train")
    spec = ParamSpec.from_json(payload["spec"])
    if train.spec.fingerprint != spec.fingerprint:
        raise CheckpointError(
            f"--index {str(data)!r} holds spec {train.spec.name!r} ({train.spec.fingerprint}), "
            f"the model was trained on {spec.name!r} ({spec.fingerprint}); pass the model's dataset"
        )
    if train.mel_settings != MelSettings.from_dict(payload["mel_settings"]):
        raise CheckpointError(
            f"--index {str(data)!r} has other log-mel settings than the model; pass the model's "
            "dataset"
        )
    n = len(train) if rows is None else min(rows, len(train))
    keep = np.unique(np.linspace(0, len(train) - 1, n).round().astype(np.int64)) if n else []

    def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(train), chunk):
            stop = min(start + chunk, len(train))
            sel = keep[(keep >= start) & (keep < stop)] - start
            if len(sel) == 0:
                continue
            block = train.read(start, stop, fields=("mel", "params"))
            train.check_finite(block, start)
            yield block["mel"][sel], block["params"][sel]

    index = build_index(chunks(), components=components, seed=seed)
    about = {
        "rows": len(index), "of_train_rows": len(train), "components": int(index.keys.shape[1]),
        "bytes": index.nbytes, "features": "log-mel, channel mean, 4-frame mean, PCA, int8",
        "params": "encoded, uint8 (1/255 steps)", "dataset": Path(data).name,
    }  # fmt: skip
    return index, about
