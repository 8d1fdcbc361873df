"""ITU-R BS.1770 integrated loudness (pyloudnorm-compatible, vectorised) and the loudness gate.

:func:`integrated_loudness` reproduces ``pyloudnorm.Meter(rate).integrated_loudness`` (K-weighting
with pyloudnorm's RBJ biquads, 400 ms blocks with 75 % overlap, absolute gate -70 LUFS, relative
gate -10 LU) on a batch of clips at once: block energies come from one cumulative sum instead of a
Python loop over blocks. The K-weighting and block sums run in ``a2d._core`` when it is built
(``k_weighted_block_energy``: the same recursion in double precision, about 8x faster than
``scipy.signal.lfilter``); the numpy/scipy path is the reference and the fallback.

:class:`LoudnessGate` decides whether a rendered clip is loud enough to keep. Before measuring, it
tries a cheaper test, :func:`loudness_upper_bound`: the K-weighting filter never amplifies any
frequency by more than ``g_max`` (about +4 dB), so by Parseval the filtered energy of the whole clip
is at most ``g_max**2`` times its raw energy, every 400 ms block holds at most all of that energy,
and the integrated loudness (a mean over gated blocks) is at most the loudest block. If that bound
is already below the threshold the clip is rejected without filtering; the decision is provably
the same as the full measure's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

#: Absolute gate of BS.1770 (LUFS): blocks quieter than this never count.
ABSOLUTE_GATE = -70.0
#: Relative gate of BS.1770 (LU below the absolutely gated loudness).
RELATIVE_GATE = -10.0
BLOCK_SECONDS = 0.4
OVERLAP = 0.75


def _biquad(kind: str, gain_db: float, q: float, fc: float, rate: float) -> tuple[np.ndarray, ...]:
    """RBJ cookbook biquad exactly as pyloudnorm's ``IIRfilter`` computes it; ``(b, a)``."""
    a_ = 10 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * (fc / rate)
    alpha = np.sin(w0) / (2.0 * q)
    cw = np.cos(w0)
    if kind == "high_shelf":
        sa = 2 * np.sqrt(a_) * alpha
        b = [a_ * ((a_ + 1) + (a_ - 1) * cw + sa), -2 * a_ * ((a_ - 1) + (a_ + 1) * cw)]
        b.append(a_ * ((a_ + 1) + (a_ - 1) * cw - sa))
        a = [(a_ + 1) - (a_ - 1) * cw + sa, 2 * ((a_ - 1) - (a_ + 1) * cw)]
        a.append((a_ + 1) - (a_ - 1) * cw - sa)
    else:  # high_pass
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    b_arr, a_arr = np.array(b), np.array(a)
    return b_arr / a_arr[0], a_arr / a_arr[0]


@cache
def k_weighting(rate: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The two K-weighting stages ``((b, a), (b, a))`` (high shelf +4 dB at 1.5 kHz, high pass
    at 38 Hz) for ``rate`` Hz."""
    return (
        _biquad("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0, rate),
        _biquad("high_pass", 0.0, 0.5, 38.0, rate),
    )


@cache
def k_weighting_max_gain(rate: float) -> float:
    """Upper bound of ``|H(f)|`` of the K-weighting cascade over all frequencies (linear)."""
    w = np.linspace(0, np.pi, 65537)
    z = np.exp(-1j * w)  # z^-1 on the unit circle (what scipy.signal.freqz evaluates; no scipy:
    h = np.ones_like(z)  # importing scipy.signal costs each generate worker about 1 s of CPU)
    for b, a in k_weighting(rate):
        h *= (b[0] + z * (b[1] + z * b[2])) / (a[0] + z * (a[1] + z * a[2]))
    return float(np.abs(h).max()) * 1.001  # margin for the grid between samples


#: How far a split lane's zero start state must have decayed (relative, in the 2-norm) before its
#: output counts: below double rounding, so a split pass equals one pass to within rounding.
LANE_TOLERANCE = 1e-17


@cache
def lane_warmup(rate: float) -> int:
    """Samples after which the K-weighting cascade has forgotten its state to within
    :data:`LANE_TOLERANCE`: the smallest ``n`` (a multiple of 64) with ``||A^n||_2`` below it,
    ``A`` the cascade's state-transition matrix with zero input. A lane that starts from a zero
    state ``n`` samples before its part of the signal then continues exactly as one pass would,
    to within that fraction of the state's size (9,088 samples at 44.1 kHz: the 38 Hz high
    pass's double pole decays slowest)."""
    (_, a1), (b2, a2) = k_weighting(rate)
    # State (z1, z2) of each transposed direct-form II stage; the first stage's output z1 feeds
    # the second: y1 = z1; z1' = z2 - a1 y1; z2' = -a2 y1; y2 = w1 + b0 y1; w1' = w2 + b1 y1 -
    # a1 y2; w2' = b2 y1 - a2 y2.
    A = np.array(
        [
            [-a1[1], 1.0, 0.0, 0.0],
            [-a1[2], 0.0, 0.0, 0.0],
            [b2[1] - a2[1] * b2[0], 0.0, -a2[1], 1.0],
            [b2[2] - a2[2] * b2[0], 0.0, -a2[2], 0.0],
        ]
    )
    step = np.linalg.matrix_power(A, 64)
    power, n = np.eye(4), 0
    while np.linalg.norm(power, 2) > LANE_TOLERANCE:
        power, n = step @ power, n + 64
        if n > 100 * rate:  # pragma: no cover - a stable filter decays long before
            raise ValueError(f"the K-weighting at {rate} Hz does not decay")
    return n


#: Recursions the native kernel should run interleaved: one signal's recursion is latency-bound,
#: two fill the pipeline (measured: a mono 4 s clip costs 0.38 ms in 2 lanes, 0.68 ms in one, and
#: 0.47 ms in 4, whose warm-ups cost more than they win). A mono clip is split in two lanes.
RECURSIONS = 2


def _check_audio(audio: np.ndarray, rate: float) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim < 2:
        raise ValueError(f"audio must be (..., channels, samples), got shape {audio.shape}")
    if audio.shape[-1] < round(BLOCK_SECONDS * rate):
        raise ValueError(
            f"audio of {audio.shape[-1]} samples is shorter than one {BLOCK_SECONDS} s block at {rate} Hz"
        )
    if audio.shape[-2] > 3:
        raise ValueError(
            f"only 1-3 channels (L, R, C; gain 1) are supported, got {audio.shape[-2]}"
        )
    return audio


def _blocks(n: int, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample bounds ``[lo, hi)`` of the 400 ms gating blocks (75 % overlap), as pyloudnorm."""
    step = 1.0 - OVERLAP
    num_blocks = int(np.round((n / sample_rate - BLOCK_SECONDS) / (BLOCK_SECONDS * step))) + 1
    j = np.arange(num_blocks)
    lo = (BLOCK_SECONDS * (j * step) * sample_rate).astype(np.int64)
    hi = np.minimum((BLOCK_SECONDS * (j * step + 1) * sample_rate).astype(np.int64), n)
    return lo, hi


def _block_energy_python(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """The reference: sums of squares of the K-weighted signal per block, ``(..., C, blocks)``."""
    from scipy import signal

    x = audio.astype(np.float64, copy=False)
    for b, a in k_weighting(float(sample_rate)):
        x = signal.lfilter(b, a, x, axis=-1)
    lo, hi = _blocks(x.shape[-1], sample_rate)
    cs = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(x * x, axis=-1)], axis=-1)
    return cs[..., hi] - cs[..., lo]


@cache
def _sos(rate: float) -> np.ndarray:
    return np.ascontiguousarray([np.concatenate([b, a]) for b, a in k_weighting(rate)])


def _block_energy_cpp(
    audio: np.ndarray, sample_rate: float, lanes: int | None = None
) -> np.ndarray:
    """:func:`_block_energy_python` in ``a2d._core``, no float64 copy. ``lanes``: segments per
    signal (default: enough to run :data:`RECURSIONS` recursions at once, so a mono or stereo
    clip is split; 1: one exact pass per signal); see :func:`lane_warmup`."""
    from a2d.kernels import _native

    n = audio.shape[-1]
    flat = np.ascontiguousarray(audio.reshape(-1, n), dtype=np.float32)
    lo, hi = _blocks(n, sample_rate)
    threads = _native.num_threads() if flat.shape[0] > 1 else 1
    if lanes is None:
        lanes = -(-RECURSIONS // flat.shape[0])
    warmup = lane_warmup(float(sample_rate)) if lanes > 1 else 0
    out = _native.core().k_weighted_block_energy(
        flat, _sos(float(sample_rate)), lo, hi, threads, lanes, warmup
    )
    return out.reshape(*audio.shape[:-1], len(lo))


def integrated_loudness(
    audio: np.ndarray, sample_rate: float, implementation: str | None = None
) -> np.ndarray:
    """BS.1770 integrated loudness in LUFS.

    :param audio: ``(..., C, T)`` samples at ``sample_rate`` (C = 1..3, T >= 0.4 s).
    :param implementation: ``python`` (numpy + scipy, the reference) or ``cpp`` (``a2d._core``:
        the K-weighting and block sums; about 10x faster); default ``a2d.kernels._native.select``.
    :returns: ``(...)`` float64 LUFS; ``-inf`` for clips with no block above -70 LUFS.
    """
    from a2d.kernels import _native

    audio = _check_audio(audio, sample_rate)
    choice = _native.select(implementation)
    if choice == "cpp" and audio.dtype != np.float64:
        energy = _block_energy_cpp(audio, sample_rate)
    else:  # float64 input or the python reference (cuda: this is a CPU measure)
        energy = _block_energy_python(audio, sample_rate)
    z = energy / (BLOCK_SECONDS * sample_rate)  # (..., C, blocks) mean square per block
    power = z.sum(axis=-2)  # channel gains are 1 for L, R, C
    with np.errstate(divide="ignore"):
        lj = -0.691 + 10.0 * np.log10(power)
    gated = lj >= ABSOLUTE_GATE
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_abs = (power * gated).sum(-1) / gated.sum(-1)
        rel = -0.691 + 10.0 * np.log10(mean_abs) + RELATIVE_GATE
        keep = (lj > rel[..., None]) & (lj > ABSOLUTE_GATE)
        mean = np.nan_to_num((power * keep).sum(-1) / keep.sum(-1))
        return -0.691 + 10.0 * np.log10(mean)


def loudness_upper_bound(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """A cheap upper bound (LUFS) of :func:`integrated_loudness`: one sum of squares per channel.

    :param audio: ``(..., C, T)``.
    :returns: ``(...)`` float64; the true loudness is never above it.
    """
    audio = _check_audio(audio, sample_rate)
    if audio.dtype == np.float32 and audio.shape[-1] < 2**20:
        # Summed in float32 (no float64 copy of the clip): any order of summing n rounded squares
        # errs by at most gamma_n = n u / (1 - n u) of the true sum (u = 2^-24; Higham, Accuracy
        # and Stability of Numerical Algorithms, 3.1), so dividing by 1 - gamma_n keeps a bound.
        n, u = audio.shape[-1], 2.0**-24
        gamma = n * u / (1.0 - n * u)
        energy = np.einsum("...t,...t->...", audio, audio).astype(np.float64) / (1.0 - gamma)
        energy = energy.sum(-1)
    else:
        x = audio.astype(np.float64, copy=False)
        energy = np.einsum("...t,...t->...", x, x).sum(-1)
    g = k_weighting_max_gain(float(sample_rate))
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(g * g * energy / (BLOCK_SECONDS * sample_rate))


@dataclass
class LoudnessGate:
    """Keep clips whose integrated loudness is at least ``threshold`` LUFS.

    :param threshold: LUFS (the reference protocol: -55); None keeps everything.
    :param sample_rate: Hz.
    :param precheck: try :func:`loudness_upper_bound` first (same decisions, less work).
    """

    threshold: float | None
    sample_rate: float
    precheck: bool = True
    #: clips rejected by the cheap bound alone.
    prechecked: int = 0
    #: clips measured in full.
    measured: int = 0

    def loudness(self, audio: np.ndarray) -> float:
        """Integrated loudness (LUFS) of one clip ``(C, T)``, or the bound when it already fails."""
        if self.precheck and self.threshold is not None:
            bound = float(loudness_upper_bound(audio, self.sample_rate))
            if bound < self.threshold:
                self.prechecked += 1
                return bound
        self.measured += 1
        return float(integrated_loudness(audio, self.sample_rate))

    def passes(self, audio: np.ndarray) -> bool:
        """True when clip ``(C, T)`` is loud enough (loudness >= threshold) or there is no gate."""
        if self.threshold is None:
            return True
        return self.loudness(audio) >= self.threshold
