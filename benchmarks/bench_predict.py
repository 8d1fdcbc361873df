"""``a2d predict`` with K = 16 on one 4 s sound, warm (model loaded, synths started): end to end
through :meth:`a2d.pipelines.predict.SoundMatcher.match` (load, analyse, features, sample, render, score,
write; no refinement). Cases, same run:

- ``rk4x100_here``: the old default (RK4 at 100 steps, renders and scoring in this process);
- ``midpoint8_here``: the new sampling default, renders here;
- ``midpoint8_pool2``: the new default with 2 synth workers rendering the candidates.

The model is the ``small`` flow architecture for vital_simple, trained for 2 steps on a 64-row
dataset of 4 s clips made by the fixture (speed does not depend on its weights).

Run: ``pytest benchmarks/bench_predict.py --benchmark-only``. Under ``--benchmark-disable`` (CI)
each case runs once (still K = 16, 2 steps of the sampler).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

CASES = {
    "rk4x100_here": ({"steps": 100, "solver": "rk4"}, 0),
    "midpoint8_here": ({"steps": 8, "solver": "midpoint"}, 0),
    "midpoint8_pool2": ({"steps": 8, "solver": "midpoint"}, 2),
}
MEDIANS: dict[str, float] = {}
_COUNT = itertools.count()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from a2d.contracts.synth import RenderSettings
    from a2d.pipelines.generate import GenerateConfig, generate
    from a2d.pipelines.train import train
    from a2d.pipelines.train.config import resolve_config

    root = tmp_path_factory.mktemp("bench_predict")
    generate(
        GenerateConfig(
            synth="vital_simple", num_samples=64, out=root / "data", workers=0, shard_size=16,
            render=RenderSettings(duration=4.0), store_audio=False,
        )
    )  # fmt: skip
    overrides = {"train.steps": 2, "train.batch_size": 8, "train.val_every": 0,
                 "train.val_rows": 8, "train.stats_rows": 32, "loader.workers": 0}  # fmt: skip
    config = resolve_config(
        preset="small", values={"model": "flow", "data": root / "data", "out": root / "run"},
        overrides=overrides,
    )  # fmt: skip
    return train(config).checkpoint


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Path:
    from a2d.contracts.plugins import create_backend
    from a2d.storage.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint)
    backend = create_backend(ck.spec, ck.render_settings)
    try:
        audio = backend.render(ck.spec.sample(np.random.default_rng(5)))
    finally:
        backend.close()
    path = tmp_path_factory.mktemp("bench_predict_in") / "input.wav"
    sf.write(path, audio.T, ck.render_settings.sample_rate)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_predict_k16_warm(benchmark, checkpoint: Path, sound: Path, tmp_path: Path, case: str):
    from a2d.pipelines.predict import SoundMatcher

    sampling, workers = CASES[case]
    if benchmark.disabled:
        sampling = {**sampling, "steps": 2}
    with SoundMatcher(checkpoint, candidates=16, workers=workers, refine=0, **sampling) as matcher:
        result = benchmark.pedantic(
            lambda: matcher.match(sound, tmp_path / f"out{next(_COUNT)}"), rounds=5,
            warmup_rounds=1,
        )  # fmt: skip
    assert len(result.candidates) == 16 and result.preset.exists()
    if benchmark.enabled:
        MEDIANS[case] = benchmark.stats.stats.median
        info = {"case": case, "workers": workers, **sampling,
                "timings_s": {k: round(v, 4) for k, v in result.timings.items()}}  # fmt: skip
        if "rk4x100_here" in MEDIANS and case != "rk4x100_here":
            info["speedup_vs_rk4x100_here"] = MEDIANS["rk4x100_here"] / MEDIANS[case]
        benchmark.extra_info.update(info)
