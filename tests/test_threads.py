"""torch's thread count in a2d processes: A2D_NUM_THREADS, OMP_NUM_THREADS, the free cores, and one
thread in synth workers. Each case runs in a fresh interpreter, because torch reads its threads from
the environment when it is first imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from a2d.contracts.plugins import get_spec
from a2d.contracts.synth import RenderSettings
from a2d.runtime import threads as _threads
from a2d.runtime.synth_pool import SynthPool

# The CLI's root callback runs before any command; `a2d plugins --json` imports torch (the model
# plugins), then the script reports what torch got.
PROBE = """
import json, os, sys
from a2d.cli import main
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["plugins", "--json"])
import torch
print(json.dumps({"code": code, "torch": torch.get_num_threads(),
                  "omp": os.environ.get("OMP_NUM_THREADS"),
                  "wait": os.environ.get("OMP_WAIT_POLICY")}))
"""


def probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "A2D_NUM_THREADS")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a2d_num_threads_sets_torch_threads_for_a_command() -> None:
    got = probe(A2D_NUM_THREADS="1", OMP_NUM_THREADS="2")
    assert (got["code"], got["torch"], got["omp"], got["wait"]) == (0, 1, "1", "PASSIVE")
    if _threads.cores() >= 2:
        assert probe(A2D_NUM_THREADS="2")["torch"] == 2


def test_a_users_omp_num_threads_is_kept() -> None:
    got = probe(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="ACTIVE")
    assert (got["torch"], got["omp"], got["wait"]) == (1, "1", "ACTIVE")


def test_without_a_setting_a_command_takes_the_free_cores() -> None:
    got = probe()
    # The machine's load moves between the two reads: the count is one of the free-core counts.
    assert 1 <= got["torch"] <= _threads.cores()
    assert got["omp"] == str(got["torch"])


def test_free_cores_leave_out_the_busy_ones(monkeypatch) -> None:
    monkeypatch.delenv("A2D_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threads, "cores", lambda: 8)
    for busy, want in [(0, 8), (3, 5), (8, 1), (20, 1)]:
        monkeypatch.setattr(_threads, "busy_cores", lambda b=busy: b)
        assert _threads.command_threads() == want
    assert _threads.busy_cores() >= 0


def test_a_bad_a2d_num_threads_is_one_error_line() -> None:
    clean = {k: v for k, v in os.environ.items() if k != "A2D_NUM_THREADS"}
    proc = subprocess.run(
        [sys.executable, "-c", "from a2d.cli import run; run()", "plugins"], env={**clean, "A2D_NUM_THREADS": "lots"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: A2D_NUM_THREADS='lots' is not a thread count; set an integer >= 0"
    ]


def worker_threads(backend) -> tuple[int, str | None, str | None]:
    import torch

    return (
        torch.get_num_threads(),
        os.environ.get("A2D_NUM_THREADS"),
        os.environ.get("OMP_NUM_THREADS"),
    )


@pytest.mark.skipif(_threads.cores() < 2, reason="one core: a worker's 1 equals the default")
def test_synth_workers_use_one_thread(monkeypatch) -> None:
    monkeypatch.setenv("A2D_NUM_THREADS", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    settings = RenderSettings(sample_rate=22050, duration=0.25)
    with SynthPool(get_spec("vital_simple"), settings, workers=1) as pool:
        assert pool.map(worker_threads, [()]) == [(1, "1", "1")]
