"""``a2d quickstart``: presets and reports for two demo sounds with the shipped model, in seconds;
with ``--train``, dataset, tiny model, preset and report in one resumable command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from a2d.cli._progress import progress_bar

EXAMPLES = """Examples:

\b
  a2d quickstart
  a2d quickstart --train
  a2d quickstart --train --out /tmp/a2d-demo --steps 500
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
        train: Annotated[
            bool,
            typer.Option(
                "--train",
                help="Generate a small dataset and train a tiny model of your own (a few minutes) "
                "instead of using the shipped model.",
            ),
        ] = False,
        samples: Annotated[
            int | None,
            typer.Option(min=16, metavar="N", help="With --train: dataset rows. [default: 512]"),
        ] = None,
        steps: Annotated[
            int | None,
            typer.Option(min=1, metavar="N", help="With --train: training steps. [default: 250]"),
        ] = None,
        candidates: Annotated[
            int,
            typer.Option(
                "--candidates",
                "-k",
                min=1,
                max=256,
                metavar="K",
                help="With --train: candidates at prediction.",
            ),
        ] = 8,
    ) -> None:
        """Predict Vital presets for two demo sounds a2d synthesises itself, with the shipped
        model (seconds); with --train, generate a small dataset and train a tiny model first.
        Prints where the presets and reports are."""
        from dataclasses import replace

        from rich.console import Console

        from a2d.contracts.errors import ConfigError
        from a2d.pipelines.quickstart import QuickstartConfig, quickstart

        if not train and (samples is not None or steps is not None):
            raise ConfigError("--samples and --steps size the training; add --train")
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
                train=train,
                on_stage=lambda msg: progress.console.print(msg, highlight=False),
                on_step=on_step,
            )
        if result.reused:
            err.print(f"reused the finished {' and '.join(result.reused)}", highlight=False)
        model = _shown(result.checkpoint) if train else result.checkpoint.stem + " (shipped)"
        typer.echo(f"model:      {model}")
        for p in result.predictions:
            typer.echo(f"sound:      {_shown(p.sound)}")
            typer.echo(f"  preset:     {_shown(p.preset)}   (load it in Vital: see the report)")
            typer.echo(f"  MIDI note:  {_shown(p.midi)}" if p.midi else "  MIDI note:  -")
            typer.echo(f"  parameters: {_shown(p.params_json)}")
            typer.echo(f"  render:     {_shown(p.audio)}")
            typer.echo(f"  report:     {_shown(p.report)}")
