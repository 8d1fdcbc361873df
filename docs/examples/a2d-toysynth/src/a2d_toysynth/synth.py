"""A small subtractive synth in numpy: two detuned oscillators (saw/square blend, PolyBLEP
anti-aliasing), a resonant low-pass biquad, and an ADSR amplitude envelope. Stereo comes from
detuning the left and right oscillators in opposite directions.
"""

from __future__ import annotations

import numpy as np


def _polyblep(phase: np.ndarray, dt: float) -> np.ndarray:
    """PolyBLEP residual for a unit step at phase 0 (phase in [0, 1), increment ``dt``)."""
    out = np.zeros_like(phase)
    a = phase < dt
    t = phase[a] / dt
    out[a] = t + t - t * t - 1.0
    b = phase > 1.0 - dt
    t = (phase[b] - 1.0) / dt
    out[b] = t * t + t + t + 1.0
    return out


def oscillator(freq: float, n: int, sample_rate: int, mix: float) -> np.ndarray:
    """Band-limited saw (mix=0) to square (mix=1) at ``freq`` Hz, ``n`` samples in [-1, 1]."""
    dt = freq / sample_rate
    phase = np.mod(np.arange(n) * dt, 1.0)
    saw = 2.0 * phase - 1.0 - _polyblep(phase, dt)
    shifted = np.mod(phase + 0.5, 1.0)
    square = np.where(phase < 0.5, 1.0, -1.0) + _polyblep(phase, dt) - _polyblep(shifted, dt)
    return (1.0 - mix) * saw + mix * square


def lowpass(x: np.ndarray, cutoff_hz: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ-cookbook resonant low-pass biquad."""
    from scipy.signal import lfilter  # imported here: scipy.signal takes ~1 s to import

    cutoff_hz = min(cutoff_hz, 0.45 * sample_rate)
    w0 = 2.0 * np.pi * cutoff_hz / sample_rate
    alpha = np.sin(w0) / (2.0 * q)
    cos = np.cos(w0)
    b = np.array([(1 - cos) / 2, 1 - cos, (1 - cos) / 2])
    a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return lfilter(b / a[0], a / a[0], x)


def adsr(
    n: int,
    sample_rate: int,
    attack: float,
    decay: float,
    sustain: float,
    release: float,
    note_on: float,
    note_off: float,
) -> np.ndarray:
    """Linear ADSR envelope, 0 before ``note_on``; release starts from the level at note off."""
    t = np.arange(n) / sample_rate - note_on
    env = np.zeros(n)
    held = (t >= 0) & (t < note_off - note_on)
    th = t[held]
    env[held] = np.where(
        th < attack, th / attack, np.maximum(sustain, 1.0 - (1.0 - sustain) * (th - attack) / decay)
    )
    gate = note_off - note_on
    if gate < attack:
        level = gate / attack
    else:
        level = max(sustain, 1.0 - (1.0 - sustain) * (gate - attack) / decay)
    rel = t >= gate
    env[rel] = level * np.maximum(0.0, 1.0 - (t[rel] - gate) / release)
    return env


def render(
    params: dict[str, float],
    pitch: int,
    velocity: int,
    note_on: float,
    note_off: float,
    sample_rate: int,
    duration: float,
) -> np.ndarray:
    """Render one note; returns ``(2, round(duration * sample_rate))`` float32."""
    n = round(duration * sample_rate)
    freq = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    cutoff = 440.0 * 2.0 ** ((params["cutoff"] - 69) / 12.0)
    env = adsr(
        n,
        sample_rate,
        params["attack"],
        params["decay"],
        params["sustain"],
        params["release"],
        note_on,
        note_off,
    )
    gain = params["volume"] * velocity / 127.0
    out = np.empty((2, n), dtype=np.float32)
    for ch, sign in enumerate((-1.0, 1.0)):
        f = freq * 2.0 ** (sign * params["detune"] / 1200.0)
        x = oscillator(f, n, sample_rate, params["shape"])
        out[ch] = gain * env * lowpass(x, cutoff, params["resonance"], sample_rate)
    return out
