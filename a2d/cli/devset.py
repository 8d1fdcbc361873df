"""``a2d devset``: render the out-of-domain dev set of real instrument sounds (fluidsynth)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("devset")
    def devset_cmd(
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Folder for the wavs, MIDI files and manifest.")
        ],
        soundfont: Annotated[
            str,
            typer.Option(
                help="Soundfont: timgm6mb or opl3 (the Debian/Ubuntu packages), or a .sf2 path."
            ),
        ] = "timgm6mb",
        overwrite: Annotated[
            bool, typer.Option(help="Replace a dev set already in --out.")
        ] = False,
    ) -> None:
        """Render 50 real instrument sounds (GM programs, pitches, lengths) with fluidsynth."""
        import json

        from a2d.pipelines.devset import build_devset

        manifest = build_devset(out, soundfont, overwrite=overwrite)
        n = len(json.loads(manifest.read_text())["sounds"])
        typer.echo(str(manifest))
        typer.echo(f"{n} sounds written to {out}", err=True)
