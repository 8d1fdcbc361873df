"""``a2d quickstart``: dataset, tiny model, demo sound, preset and report in one resumable command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from a2d.cli._progress import progress_bar

EXAMPLES = """Examples:

\b
  a2d quickstart
  a2d quickstart --out /tmp/a2d-demo --steps 500
"""


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter to read and to
    paste), else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def register(app: typer.Typer) -> None:
    @app.command("quickstart", epilog=EXAMPLES)
    def quickstart_cmd(
        out: Annotated[
            Path,
            typer.Option(
                "--out", "-o", metavar="DIR", help="Folder for everything; re-running reuses it."
            ),
        ] = Path("a2d-quickstart"),
        samples: Annotated[
            int | None,
            typer.Option(min=16, metavar="N", help="Dataset rows. [default: 512]"),
        ] = None,
        steps: Annotated[
            int | None, typer.Option(min=1, metavar="N", help="Training steps. [default: 250]")
        ] = None,
        candidates: Annotated[
            int,
            typer.Option(
                "--candidates", "-k", min=1, max=256, metavar="K", help="Candidates at prediction."
            ),
        ] = 8,
    ) -> None:
        """Generate a small Vital dataset, train a tiny flow model, and predict a preset for a demo
        sound a2d synthesises itself; prints where the preset and report are."""
        from dataclasses import replace

        from rich.console import Console

        from a2d.pipelines.quickstart import QuickstartConfig, quickstart

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
        typer.echo(f"demo sound: {_shown(result.demo)}")
        typer.echo(f"checkpoint: {_shown(result.checkpoint)}")
        typer.echo(f"preset:     {_shown(p.preset)}   (load it in Vital: see the report)")
        typer.echo(f"MIDI note:  {_shown(p.midi)}" if p.midi else "MIDI note:  -")
        typer.echo(f"parameters: {_shown(p.params_json)}")
        typer.echo(f"render:     {_shown(p.audio)}")
        typer.echo(f"report:     {_shown(p.report)}")
