"""Pitch of a 4 s clip: :func:`a2d.kernels.analysis.analyse_note` (pyin at 11 kHz on a quarter-semitone
grid, plus onset, end and loudness) against ``librosa.pyin`` with its defaults (22.05 kHz, 2048
frames, 0.1-semitone grid), the baseline, on the same low bass tone in the same run. Both must name
the same note.

Run: ``pytest benchmarks/bench_analysis.py --benchmark-only``. Under ``--benchmark-disable`` (CI) it
analyses a 1 s clip once.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from a2d.kernels.analysis import analyse_note, hz_to_midi


def test_analyse_note_vs_default_pyin(benchmark) -> None:
    import librosa

    quick = benchmark.disabled
    rate, seconds, hz = 44100, 1.0 if quick else 4.0, 41.2  # E1, MIDI 28: the slow case
    t = np.arange(round(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, 60)) * np.exp(-t)
    audio = np.stack([x, x]).astype(np.float32) * 0.2

    def baseline() -> float:
        y = librosa.resample(audio.mean(axis=0), orig_sr=rate, target_sr=22050)
        f0, voiced, _ = librosa.pyin(y, fmin=30.0, fmax=2100.0, sr=22050)
        return hz_to_midi(float(np.nanmedian(f0[voiced])))

    rounds = 1 if quick else 3
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        want = baseline()
        times.append(time.perf_counter() - start)
    got = benchmark.pedantic(analyse_note, args=(audio, rate), rounds=rounds, iterations=1)
    assert got.midi == round(want) == 28
    base_s = statistics.median(times)
    benchmark.extra_info.update(seconds_of_audio=seconds, default_pyin_median_s=base_s)
    if benchmark.stats is not None:
        benchmark.extra_info.update(speedup_vs_default_pyin=base_s / benchmark.stats.stats.median)
