"""``a2d train``: resolve the training config, call :func:`a2d.pipelines.train.loop.train`, show progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from a2d.cli._progress import progress_bar

EXAMPLES = """Examples:

\b
  a2d train --data data/vs --size small --out runs/flow
  a2d train --data data/vs --model feedforward --size tiny --train.steps 500
  a2d train --data data/vs --resume runs/flow/last.pt
"""


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog=EXAMPLES,
    )
    def train_cmd(
        ctx: typer.Context,
        data: Annotated[
            Path,
            typer.Option(
                metavar="DIR",
                help="Dataset folder written by `a2d generate` (train and val splits are used).",
            ),
        ],
        model: Annotated[
            str,
            typer.Option(
                metavar="NAME",
                help="Registered model name: flow or feedforward (see `a2d plugins`).",
            ),
        ] = "flow",
        out: Annotated[
            Path | None,
            typer.Option(
                metavar="DIR", help="Run folder for checkpoints and logs (default: runs/MODEL)."
            ),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                help="YAML config applied on top of the size's config.",
            ),
        ] = None,
        size: Annotated[
            str,
            typer.Option(
                metavar="tiny|small|paper",
                help="Model and training size, from configs/train: tiny (a CPU demo in "
                "minutes), small or paper.",
            ),
        ] = "small",
        preset: Annotated[
            str | None,
            typer.Option(hidden=True, help="Deprecated alias of --size."),
        ] = None,
        resume: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                help="Checkpoint to continue training from exactly.",
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the result as JSON on stdout.")
        ] = False,
    ) -> None:
        """Train a model on a dataset. Extra `--section.key VALUE` options override config values,
        e.g. `--train.steps 500 --models.flow.cond_dim 256`."""
        from a2d.pipelines.train.config import resolve_config
        from a2d.pipelines.train.loop import train
        from a2d.storage.config import parse_overrides

        if preset is not None:
            typer.echo("warning: --preset is deprecated; use --size", err=True)
            size = preset
        cfg = resolve_config(
            preset=size,
            config=config,
            values={
                "model": model,
                "data": str(data),
                "out": str(out or Path("runs") / model),
                "resume": str(resume) if resume else None,
            },
            overrides=parse_overrides(ctx.args),
        )
        bar = progress_bar("loss {task.fields[loss]:.4f}", "{task.fields[rate]:.1f} samples/s")
        task = bar.add_task("train", total=cfg.train.steps, loss=float("nan"), rate=0.0)

        def on_step(step: int, total: int, metrics: dict[str, float]) -> None:
            if not bar.live.is_started:  # shown once training runs, not before setup errors
                bar.start()
            bar.update(task, completed=step, loss=metrics["loss"], rate=metrics["samples_per_s"])

        try:
            result = train(cfg, on_step=on_step)
        finally:
            bar.stop()
        record = {
            "run_dir": str(result.run_dir),
            "checkpoint": str(result.checkpoint),
            "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
            "step": result.step,
            "val_loss": result.val_loss,
            "val_param_mse": result.val_param_mse,
            "val_cond_gain": result.val_cond_gain,
            "samples_per_s": result.samples_per_s,
        }
        if as_json:
            typer.echo(json.dumps(record, indent=2))
        else:
            for key, value in record.items():
                typer.echo(f"{key}: {value}")
