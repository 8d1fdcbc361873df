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

from a2d.contracts.errors import A2DError, CheckpointError, ConfigError, DatasetError
from a2d.contracts.model import LossOutput, Predictor
from a2d.contracts.plugins import model_class
from a2d.contracts.spec import ParamSpec
from a2d.pipelines.train import distributed
from a2d.pipelines.train.config import TrainConfig
from a2d.pipelines.train.loader import BatchStream
from a2d.pipelines.train.logs import MetricsLog
from a2d.pipelines.train.schedule import learning_rate
from a2d.pipelines.train.stats import feature_stats
from a2d.storage.atomic import atomic_write, ensure_writable_dir
from a2d.storage.checkpoint import make_payload, read_payload, save_checkpoint
from a2d.storage.config import to_dict
from a2d.storage.dataset import open_dataset


@dataclass
class TrainResult:
    """What a finished run produced.

    :param losses: training loss of every step this run took (resumed runs: from the resume step).
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


@torch.no_grad()
def validate(
    model: Predictor,
    ds: Any,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    rows: int,
    batch_size: int,
    sample_steps: int,
    seed: int,
    device: torch.device,
) -> dict[str, float]:
    """Validation loss and parameter error (MSE in [0, 1] units, one candidate per row) on the
    first ``rows`` rows of ``ds``. Uses its own RNG, so training randomness is unaffected."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    n = min(rows, len(ds))
    losses, sq_err, count = [], 0.0, 0
    for start in range(0, n, batch_size):
        part = ds.read(start, min(n, start + batch_size), fields=("mel", "params"))
        features = (torch.from_numpy(part["mel"]).to(device) - mean) / std
        params = torch.from_numpy(part["params"]).to(device)
        losses.append(
            float(model.loss({"features": features, "params": params}, generator=gen).loss)
            * len(params)
        )
        kwargs = {"steps": sample_steps, "generator": gen} if model.stochastic else {}
        pred = model.predict(features, n_candidates=1, **kwargs)[:, 0]
        sq_err += float((pred.float() - params).pow(2).sum())
        count += params.numel()
    model.train()
    return {"loss": sum(losses) / max(1, n), "param_mse": sq_err / max(1, count)}


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
    tc, lc = config.train, config.loader
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
    spec: ParamSpec = train_ds.spec
    val_ds = open_dataset(config.data, "val") if "val" in train_ds.manifest.splits else None
    if val_ds is not None and len(val_ds) == 0:
        val_ds = None
    input_shape = _input_shape(train_ds)

    torch.manual_seed(tc.seed)
    payload: dict[str, Any] | None = None
    if config.resume is not None:
        payload = read_payload(config.resume)
        try:
            ckpt_spec = ParamSpec.from_json(payload["spec"])
            if not ckpt_spec.same_as(spec):
                raise CheckpointError(
                    f"cannot resume: checkpoint {str(config.resume)!r} was trained on spec "
                    f"{ckpt_spec.name!r} ({ckpt_spec.fingerprint}) but {str(config.data)!r} holds spec "
                    f"{spec.name!r} ({spec.fingerprint}); resume on the same dataset"
                )
            if payload["model"] != config.model:
                raise CheckpointError(
                    f"cannot resume: checkpoint {str(config.resume)!r} holds model "
                    f"{payload['model']!r}, not {config.model!r}; pass --model {payload['model']}"
                )
            model = model_class(payload["model"]).build(**payload["model_args"])
            model.load_state_dict(payload["model_state"])
            mean, std = payload["normalization"]["mean"], payload["normalization"]["std"]
            step = int(payload["step"])
        except A2DError:
            raise
        except Exception as exc:  # a payload with missing or mistyped entries
            raise CheckpointError(
                f"cannot resume from {str(config.resume)!r}: the checkpoint is malformed "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "resume from another checkpoint of the run"
            ) from None
    else:
        cls = model_class(config.model)
        model = cls.build(**{**cls.spec_args(spec, input_shape), **config.model_args})
        mean, std = feature_stats(train_ds, rows=tc.stats_rows, kind=tc.normalization)
        step = 0
    model.to(device).train()
    mean_d, std_d = mean.to(device), std.to(device)
    step_module: nn.Module = _LossModule(model)
    if tc.compile:
        step_module = torch.compile(step_module)
    if info.enabled:
        step_module = nn.parallel.DistributedDataParallel(step_module)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    best = float("inf")
    if payload is not None:
        try:
            ts = payload["train_state"]
            optimizer.load_state_dict(ts["optimizer"])
            best = float(ts.get("best", best))
            torch.set_rng_state(ts["rng_torch"])
            if device.type == "cuda" and "rng_cuda" in ts:
                torch.cuda.set_rng_state(ts["rng_cuda"], device)
        except Exception as exc:  # no or a mistyped training state
            raise CheckpointError(
                f"cannot resume from {str(config.resume)!r}: its training state is missing or "
                f"malformed ({type(exc).__name__}); resume from a `last.pt` written by `a2d train`"
            ) from None

    resolved = to_dict(config)

    def save(path: Path, metrics: dict[str, float]) -> Path:
        state = {
            "optimizer": optimizer.state_dict(),
            "best": best,
            "rng_torch": torch.get_rng_state(),
        }
        if device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(device)
        return save_checkpoint(
            path,
            make_payload(
                model=model,
                spec=spec,
                render_settings=train_ds.manifest.data.get("render", {}),
                mel_settings=train_ds.manifest.data.get("mel", {}),
                mean=mean,
                std=std,
                config=resolved,
                step=step,
                metrics=metrics,
                train_state=state,
            ),
        )

    def run_validation() -> dict[str, float]:
        if val_ds is None:
            return {}
        return validate(
            model,
            val_ds,
            mean_d,
            std_d,
            rows=tc.val_rows,
            batch_size=tc.batch_size,
            sample_steps=tc.val_sample_steps,
            seed=tc.seed + 1,
            device=device,
        )

    stream = BatchStream(
        config.data,
        "train",
        batch_size=tc.batch_size * info.world_size,
        seed=tc.seed,
        start_step=step,
        workers=lc.workers,
        chunk_rows=lc.chunk_rows,
        chunks_per_block=lc.chunks_per_block,
        prefetch=lc.prefetch,
    )
    log = None
    if info.is_main:
        atomic_write(run_dir / "config.json", json.dumps(resolved, indent=1))
        probe = model.loss(
            {
                "features": torch.zeros(2, *input_shape, device=device),
                "params": torch.zeros(2, spec.width, device=device),
            },
            generator=torch.Generator().manual_seed(0),
        )
        log = MetricsLog(run_dir, extra=tuple(probe.metrics), start_step=step)
        cleanup.callback(log.close)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if tc.amp and device.type == "cuda"
        else contextlib.nullcontext()
    )
    losses: list[float] = []
    val: dict[str, float] = {}
    t0, rows_done = time.perf_counter(), 0
    lo, hi = info.rank * tc.batch_size, (info.rank + 1) * tc.batch_size
    last_ckpt = run_dir / "last.pt"
    best_ckpt: Path | None = run_dir / "best.pt" if (run_dir / "best.pt").exists() else None
    batches = iter(stream)
    cleanup.callback(batches.close)  # stop the loader's worker processes before teardown
    while step < tc.steps:
        batch = next(batches)
        lr = learning_rate(
            step, lr=tc.lr, min_lr=tc.min_lr, warmup_steps=tc.warmup_steps, total_steps=tc.steps
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        features = (batch["mel"][lo:hi].to(device, non_blocking=True) - mean_d) / std_d
        params = batch["params"][lo:hi].to(device, non_blocking=True)
        with autocast:
            loss = step_module(features, params)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        optimizer.step()
        step += 1
        rows_done += tc.batch_size * info.world_size
        loss_value = float(loss.detach())
        losses.append(loss_value)
        if not info.is_main:
            continue
        metrics = step_module.module if info.enabled else step_module
        metrics = getattr(metrics, "last", None) or getattr(
            getattr(metrics, "_orig_mod", None), "last", None
        )
        extra = dict(metrics.metrics) if metrics is not None else {}
        rate = rows_done / max(1e-9, time.perf_counter() - t0)
        if step % max(1, tc.log_every) == 0 or step == tc.steps:
            log.write(
                {
                    "step": step,
                    "split": "train",
                    "loss": loss_value,
                    "lr": lr,
                    "samples_per_s": rate,
                    "elapsed_s": time.perf_counter() - t0,
                    **extra,
                }
            )
        if (tc.val_every and step % tc.val_every == 0) or step == tc.steps:
            val = run_validation()
            if val:
                log.write({"step": step, "split": "val", **val})
                if val["loss"] < best:
                    best = val["loss"]
                    best_ckpt = save(run_dir / "best.pt", val)
        if (tc.checkpoint_every and step % tc.checkpoint_every == 0) or step == tc.steps:
            save(last_ckpt, {"loss": loss_value, **val})
        if on_step is not None:
            on_step(step, tc.steps, {"loss": loss_value, "samples_per_s": rate, **val})
    elapsed = time.perf_counter() - t0
    checksums = distributed.gather_floats(info, distributed.param_checksum(model))
    if info.is_main:
        if step == int(payload["step"] if payload else 0) and not last_ckpt.exists():
            save(last_ckpt, {})
        summary = {
            "step": step,
            "samples_per_s": rows_done / max(1e-9, elapsed),
            "world_size": info.world_size,
            "rank_checksums": checksums,
            **{f"val_{k}": v for k, v in val.items()},
        }
        atomic_write(run_dir / "summary.json", json.dumps(summary, indent=1))
    return TrainResult(
        run_dir=run_dir,
        checkpoint=last_ckpt,
        best_checkpoint=best_ckpt,
        step=step,
        losses=losses,
        val_loss=val.get("loss"),
        val_param_mse=val.get("param_mse"),
        samples_per_s=rows_done / max(1e-9, elapsed),
        rank_checksums=checksums,
    )
