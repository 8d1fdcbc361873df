"""``a2d models``: the pretrained models shipped in the package, and ``a2d models export``, which
turns a training run's checkpoint into one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from a2d.cli._help import PlainHelpCommand

EXAMPLES = """Examples:

\b
  a2d models
  a2d models --json
  a2d models export runs/flow/best.pt --out my_model.pt --card card.yaml --evaluation test=eval/
"""


def _best_of_k(methods: dict[str, Any], k: Any, *names: str) -> float | None:
    """Best-of-K MSS of the first of ``names`` in an evaluation's methods (both layouts:
    ``a2d evaluate --data`` keys K as ``best-of-K``; ``--sounds`` names ``NAME_best_of_K``)."""
    for name in names:
        entry = methods.get(name) or {}
        for key in (f"best-of-{k}", str(k)):
            if isinstance(entry.get(key), dict) and "mss" in entry[key]:
                return float(entry[key]["mss"])
        flat = methods.get(f"{name}_best_of_{k}") or {}
        if "mss" in flat:
            return float(flat["mss"])
    return None


def _headline(card: dict[str, Any]) -> str:
    """The card's best-of-K MSS, model against nearest neighbour, per evaluation (short text)."""
    parts = []
    for label, ev in (card.get("evaluations") or {}).items():
        methods, k = ev.get("methods") or {}, ev.get("candidates")
        model = _best_of_k(methods, k, "flow", "feedforward", "model")
        nearest = _best_of_k(methods, k, "nearest")
        if model is not None:
            versus = f" (NN {nearest:.2f})" if nearest is not None else ""
            parts.append(f"{label} {model:.2f}{versus}")
    return "\n".join(parts) or "-"


def list_models() -> list[dict[str, Any]]:
    """One record per shipped model (what ``a2d models --json`` prints)."""
    from a2d.storage.pretrained import shipped_models

    return [
        {
            "name": m.name,
            "synth": m.synth,
            "spec": m.spec,
            "model": m.model,
            "default": m.default,
            "steps": m.step,
            "size_mb": round(m.size_bytes / 1e6, 2),
            "path": str(m.path),
            "card": m.card,
        }
        for m in shipped_models()
    ]


def _read_card(card: Path | None) -> dict[str, Any]:
    """The ``--card`` file's mapping ({} without one); one-line ConfigError when unreadable."""
    from a2d.contracts.errors import ConfigError

    if card is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(card.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read the card {str(card)!r} ({type(exc).__name__}); pass a YAML file"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"the card {str(card)!r} is not a mapping; write key: value lines")
    return data


def _read_evaluations(items: list[str]) -> dict[str, Any]:
    """``LABEL=DIR`` options -> ``{label: DIR/summary.json content}``."""
    from a2d.contracts.errors import ConfigError

    evaluations = {}
    for item in items:
        label, sep, folder = item.partition("=")
        summary = Path(folder) / "summary.json"
        if not sep or not label or not summary.is_file():
            raise ConfigError(
                f"--evaluation {item!r} is not LABEL=DIR with DIR/summary.json; pass the "
                "--out folder of a finished `a2d evaluate`"
            )
        evaluations[label] = json.loads(summary.read_text())
    return evaluations


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(
        help="List the pretrained models shipped with a2d (`a2d predict` uses the default one of "
        "the chosen synth when no --checkpoint is given).",
        invoke_without_command=True,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode=None,
    )

    @models_app.callback(epilog=EXAMPLES)
    def models_cmd(
        ctx: typer.Context,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print machine-readable JSON (cards included).")
        ] = False,
    ) -> None:
        """List the pretrained models shipped with a2d: name, synth, spec, size and scores."""
        if ctx.invoked_subcommand is not None:
            return
        records = list_models()
        if as_json:
            typer.echo(json.dumps(records, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="a2d shipped models (predict --checkpoint NAME)")
        for col in ("name", "synth", "spec", "model", "steps", "MB"):  # shown whole
            table.add_column(col, no_wrap=True)
        table.add_column("best-of-K MSS, dB (nearest neighbour)", no_wrap=True)
        table.add_column("default", no_wrap=True)
        for r in records:
            table.add_row(
                r["name"], r["synth"], r["spec"], r["model"], str(r["steps"]),
                f"{r['size_mb']:.1f}", _headline(r["card"]), "yes" if r["default"] else "",
            )  # fmt: skip
        Console(width=None if sys.stdout.isatty() else 120).print(table)
        if not records:
            typer.echo("no models shipped in this installation", err=True)

    @models_app.command("export", cls=PlainHelpCommand)
    def export_cmd(
        checkpoint: Annotated[
            Path,
            typer.Argument(metavar="CHECKPOINT", help="A checkpoint written by `a2d train`."),
        ],
        out: Annotated[
            Path, typer.Option("--out", "-o", metavar="FILE", help="The model file to write (.pt).")
        ],
        card: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                help="YAML or JSON card (name, data, commands, machine, limits) stored in the model.",
            ),
        ] = None,
        evaluation: Annotated[
            list[str] | None,
            typer.Option(
                metavar="LABEL=DIR",
                help="An `a2d evaluate --out DIR` folder whose summary goes into the card under "
                "LABEL (repeatable), e.g. test=eval/test dev=eval/dev.",
            ),
        ] = None,
        half: Annotated[
            bool, typer.Option("--half", help="Store the weights as float16 (half the size).")
        ] = False,
        steps: Annotated[
            int | None,
            typer.Option(min=1, metavar="N", help="New default ODE steps of a flow model."),
        ] = None,
        solver: Annotated[
            str | None,
            typer.Option(
                metavar="NAME",
                help="New default ODE solver of a flow model: euler, midpoint, heun or rk4.",
            ),
        ] = None,
        guidance: Annotated[
            float | None,
            typer.Option(
                min=0.0,
                metavar="W",
                help="New default guidance weight of a flow model (1: the conditional field "
                "alone; higher follows the input more).",
            ),
        ] = None,
        index: Annotated[
            Path | None,
            typer.Option(
                metavar="DATA",
                help="Ship a retrieval index of this dataset's train split (the model's data): "
                "`a2d predict` then proposes the nearest training rows beside the model's samples.",
            ),
        ] = None,
        index_rows: Annotated[
            int | None,
            typer.Option(
                min=1, metavar="N", help="Index N train rows, evenly spread (default: all)."
            ),
        ] = None,
        neighbours: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="Index rows `a2d predict` proposes by default (8 if unset).",
            ),
        ] = None,
        edits: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="Of those rows, how many the flow carries towards the input by default "
                "(8 if unset).",
            ),
        ] = None,
        edit_t0: Annotated[
            float | None,
            typer.Option(
                min=0.0,
                max=1.0,
                metavar="T",
                help="The flow time those edits start from (0.85 if unset; nearer 1: nearer "
                "the retrieved rows).",
            ),
        ] = None,
    ) -> None:
        """Write a deployable model from a training checkpoint: weights, spec, settings and a card;
        no optimizer state. Shipped models are written this way into a2d/storage/pretrained/."""
        from a2d.contracts.errors import ConfigError
        from a2d.storage.pretrained import export_model

        card_data, evaluations = _read_card(card), _read_evaluations(evaluation or [])
        if solver is not None and solver not in ("euler", "midpoint", "heun", "rk4"):
            raise ConfigError(f"--solver must be euler, midpoint, heun or rk4, got {solver!r}")
        given = (("steps", steps), ("method", solver), ("guidance_weight", guidance))
        sampling = {k: v for k, v in given if v is not None}
        built = None
        if index is not None:
            from a2d.storage.checkpoint import read_payload
            from a2d.storage.pretrained.index import index_from_dataset

            built = index_from_dataset(index, read_payload(checkpoint), rows=index_rows)
        path = export_model(
            checkpoint, out, card=card_data, evaluations=evaluations, half=half,
            sampling=sampling, index=built, neighbours=neighbours, edits=edits, edit_t0=edit_t0,
        )  # fmt: skip
        typer.echo(f"{path}\t{path.stat().st_size / 1e6:.2f} MB")

    app.add_typer(models_app, name="models")
