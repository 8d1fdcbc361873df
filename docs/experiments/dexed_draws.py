"""How many of a Dexed spec's random draws are silent, clipping or noise-like? (docs/results.md,
"Dexed (DX7): sampling")

Draws N patches (``spec.sample(default_rng([0, k]))``, k < N), renders each 4 s clip at 44.1 kHz
and counts: silent (integrated loudness < -55 LUFS), clipping (peak > 1.0), aperiodic
(the loudest 100 ms has no normalised autocorrelation peak above 0.5 at lags 1.5-25 ms: white
noise scores about 0.05, sines, FM pairs and feedback-7 operators above 0.8). Prints one table row
per spec.

    python docs/experiments/dexed_draws.py [N] [SPEC ...]
"""

import sys

import numpy as np

from a2d.contracts.plugins import create_backend, get_spec
from a2d.contracts.synth import RenderSettings
from a2d.kernels.loudness import integrated_loudness

RATE = 44100


def periodicity(x: np.ndarray) -> float:
    """The highest normalised autocorrelation at lags 1.5-25 ms of the loudest 100 ms of ``x``."""
    w = int(0.1 * RATE)
    energy = np.convolve(x**2, np.ones(w), "valid")
    seg = x[int(np.argmax(energy)) :][:w]
    seg = seg - seg.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(seg, 2 * w)) ** 2)[:w]
    if ac[0] <= 0:
        return 0.0
    ac /= ac[0]
    return float(ac[int(0.0015 * RATE) : int(0.025 * RATE)].max())


def main(n: int, names: list[str]) -> None:
    print("| spec | silent | clipping | aperiodic | median loudness of the rest |")
    for name in names:
        spec = get_spec(name)
        silent = clipping = aperiodic = 0
        loud = []
        with create_backend(spec, RenderSettings(duration=4.0, channels=1)) as backend:
            for row in range(n):
                audio = backend.render(spec.sample(np.random.default_rng([0, row])))[0]
                lufs = integrated_loudness(audio[None], RATE)
                if lufs < -55.0:
                    silent += 1
                    continue
                loud.append(lufs)
                clipping += int(np.abs(audio).max() > 1.0)
                aperiodic += int(periodicity(audio) < 0.5)
        pct = [f"{100 * c / n:.1f} %" for c in (silent, clipping, aperiodic)]
        print(f"| `{name}` | {' | '.join(pct)} | {np.median(loud):.1f} LUFS |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500, sys.argv[2:] or ["dexed_fm2"])
