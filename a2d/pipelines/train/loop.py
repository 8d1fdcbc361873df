"""The training loop: :func:`train` turns a :class:`TrainConfig` into checkpoints and logs."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2d.contracts.errors import CheckpointError, ConfigError, DatasetError
from a2d.contracts.model import LossOutput, Predictor
from a2d.contracts.plugins import model_class
from a2d.contracts.spec import ParamSpec
from a2d.pipelines.train import distributed
from a2d.pipelines.train.config import TrainConfig
from a2d.pipelines.train.loader import BatchStream
from a2d.pipelines.train.logs import MetricsLog
from a2d.pipelines.train.schedule import learning_rate
from a2d.pipelines.train.stats import feature_stats
from a2d.pipelines.train.validation import validate
from a2d.storage.atomic import atomic_write, ensure_writable_dir
from a2d.storage.checkpoint import load_checkpoint, make_payload, save_checkpoint
from a2d.storage.config import to_dict
from a2d.storage.dataset import open_dataset


@dataclass
class TrainResult:
    """What a finished run produced.

    :param losses: training loss of every step this run took (resumed runs: from the resume step).
    :param val_cond_gain: how much the sound lowers the validation loss (:func:`validate`).
    :param samples_per_s: training throughput (rows per second, all ranks) over this run.
    :param rank_checksums: parameter checksum per DDP rank at the end (all equal when in sync).
    """

    run_dir: Path
    checkpoint: Path
    best_checkpoint: Path | None
    step: int
    losses: list[float] = field(default_factory=list)
    val_loss: float | None = None
    val_param_mse: float | None = None
    val_cond_gain: float | None = None
    samples_per_s: float = 0.0
    rank_checksums: list[float] = field(default_factory=list)


class _LossModule(nn.Module):
    """Wraps ``model.loss`` in ``forward`` so DistributedDataParallel sees (and syncs) it."""

    def __init__(self, model: Predictor) -> None:
        super().__init__()
        self.model = model
        self.last: LossOutput | None = None

    def forward(self, features: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        self.last = self.model.loss({"features": features, "params": params})
        return self.last.loss


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "train.device is 'cuda' but no CUDA GPU is visible; use --train.device cpu"
        )
    return torch.device(name)


def _open_split(root: Path, split: str) -> Any:
    ds = open_dataset(root, split)
    if split == "train" and len(ds) == 0:
        raise DatasetError(f"the train split of {str(root)!r} is empty; generate more rows")
    return ds


def _input_shape(ds: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in ds.read(0, 1, fields=("mel",))["mel"].shape[1:])


def train(
    config: TrainConfig, *, on_step: Callable[[int, int, dict[str, float]], None] | None = None
) -> TrainResult:
    """Train ``config.model`` on ``config.data``; write checkpoints and logs to ``config.out``.

    :param on_step: called as ``on_step(step, total_steps, metrics)`` after every step on rank 0
        (the CLI drives its progress bar with it; an exception it raises stops training, and the
        last periodic checkpoint is where a resumed run continues).
    """
    with contextlib.ExitStack() as cleanup:
        return _run(config, on_step, cleanup)


def _run(
    config: TrainConfig, on_step: Callable[..., None] | None, cleanup: contextlib.ExitStack
) -> TrainResult:
    run = _Run.start(config, cleanup)
    tc, info = config.train, run.info
    stream = BatchStream(
        config.data, "train", batch_size=tc.batch_size * info.world_size, seed=tc.seed,
        start_step=run.step, workers=config.loader.workers, chunk_rows=config.loader.chunk_rows,
        chunks_per_block=config.loader.chunks_per_block, prefetch=config.loader.prefetch,
    )  # fmt: skip
    log = run.open_log(cleanup) if info.is_main else None
    start_step, losses, val = run.step, [], {}
    t0, rows_done = time.perf_counter(), 0
    batches = iter(stream)
    cleanup.callback(batches.close)  # stop the loader's worker processes before teardown
    while run.step < tc.steps:
        lr, loss_value = run.train_step(next(batches))
        rows_done += tc.batch_size * info.world_size
        losses.append(loss_value)
        if not info.is_main:
            continue
        rate = rows_done / max(1e-9, time.perf_counter() - t0)
        if run.step % max(1, tc.log_every) == 0 or run.step == tc.steps:
            row = {
                "step": run.step, "split": "train", "loss": loss_value, "lr": lr,
                "samples_per_s": rate, "elapsed_s": time.perf_counter() - t0,
            }  # fmt: skip
            log.write({**row, **run.last_metrics()})
        if (tc.val_every and run.step % tc.val_every == 0) or run.step == tc.steps:
            val = run.validate_and_keep_best(log)
        if (tc.checkpoint_every and run.step % tc.checkpoint_every == 0) or run.step == tc.steps:
            run.save(run.last_ckpt, {"loss": loss_value, **val})
        if on_step is not None:
            on_step(run.step, tc.steps, {"loss": loss_value, "samples_per_s": rate, **val})
    elapsed = time.perf_counter() - t0
    checksums = distributed.gather_floats(info, distributed.param_checksum(run.model))
    if info.is_main:
        if run.step == start_step and not run.last_ckpt.exists():
            run.save(run.last_ckpt, {})
        summary = {
            "step": run.step,
            "samples_per_s": rows_done / max(1e-9, elapsed),
            "world_size": info.world_size,
            "rank_checksums": checksums,
            **{f"val_{k}": v for k, v in val.items()},
        }
        atomic_write(run.run_dir / "summary.json", json.dumps(summary, indent=1))
    return TrainResult(
        run_dir=run.run_dir,
        checkpoint=run.last_ckpt,
        best_checkpoint=run.best_ckpt,
        step=run.step,
        losses=losses,
        val_loss=val.get("loss"),
        val_param_mse=val.get("param_mse"),
        val_cond_gain=val.get("cond_gain"),
        samples_per_s=rows_done / max(1e-9, elapsed),
        rank_checksums=checksums,
    )


@dataclass
class _Run:
    """One training run's state: data, model and its normalisation, optimizer, step, best."""

    config: TrainConfig
    device: torch.device
    info: Any
    run_dir: Path
    train_ds: Any
    val_ds: Any
    input_shape: tuple[int, ...]
    model: Predictor
    mean: torch.Tensor
    std: torch.Tensor
    step: int
    optimizer: torch.optim.Optimizer
    step_module: nn.Module
    best: float = float("inf")
    best_ckpt: Path | None = None

    def __post_init__(self) -> None:
        # The normalisation on the training device, for every step and validation.
        self.mean_d, self.std_d = self.mean.to(self.device), self.std.to(self.device)

    @classmethod
    def start(cls, config: TrainConfig, cleanup: contextlib.ExitStack) -> _Run:
        """Open the data, build or resume the model, and set up the optimizer (and DDP)."""
        tc = config.train
        if config.data is None or config.out is None:
            raise ConfigError("training needs a dataset (--data DIR) and a run folder (--out DIR)")
        device = _device(tc.device)
        info = distributed.setup(device)
        cleanup.callback(distributed.teardown, info)
        if info.enabled and device.type == "cuda":
            device = torch.device("cuda", info.local_rank)
            torch.cuda.set_device(device)
        run_dir = Path(config.out)
        train_ds = _open_split(Path(config.data), "train")
        if info.is_main:
            ensure_writable_dir(run_dir)  # before any training that could not be saved
        val_ds = open_dataset(config.data, "val") if "val" in train_ds.manifest.splits else None
        if val_ds is not None and len(val_ds) == 0:
            val_ds = None
        input_shape = _input_shape(train_ds)
        torch.manual_seed(tc.seed)
        if config.resume is not None:
            model, mean, std, step, train_state = _resume(config, train_ds.spec)
        else:
            model_cls = model_class(config.model)
            spec_args = model_cls.spec_args(train_ds.spec, input_shape)
            model = model_cls.build(**{**spec_args, **config.model_args})
            mean, std = feature_stats(train_ds, rows=tc.stats_rows, kind=tc.normalization)
            step, train_state = 0, None
        model.to(device).train()
        step_module: nn.Module = _LossModule(model)
        if tc.compile:
            step_module = torch.compile(step_module)
        if info.enabled:
            step_module = nn.parallel.DistributedDataParallel(step_module)
        optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        best_ckpt = run_dir / "best.pt" if (run_dir / "best.pt").exists() else None
        run = cls(
            config, device, info, run_dir, train_ds, val_ds, input_shape, model,
            mean, std, step, optimizer, step_module, best_ckpt=best_ckpt,
        )  # fmt: skip
        if train_state is not None:
            run.restore(train_state)
        return run

    @property
    def last_ckpt(self) -> Path:
        return self.run_dir / "last.pt"

    def restore(self, ts: Any) -> None:
        """Optimizer, best validation loss and RNG states from a checkpoint's ``train_state``."""
        try:
            self.optimizer.load_state_dict(ts["optimizer"])
            self.best = float(ts.get("best", self.best))
            torch.set_rng_state(ts["rng_torch"])
            if self.device.type == "cuda" and "rng_cuda" in ts:
                torch.cuda.set_rng_state(ts["rng_cuda"], self.device)
        except Exception as exc:  # no or a mistyped training state
            raise CheckpointError(
                f"cannot resume from {str(self.config.resume)!r}: its training state is missing "
                f"or malformed ({type(exc).__name__}); resume from a `last.pt` written by `a2d train`"
            ) from None

    def open_log(self, cleanup: contextlib.ExitStack) -> MetricsLog:
        """Write ``config.json`` and open the metrics log, with a column per metric the model's
        loss reports (probed once on zeros)."""
        atomic_write(self.run_dir / "config.json", json.dumps(to_dict(self.config), indent=1))
        probe = self.model.loss(
            {
                "features": torch.zeros(2, *self.input_shape, device=self.device),
                "params": torch.zeros(2, self.train_ds.spec.width, device=self.device),
            },
            generator=torch.Generator().manual_seed(0),
        )
        log = MetricsLog(self.run_dir, extra=tuple(probe.metrics), start_step=self.step)
        cleanup.callback(log.close)
        return log

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
        """One optimizer step on this rank's slice of ``batch``: ``(learning rate, loss)``."""
        tc, rank = self.config.train, self.info.rank
        lr = learning_rate(
            self.step, lr=tc.lr, min_lr=tc.min_lr, warmup_steps=tc.warmup_steps,
            total_steps=tc.steps,
        )  # fmt: skip
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        lo, hi = rank * tc.batch_size, (rank + 1) * tc.batch_size
        features = (
            batch["mel"][lo:hi].to(self.device, non_blocking=True) - self.mean_d
        ) / self.std_d
        params = batch["params"][lo:hi].to(self.device, non_blocking=True)
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if tc.amp and self.device.type == "cuda"
            else contextlib.nullcontext()
        )
        with autocast:
            loss = self.step_module(features, params)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        self.optimizer.step()
        self.step += 1
        return lr, float(loss.detach())

    def last_metrics(self) -> dict[str, float]:
        """The metrics of the last loss the model computed (through DDP or compile wrappers)."""
        module = self.step_module.module if self.info.enabled else self.step_module
        last = getattr(module, "last", None) or getattr(
            getattr(module, "_orig_mod", None), "last", None
        )
        return dict(last.metrics) if last is not None else {}

    def validate_and_keep_best(self, log: MetricsLog) -> dict[str, float]:
        """Validation metrics (empty without a val split), logged; a new best is saved."""
        if self.val_ds is None:
            return {}
        tc = self.config.train
        val = validate(
            self.model, self.val_ds, self.mean_d, self.std_d,
            rows=tc.val_rows, batch_size=tc.batch_size, sample_steps=tc.val_sample_steps,
            seed=tc.seed + 1, device=self.device,
        )  # fmt: skip
        log.write({"step": self.step, "split": "val", **val})
        if val["loss"] < self.best:
            self.best = val["loss"]
            self.best_ckpt = self.save(self.run_dir / "best.pt", val)
        return val

    def save(self, path: Path, metrics: dict[str, float]) -> Path:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "best": self.best,
            "rng_torch": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        manifest = self.train_ds.manifest.data
        payload = make_payload(
            model=self.model, spec=self.train_ds.spec, render_settings=manifest.get("render", {}),
            mel_settings=manifest.get("mel", {}), mean=self.mean, std=self.std,
            config=to_dict(self.config), step=self.step, metrics=metrics, train_state=state,
        )  # fmt: skip
        return save_checkpoint(path, payload)


def _resume(
    config: TrainConfig, spec: ParamSpec
) -> tuple[Predictor, torch.Tensor, torch.Tensor, int, Any]:
    """The model (rebuilt by :func:`load_checkpoint`), normalisation, step and training state of
    ``config.resume``, after checking it was trained on ``spec`` with ``config.model``."""
    ck = load_checkpoint(config.resume)
    if not ck.spec.same_as(spec):
        raise CheckpointError(
            f"cannot resume: checkpoint {str(config.resume)!r} was trained on spec "
            f"{ck.spec.name!r} ({ck.spec.fingerprint}) but {str(config.data)!r} holds spec "
            f"{spec.name!r} ({spec.fingerprint}); resume on the same dataset"
        )
    if ck.model_name != config.model:
        raise CheckpointError(
            f"cannot resume: checkpoint {str(config.resume)!r} holds model "
            f"{ck.model_name!r}, not {config.model!r}; pass --model {ck.model_name}"
        )
    return ck.model, ck.mean, ck.std, ck.step, ck.payload.get("train_state")
