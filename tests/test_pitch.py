"""a2d's NumPy pYIN against ``librosa.pyin`` (the reference it replaces in the predict path)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from a2d.kernels import pitch

RATE = 11025
#: The analysis settings of ``a2d.kernels.analysis``.
KW = dict(fmin=30.0, fmax=2100.0, sr=RATE, frame_length=1024, hop_length=256, resolution=0.25)


def harmonic(f0: np.ndarray | float, seconds: float, n_harm: int = 8, seed: int = 0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    f = np.broadcast_to(np.asarray(f0, dtype=np.float64), t.shape)
    phase = 2 * np.pi * np.cumsum(f) / RATE
    y = sum(np.sin(h * phase) / h for h in range(1, n_harm + 1) if h * f.max() < RATE / 2)
    env = np.minimum(1.0, t / 0.02) * np.exp(-t / 1.5)
    rng = np.random.default_rng(seed)
    return (0.3 * y * env + 1e-4 * rng.standard_normal(t.size)).astype(np.float32)


def signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(3 * RATE) / RATE
    gap = harmonic(330.0, 3.0)
    gap[RATE : 2 * RATE] = 0.0  # silence inside: unvoiced frames, then voiced again
    return {
        "a4": harmonic(440.0, 2.0),
        "low_e1": harmonic(41.2, 3.0, n_harm=20),
        "high_c7": harmonic(2093.0, 1.0, n_harm=2),
        "vibrato": harmonic(220.0 * 2 ** (0.3 * np.sin(2 * np.pi * 5 * t) / 12), 3.0),
        "glide": harmonic(np.geomspace(110.0, 880.0, t.size), 3.0),
        "noise": (0.1 * rng.standard_normal(2 * RATE)).astype(np.float32),
        "gap": gap,
        "float64": harmonic(196.0, 1.5).astype(np.float64),
    }


@pytest.mark.parametrize("name", list(signals()))
def test_pyin_matches_librosa(name: str) -> None:
    y = signals()[name]
    want_f0, want_voiced, want_prob = librosa.pyin(y, **KW)
    f0, voiced, prob = pitch.pyin(y, **KW)
    # The decoded path is the same: every frame's voicing and pitch bin.
    np.testing.assert_array_equal(voiced, want_voiced)
    np.testing.assert_array_equal(np.isnan(f0), np.isnan(want_f0))
    np.testing.assert_allclose(f0[voiced], want_f0[voiced], rtol=1e-12)
    # Voiced probabilities agree to rounding (measured: within 6e-16 here, 2.3e-13 on the 50
    # TimGM6mb dev sounds). White noise is the exception: its d' lies near 1.0, the top threshold,
    # and librosa's numba-compiled |X|^2 rounds the float32 autocorrelation differently from
    # NumPy's, so a frame's global minimum can fall on either side of it and take the no-trough
    # mass (0.01) or not. The decoded path is the same (above).
    if name == "noise":
        moved = np.abs(prob - want_prob) > 1e-12
        assert moved.mean() < 0.2  # 9 of 87 frames here
        np.testing.assert_allclose(prob, want_prob, atol=0.0100001)
    else:
        np.testing.assert_allclose(prob, want_prob, atol=1e-12)


def test_pyin_default_settings_match_librosa() -> None:
    y = harmonic(261.6, 1.0)
    got = pitch.pyin(y, fmin=65.0, fmax=2093.0, sr=RATE)
    want = librosa.pyin(y, fmin=65.0, fmax=2093.0, sr=RATE)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(np.nan_to_num(got[0]), np.nan_to_num(want[0]), rtol=1e-12)


def test_pieces_match_librosa() -> None:
    from librosa.core.pitch import _cumulative_mean_normalized_difference, _parabolic_interpolation

    y = np.pad(harmonic(150.0, 1.0).astype(np.float64), (512, 512))
    frames = librosa.util.frame(y, frame_length=1024, hop_length=256)
    yin = pitch.cumulative_mean_normalized_difference(frames, 5, 368)
    np.testing.assert_allclose(
        yin, _cumulative_mean_normalized_difference(frames, 5, 368), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_array_equal(pitch.parabolic_shifts(yin), _parabolic_interpolation(yin))
    for width in (1, 2, 5, 40, 41):
        local = librosa.sequence.transition_local(295, width, window="triangle", wrap=False)
        want = np.kron(librosa.sequence.transition_loop(2, 0.99), local)
        np.testing.assert_allclose(pitch.transition_matrix(295, width, 0.01), want, rtol=1e-15)
    import scipy.stats

    x = np.linspace(0, 1, 101)
    np.testing.assert_allclose(pitch.beta_cdf_integer(x, 2, 18), scipy.stats.beta.cdf(x, 2, 18),
                               atol=1e-15)  # fmt: skip


def test_viterbi_matches_librosa_including_ties() -> None:
    rng = np.random.default_rng(3)
    prob = rng.random((6, 40))
    prob[:, 10:15] = 0.5  # ties: both take the lowest state
    trans = rng.random((6, 6))
    trans /= trans.sum(axis=1, keepdims=True)
    want = librosa.sequence.viterbi(prob, trans)
    eps = np.finfo(np.float64).tiny
    got = pitch.viterbi(np.log(prob + eps).T, np.log(trans + eps), np.log(np.full(6, 1 / 6) + eps))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("y", "kw", "message"),
    [
        (np.zeros((2, 100), np.float32), {}, "mono"),
        (np.array([0.0, np.nan] * 600), {}, "NaN"),
        (np.zeros(2048), {"fmin": 5.0}, "too low"),
        (np.zeros(2048), {"fmax": 9000.0}, "fmax"),
        (np.zeros(2048), {"beta_parameters": (2.5, 18)}, "integers"),
    ],
)
def test_bad_arguments_say_what_is_wrong(y: np.ndarray, kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pitch.pyin(y, **{**KW, **kw})
