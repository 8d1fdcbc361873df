"""The plugin: the hooks that register the model, and a command, with a2d.

Registration stays cheap (``a2d plugins``, ``a2d --help`` do not import torch): the registry holds
a stand-in whose ``load()`` imports the model class; a2d calls it when the model is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import a2d


class ToyMLPEntry:
    """Registry stand-in for :class:`a2d_toymodel.model.ToyMLP`."""

    name = "toymlp"
    stochastic = False

    @staticmethod
    def load() -> Any:
        from a2d_toymodel.model import ToyMLP

        return ToyMLP


@a2d.hookimpl
def a2d_register_models(registry):
    registry.add(ToyMLPEntry)


@a2d.hookimpl
def a2d_register_commands(app):
    @app.command("toymlp-info")
    def toymlp_info(checkpoint: Path) -> None:
        """Describe the toymlp model in CHECKPOINT: its size and how long it trained."""
        import typer

        from a2d.contracts.errors import CheckpointError
        from a2d.storage.checkpoint import load_checkpoint

        ck = load_checkpoint(checkpoint)  # a missing or broken file: a2d's own one-line error
        if ck.model_name != ToyMLPEntry.name:
            # An A2DError subclass: the CLI prints it as one line and exits with its code.
            raise CheckpointError(
                f"{str(checkpoint)!r} holds model {ck.model_name!r}, not toymlp; pass a "
                "checkpoint trained with --model toymlp"
            )
        size = sum(p.numel() for p in ck.model.parameters())
        hidden = ck.model.net[0].out_features
        typer.echo(f"toymlp: {size} parameters, hidden {hidden}, trained {ck.step} steps")
