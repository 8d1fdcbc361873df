"""``a2d quickstart``: dataset, tiny model, demo sound, preset and report in one resumable command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from a2d.cli._progress import progress_bar


def register(app: typer.Typer) -> None:
    @app.command("quickstart")
    def quickstart_cmd(
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Folder for everything; re-running reuses it.")
        ] = Path("a2d-quickstart"),
        samples: Annotated[
            int | None, typer.Option(min=16, help="Dataset rows (default: the quickstart's 512).")
        ] = None,
        steps: Annotated[
            int | None, typer.Option(min=1, help="Training steps (default: the quickstart's 250).")
        ] = None,
        candidates: Annotated[
            int,
            typer.Option("--candidates", "-k", min=1, max=256, help="Candidates at prediction."),
        ] = 8,
    ) -> None:
        """Generate a small Vital dataset, train a tiny flow model, and predict a preset for a demo
        sound a2d synthesises itself; prints where the preset and report are."""
        from dataclasses import replace

        from rich.console import Console

        from a2d.quickstart import QuickstartConfig, quickstart

        err = Console(stderr=True)
        cfg = QuickstartConfig(candidates=candidates)
        if samples is not None:
            cfg = replace(cfg, num_samples=samples)
        if steps is not None:
            cfg = replace(cfg, steps=steps)
        with progress_bar(transient=True) as progress:
            task = progress.add_task("train", total=cfg.steps, visible=False)

            def on_step(step: int, total: int, metrics: dict[str, float]) -> None:
                progress.update(task, completed=step, total=total, visible=True)

            result = quickstart(
                out,
                cfg,
                on_stage=lambda msg: progress.console.print(msg, highlight=False),
                on_step=on_step,
            )
        if result.reused:
            err.print(f"reused the finished {' and '.join(result.reused)}", highlight=False)
        p = result.prediction
        typer.echo(f"demo sound: {result.demo}")
        typer.echo(f"checkpoint: {result.checkpoint}")
        typer.echo(f"preset:     {p.preset}")
        typer.echo(f"parameters: {p.params_json}")
        typer.echo(f"render:     {p.audio}")
        typer.echo(f"report:     {p.report}")
