"""BS.1770 loudness against pyloudnorm, and the cheap pre-check against the full measure."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from a2d.kernels import _native
from a2d.kernels.loudness import LoudnessGate, integrated_loudness, loudness_upper_bound

SR = 44100


def _clip(rng: np.random.Generator, channels: int, samples: int, level_db: float) -> np.ndarray:
    """Noise, a sine (low, mid or near the K-weighting's +4 dB shelf) or a decaying tone."""
    t = np.arange(samples) / SR
    kind = rng.integers(4)
    if kind == 0:
        x = rng.standard_normal((channels, samples))
    elif kind == 1:
        f = rng.choice([30.0, 440.0, 9000.0, 18000.0])
        x = np.sin(2 * np.pi * f * t + rng.uniform(0, np.pi, (channels, 1)))
    elif kind == 2:
        x = rng.standard_normal((channels, samples)) * np.exp(-t * rng.uniform(1, 30))
    else:  # a note that starts late: mostly silence
        x = np.sin(2 * np.pi * 220 * t) * (t > t[-1] * rng.uniform(0.5, 0.95))
        x = np.broadcast_to(x, (channels, samples)).copy()
    return (x * 10 ** (level_db / 20)).astype(np.float32)


def _pyln(clip: np.ndarray) -> float:
    return float(pyloudnorm.Meter(SR).integrated_loudness(clip.T.astype(np.float64)))


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("samples", [SR // 2, SR * 2 + 17, SR * 4])
def test_integrated_loudness_matches_pyloudnorm(channels: int, samples: int) -> None:
    rng = np.random.default_rng(samples + channels)
    for level in (0.0, -20.0, -45.0, -60.0, -75.0, -120.0):
        clip = _clip(rng, channels, samples, level)
        ours, ref = float(integrated_loudness(clip, SR)), _pyln(clip)
        if np.isinf(ref):
            assert ours == ref
        else:
            assert abs(ours - ref) < 0.01, (level, ours, ref)


def test_batch_equals_one_by_one() -> None:
    rng = np.random.default_rng(1)
    batch = np.stack([_clip(rng, 2, SR, lvl) for lvl in (-10.0, -50.0, -90.0)])
    got = integrated_loudness(batch, SR)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, [integrated_loudness(c, SR) for c in batch])


def test_precheck_never_changes_which_clips_pass() -> None:
    """The bound is never below the true loudness, so gating with it decides like pyloudnorm."""
    rng = np.random.default_rng(7)
    gate = LoudnessGate(-55.0, SR)
    for _ in range(120):
        clip = _clip(rng, 2, SR, rng.uniform(-95.0, -35.0))
        ref = _pyln(clip)
        assert float(loudness_upper_bound(clip, SR)) >= ref - 1e-9
        assert gate.passes(clip) == (ref >= -55.0)
    assert gate.prechecked > 10 and gate.measured > 10  # both paths were exercised


def test_no_gate_keeps_everything_and_short_clips_are_errors() -> None:
    assert LoudnessGate(None, SR).passes(np.zeros((2, SR), np.float32))
    with pytest.raises(ValueError, match="shorter than one"):
        integrated_loudness(np.zeros((2, 100)), SR)


NEEDS_CORE = pytest.mark.skipif(_native.core() is None, reason="a2d._core did not build")


@pytest.mark.native
@NEEDS_CORE
@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_native_block_energies_match_the_python_reference(rate: int) -> None:
    """a2d._core's K-weighting + block sums against the numpy/scipy reference and pyloudnorm,
    on a batch that mixes 1-3 channels' worth of signals in groups of 4 (5 clips x 3 channels)."""
    rng = np.random.default_rng(rate)
    batch = np.stack([_clip(rng, 3, rate * 2 + 123, lvl) for lvl in (0, -20, -45, -62, -120)])
    cpp = integrated_loudness(batch, rate, implementation="cpp")
    python = integrated_loudness(batch, rate, implementation="python")
    finite = np.isfinite(python)
    assert np.array_equal(np.isfinite(cpp), finite) and finite.sum() >= 3
    np.testing.assert_allclose(cpp[finite], python[finite], atol=1e-9, rtol=0)
    for channels in (1, 2):
        clip = batch[1, :channels]
        ref = float(pyloudnorm.Meter(rate).integrated_loudness(clip.T.astype(np.float64)))
        assert abs(float(integrated_loudness(clip, rate, implementation="cpp")) - ref) < 1e-6


@pytest.mark.native
@NEEDS_CORE
def test_native_block_energies_refuse_bad_input() -> None:
    core = _native.core()
    audio = np.zeros((1, 100), np.float32)
    sos = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    lo, hi = np.array([0], np.int64), np.array([100], np.int64)
    assert core.k_weighted_block_energy(audio + 1, sos, lo, hi).tolist() == [[100.0]]
    with pytest.raises(ValueError, match="not inside the audio"):
        core.k_weighted_block_energy(audio, sos, lo, np.array([101], np.int64))
    with pytest.raises(ValueError, match="normalised"):
        core.k_weighted_block_energy(audio, sos * 2, lo, hi)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        core.k_weighted_block_energy(audio.astype(np.float64), sos, lo, hi)


def _dexed_like(samples: int, rate: int) -> np.ndarray:
    """A loud FM-like note that ends and rings down towards subnormal filter states, then a
    30 Hz rumble (the slowest part of the K-weighting's memory), mono float32."""
    t = np.arange(samples) / rate
    note = np.sin(2 * np.pi * 220 * t + 3 * np.sin(2 * np.pi * 440 * t)) * np.exp(-t * 6)
    note[samples // 3 :] = 0.0
    rumble = 0.5 * np.sin(2 * np.pi * 30 * t) * (t > t[-1] * 0.6)
    return (note + rumble)[None].astype(np.float32)


@pytest.mark.native
@NEEDS_CORE
@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_split_lanes_equal_one_pass(rate: int) -> None:
    """A signal split into lanes (independent recursions, each warmed up over lane_warmup samples
    from a zero state) gives the block energies of one exact pass to within rounding, and the
    same loudness as the Python reference and pyloudnorm; mono clips take 2 lanes by default."""
    from a2d.kernels.loudness import _block_energy_cpp, _block_energy_python, lane_warmup

    rng = np.random.default_rng(rate)
    n = rate * 4
    clips = [_dexed_like(n, rate), *[_clip(rng, 1, n, lvl) for lvl in (0.0, -30.0, -50.0)]]
    clips.append(_clip(rng, 2, n + 11, -20.0))  # stereo, an odd length
    for clip in clips:
        one = _block_energy_cpp(clip, rate, lanes=1)
        ref = _block_energy_python(clip, rate)
        # Running sums of the whole clip's energy are differenced per block (in either
        # implementation): a block's error is rounding of the total, not of the block.
        floor = 1e-12 * one.sum()
        for lanes in (2, 3, 4, 8):
            split = _block_energy_cpp(clip, rate, lanes=lanes)
            np.testing.assert_allclose(split, one, rtol=1e-9, atol=floor)
            np.testing.assert_allclose(split, ref, rtol=1e-9, atol=floor)
        py = float(integrated_loudness(clip, rate, implementation="python"))
        cpp = float(integrated_loudness(clip, rate, implementation="cpp"))
        assert abs(cpp - py) < 1e-9 or (np.isinf(cpp) and cpp == py)
        if clip.shape[0] == 1 and np.isfinite(py):
            meter = pyloudnorm.Meter(rate).integrated_loudness(clip.T.astype(np.float64))
            assert abs(cpp - float(meter)) < 1e-6
    # The warm-up is what makes the split exact: without it the lanes start from a wrong state.
    core, clip = _native.core(), clips[0]
    from a2d.kernels.loudness import _blocks, _sos

    lo, hi = _blocks(n, rate)
    bare = core.k_weighted_block_energy(clip, _sos(float(rate)), lo, hi, 1, 4, 0)
    assert np.max(np.abs(bare - one) / (one + floor)) > 1e-6
    assert 0 < lane_warmup(float(rate)) < n // 8


@pytest.mark.native
@NEEDS_CORE
def test_split_lanes_fall_back_to_one_pass_on_short_signals() -> None:
    core = _native.core()
    audio = np.random.default_rng(0).standard_normal((1, 1000)).astype(np.float32)
    sos = np.array([[1.0, -0.5, 0.0, 1.0, -0.9, 0.0]])
    lo, hi = np.arange(0, 900, 100, dtype=np.int64), np.arange(100, 1000, 100, dtype=np.int64)
    one = core.k_weighted_block_energy(audio, sos, lo, hi, 1, 1, 0)
    # lanes x warmup longer than the signal: one exact pass (bit-identical), not a wrong split
    assert np.array_equal(core.k_weighted_block_energy(audio, sos, lo, hi, 1, 4, 400), one)
    with pytest.raises(ValueError, match="lanes"):
        core.k_weighted_block_energy(audio, sos, lo, hi, 1, 0, 0)
