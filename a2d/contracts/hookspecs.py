"""The hooks through which plugins extend a2d.

Each hook receives a registry and calls ``registry.add(thing)``. Hooks only grow: new keyword
arguments may be added, none are renamed or removed. See ``docs/writing-plugins.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    import typer

    from a2d.contracts.registry import Registry

hookspec = HookspecMarker("a2d")
hookimpl = HookimplMarker("a2d")


@hookspec
def a2d_register_synths(registry: Registry) -> None:
    """Register synth backends.

    :param registry: call ``registry.add(BackendClass)`` for each :class:`a2d.contracts.synth.SynthBackend`
        subclass; its ``name`` attribute is the registered name (e.g. ``"vital"``).
    """


@hookspec
def a2d_register_param_specs(registry: Registry) -> None:
    """Register parameter specs.

    :param registry: call ``registry.add(spec)`` for each :class:`a2d.contracts.spec.ParamSpec`; its ``name``
        (e.g. ``"vital_simple"``) is what ``a2d generate --synth`` takes, and its ``synth`` names the
        backend that renders it.
    """


@hookspec
def a2d_register_models(registry: Registry) -> None:
    """Register model architectures.

    :param registry: call ``registry.add(ModelClass)`` for each :class:`a2d.contracts.model.Predictor`
        subclass; its ``name`` (e.g. ``"flow"``) is what ``a2d train --model`` takes.
    """


@hookspec
def a2d_register_commands(app: typer.Typer) -> None:
    """Add commands to the ``a2d`` command line.

    :param app: the root :class:`typer.Typer`; call ``app.command()(func)`` or
        ``app.add_typer(sub_app, name=...)``. Command names must not clash with built-in ones.
    """
