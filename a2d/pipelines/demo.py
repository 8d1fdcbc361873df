"""The demo sound a2d synthesises itself (for ``a2d quickstart`` and tests): no sample from elsewhere.

A band-limited sawtooth (additive, every harmonic below Nyquist) through a one-pole-per-harmonic
low-pass whose cutoff decays from bright to dark, under an attack-decay-sustain-release envelope:
the classic subtractive "pluck" that any analog-style synth can match.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def demo_sound(
    sample_rate: int = 44100,
    duration: float = 4.0,
    *,
    pitch: int = 57,
    note_off: float = 2.0,
    channels: int = 2,
) -> np.ndarray:
    """A filtered, decaying saw note.

    :param sample_rate: Hz.
    :param duration: clip length (s).
    :param pitch: MIDI note (57 = A3, 220 Hz).
    :param note_off: release start (s); the release lasts 0.3 s.
    :param channels: 1 or 2 (the same signal in both channels).
    :returns: ``(channels, round(duration * sample_rate))`` float32, peak 0.5.
    """
    n = round(duration * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    cutoff = 300.0 + 4000.0 * np.exp(-t / 0.35)  # Hz: bright attack, dark tail
    harmonics = np.arange(1, int(sample_rate / 2 // f0) + 1)
    x = np.zeros(n)
    for k in harmonics:
        gain = 1.0 / np.sqrt(1.0 + (k * f0 / cutoff) ** 2)  # first-order low-pass magnitude
        x += gain * np.sin(2 * np.pi * k * f0 * t) / k
    attack = np.clip(t / 0.01, 0.0, 1.0)
    decay = 0.6 + 0.4 * np.exp(-t / 0.3)
    release = np.where(t < note_off, 1.0, np.exp(-(t - note_off) / 0.1))
    x *= attack * decay * release
    x *= 0.5 / np.abs(x).max()
    return np.repeat(x[None].astype(np.float32), channels, axis=0)


def write_demo(
    path: str | Path, sample_rate: int = 44100, duration: float = 4.0, **kwargs: float
) -> Path:
    """Write :func:`demo_sound` as a 24-bit wav (``kwargs``: its ``pitch``, ``note_off``);
    returns the path."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = demo_sound(sample_rate, duration, **kwargs)  # type: ignore[arg-type]
    sf.write(str(path), audio.T, sample_rate, subtype="PCM_24")
    return path


#: The quickstart's second, short sound: a low pluck (A2, 110 Hz) of 1.5 s, released at 0.5 s.
BASS = {"pitch": 45, "note_off": 0.5, "duration": 1.5}
