"""Evaluation metrics: a2d's DTW (numba kernel; numpy anti-diagonal fallback) against librosa's
numba DTW (the strongest baseline installed), and the full wMFCC / MSS metrics on a K = 16 batch of 4 s stereo clips (the
cost of scoring one ``a2d predict`` input or one best-of-16 evaluation row)."""

from __future__ import annotations

import numpy as np
import pytest

from a2d.kernels import metrics
from a2d.kernels.dtw import dtw

SR = 44100
#: wMFCC frames of a 4 s clip at 44.1 kHz (2048 window, 512 hop, centred).
FRAMES = 1 + 4 * SR // 512
#: DTW problems per wMFCC batch: K = 16 candidates x 2 channels.
BATCH = 32


@pytest.fixture(scope="module")
def costs() -> np.ndarray:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(BATCH, FRAMES, 20)), rng.normal(size=(BATCH, FRAMES, 20))
    return np.abs(x[:, :, None] - y[:, None]).sum(-1)


def _info(benchmark, **extra) -> None:
    benchmark.extra_info.update({"backend": "numpy", "batch": BATCH, "frames": FRAMES, **extra})


@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_dtw_a2d(benchmark, costs, impl):
    dtw(costs[:1], impl)  # numba compiles (or loads its cache) on the first call; not timed
    got = benchmark(dtw, costs, impl)
    _info(benchmark, impl=f"a2d.kernels.dtw ({impl}, batched)", backend=impl)
    import librosa

    assert got.cost[0] == pytest.approx(librosa.sequence.dtw(C=costs[0])[0][-1, -1])


def test_dtw_librosa_numba_baseline(benchmark, costs):
    import librosa

    librosa.sequence.dtw(C=costs[0])  # numba compiles on the first call; not timed

    def run() -> np.ndarray:
        return np.array([librosa.sequence.dtw(C=c)[0][-1, -1] for c in costs])

    got = benchmark(run)
    _info(benchmark, impl="librosa.sequence.dtw (numba), one matrix at a time", backend="numba")
    assert got == pytest.approx(dtw(costs).cost)


@pytest.fixture(scope="module")
def clips() -> tuple[np.ndarray, np.ndarray]:
    from a2d.pipelines.demo import demo_sound

    target = demo_sound(SR, 4.0)
    rng = np.random.default_rng(1)
    preds = np.stack(
        [target * rng.uniform(0.2, 1.0) + 0.01 * rng.normal(size=target.shape) for _ in range(16)]
    )
    return preds.astype(np.float32), target


@pytest.mark.parametrize("name", ["mss", "wmfcc", "sot", "rms_cosine"])
def test_metric_on_16_candidates(benchmark, clips, name):
    from a2d.kernels import _native

    preds, target = clips
    fn = getattr(metrics, name)
    got = benchmark(fn, preds, target, SR)
    benchmark.extra_info.update(
        {
            "metric": name,
            "candidates": 16,
            "seconds": 4.0,
            "sample_rate": SR,
            "mel": _native.describe(),
        }
    )
    assert got.shape == (16,) and np.all(np.isfinite(got))
