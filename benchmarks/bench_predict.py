"""``a2d predict`` with K = 16 on one 4 s sound, warm (model loaded, synths started): end to end
through :meth:`a2d.pipelines.predict.SoundMatcher.match` (load, analyse, features, sample, render, score,
write; no refinement). Cases, same run:

- ``rk4x100_here``: the old default (RK4 at 100 steps, renders and scoring in this process);
- ``midpoint8_here``: the new sampling default, renders here;
- ``midpoint8_pool2``: the new default with 2 synth workers rendering the candidates;
- ``midpoint8_threads2``: 2 synths rendering in threads of this process (Vital releases the GIL):
  ``a2d predict``'s default for one input on a free 2-core machine.

Every case after the first records its speed-up against ``rk4x100_here`` and against
``midpoint8_here`` (one synth, the strongest in-process baseline) in the same run.

The model is the shipped vital_simple model (``a2d predict``'s default), the input the 4 s demo
pluck; no index rows, so that every case renders the model's 16 samples and nothing else.

Run: ``pytest benchmarks/bench_predict.py --benchmark-only``. Under ``--benchmark-disable`` (CI)
each case runs once (still K = 16, 2 steps of the sampler).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

CASES = {  # sampling, worker processes, render threads
    "rk4x100_here": ({"steps": 100, "solver": "rk4"}, 0, 1),
    "midpoint8_here": ({"steps": 8, "solver": "midpoint"}, 0, 1),
    "midpoint8_pool2": ({"steps": 8, "solver": "midpoint"}, 2, 1),
    "midpoint8_threads2": ({"steps": 8, "solver": "midpoint"}, 0, 2),
}
MEDIANS: dict[str, float] = {}
_COUNT = itertools.count()


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    from a2d.storage.pretrained import resolve_checkpoint

    return Path(resolve_checkpoint(None))  # the shipped vital_simple model: real candidates


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from a2d.pipelines.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("bench_predict_in") / "pluck.wav", 44100, 4.0)


@pytest.mark.parametrize("case", list(CASES))
def test_predict_k16_warm(benchmark, checkpoint: Path, sound: Path, tmp_path: Path, case: str):
    from a2d.pipelines.predict import SoundMatcher

    sampling, workers, threads = CASES[case]
    if benchmark.disabled:
        sampling = {**sampling, "steps": 2}
    with SoundMatcher(
        checkpoint,
        candidates=16,
        workers=workers,
        threads=threads,
        refine=0,
        neighbours=0,
        **sampling,
    ) as matcher:
        result = benchmark.pedantic(
            lambda: matcher.match(sound, tmp_path / f"out{next(_COUNT)}"), rounds=5,
            warmup_rounds=1,
        )  # fmt: skip
    assert len(result.candidates) == 16 and result.preset.exists()
    if benchmark.enabled:
        MEDIANS[case] = benchmark.stats.stats.median
        info = {"case": case, "workers": workers, "threads": threads, **sampling,
                "timings_s": {k: round(v, 4) for k, v in result.timings.items()}}  # fmt: skip
        for base in ("rk4x100_here", "midpoint8_here"):
            if base in MEDIANS and case != base:
                info[f"speedup_vs_{base}"] = MEDIANS[base] / MEDIANS[case]
        benchmark.extra_info.update(info)
