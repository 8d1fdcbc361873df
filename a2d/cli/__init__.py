"""The ``a2d`` command line. Each command lives in its own module and calls an importable function.

Commands are listed in :data:`COMMAND_MODULES`; plugins add more through ``a2d_register_commands``.
Expected errors (:class:`a2d.errors.A2DError`) print one line to stderr and exit with their
documented :class:`a2d.errors.ExitCode`; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from a2d.errors import A2DError, ExitCode

#: Built-in command modules under ``a2d.cli``; each defines ``register(app)``.
COMMAND_MODULES: tuple[str, ...] = (
    "plugins",
    "generate",
    "predict",
    "train",
    "evaluate",
    "quickstart",
    "devset",
)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _version_callback(value: bool) -> None:
    if value:
        from a2d import __version__, _native

        typer.echo(f"a2d {__version__}")
        typer.echo(_native.describe())
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="a2d",
        help="Audio to DAW: predict real synthesizer settings from a sound.",
        context_settings=CONTEXT_SETTINGS,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        # Help texts are plain sentences: "a2d[ray]" must not be read as rich markup.
        rich_markup_mode=None,
    )

    @app.callback()
    def root(
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                "-V",
                callback=_version_callback,
                is_eager=True,
                help="Print the a2d version and the active native backend, then exit.",
            ),
        ] = False,
    ) -> None:
        """Audio to DAW: predict real synthesizer settings from a sound."""

    for name in COMMAND_MODULES:
        importlib.import_module(f"a2d.cli.{name}").register(app)
    from a2d.plugins import get_plugin_manager

    get_plugin_manager().hook.a2d_register_commands(app=app)
    return app


def error_line(exc: A2DError) -> str:
    return f"error: {exc}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``a2d`` script; returns the exit code."""
    try:
        app = build_app()
        code = app(args=argv, standalone_mode=False, prog_name="a2d")
        if isinstance(code, int):  # click returns typer.Exit(code) instead of raising it here
            return code
    except A2DError as exc:
        print(error_line(exc), file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print(
            "error: interrupted; completed work is kept (re-run the command to resume)",
            file=sys.stderr,
        )
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:  # click's abort (e.g. Ctrl-C at a prompt)
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # usage errors from the (vendored) click parser
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    return 0


def run() -> None:
    sys.exit(main())
