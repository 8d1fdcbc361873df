"""``a2d generate``: parse options, call :func:`a2d.pipelines.generate.generate`, show progress and a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from a2d.cli._progress import progress_bar

_HELP = {
    "synth": "Synth to sample: vital or surge; a spec name (vital_simple, surge_full) also "
    "works and names both. Required (or --spec, or a --config that sets it).",
    "spec": "Parameter spec to sample: vital_simple, vital_full, surge_simple, surge_full, or "
    "one a plugin adds (see `a2d plugins`). Needed when the synth has several.",
    "num_samples": "Number of rows (accepted renders) in the dataset. Required (or --config).",
    "out": "Dataset folder (created if missing). Required (or --config).",
    "workers": "Worker processes, one synth each (0: render in this process). [default: 1]",
    "seed": "Base seed: row r's patch depends only on (seed, r). [default: 0]",
    "min_loudness": "Loudness gate in LUFS (ITU BS.1770); quieter renders are redrawn. "
    "[default: -55]",
    "shard_size": "Rows per shard file (unit of parallel work and of crash loss). [default: 256]",
    "config": "YAML config (configs/generate/*.yaml); command-line options override it.",
    "plugin_path": "Synth plugin binary for VST3 backends, e.g. the Surge XT .vst3 folder "
    "(default: the standard VST3 folders).",
    "resume": "Continue a matching dataset in --out, or delete it first. [default: --resume]",
    "shard_index": "With --num-shards: write only shards k with k % num_shards == shard_index. "
    "[default: 0]",
    "num_shards": "Split the shards among this many independent jobs (SLURM arrays, machines). "
    "[default: 1]",
    "executor": "Run workers as local processes or as Ray tasks (needs a2d[ray]). [default: local]",
    "ray_address": "Ray cluster address (default: start a local Ray instance).",
    "duration": "Clip length in seconds. [default: 4.0]",
    "as_json": "Print the summary as JSON.",
}

EXAMPLES = """Examples:

\b
  a2d generate --synth vital --spec vital_simple --num-samples 100000 --out data/vs --workers 8
  a2d generate --synth surge_full --num-samples 10000 --out data/sf
  a2d generate --config configs/generate/smoke.yaml --out data/smoke --mel.n_mels 64
"""


def _progress_bar() -> tuple[Any, Any]:
    bar = progress_bar("{task.fields[rate]:.2f} rows/s", "rejected {task.fields[reject]:.0%}")
    return bar, bar.add_task("generating", total=None, rate=0.0, reject=0.0)


def register(app: typer.Typer) -> None:
    @app.command(
        "generate",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog=EXAMPLES,
    )
    def generate_cmd(
        ctx: typer.Context,
        synth: Annotated[str | None, typer.Option(metavar="NAME", help=_HELP["synth"])] = None,
        spec: Annotated[str | None, typer.Option(metavar="NAME", help=_HELP["spec"])] = None,
        num_samples: Annotated[
            int | None, typer.Option(metavar="N", help=_HELP["num_samples"])
        ] = None,
        out: Annotated[Path | None, typer.Option(metavar="DIR", help=_HELP["out"])] = None,
        workers: Annotated[int | None, typer.Option(metavar="N", help=_HELP["workers"])] = None,
        seed: Annotated[int | None, typer.Option(metavar="N", help=_HELP["seed"])] = None,
        min_loudness: Annotated[
            float | None, typer.Option(metavar="LUFS", help=_HELP["min_loudness"])
        ] = None,
        shard_size: Annotated[
            int | None, typer.Option(metavar="ROWS", help=_HELP["shard_size"])
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(metavar="FILE", help=_HELP["config"]),
        ] = None,
        plugin_path: Annotated[
            str | None, typer.Option(metavar="PATH", help=_HELP["plugin_path"])
        ] = None,
        resume: Annotated[
            bool | None, typer.Option("--resume/--overwrite", help=_HELP["resume"])
        ] = None,
        shard_index: Annotated[
            int | None, typer.Option(metavar="K", help=_HELP["shard_index"])
        ] = None,
        num_shards: Annotated[
            int | None, typer.Option(metavar="N", help=_HELP["num_shards"])
        ] = None,
        executor: Annotated[
            str | None, typer.Option(metavar="local|ray", help=_HELP["executor"])
        ] = None,
        ray_address: Annotated[
            str | None, typer.Option(metavar="ADDRESS", help=_HELP["ray_address"])
        ] = None,
        duration: Annotated[
            float | None, typer.Option(metavar="SECONDS", help=_HELP["duration"])
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help=_HELP["as_json"])] = False,
    ) -> None:
        """Render random patches of a synth into a sharded, resumable HDF5 dataset. Extra
        `--section.key VALUE` options override config values, e.g. `--mel.n_mels 64
        --render.sample_rate 22050 --compression lzf`."""
        from a2d.contracts.plugins import resolve_synth_and_spec
        from a2d.pipelines.generate import GenerateConfig, Progress, generate
        from a2d.storage.config import parse_overrides, resolve

        if synth is not None or spec is not None:  # else the --config file names the spec
            synth = resolve_synth_and_spec(synth, spec)[1]

        values = {
            "synth": synth, "num_samples": num_samples, "out": out, "workers": workers,
            "seed": seed, "min_loudness": min_loudness, "shard_size": shard_size,
            "plugin_path": plugin_path, "resume": resume, "shard_index": shard_index,
            "num_shards": num_shards, "executor": executor, "ray_address": ray_address,
            "render.duration": duration,
        }  # fmt: skip
        cfg = resolve(
            GenerateConfig, path=config, values=values, overrides=parse_overrides(ctx.args)
        )
        bar, task = _progress_bar()
        start: dict[str, float] = {}

        def on_progress(p: Progress) -> None:
            import time

            now = time.perf_counter()
            if "t" not in start:  # start the bar only once work starts: errors print alone
                bar.start()
            start.setdefault("t", now)
            start.setdefault("rows", p.rows_done)
            dt = now - start["t"]
            rate = (p.rows_done - start["rows"]) / dt if dt > 0 else 0.0
            reject = p.rejected / p.attempts if p.attempts else 0.0
            bar.update(task, total=p.rows_total, completed=p.rows_done, rate=rate, reject=reject)

        try:
            summary = generate(cfg, progress=on_progress)
        finally:
            bar.stop()
        if as_json:
            typer.echo(json.dumps(summary.to_dict(), indent=2))
            return
        typer.echo(
            f"{summary.out}: {summary.num_rows} rows in {summary.shards_total} shards "
            f"({summary.rows_written} rendered now, {summary.rows_existing} already there); "
            f"{summary.rows_per_second:.2f} rows/s with {summary.workers} worker(s); "
            f"rejected {summary.rejected} of {summary.attempts} draws "
            f"({summary.rejection_rate:.1%}, {summary.prechecked} by the cheap pre-check)"
        )
