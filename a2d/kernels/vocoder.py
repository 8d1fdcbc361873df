"""Pitch shifting by whole octaves in NumPy: the numbers of ``librosa.effects.pitch_shift``
without importing librosa.

``a2d predict`` moves a sound outside the synth's note range by octaves before it matches it
(:func:`a2d.kernels.analysis.transpose`; the quickstart's bass pluck is one). Through librosa
a fresh process paid for importing librosa, numba and scipy.signal, which nothing else in it
needs: 5.2 s against 0.66 s for this module (``benchmarks/bench_startup.py``, docs/results.md). The algorithm is librosa 0.11's, step for step: a centred STFT
(periodic Hann window, zero padding), the phase vocoder stretching time by ``rate`` (linear
magnitude interpolation, phase accumulated in the STFT's float32 with the expected advance per
bin), the inverse STFT normalised by the window's sum of squares, and soxr's high-quality
resampling back to the original rate, cropped or padded to the input's length.
``tests/test_analysis.py`` checks it against ``librosa.effects.pitch_shift``.
"""

from __future__ import annotations

import numpy as np

from a2d.kernels.audio import resample

#: librosa's defaults for ``pitch_shift``: a 2048-point FFT, a hop of a quarter of it.
N_FFT = 2048
HOP = N_FFT // 4


def hann(n: int) -> np.ndarray:
    """The periodic Hann window (``scipy.signal.get_window("hann", n)``), float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def stft(y: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Centred STFT ``(..., N)`` -> ``(..., n_fft // 2 + 1, frames)`` complex64 (zero padding)."""
    pad = [(0, 0)] * (y.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    padded = np.pad(y, pad)
    frames = 1 + (padded.shape[-1] - n_fft) // hop
    idx = np.arange(n_fft)[:, None] + hop * np.arange(frames)[None, :]
    spectrum = np.fft.rfft(hann(n_fft)[:, None] * padded[..., idx], axis=-2)
    return spectrum.astype(np.complex64)


def phase_vocoder(d: np.ndarray, rate: float, hop: int = HOP) -> np.ndarray:
    """``d (..., bins, frames)`` stretched in time by ``1 / rate`` (``rate`` < 1: longer)."""
    n_fft = 2 * (d.shape[-2] - 1)
    steps = np.arange(0, d.shape[-1], rate, dtype=np.float64)
    out = np.zeros((*d.shape[:-1], len(steps)), dtype=d.dtype)
    advance = hop * np.linspace(0, np.pi, 1 + n_fft // 2)  # expected phase advance per bin
    phase = np.angle(d[..., 0])
    padded = np.pad(d, [(0, 0)] * (d.ndim - 1) + [(0, 2)])
    mags, angles = np.abs(padded), np.angle(padded)
    for t, step in enumerate(steps):
        i, alpha = int(step), step % 1.0
        mag = (1.0 - alpha) * mags[..., i] + alpha * mags[..., i + 1]
        out[..., t] = mag * (np.cos(phase) + 1j * np.sin(phase))
        dphase = angles[..., i + 1] - angles[..., i] - advance
        dphase = dphase - 2.0 * np.pi * np.round(dphase / (2.0 * np.pi))
        phase += advance + dphase  # float32 accumulator, as librosa's
    return out


def istft(d: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Inverse of :func:`stft` by overlap-add, normalised by the window's sum of squares,
    ``length`` samples float32."""
    frames = d.shape[-1]
    window = hann(n_fft)
    chunks = window[:, None] * np.fft.irfft(d, n=n_fft, axis=-2)  # (..., n_fft, frames)
    total = n_fft + hop * (frames - 1)
    y = np.zeros((*d.shape[:-2], total), dtype=np.float32)
    norm = np.zeros(total, dtype=np.float32)
    for f in range(frames):
        y[..., f * hop : f * hop + n_fft] += chunks[..., f]
        norm[f * hop : f * hop + n_fft] += window**2
    start = n_fft // 2
    y, norm = y[..., start : start + length], norm[start : start + length]
    if y.shape[-1] < length:
        y = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, length - y.shape[-1])])
        norm = np.pad(norm, (0, length - norm.shape[-1]))
    nonzero = norm > np.finfo(np.float32).tiny
    y[..., nonzero] /= norm[nonzero]
    return y


def pitch_shift(y: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """``y (..., N)`` float32 shifted by ``semitones``, same length (phase vocoder + soxr)."""
    y = np.asarray(y, dtype=np.float32)
    rate = 2.0 ** (-float(semitones) / 12.0)
    stretched = istft(phase_vocoder(stft(y), rate), int(round(y.shape[-1] / rate)))
    shifted = resample(stretched, float(sample_rate) / rate, sample_rate)
    n = y.shape[-1]
    if shifted.shape[-1] >= n:
        return np.ascontiguousarray(shifted[..., :n])
    return np.pad(shifted, [(0, 0)] * (y.ndim - 1) + [(0, n - shifted.shape[-1])])
