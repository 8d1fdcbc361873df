"""Training throughput of one and of two concurrent ``a2d train`` runs: torch's default threads
(one spinning OpenMP thread per core in every run) against a2d's setting (``a2d.runtime.threads``: the free
cores when the command starts, idle threads sleep).

Each run is a real ``a2d train --size tiny`` process (batch 64) on a real vital_simple dataset of
1 s clips made once by the module fixture; a case's figure is the wall time of all its runs, and
``extra_info`` holds every run's ``samples_per_s``. The machine's other load decides how many cores
are free: quote ``uptime`` with the figures.

Run: ``pytest benchmarks/bench_threads.py --benchmark-only``. Under ``--benchmark-disable`` (CI)
each case trains 2 steps once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from a2d.runtime import threads as _threads

SETTINGS = {
    # torch's default: every run starts one thread per core, and they spin while they wait.
    "torch_default": {"A2D_NUM_THREADS": str(_threads.cores()), "OMP_WAIT_POLICY": "ACTIVE"},
    "a2d": {},  # a2d decides (free cores, passive waits)
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from a2d.contracts.synth import RenderSettings
    from a2d.pipelines.generate import GenerateConfig, generate

    out = tmp_path_factory.mktemp("bench_threads") / "data"
    generate(
        GenerateConfig(
            synth="vital_simple", num_samples=128, out=out, workers=0, shard_size=16,
            render=RenderSettings(duration=1.0), store_audio=False,
        )
    )  # fmt: skip
    return out


def _train_runs(data: Path, root: Path, runs: int, steps: int, env: dict[str, str]) -> list[dict]:
    a2d = shutil.which("a2d") or str(Path(sys.executable).with_name("a2d"))
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "A2D_NUM_THREADS")}
    procs = []
    for i in range(runs):
        out = root / f"run{i}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [a2d, "train", "--data", str(data), "--size", "tiny", "--out", str(out),
               "--train.steps", str(steps), "--train.batch_size", "64", "--train.val_every",
               "100000", "--train.checkpoint_every", "100000", "--json"]  # fmt: skip
        procs.append(subprocess.Popen(cmd, env={**clean, **env}, stdout=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        stdout, _ = p.communicate(timeout=1800)
        assert p.returncode == 0, f"a2d train exited {p.returncode}"
        results.append(json.loads(stdout))
    return results


@pytest.mark.parametrize("runs", [1, 2])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_train_throughput(benchmark, dataset: Path, tmp_path: Path, setting: str, runs: int):
    steps = 2 if benchmark.disabled else 80
    results = benchmark.pedantic(
        _train_runs, args=(dataset, tmp_path, runs, steps, SETTINGS[setting]), rounds=1,
        iterations=1,
    )  # fmt: skip
    assert [r["step"] for r in results] == [steps] * runs
    benchmark.extra_info.update(
        setting=setting, runs=runs, steps=steps, batch=64, cores=_threads.cores(),
        samples_per_s=[round(r["samples_per_s"], 1) for r in results],
        load=os.getloadavg()[0],
    )  # fmt: skip
