"""A "basic shapes" wavetable built from formulas, so ``osc_N_wave_frame`` means something.

Vital's init wavetable has a single frame, so its wave-frame control would do nothing. The base
patches of the Vital specs load this table instead: four keyframes (sine at frame 0, triangle at
85, saw at 170, square at 256) that Vital interpolates linearly, written in Vital's own wavetable
JSON (``settings.wavetables[i]``: a "Wave Source" component whose keyframes hold 2048 float32
samples, base64-encoded). The waveforms are computed here; nothing is copied from Vital's factory
content.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from a2d_vital.preset import PRESET_VERSION

#: Samples per wavetable frame (Vital's fixed frame size).
FRAME_SIZE = 2048

#: (frame position 0..256, shape name) of the keyframes.
KEYFRAMES: tuple[tuple[int, str], ...] = (
    (0, "sine"),
    (85, "triangle"),
    (170, "saw"),
    (256, "square"),
)


def shape(name: str, n: int = FRAME_SIZE) -> np.ndarray:
    """One period of a band-unlimited basic shape: ``(n,)`` float32 in [-1, 1]."""
    phase = np.arange(n, dtype=np.float64) / n
    if name == "sine":
        wave = np.sin(2 * np.pi * phase)
    elif name == "triangle":
        wave = 1.0 - 4.0 * np.abs(((phase + 0.25) % 1.0) - 0.5)
    elif name == "saw":
        wave = 2.0 * ((phase + 0.5) % 1.0) - 1.0
    elif name == "square":
        wave = np.where(phase < 0.5, 1.0, -1.0)
    else:
        raise ValueError(f"unknown wave shape {name!r}; known: sine, triangle, saw, square")
    return wave.astype(np.float32)


def basic_shapes_wavetable() -> dict[str, Any]:
    """The wavetable as Vital's JSON object (one entry of ``settings.wavetables``)."""
    keyframes = [
        {
            "position": position,
            "wave_data": base64.b64encode(shape(name).astype("<f4").tobytes()).decode("ascii"),
        }
        for position, name in KEYFRAMES
    ]
    return {
        "author": "a2d",
        "full_normalize": True,
        "groups": [
            {
                "components": [
                    {
                        "interpolation": 1,
                        "interpolation_style": 1,
                        "keyframes": keyframes,
                        "type": "Wave Source",
                    }
                ]
            }
        ],
        "name": "a2d Basic Shapes",
        "remove_all_dc": True,
        "version": PRESET_VERSION,
    }
