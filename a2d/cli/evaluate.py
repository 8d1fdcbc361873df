"""``a2d evaluate``: parameter and audio metrics of a checkpoint and baselines on held-out data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from a2d.cli._progress import progress_bar
from a2d.contracts.errors import ConfigError, ExitCode

EXAMPLES = """Examples:

\b
  a2d evaluate -c runs/flow/best.pt -d data/vs -o eval/flow
  a2d evaluate -c runs/flow/best.pt -d data/vs -o eval/quick --limit 64 --no-nearest
"""


def register(app: typer.Typer) -> None:
    @app.command("evaluate", epilog=EXAMPLES)
    def evaluate_cmd(
        checkpoint: Annotated[
            Path,
            typer.Option(
                "--checkpoint", "-c", metavar="FILE", help="The model checkpoint to evaluate (.pt)."
            ),
        ],
        out: Annotated[
            Path,
            typer.Option(
                "--out",
                "-o",
                metavar="DIR",
                help="Folder for samples.csv, summary.json, report.html.",
            ),
        ],
        data: Annotated[
            Path | None,
            typer.Option(
                "--data",
                "-d",
                metavar="DIR",
                help="A dataset folder written by `a2d generate` (with --sounds: optional, its "
                "train split gives the nearest-neighbour baseline).",
            ),
        ] = None,
        split: Annotated[
            str,
            typer.Option(
                metavar="train|val|test", help="Which split of the dataset to evaluate on."
            ),
        ] = "test",
        candidates: Annotated[
            int,
            typer.Option(
                "--candidates", "-k", min=1, max=256, metavar="K", help="K for the best-of-K rows."
            ),
        ] = 16,
        limit: Annotated[
            int | None,
            typer.Option(
                min=1,
                metavar="N",
                help="Evaluate only the first N rows of the split (default: all).",
            ),
        ] = None,
        baseline_checkpoint: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                help="A second checkpoint evaluated as a baseline (e.g. feed-forward).",
            ),
        ] = None,
        nearest: Annotated[
            bool,
            typer.Option(
                help="Include the nearest-neighbour baseline (training rows by mel distance)."
            ),
        ] = True,
        random: Annotated[
            bool, typer.Option(help="Include the random-parameters baseline.")
        ] = True,
        seed: Annotated[
            int, typer.Option(metavar="N", help="Seed of model sampling and random baselines.")
        ] = 0,
        batch_size: Annotated[
            int,
            typer.Option(
                min=1,
                metavar="ROWS",
                help="Rows proposed per model call; also the unit of resumable progress.",
            ),
        ] = 8,
        workers: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="Synth worker processes that render and score (default: one per CPU core; "
                "0: render in this process).",
            ),
        ] = None,
        resume: Annotated[
            bool,
            typer.Option(
                "--resume/--overwrite",
                help="Continue an interrupted evaluation in --out (default), or discard it.",
            ),
        ] = True,
        plugin_path: Annotated[
            Path | None,
            typer.Option(
                metavar="PATH",
                help="Path of the synth plugin, for backends that need one (Surge XT).",
            ),
        ] = None,
        sounds: Annotated[
            Path | None,
            typer.Option(
                metavar="DIR",
                help="Evaluate on these real sounds instead (a folder, e.g. from `a2d devset`): "
                "audio metrics only, every method at the same render budget.",
            ),
        ] = None,
        budget: Annotated[
            int,
            typer.Option(
                min=1, metavar="N", help="With --sounds: renders per sound of each search method."
            ),
        ] = 64,
        neighbours: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="With --sounds: index rows `a2d predict` proposes beside the samples "
                "(default: the model's own default).",
            ),
        ] = None,
        edits: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="With --sounds: of those rows, how many `a2d predict` carries towards the "
                "sound by the flow (default: the model's own default). With --data: add the "
                "`edit` method, the flow carrying the N nearest training rows towards each row "
                "(K candidates in all; default: none).",
            ),
        ] = None,
        edit_t0: Annotated[
            float | None,
            typer.Option(
                metavar="T",
                help="The flow time edits start from, in (0, 1) (default: the model's own; "
                "0.85, as `a2d predict`, with --data).",
            ),
        ] = None,
    ) -> None:
        """Score a checkpoint against baselines; print the summary table as JSON on stdout."""
        from rich.console import Console

        from a2d.pipelines.evaluate import evaluate
        from a2d.pipelines.proposers import EDIT_T0

        err = Console(stderr=True)
        if sounds is not None:
            _evaluate_sounds(
                checkpoint, sounds, out, data=data, candidates=candidates, budget=budget,
                seed=seed, limit=limit, plugin_path=plugin_path, neighbours=neighbours,
                edits=edits, edit_t0=edit_t0, workers=(os.cpu_count() or 1) if workers is None else workers,
            )  # fmt: skip
            return
        if data is None:
            raise ConfigError("evaluate needs --data DIR (a dataset) or --sounds DIR (real sounds)")
        with progress_bar(transient=True) as progress:
            task = progress.add_task("evaluate", total=None)
            summary = evaluate(
                checkpoint, data, out, split=split, candidates=candidates, limit=limit,
                baseline_checkpoint=baseline_checkpoint, nearest=nearest, random=random, seed=seed,
                edits=edits or 0, edit_t0=EDIT_T0 if edit_t0 is None else edit_t0,
                workers=(os.cpu_count() or 1) if workers is None else workers, overwrite=not resume,
                batch_size=batch_size,
                synth_options={"plugin_path": str(plugin_path)} if plugin_path else None,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
        table = {
            method: {
                k: {m: e[m] for m in ("mss", "wmfcc", "sot", "rms", "param_mse")}
                for k, e in by_k.items()
            }
            for method, by_k in summary.table.items()
        }
        typer.echo(json.dumps(table, indent=2))
        resumed = f" ({summary.resumed_rows} resumed)" if summary.resumed_rows else ""
        err.print(
            f"{summary.n} rows evaluated{resumed} in {summary.seconds:.1f} s; report: "
            f"{summary.report}",
            highlight=False,
        )


def _evaluate_sounds(checkpoint: Path, sounds: Path, out: Path, **kwargs: object) -> None:
    """``a2d evaluate --sounds``: the summary table on stdout (Markdown), files in ``out``."""
    from a2d.pipelines.evaluate_sounds import evaluate_sounds, markdown_table

    plugin_path = kwargs.pop("plugin_path")
    if int(kwargs["budget"]) < int(kwargs["candidates"]):  # type: ignore[call-overload]
        raise ConfigError(
            f"--budget {kwargs['budget']} is below --candidates {kwargs['candidates']}; "
            "give each method at least K renders"
        )
    with progress_bar(transient=True) as progress:
        task = progress.add_task("evaluate sounds", total=None)
        summary = evaluate_sounds(
            checkpoint, sounds, out, **kwargs,  # type: ignore[arg-type]
            synth_options={"plugin_path": str(plugin_path)} if plugin_path else None,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )  # fmt: skip
    typer.echo(markdown_table(summary.table), nl=False)
    if summary.pitch_accuracy is not None:
        typer.echo(f"pitch within a semitone: {summary.pitch_accuracy:.1%}", err=True)
    typer.echo(
        f"{len(summary.rows)} rows in {summary.seconds:.1f} s: {out / 'sounds.csv'}", err=True
    )
    if summary.failures:
        for line in summary.failures:
            typer.echo(f"failed: {line}", err=True)
        raise typer.Exit(int(ExitCode.PARTIAL))
