"""Checkpoints loaded for prediction only, without torch where the model allows it.

:func:`load_for_inference` reads the file with :func:`a2d.storage.torchfile.read_torch_file` and
rebuilds the model with its plugin's torch-free sampler (:func:`a2d.contracts.plugins.numpy_sampler`:
the flow model's CNN encoder and vector fields, which every shipped model uses), so ``a2d
predict`` never imports torch (1.5-2.5 s on a 2-core machine). A model without one, or a file
the reader does not cover, loads with torch as before (:func:`a2d.storage.checkpoint.load_checkpoint`);
both answer :meth:`sample` with the same candidates for the same seed.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import A2DError, CheckpointError, CheckpointNotFoundError
from a2d.contracts.plugins import numpy_sampler
from a2d.contracts.spec import ParamSpec
from a2d.storage.checkpoint import (
    Checkpoint,
    check_payload,
    checkpoint_fields,
    load_checkpoint,
    rebuild,
    start_noise,
)
from a2d.storage.torchfile import UnsupportedTorchFile, read_torch_file

#: Set to 1 to load every checkpoint with torch (the reference path).
TORCH_ENV = "A2D_TORCH_INFERENCE"


@dataclass
class NumpyCheckpoint(Checkpoint):
    """A :class:`Checkpoint` whose model is a torch-free sampler and whose ``mean``/``std`` are
    NumPy arrays; prediction takes and returns arrays."""

    @property
    def device(self) -> Any:
        return "cpu"

    def normalize(self, mel: Any) -> np.ndarray:
        mel = np.asarray(mel, dtype=np.float32)
        if tuple(mel.shape[-3:]) != self.input_shape:
            raise CheckpointError(
                f"features have shape {tuple(mel.shape[-3:])} but the model expects "
                f"{self.input_shape}; compute them with the checkpoint's render and mel settings"
            )
        return ((mel - self.mean) / self.std).astype(np.float32)

    def predict(self, mel: Any, n_candidates: int = 1, **kwargs: Any) -> np.ndarray:
        features = self.normalize(mel)
        if features.ndim == 3:
            features = features[None]
        if "noise" not in kwargs:
            raise ValueError("the NumPy sampler needs its noise given (noise=...)")
        return self.model.predict(features, n_candidates=n_candidates, **kwargs)

    def sample(
        self, mel: np.ndarray, k: int, seed: int | list[int], *, starts: np.ndarray | None = None,
        t0: float = 0.0, **options: Any,
    ) -> np.ndarray:  # fmt: skip
        noise = start_noise(self.spec.width, k, seed, starts, t0)
        out = self.predict(mel[None], n_candidates=k, noise=noise, t0=t0, **options)
        return out[0].astype(np.float64)


def load_for_inference(path: str | Path, *, spec: ParamSpec | None = None) -> Checkpoint:
    """The checkpoint at ``path`` for prediction: a :class:`NumpyCheckpoint` when its model has
    a torch-free sampler that covers it (and ``A2D_TORCH_INFERENCE`` is not 1), else
    :func:`load_checkpoint`'s."""
    path = Path(path)
    if os.environ.get(TORCH_ENV) == "1":
        return load_checkpoint(path, spec=spec)
    if not path.is_file():
        raise CheckpointNotFoundError(
            f"checkpoint {str(path)!r} does not exist; pass the path of a .pt file"
        )
    try:
        payload = read_torch_file(path)
    except UnsupportedTorchFile:
        return load_checkpoint(path, spec=spec)
    except Exception:  # a corrupt or foreign file: torch's reader gives the one-line error
        return load_checkpoint(path, spec=spec)
    payload = check_payload(payload, path)
    try:
        cls = numpy_sampler(str(payload["model"]))
    except A2DError:  # an unknown model: torch's path names it in its one-line error
        cls = None
    if cls is None:
        return load_checkpoint(path, spec=spec)
    try:
        model = cls.from_state(payload["model_args"], payload["model_state"])
    except NotImplementedError:
        return load_checkpoint(path, spec=spec)
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return load_checkpoint(path, spec=spec)  # its own error names the problem

    def build() -> NumpyCheckpoint:
        norm = payload["normalization"]
        return NumpyCheckpoint(
            model=model, mean=np.asarray(norm["mean"], np.float32),
            std=np.asarray(norm["std"], np.float32), **checkpoint_fields(payload, path),
        )  # fmt: skip

    return rebuild(build, path, spec)  # type: ignore[no-any-return]
