"""Start-up: `a2d --help`, `a2d --version` and a command's help load no heavy library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("numpy", "torch", "scipy", "h5py", "librosa", "pedalboard", "vita")

PROBE = """
import contextlib, io, json, sys
from a2d.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[2:])
print(json.dumps({"code": code, "out": out.getvalue(),
                  "heavy": sorted(m for m in sys.argv[1].split(",") if m in sys.modules)}))
"""


def probe(*args: str) -> dict:
    # The example plugin (docs/examples, installed in CI) builds its spec at import, which needs
    # numpy: a third party's choice, so it is left out here.
    env = {**os.environ, "A2D_BLOCK_PLUGINS": "toysynth"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("-V",)])
def test_help_and_version_import_nothing_heavy(args: tuple[str, ...]) -> None:
    got = probe(*args)
    assert got["code"] == 0 and got["heavy"] == []
    assert ("Commands" in got["out"]) if args == ("--help",) else got["out"].startswith("a2d ")


@pytest.mark.parametrize("command", ["predict", "train", "generate", "evaluate"])
def test_a_commands_help_imports_nothing_heavy(command: str) -> None:
    got = probe(command, "--help")
    assert got["code"] == 0 and f"a2d {command}" in got["out"] and got["heavy"] == []


PREDICT_PROBE = """
import json, sys
from a2d.cli import main
code = main(["predict", sys.argv[1], "-o", sys.argv[2], "-k", "2", "--refine", "2"])
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.argv[3].split(",")
                                                 if m in sys.modules)}))
"""


@pytest.mark.parametrize("low", [False, True], ids=["pluck", "bass_transposed"])
def test_predict_loads_no_torch_numba_librosa_or_scipy_stats(tmp_path, low: bool) -> None:
    """``a2d predict`` (shipped model, analysis, mel, edits, refine, report) runs without torch
    (the shipped flow samples in NumPy: torch's import alone is 1.5-2.5 s on 2 cores), without
    librosa and its numba code, whose first JIT compile cost a fresh install 20-30 s on the first
    prediction, and without scipy.stats/signal/optimize (about 2 s of imports per run). The bass
    (A2, below Vital's C3-C5 range) is moved up by octaves first, by a2d's own phase vocoder."""
    from a2d.pipelines.demo import write_demo

    # 48 kHz: the resampler runs too
    wav = write_demo(tmp_path / "pluck.wav", 48000, 1.5, **({"pitch": 45} if low else {}))
    avoid = ("torch", "numba", "librosa", "scipy.stats", "scipy.signal", "scipy.optimize")
    env = {**os.environ, "A2D_BLOCK_PLUGINS": "toysynth"}
    proc = subprocess.run(
        [sys.executable, "-c", PREDICT_PROBE, str(wav), str(tmp_path / "out"), ",".join(avoid)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["code"] == 0 and got["loaded"] == []
    assert list((tmp_path / "out").glob("*/*.vital"))
