"""``a2d predict``: synth presets for sounds, with an HTML report each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from a2d.cli._help import PlainHelpCommand
from a2d.cli._progress import progress_bar


def register(app: typer.Typer) -> None:
    @app.command("predict", epilog=EXAMPLES, cls=PlainHelpCommand)
    def predict_cmd(
        sounds: Annotated[
            list[Path],
            typer.Argument(
                metavar="SOUND...",
                help="Audio files (wav, flac, ogg, mp3) or folders holding them.",
                show_default=False,
            ),
        ],
        checkpoint: Annotated[
            str | None,
            typer.Option(
                "--checkpoint",
                "-c",
                metavar="FILE|NAME",
                help="A trained model checkpoint (.pt), or the name of a shipped model (see "
                "`a2d models`). Default: the shipped model of --synth (Vital's when not given).",
                show_default=False,
            ),
        ] = None,
        out: Annotated[
            Path,
            typer.Option(
                "--out",
                "-o",
                metavar="DIR",
                help="Folder for the results: one sub-folder per input.",
            ),
        ] = Path("presets"),
        candidates: Annotated[
            int,
            typer.Option(
                "--candidates",
                "-k",
                min=1,
                max=256,
                metavar="K",
                help="Candidates sampled per input (flow models); the best-scoring one is kept.",
            ),
        ] = 16,
        spec: Annotated[
            str | None,
            typer.Option(
                metavar="NAME",
                help="Refuse a checkpoint that was not trained on this parameter spec "
                "(e.g. vital_simple); without --checkpoint, use the shipped model of this spec. "
                "Default: any.",
            ),
        ] = None,
        synth: Annotated[
            str | None,
            typer.Option(
                metavar="NAME",
                help="The synth to match with: vital, dexed or surge (a spec name also works). "
                "Without --checkpoint: its shipped model; with one: refuse a checkpoint for "
                "another synth. Default: the checkpoint's synth, else vital.",
            ),
        ] = None,
        seed: Annotated[
            int, typer.Option(metavar="N", help="Seed of the model's sampling noise.")
        ] = 0,
        workers: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="Synth worker processes rendering the candidates (default: none, one synth "
                "per core in threads of this process for synths that render in parallel, Vital "
                "and Dexed; else one worker per core for several inputs; 0: render in this "
                "process).",
            ),
        ] = None,
        plugin_path: Annotated[
            Path | None,
            typer.Option(
                metavar="PATH",
                help="Path of the synth plugin, for backends that need one (Surge XT).",
            ),
        ] = None,
        refine: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="Renders spent refining the best candidates on the synth (CMA-ES on the "
                "same spectral distance); 0: no refinement (default: the synth's, 64 for Vital "
                "and Surge XT, more for Dexed, whose renders are cheaper).",
            ),
        ] = None,
        steps: Annotated[
            int | None,
            typer.Option(
                min=1,
                metavar="N",
                help="ODE steps of a flow model's sampler (default: the checkpoint's setting).",
            ),
        ] = None,
        solver: Annotated[
            str | None,
            typer.Option(
                metavar="NAME",
                help="ODE solver of a flow model: euler, midpoint, heun or rk4 (default: the "
                "checkpoint's setting).",
            ),
        ] = None,
        neighbours: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="Training rows proposed beside the model's samples: the N nearest to the "
                "sound in the model's retrieval index (default: 8 when the model ships one, as "
                "the shipped models do; 0: the model's samples only).",
            ),
        ] = None,
        edits: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="The N index rows nearest the sound, each carried towards it by the flow "
                "model, proposed too (default: the model's; 8 for the shipped Vital and dexed_fm2 models, 0 "
                "with --neighbours 0; 0: none).",
            ),
        ] = None,
    ) -> None:
        """Predict synth settings for each sound; write preset, parameters, render and report."""
        from rich.console import Console

        from a2d.contracts.plugins import resolve_synth_and_spec
        from a2d.kernels.audio import find_sounds
        from a2d.pipelines.predict import PredictFailure, predict

        synth, spec = resolve_synth_and_spec(synth, spec, need_spec=False)

        err = Console(stderr=True)
        options = {"plugin_path": str(plugin_path)} if plugin_path else None
        paths = find_sounds(sounds)
        with progress_bar(transient=True) as progress:
            task = progress.add_task("predict", total=len(paths))

            def done(path: Path, item: object) -> None:
                if not isinstance(item, PredictFailure):  # failures are listed at the end
                    typer.echo(f"{path}\t{item.preset}\tmss={item.best.mss:.3f}\t{item.report}")
                    plan = json.loads(item.params_json.read_text()).get("pitch_plan")
                    if plan:
                        progress.console.print(f"{path.name}: {plan['message']}", highlight=False)
                progress.advance(task)

            summary = predict(
                paths, checkpoint, out, candidates=candidates, spec=spec, synth=synth, seed=seed,
                synth_options=options, on_done=done, refine=refine, steps=steps, solver=solver,
                neighbours=neighbours, edits=edits, workers=workers,
            )  # fmt: skip
        n_ok, n_bad = len(summary.results), len(summary.failures)
        if n_bad and not n_ok:  # nothing written: the error line(s) alone
            if n_bad > 1:
                for f in summary.failures:
                    typer.echo(f"  failed: {f.error}", err=True)
            first = summary.failures[0].error
            line = first if n_bad == 1 else f"all {n_bad} inputs failed (listed above); fix them"
            typer.echo(f"error: {line}", err=True)
            raise typer.Exit(int(summary.exit_code))
        err.print(f"{n_ok} preset(s) written to {out}; {n_bad} input(s) failed", highlight=False)
        if n_bad:
            for f in summary.failures:
                typer.echo(f"  failed: {f.error}", err=True)
            raise typer.Exit(int(summary.exit_code))


EXAMPLES = """Examples:

\b
  a2d predict my_sound.wav
  a2d predict my_sound.wav --synth dexed --out presets/
  a2d predict sounds/ -c runs/flow/best.pt -o presets/ --candidates 32
"""
