"""The ``a2d`` command line. Each command lives in its own module and calls an importable function.

Commands are listed in :data:`COMMAND_MODULES`; plugins add more through ``a2d_register_commands``.
Expected errors (:class:`a2d.contracts.errors.A2DError`) print one line to stderr and exit with their
documented :class:`a2d.contracts.errors.ExitCode`; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from a2d.contracts.errors import A2DError, ExitCode

#: Built-in command modules under ``a2d.cli``; each defines ``register(app)``.
COMMAND_MODULES: tuple[str, ...] = (
    "plugins",
    "generate",
    "predict",
    "train",
    "evaluate",
    "quickstart",
    "devset",
    "models",
    "serve",
)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _version_callback(value: bool) -> None:
    if value:
        from a2d._version import __version__
        from a2d.kernels import _native

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
        from a2d.runtime import threads as _threads

        _threads.configure_command()  # before any command imports torch

    for name in COMMAND_MODULES:
        importlib.import_module(f"a2d.cli.{name}").register(app)
    from a2d.contracts.plugins import get_plugin_manager

    get_plugin_manager().hook.a2d_register_commands(app=app)
    return app


#: The line a Ctrl-C (SIGINT) prints; exit code :attr:`ExitCode.INTERRUPTED`.
INTERRUPTED_LINE = "error: interrupted; finished work is kept, run the same command again to resume"


def error_line(exc: A2DError) -> str:
    """``error: <problem>; <fix>`` on one line (a message never spans lines)."""
    text = " ".join(str(exc).split("\n")).strip()
    return f"error: {text}"


def _usage_line(exc: typer.TyperException, argv: list[str]) -> str:
    """One line for a click usage error (click's own is a usage block plus an ``Error:`` line)."""
    message = " ".join(exc.format_message().split()).rstrip(".")  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "a2d"
    if not command.startswith("a2d"):
        command = "a2d"
    return f"error: {message}; see `{command} --help`"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``a2d`` script; returns the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if args and args[0] in ("--version", "-V"):  # answered before the commands and plugins load
            _version_callback(True)
        app = build_app()
        code = app(args=args, standalone_mode=False, prog_name="a2d")
        if isinstance(code, int):  # click returns typer.Exit(code) instead of raising it here
            if code == ExitCode.INTERRUPTED:  # click turned a KeyboardInterrupt into Exit(130)
                print(INTERRUPTED_LINE, file=sys.stderr)
            return code
    except A2DError as exc:
        print(error_line(exc), file=sys.stderr)
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):  # Ctrl-C (click's Abort: at a prompt, or EOF)
        print(INTERRUPTED_LINE, file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.TyperException as exc:  # usage errors from the (vendored) click parser
        if getattr(exc, "ctx", None) is not None and type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # `a2d CMD` alone: the help text
            return int(ExitCode.USAGE)
        if not hasattr(exc, "format_message"):
            raise
        print(_usage_line(exc, args), file=sys.stderr)
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    return 0


def run() -> None:
    sys.exit(main())
