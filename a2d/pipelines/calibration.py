"""What an MSS number means: distances measured once on real renders, and words for a score.

MSS (:func:`a2d.kernels.metrics.mss`, dB, after loudness matching as ``a2d predict`` scores) is measured
between a target render and four kinds of candidate, each playing the target's note:

- ``identical``: the same patch rendered again;
- ``close``: the same patch with every encoded knob moved by Gaussian noise of 2 % of its range;
- ``similar``: the same, with 10 % noise;
- ``random``: an unrelated patch drawn from the spec.

:func:`measure` does it; ``a2d/mss_calibration.json`` holds the result for ``vital_simple`` at the
quickstart's render settings (re-measure with ``python -m a2d.pipelines.calibration``). :func:`describe` puts a
score into words against it.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

#: Where the stored calibration lives (package data).
CALIBRATION_FILE = Path(__file__).with_name("mss_calibration.json")
#: Knob noise (fraction of each encoded range) of the ``close`` and ``similar`` kinds.
NOISE = {"close": 0.02, "similar": 0.10}
#: Targets quieter than this (LUFS) are drawn again, as ``a2d generate``'s loudness gate does.
MIN_LOUDNESS = -40.0


def measure(
    spec_name: str = "vital_simple",
    n: int = 40,
    seed: int = 0,
    sample_rate: int = 22050,
    duration: float = 2.0,
) -> dict[str, Any]:
    """Measure MSS for ``n`` targets of each kind; return the calibration document."""
    from a2d.contracts.plugins import create_backend, get_spec
    from a2d.contracts.synth import RenderSettings
    from a2d.kernels.audio import match_loudness
    from a2d.kernels.loudness import integrated_loudness
    from a2d.kernels.metrics import mss

    spec = get_spec(spec_name)
    settings = RenderSettings(sample_rate=sample_rate, duration=duration)
    rng = np.random.default_rng(seed)
    note_cols = spec.note.width
    scores: dict[str, list[float]] = {k: [] for k in ("identical", *NOISE, "random")}
    started = time.perf_counter()
    with create_backend(spec, settings) as backend:
        while len(scores["identical"]) < n:
            target = spec.sample(rng)
            audio = backend.render(target)
            ref = float(integrated_loudness(audio, sample_rate))
            if not np.isfinite(ref) or ref < MIN_LOUDNESS:
                continue
            vec = spec.encode(target)
            candidates = {"identical": target}
            for kind, sigma in NOISE.items():
                moved = vec.copy()
                moved[:-note_cols] += rng.normal(0.0, sigma, len(vec) - note_cols)
                candidates[kind] = spec.decode(np.clip(moved, 0.0, 1.0))
            candidates["random"] = replace(spec.sample(rng), note=target.note)
            for kind, patch in candidates.items():
                cand = match_loudness(backend.render(patch)[None], ref, sample_rate)
                scores[kind].append(float(mss(cand, audio, sample_rate)[0]))
    return {
        "what": "MSS (dB) between a target render and candidates playing its note, after "
        "loudness matching, as `a2d predict` scores",
        "how": {
            "spec": spec_name,
            "targets": n,
            "seed": seed,
            "sample_rate": sample_rate,
            "duration_s": duration,
            "min_target_loudness_lufs": MIN_LOUDNESS,
            "knob_noise": NOISE,
            "random": "an unrelated patch drawn from the spec, playing the target's note",
            "measured_with": "python -m a2d.pipelines.calibration",
            "machine": platform.machine(),
            "seconds": round(time.perf_counter() - started, 1),
        },
        "kinds": {
            kind: {
                "median": float(np.median(v)),
                "p10": float(np.percentile(v, 10)),
                "p90": float(np.percentile(v, 90)),
            }
            for kind, v in scores.items()
        },
    }


@cache
def load() -> dict[str, Any]:
    """The stored calibration."""
    return json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))


def describe(mss_db: float, calibration: dict[str, Any] | None = None) -> str:
    """A score in words, against the measured kinds (``calibration`` default: :func:`load`)."""
    kinds = (calibration or load())["kinds"]
    if not np.isfinite(mss_db):
        return "no score (the render was silent or failed)"
    if mss_db <= kinds["close"]["median"]:
        return "very close: as near as the same preset with its knobs moved about 2 %"
    if mss_db <= kinds["similar"]["median"]:
        return "close: as near as the same preset with its knobs moved about 10 %"
    if mss_db < kinds["random"]["p10"]:
        return "a partial match: nearer than 9 in 10 random presets, but audibly different"
    if mss_db < kinds["random"]["median"]:
        return "weak: nearer than half of random presets only"
    return "no better than a random preset"


def scale_text(calibration: dict[str, Any] | None = None) -> str:
    """One line naming the measured medians, for reports."""
    k = (calibration or load())["kinds"]
    return (
        f"identical sound {k['identical']['median']:.1f} dB; knobs moved 2 %: "
        f"{k['close']['median']:.1f} dB; moved 10 %: {k['similar']['median']:.1f} dB; "
        f"a random preset: {k['random']['median']:.1f} dB (median; 1 in 10 below "
        f"{k['random']['p10']:.1f} dB)"
    )


if __name__ == "__main__":  # pragma: no cover - the measurement itself
    from a2d.storage.atomic import atomic_write

    doc = measure()
    atomic_write(CALIBRATION_FILE, json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc["kinds"], indent=2))
