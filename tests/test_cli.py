"""The command line: version, errors as one line with documented exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

from a2d import __version__
from a2d.contracts.errors import ExitCode


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


def test_every_help_reads_like_a_command_line_with_defaults_and_examples() -> None:
    import re

    for command in ("plugins", "generate", "predict", "train", "evaluate", "quickstart"):
        proc = run(command, "-h", COLUMNS="100")
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout
        assert not re.search(r"<\w+|\{\w|list\[|int range", text), (command, text)
        if command != "plugins":
            assert "Examples:" in text and f"a2d {command}" in text.split("Examples:")[1]
            assert "default" in text
    predict_help = run("predict", "-h", COLUMNS="100").stdout
    assert "Usage: a2d predict [OPTIONS] SOUND..." in predict_help
    assert "[required]" in predict_help
    generate_help = run("generate", "-h", COLUMNS="100").stdout
    assert "--synth NAME" in generate_help and "--spec NAME" in generate_help
    assert "[default: 256]" in generate_help
    train_help = run("train", "-h", COLUMNS="100").stdout
    assert "--size tiny|small|paper" in train_help and "--preset" not in train_help


def test_one_synth_and_spec_vocabulary() -> None:
    import pytest

    from a2d.contracts.errors import ConfigError, UnknownNameError
    from a2d.contracts.plugins import resolve_synth_and_spec as resolve

    assert resolve("vital", "vital_full") == ("vital", "vital_full")
    assert resolve(None, "vital_simple") == ("vital", "vital_simple")
    assert resolve("vital_simple", None) == ("vital", "vital_simple")  # a spec names its synth
    assert resolve("surge_full", None) == ("surge", "surge_full")  # the design card's command
    assert resolve("vital", None, need_spec=False) == ("vital", None)  # predict: any vital spec
    assert resolve(None, None, need_spec=False) == (None, None)
    with pytest.raises(ConfigError, match="several parameter specs.*--spec"):
        resolve("vital", None)
    with pytest.raises(ConfigError, match="is for synth 'vital', not 'surge'"):
        resolve("surge", "vital_full")
    with pytest.raises(UnknownNameError, match="known synths: .*vital.*known specs"):
        resolve("nope", None)
    with pytest.raises(UnknownNameError, match="vital_simple"):
        resolve(None, "nope")


def test_synth_options_agree_across_commands(tmp_path) -> None:
    # generate and predict both take --synth vital and --spec NAME, and refuse the same way.
    gen = run("generate", "--synth", "vital", "--num-samples", "4", "--out", str(tmp_path / "d"))
    assert gen.returncode == ExitCode.USAGE
    assert gen.stderr.strip().splitlines() == [
        "error: synth 'vital' has several parameter specs (vital_full, vital_simple); "
        "choose one with --spec NAME"
    ]
    bad = run("predict", "x.wav", "-c", "x.pt", "-o", str(tmp_path), "--synth", "nope")
    assert bad.returncode == ExitCode.NOT_FOUND and "known synths" in bad.stderr


def test_train_preset_is_a_deprecated_alias_of_size() -> None:
    proc = run("train", "--data", "nowhere", "--preset", "huge")
    assert proc.returncode == ExitCode.NOT_FOUND  # an unknown named thing, as the README says
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "warning: --preset is deprecated; use --size"
    assert "unknown training size 'huge'" in lines[1]
    size = run("train", "--data", "nowhere", "--size", "huge")
    assert "unknown training size 'huge'" in size.stderr and "deprecated" not in size.stderr


def test_quickstart_prints_paths_relative_to_the_working_directory(tmp_path, monkeypatch) -> None:
    from pathlib import Path

    from a2d.cli.quickstart import _shown

    monkeypatch.chdir(tmp_path)
    assert _shown(tmp_path / "a2d-quickstart" / "demo.wav") == "a2d-quickstart/demo.wav"
    assert _shown(Path("a2d-quickstart/run/last.pt")) == "a2d-quickstart/run/last.pt"
    outside = tmp_path.parent / "elsewhere" / "x.vital"
    assert _shown(outside) == str(outside)


def test_quickstart_folder_is_ignored_by_git() -> None:
    from pathlib import Path

    ignore = Path(__file__).resolve().parents[1] / ".gitignore"
    assert "/a2d-quickstart/" in ignore.read_text().splitlines()
