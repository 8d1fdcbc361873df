"""``a2d serve``: a local web page where a musician drops a sound and takes a preset home."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from a2d.cli._help import PlainHelpCommand


def register(app: typer.Typer) -> None:
    @app.command("serve", epilog=EXAMPLES, cls=PlainHelpCommand)
    def serve_cmd(
        checkpoint: Annotated[
            list[Path] | None,
            typer.Option(
                "--checkpoint",
                "-c",
                metavar="PATH",
                help="A model the page offers besides the shipped ones: a checkpoint (.pt), a "
                "folder of training runs (each RUN/best.pt) or a shipped model's name; repeat for "
                "several.",
            ),
        ] = None,
        host: Annotated[
            str,
            typer.Option(
                metavar="ADDRESS",
                help="Interface to listen on. Anything but loopback needs --allow-remote.",
            ),
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535, metavar="N", help="TCP port.")] = 8000,
        allow_remote: Annotated[
            bool,
            typer.Option(
                "--allow-remote",
                help="Listen on a non-loopback --host: anyone who reaches it can upload sounds "
                "and use this machine's CPU. There is no login.",
            ),
        ] = False,
        candidates: Annotated[
            int,
            typer.Option(
                "--candidates",
                "-k",
                min=1,
                max=256,
                metavar="K",
                help="Candidates sampled per sound (flow models).",
            ),
        ] = 16,
        refine: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="Renders spent refining each sound's match (default: the model's synth's, "
                "as `a2d predict`).",
            ),
        ] = None,
        refine_more: Annotated[
            int,
            typer.Option(min=1, metavar="N", help="Renders of the page's *Refine further* button."),
        ] = 128,
        workers: Annotated[
            int | None,
            typer.Option(
                min=0,
                metavar="N",
                help="Synth worker processes rendering candidates (default: one per CPU core).",
            ),
        ] = None,
        max_upload_mb: Annotated[
            float, typer.Option(min=0.01, metavar="MB", help="Largest upload accepted.")
        ] = 50.0,
        max_seconds: Annotated[
            float,
            typer.Option(min=1.0, metavar="S", help="Longest sound accepted (seconds)."),
        ] = 60.0,
        jobs_dir: Annotated[
            Path | None,
            typer.Option(
                metavar="DIR",
                help="Folder for the jobs' files (default: a temporary folder, deleted at exit).",
            ),
        ] = None,
    ) -> None:
        """Serve a web page (and a JSON API) that turns dropped sounds into presets."""
        from a2d.contracts.errors import ConfigError

        try:
            import fastapi  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError:
            raise ConfigError(
                "`a2d serve` needs FastAPI and uvicorn; install them with pip install 'a2d[serve]'"
            ) from None
        from a2d.serve.app import ServeSettings, run_server
        from a2d.serve.jobs import JobSettings
        from a2d.serve.models import available_models

        loopback = is_loopback(host)
        if not loopback and not allow_remote:
            raise ConfigError(
                f"--host {host} is reachable from other machines and the page has no login; "
                "add --allow-remote to do it anyway, or keep the default 127.0.0.1"
            )
        check_port(host, port)
        models = available_models(checkpoint or [])
        if not models:
            raise ConfigError(
                "no model to serve; pass --checkpoint FILE (or a folder of training runs), e.g. "
                "a2d-quickstart/run/best.pt after `a2d quickstart`"
            )
        settings = ServeSettings(
            models=models,
            jobs=JobSettings(
                candidates=candidates, refine=refine, refine_more=refine_more,
                workers=(os.cpu_count() or 1) if workers is None else workers,
                max_seconds=max_seconds,
            ),
            max_upload_mb=max_upload_mb,
            jobs_dir=jobs_dir,
            loopback_only=loopback,
        )  # fmt: skip
        shown = f"[{host}]" if ":" in host else host
        if not loopback:
            typer.echo(
                f"warning: listening on {host}: anyone who can reach this machine on port {port} "
                "can upload sounds and use its CPU; there is no login",
                err=True,
            )
        for m in models:
            typer.echo(f"model {m.id}: {m.label} ({m.synth}, {m.spec})", err=True)
        typer.echo(f"a2d serve: open http://{shown}:{port}/ (API: /api); Ctrl-C stops", err=True)
        run_server(settings, host, port)


def check_port(host: str, port: int) -> None:
    """One clear line, before the models load, when the address cannot be listened on."""
    import socket

    from a2d.contracts.errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host} port {port} ({exc.strerror or exc}); choose another "
            "--port, or stop the program using it"
        ) from None


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


EXAMPLES = """Examples:

\b
  a2d serve --checkpoint a2d-quickstart/run/best.pt
  a2d serve -c runs/ --port 8080                       # every runs/*/best.pt
  a2d serve -c runs/flow/best.pt --host 0.0.0.0 --allow-remote
"""
