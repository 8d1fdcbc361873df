"""The command line: version, errors as one line with documented exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

from a2d import __version__
from a2d.errors import ExitCode


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from a2d.cli import run; run()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_version_names_the_active_native_backend() -> None:
    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"a2d {__version__}"
    assert lines[1].startswith("native backend: ")
    if os.environ.get("A2D_REQUIRE_NATIVE") == "1":
        assert lines[1].startswith("native backend: cpp") or lines[1].startswith(
            "native backend: cuda"
        )


def test_forcing_a_missing_backend_is_one_error_line() -> None:
    proc = run("--version", A2D_IMPLEMENTATION="fortran")
    assert proc.returncode == ExitCode.NATIVE
    assert proc.stderr.strip().splitlines() == [
        "error: A2D_IMPLEMENTATION='fortran' is not one of python, cpp, cuda"
    ]


def test_unknown_command_is_a_usage_error() -> None:
    proc = run("frobnicate")
    assert proc.returncode == ExitCode.USAGE
    assert "No such command" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_commands() -> None:
    proc = run("-h")
    assert proc.returncode == 0
    assert "plugins" in proc.stdout
