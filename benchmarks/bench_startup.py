"""Start-up of a fresh process: ``a2d --help`` and ``a2d --version`` against a bare interpreter
(their floor), and what ``a2d predict`` imports before it starts work against ``import torch``
(the floor of any command that runs a model).

Run: ``pytest benchmarks/bench_startup.py --benchmark-only``. Under ``--benchmark-disable`` (CI)
each case runs once.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PY = sys.executable
CLI = "from a2d.cli import run; run()"
CASES = {
    "python_bare": [PY, "-c", "pass"],
    "a2d_version": [PY, "-c", CLI, "--version"],
    "a2d_help": [PY, "-c", CLI, "--help"],
    "import_torch": [PY, "-c", "import torch"],
    "import_predict": [PY, "-c", "import a2d.pipelines.predict, a2d.cli.predict"],
}


@pytest.mark.parametrize("case", list(CASES))
def test_startup(benchmark, case: str) -> None:
    env = {**os.environ, "PYTHONSAFEPATH": "1"}

    def run() -> int:
        return subprocess.run(CASES[case], env=env, capture_output=True, timeout=300).returncode

    assert benchmark.pedantic(run, rounds=5, warmup_rounds=1) == 0
    benchmark.extra_info.update(case=case, load=os.getloadavg()[0])
