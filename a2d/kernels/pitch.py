"""Probabilistic YIN (pYIN) in NumPy: the same numbers as ``librosa.pyin``, without numba.

``librosa.pyin`` JIT-compiles its inner loops with numba. On a fresh install that cost 20-30 s on
the first ``a2d predict`` (numba writes its cache beside librosa's modules afterwards), and every
later process still paid 1.6 s to import numba, ``scipy.stats`` and librosa's audio module for a
0.1 s computation. This module is the same algorithm, step for step, in vectorised NumPy:

- frames centred with zero padding; the cumulative mean normalised difference from an FFT
  autocorrelation (de Cheveigné & Kawahara 2002, eq. 8);
- parabolic interpolation of each trough (a shift of 0 where the parabola's optimum lies more than
  one lag away, and at both ends);
- troughs (strict local minima; lag 0 when it is below lag 1) weighted by a Boltzmann prior over
  their order and a Beta(2, 18) prior over 100 thresholds, as the official pYIN software does
  (Mauch & Dixon 2014); probability ``no_trough_prob`` goes to the global minimum for thresholds
  below it;
- observations on a pitch grid of ``resolution`` semitones, voiced and unvoiced copies, and a
  Viterbi pass over a triangular local transition (``max_transition_rate`` octaves per second)
  with switch probability ``switch_prob``.

Quirks of librosa 0.11 kept on purpose, so that both give the same numbers: the difference at lag 1
omits the frame's first squared sample (librosa zeroes that energy row before it uses it); pitch
bins are clipped to ``n_pitch_bins`` (one past the last voiced bin, i.e. the first unvoiced state)
before the unvoiced probabilities overwrite that row; log probabilities add ``tiny`` of the dtype.
On the 50 TimGM6mb dev sounds f0 and voicing are identical and voiced probabilities within 3e-13.
``tests/test_pitch.py`` checks f0, voicing and voiced probability against ``librosa.pyin``.
"""

from __future__ import annotations

import math

import numpy as np


def _frames(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """``(frame_length, n_frames)`` view of 1-D ``y`` (as ``librosa.util.frame``)."""
    return np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length].T


def cumulative_mean_normalized_difference(
    frames: np.ndarray, min_period: int, max_period: int
) -> np.ndarray:
    """YIN's d'(tau) for tau in [min_period, max_period]: ``(max_period - min_period + 1, n)``."""
    n = frames.shape[0]
    n_fft = 1 << (2 * n - 1 - 1).bit_length()
    spec = np.fft.rfft(frames, n=n_fft, axis=0)
    acf = np.fft.irfft(spec.real**2 + spec.imag**2, n=n_fft, axis=0)[: max_period + 1]
    energy = np.cumsum(np.square(frames), axis=0)
    energy[0] = 0  # librosa zeroes this row before it subtracts it (d(1) keeps the x_0^2 term)
    diff = np.empty((max_period + 1, frames.shape[1]), dtype=energy.dtype)
    diff[0] = 0
    diff[1:] = 2 * (acf[0:1] - acf[1 : max_period + 1]) - energy[:max_period]
    numerator = diff[min_period : max_period + 1]
    k = np.arange(1, max_period + 1, dtype=np.float64)[:, None]
    cumulative_mean = np.cumsum(diff[1:], axis=0) / k
    denominator = cumulative_mean[min_period - 1 : max_period]
    return numerator / (denominator + np.finfo(denominator.dtype).tiny)


def parabolic_shifts(x: np.ndarray) -> np.ndarray:
    """Offset of the parabola through each point and its neighbours along axis 0 (0 at the ends
    and where the optimum lies more than one bin away)."""
    out = np.zeros_like(x)
    left, mid, right = x[:-2], x[1:-1], x[2:]
    a = right + left - 2 * mid
    b = (right - left) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(b) >= np.abs(a), 0, -b / a)
    out[1:-1] = shift
    return out


def _local_minima(x: np.ndarray) -> np.ndarray:
    """Troughs along axis 0: ``x[i] < x[i-1] and x[i] <= x[i+1]``; the last row when below its
    neighbour; the first row when below the second (pYIN's rule)."""
    out = np.zeros(x.shape, dtype=bool)
    out[1:-1] = (x[1:-1] < x[:-2]) & (x[1:-1] <= x[2:])
    out[-1] = x[-1] < x[-2]
    out[0] = x[0] < x[1]
    return out


def beta_cdf_integer(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """Regularised incomplete beta I_x(a, b) for integer a, b >= 1 (a binomial tail)."""
    n = a + b - 1
    x = np.asarray(x, dtype=np.float64)
    total = np.zeros_like(x)
    for j in range(a, n + 1):
        total += math.comb(n, j) * x**j * (1 - x) ** (n - j)
    return total


def transition_matrix(n_pitch_bins: int, width: int, switch_prob: float) -> np.ndarray:
    """pYIN's transition: a triangular band of ``width`` bins within each voicing state
    (rows normalised; as ``librosa.sequence.transition_local(..., window="triangle")``),
    Kronecker-combined with staying voiced/unvoiced with probability ``1 - switch_prob``."""
    # scipy.signal.windows.triang(width), symmetric
    m = np.arange(1, (width + 1) // 2 + 1)
    if width % 2 == 0:
        half = (2 * m - 1.0) / width
        window = np.concatenate([half, half[::-1]])
    else:
        half = 2 * m / (width + 1.0)
        window = np.concatenate([half, half[-2::-1]])
    local = np.zeros((n_pitch_bins, n_pitch_bins))
    lpad = (n_pitch_bins - width) // 2
    row = np.zeros(n_pitch_bins)
    row[lpad : lpad + width] = window
    for i in range(n_pitch_bins):
        r = np.roll(row, n_pitch_bins // 2 + i + 1)
        r[min(n_pitch_bins, i + width // 2 + 1) :] = 0
        r[: max(0, i - width // 2)] = 0
        local[i] = r
    local /= local.sum(axis=1, keepdims=True)
    stay = 1 - switch_prob
    switch = np.array([[stay, 1 - stay], [1 - stay, stay]])
    return np.kron(switch, local)


def viterbi(log_prob: np.ndarray, log_trans: np.ndarray, log_p_init: np.ndarray) -> np.ndarray:
    """Most likely state path: ``log_prob`` ``(n_steps, n_states)``; ties go to the lowest state,
    as in librosa's loop."""
    n_steps, n_states = log_prob.shape
    ptr = np.zeros((n_steps, n_states), dtype=np.intp)
    value = log_prob[0] + log_p_init
    cols = np.arange(n_states)
    for t in range(1, n_steps):
        scores = value[:, None] + log_trans  # [k, j]: from k to j
        best = np.argmax(scores, axis=0)
        ptr[t] = best
        value = log_prob[t] + scores[best, cols]
    state = np.zeros(n_steps, dtype=np.intp)
    state[-1] = int(np.argmax(value))
    for t in range(n_steps - 2, -1, -1):
        state[t] = ptr[t + 1, state[t + 1]]
    return state


def pyin(
    y: np.ndarray,
    *,
    fmin: float,
    fmax: float,
    sr: float,
    frame_length: int = 2048,
    hop_length: int | None = None,
    n_thresholds: int = 100,
    beta_parameters: tuple[int, int] = (2, 18),
    boltzmann_parameter: float = 2.0,
    resolution: float = 0.1,
    max_transition_rate: float = 35.92,
    switch_prob: float = 0.01,
    no_trough_prob: float = 0.01,
    center: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f0 (Hz, NaN where unvoiced), voiced flags and voiced probabilities per frame of mono ``y``;
    the arguments mean what they mean for ``librosa.pyin`` (integer Beta parameters only)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"pyin takes mono audio (N,), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("pyin: audio holds NaN or infinite samples")
    if not 0 < fmin < fmax <= sr / 2:
        raise ValueError(f"pyin: need 0 < fmin < fmax <= sr/2, got fmin={fmin}, fmax={fmax}")
    if sr / fmin >= frame_length - 1:
        raise ValueError(f"pyin: fmin={fmin} is too low for frame_length={frame_length} at {sr} Hz")
    a, b = beta_parameters
    if int(a) != a or int(b) != b or a < 1 or b < 1:
        raise ValueError(f"pyin: beta_parameters must be positive integers, got {beta_parameters}")
    hop_length = frame_length // 4 if hop_length is None else hop_length
    if center:
        y = np.pad(y, (frame_length // 2, frame_length // 2))
    frames = _frames(y, frame_length, hop_length)
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    yin = cumulative_mean_normalized_difference(frames, min_period, max_period)
    shifts = parabolic_shifts(yin)

    thresholds = np.linspace(0, 1, n_thresholds + 1)
    beta_probs = np.diff(beta_cdf_integer(thresholds, int(a), int(b)))
    per_semitone = int(np.ceil(1.0 / resolution))
    n_bins = int(np.floor(12 * per_semitone * np.log2(fmax / fmin))) + 1
    n_lags, n_frames = yin.shape

    # Every frame's troughs at once, as a list sorted by frame then lag: a trough's order among
    # its frame's troughs below each threshold, and their number, give its Boltzmann prior.
    trough = _local_minima(yin)
    frame_of, lag_of = np.nonzero(trough.T)
    heights = yin[lag_of, frame_of]
    below = heights[:, None] < thresholds[None, 1:]  # (troughs, thresholds)
    running = np.cumsum(below, axis=0)
    first = np.searchsorted(frame_of, frame_of, side="left")  # each trough's frame's first entry
    last = np.searchsorted(frame_of, frame_of, side="right") - 1
    before = np.vstack([np.zeros((1, running.shape[1]), dtype=running.dtype), running])[first]
    position = running - before - 1
    count = running[last] - before
    lam = float(boltzmann_parameter)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        norm = (1 - np.exp(-lam)) / (1 - np.exp(-lam * count))
        prior = np.where(below, norm * np.exp(-lam * position), 0.0)
    trough_probs = prior @ beta_probs
    # Each frame's global minimum among its troughs (the lowest lag on ties) takes
    # no_trough_prob of the thresholds at or below its height.
    order = np.lexsort((lag_of, heights, frame_of))
    starts = (
        order[np.r_[True, frame_of[order][1:] != frame_of[order][:-1]]] if len(order) else order
    )
    n_below_min = (heights[starts, None] >= thresholds[None, 1:]).sum(axis=1)
    cum_beta = np.concatenate([[0.0], np.cumsum(beta_probs)])
    trough_probs[starts] += no_trough_prob * cum_beta[n_below_min]
    probs = np.zeros((n_lags, n_frames))
    probs[lag_of, frame_of] = trough_probs
    # (librosa sums beta_probs[:n] with np.sum; the cumulative sum differs only in rounding.)

    lag, frame = np.nonzero(probs)
    period = min_period + lag + shifts[lag, frame]
    f0_candidates = sr / period
    bins = 12 * per_semitone * np.log2(f0_candidates / fmin)
    bins = np.clip(np.round(bins), 0, n_bins).astype(int)
    obs = np.zeros((2 * n_bins, n_frames))
    obs[bins, frame] = probs[lag, frame]
    voiced_prob = np.clip(obs[:n_bins].sum(axis=0), 0, 1)
    obs[n_bins:] = (1 - voiced_prob) / n_bins

    semitones = round(max_transition_rate * 12 * hop_length / sr)
    trans = transition_matrix(n_bins, semitones * per_semitone + 1, switch_prob)
    eps = np.finfo(obs.dtype).tiny
    p_init = np.full(2 * n_bins, 1.0 / (2 * n_bins))
    states = viterbi(np.log(obs + eps).T, np.log(trans + eps), np.log(p_init + eps))
    freqs = fmin * 2 ** (np.arange(n_bins) / (12 * per_semitone))
    f0 = freqs[states % n_bins]
    voiced = states < n_bins
    f0[~voiced] = np.nan
    return f0, voiced, voiced_prob
