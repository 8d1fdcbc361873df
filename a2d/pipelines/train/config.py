"""Training configuration: dataclasses, size presets (``configs/train/NAME.yaml``), resolution.

Resolution order: dataclass defaults <- preset file <- ``--config`` file <- command-line values
<- dotted overrides (``--train.batch_size 64``, ``--models.flow.cond_dim 256``). Unknown keys are
:class:`~a2d.contracts.errors.ConfigError` s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from a2d.contracts.errors import ConfigError, ConfigNotFoundError
from a2d.storage._resources import configs_dir
from a2d.storage.config import load_yaml, resolve

#: Where the preset files live (``configs/train`` in a checkout, ``a2d/configs/train`` installed).
PRESET_DIR = configs_dir() / "train"


@dataclass
class TrainSection:
    """Optimisation and bookkeeping.

    :param steps: optimizer steps in total (a resumed run continues up to this number).
    :param batch_size: rows per step, per process (DDP: the global batch is ``world * batch_size``).
    :param lr, min_lr: peak and final learning rate (AdamW, linear warm-up then cosine).
    :param warmup_steps: steps of linear warm-up from 0.
    :param grad_clip: max global gradient norm (0: no clipping).
    :param normalization: feature statistics ``"bin"`` (per channel and mel bin) or ``"element"``
        (per channel, bin and frame, as the reference).
    :param stats_rows: training rows read to estimate the statistics.
    :param val_every: steps between validations (0: only at the end); ``val_rows`` rows are used,
        sampling the flow model with ``val_sample_steps`` ODE steps.
    :param checkpoint_every: steps between periodic checkpoints (``last.pt``; 0: only at the end).
    :param device: ``"auto"`` (cuda if available), ``"cpu"`` or ``"cuda"``.
    :param amp: bf16 autocast on CUDA (ignored on CPU).
    :param compile: ``torch.compile`` the model.
    """

    steps: int = 2000
    batch_size: int = 32
    seed: int = 0
    lr: float = 3e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    normalization: Literal["bin", "element"] = "bin"
    stats_rows: int = 2048
    val_every: int = 500
    val_rows: int = 256
    val_sample_steps: int = 20
    log_every: int = 50
    checkpoint_every: int = 1000
    device: str = "auto"
    amp: bool = True
    compile: bool = False


@dataclass
class LoaderSection:
    """How batches are streamed from the shards (see :mod:`a2d.pipelines.train.loader`).

    :param workers: reader processes (0: read in the training process).
    :param chunk_rows: rows per contiguous read.
    :param chunks_per_block: chunks shuffled together (the shuffle buffer is their product).
    :param prefetch: blocks each worker reads ahead.
    """

    workers: int = 2
    chunk_rows: int = 64
    chunks_per_block: int = 4
    prefetch: int = 2


@dataclass
class TrainConfig:
    """Everything :func:`a2d.pipelines.train.train` needs.

    :param model: registered model name (``flow``, ``feedforward``).
    :param data: dataset folder (``a2d generate --out``); ``train`` and ``val`` splits are used.
    :param out: run folder for checkpoints and logs.
    :param resume: checkpoint to continue from (its model, statistics and state).
    :param preset: name of the preset this config started from (informational).
    :param models: constructor arguments per model name (only the chosen model's are used).
    """

    model: str = "flow"
    data: Path | None = None
    out: Path | None = None
    resume: Path | None = None
    preset: str | None = None
    train: TrainSection = field(default_factory=TrainSection)
    loader: LoaderSection = field(default_factory=LoaderSection)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def model_args(self) -> dict[str, Any]:
        return dict(self.models.get(self.model, {}))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigNotFoundError(
            f"unknown training size {name!r}; known: {', '.join(preset_names()) or 'none'} "
            f"(in {PRESET_DIR}); or pass --config FILE"
        )
    return path


def resolve_config(
    *,
    preset: str | None = None,
    config: str | Path | None = None,
    values: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Build a :class:`TrainConfig` (see the module docstring for the order) through
    :func:`a2d.storage.config.resolve`, the size preset as its base layer."""
    base = [load_yaml(preset_path(preset)), {"preset": preset}] if preset is not None else []
    cfg = resolve(TrainConfig, base=base, path=config, values=values, overrides=overrides)
    for name, args in cfg.models.items():
        if not isinstance(args, dict):
            raise ConfigError(
                f"models.{name} must be a section of constructor arguments, got {args!r}"
            )
    return cfg
