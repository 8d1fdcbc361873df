"""Scoring evaluation rows: synth worker processes (:class:`a2d.runtime.synth_pool.SynthPool`, one per
core) against the serial loop in the calling process that ``a2d evaluate`` used before (the
baseline), on the same rows in the same run.

One row is what ``a2d evaluate`` does per held-out row and method: render K = 16 proposals and the
K = 1 proposal of a deterministic model, pick the best by MSS, and compute every audio metric of the
picks (:func:`a2d.pipelines.evaluate_rows.score_row`). Workers are started before timing: an evaluation starts
them once and keeps them for every row.

Run: ``pytest benchmarks/bench_evaluate.py --benchmark-only``. Under ``--benchmark-disable`` (CI)
it scores one short row with K = 2.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from a2d.contracts.plugins import get_spec
from a2d.contracts.synth import RenderSettings
from a2d.pipelines.evaluate_rows import score_row
from a2d.runtime.synth_pool import SynthPool, result


def test_score_rows_pool_vs_serial(benchmark) -> None:
    quick = benchmark.disabled
    spec = get_spec("vital_simple")
    settings = RenderSettings(duration=0.5 if quick else 4.0)
    rows, k = (1, 2) if quick else (4, 16)
    workers = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    tasks = []
    for _ in range(rows):
        target = spec.encode(spec.sample(rng))
        flow = np.stack([spec.encode(spec.sample(rng)) for _ in range(k)])
        ff = spec.encode(spec.sample(rng))[None]
        tasks.append((target, True, {"flow": (flow, True), "feedforward": (ff, False)}, "best"))

    def score(pool: SynthPool) -> list:
        return [result(f) for f in [pool.submit(score_row, *t) for t in tasks]]

    with SynthPool(spec, settings, workers=0) as serial:
        rounds = 1 if quick else 3
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            want = score(serial)
            times.append(time.perf_counter() - t)
    with SynthPool(spec, settings, workers=workers) as pool:
        score(pool)  # the workers are up and their synths warm
        got = benchmark.pedantic(score, args=(pool,), rounds=rounds, iterations=1)
    renders = rows * (k + 2)  # K proposals, one deterministic proposal, the target
    serial_s = statistics.median(times)
    benchmark.extra_info.update(
        rows=rows, candidates=k, seconds_of_audio=settings.duration, workers=workers,
        renders=renders, serial_median_s=serial_s,
    )  # fmt: skip
    if benchmark.stats is not None:
        pooled = benchmark.stats.stats.median
        benchmark.extra_info.update(speedup_vs_serial=serial_s / pooled, rows_per_s=rows / pooled)
    for a, b in zip(got, want, strict=True):
        for method in a:
            assert [(x[0], x[1]) for x in a[method]] == [(x[0], x[1]) for x in b[method]]
            for (_, _, ma), (_, _, mb) in zip(a[method], b[method], strict=True):
                assert abs(ma["mss"] - mb["mss"]) < 1e-3
