"""Metrics: DTW against librosa's, audio metrics on analytic signals, parameter metrics on a spec."""

from __future__ import annotations

import numpy as np
import pytest

from a2d.contracts.spec import Categorical, Continuous, NoteSpec, ParamSpec
from a2d.kernels import metrics
from a2d.kernels.dtw import dtw, l1_cost

SR = 22050


def tone(freq: float, seconds: float = 1.0, decay: float = 2.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    x = amp * np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)
    return np.stack([x, x]).astype(np.float32)


@pytest.mark.parametrize("impl", ["numpy", "numba"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (13, 21), (30, 17)])
def test_dtw_matches_librosa(shape, impl):
    import librosa

    rng = np.random.default_rng(sum(shape))
    cost = rng.random((3, *shape))
    cost[:, ::3, ::2] = 0.5  # plateaus, so ties between steps occur
    got = dtw(cost, impl)
    for b in range(3):
        acc, path = librosa.sequence.dtw(C=cost[b])
        assert got.cost[b] == pytest.approx(acc[-1, -1], rel=1e-12)
        assert max(shape) <= got.length[b] <= sum(shape) - 1
        assert got.length[b] == len(path)  # both prefer the diagonal: the same shortest path


def test_dtw_aligns_a_time_stretched_sequence_at_zero_cost():
    x = np.sin(np.linspace(0, 6, 40))[:, None]
    y = np.repeat(x, 2, axis=0)  # every frame twice
    assert dtw(l1_cost(x[None], y[None])).cost[0] == pytest.approx(0.0, abs=1e-12)
    assert dtw(l1_cost(x[None], -y[None])).cost[0] > 1.0


def test_dtw_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        dtw(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="N, M >= 1"):
        dtw(np.zeros((2, 0, 3)))


def test_identical_audio_is_a_perfect_score():
    a = tone(220.0)
    got = metrics.audio_metrics(a[None], a, SR)
    assert got["mss"][0] == pytest.approx(0.0, abs=1e-6)
    assert got["wmfcc"][0] == pytest.approx(0.0, abs=1e-4)
    assert got["sot"][0] == pytest.approx(0.0, abs=1e-9)
    assert got["rms"][0] == pytest.approx(1.0)


def test_metrics_rank_a_near_miss_above_a_far_miss():
    target = tone(220.0)
    preds = np.stack([tone(233.0), tone(660.0, decay=8.0)])
    got = metrics.audio_metrics(preds, target, SR)
    for name, higher_is_better in metrics.AUDIO_METRICS.items():
        near, far = got[name]
        assert (near > far) if higher_is_better else (near < far), name


def test_sot_of_two_tones_is_their_frequency_distance_over_nyquist():
    got = metrics.sot(tone(2000.0, decay=0.0)[None], tone(4000.0, decay=0.0), SR)
    assert got[0] == pytest.approx(2000.0 / (SR / 2), rel=0.05)


def test_rms_cosine_ignores_gain_and_mss_does_not():
    a = tone(440.0)
    assert metrics.rms_cosine(0.1 * a[None], a, SR)[0] == pytest.approx(1.0)
    assert metrics.mss(0.1 * a[None], a, SR)[0] > 2.0  # 20 dB quieter where above the floor
    assert metrics.rms_cosine(np.zeros_like(a)[None], np.zeros_like(a), SR)[0] == 1.0
    assert metrics.rms_cosine(np.zeros_like(a)[None], a, SR)[0] == 0.0


def test_audio_metrics_broadcast_one_target_and_check_shapes():
    target = tone(220.0)
    preds = np.stack([tone(220.0), tone(330.0), tone(440.0)])
    assert metrics.mss(preds, target, SR).shape == (3,)
    assert metrics.mss(preds, np.stack([target] * 3), SR) == pytest.approx(
        metrics.mss(preds, target, SR)
    )
    with pytest.raises(ValueError, match="equal C and N"):
        metrics.mss(preds, target[:, :100], SR)


def test_log_mel_matches_librosa():
    import librosa

    a = tone(300.0)
    s = metrics._db_mel_settings(SR, 0.025, 0.010, 64)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(
            y=a, sr=SR, n_fft=s.n_fft, hop_length=s.hop_length, n_mels=64, window="hann"
        ),
        ref=1.0, amin=s.amin, top_db=None,
    )  # fmt: skip
    np.testing.assert_allclose(metrics.log_mel(a, SR, s), ref, atol=0.05)


def spec() -> ParamSpec:
    return ParamSpec(
        "toy",
        "toysynth",
        (
            Continuous("cutoff", 0.0, 100.0, group="filter"),
            Continuous("res", 0.0, 1.0, group="filter"),
            Categorical("wave", ("sine", "saw", "square"), (0.0, 0.5, 1.0), group="osc"),
        ),
        NoteSpec(times="fixed"),
    )


def test_param_metrics_per_column_group_and_accuracy():
    s = spec()
    target = np.array([[0.5, 0.5, 1, 0, 0, 0.5], [0.2, 1.0, 0, 1, 0, 0.5]])
    pred = np.array([[0.7, 0.5, 0.9, 0.2, 0, 0.5], [0.2, 0.0, 0, 0.3, 0.6, 0.5]])
    got = metrics.param_metrics(pred, target, s)
    sq = (pred - target) ** 2
    assert got["mse"] == pytest.approx(sq.mean())
    assert got["mse_per_column"]["cutoff"] == pytest.approx(0.02)
    assert got["mse_per_column"]["wave=square"] == pytest.approx(0.18)
    assert got["mse_per_group"]["filter"] == pytest.approx(sq[:, :2].mean())
    assert got["mse_per_group"]["note"] == 0.0
    assert got["mse_per_param"]["wave"] == pytest.approx(sq[:, 2:5].mean())
    assert got["accuracy"] == {"wave": 0.5}  # row 1 argmax is "square", target "saw"
    np.testing.assert_allclose(got["per_row_mse"], sq.mean(axis=1))
    with pytest.raises(ValueError, match="two"):
        metrics.param_metrics(pred[:, :3], target, s)
