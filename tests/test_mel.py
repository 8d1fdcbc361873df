"""a2d.mel_spectrogram against librosa (float64 truth), and parity of every available backend."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from a2d import _native
from a2d.errors import A2DError, AudioInputError, NativeBackendError
from a2d.features import MelSettings
from a2d.mel import mel_filterbank, mel_spectrogram

SR = 22050
BACKENDS = _native.available()
CONFIGS = {
    "reference": {},
    "hann-power1": {"window": "hann", "power": 1.0},
    "no-center": {"center": False},
    "htk-fmax": {"htk": True, "fmax": 6000.0, "fmin": 50.0, "n_mels": 64},
    "even-pow2-reflect": {"n_fft": 512, "hop_length": 128, "pad_mode": "reflect", "n_mels": 40},
    "odd": {"n_fft": 1023, "hop_length": 300, "n_mels": 48, "norm": None},
}


def librosa_mel(audio: np.ndarray, sr: int, s: MelSettings) -> tuple[np.ndarray, np.ndarray]:
    """Exact reference: librosa on float64 audio; returns (power, dB per spectrogram)."""
    power = librosa.feature.melspectrogram(
        y=audio.astype(np.float64), sr=sr, n_fft=s.n_fft, hop_length=s.hop_length,
        window=s.window, center=s.center, pad_mode=s.pad_mode, power=s.power, n_mels=s.n_mels,
        fmin=s.fmin, fmax=s.fmax, htk=s.htk, norm=s.norm,
    )  # fmt: skip
    flat = power.reshape(-1, *power.shape[-2:])
    if s.power == 2.0:
        db = [librosa.power_to_db(m, ref=np.max, amin=s.amin, top_db=s.top_db) for m in flat]
    else:
        db = [librosa.amplitude_to_db(m, ref=np.max, amin=s.amin, top_db=s.top_db) for m in flat]
    return power, np.stack(db).reshape(power.shape)


def assert_power_close(got: np.ndarray, want: np.ndarray) -> None:
    # 1e-5 relative; bins more than 100 dB below their spectrogram's peak are float32 FFT noise
    # for every implementation (librosa's own float32 path included), so they get an absolute floor.
    peak = want.max(axis=(-2, -1), keepdims=True)
    assert np.all(np.abs(got - want) <= 1e-5 * want + 1e-10 * peak)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(5).standard_normal((2, 2, SR // 2)).astype(np.float32)


@pytest.fixture(scope="module")
def vita_note() -> np.ndarray:
    vita = pytest.importorskip("vita")
    synth = vita.Synth()
    synth.set_sample_rate(44100)
    return synth.render(60, 0.8, 0.5, 1.0)  # (2, 44100) float32


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_librosa_on_noise(noise: np.ndarray, name: str, impl: str) -> None:
    s = MelSettings(**CONFIGS[name])
    power, db = librosa_mel(noise, SR, s)
    got_power = mel_spectrogram(noise, SR, s, implementation=impl, to_db=False)
    got_db = mel_spectrogram(noise, SR, s, implementation=impl)
    assert got_db.shape == power.shape == (2, 2, s.n_mels, s.num_frames(noise.shape[-1]))
    assert got_db.dtype == np.float32
    assert_power_close(got_power, power)
    np.testing.assert_allclose(got_db, db, rtol=0, atol=1e-3)


@pytest.mark.parametrize("impl", BACKENDS)
def test_matches_librosa_on_a_vita_note(vita_note: np.ndarray, impl: str) -> None:
    s = MelSettings()
    power, db = librosa_mel(vita_note, 44100, s)
    assert_power_close(
        mel_spectrogram(vita_note, 44100, s, implementation=impl, to_db=False), power
    )
    got = mel_spectrogram(vita_note, 44100, implementation=impl)
    np.testing.assert_allclose(got, db, rtol=0, atol=1e-3)
    assert got.min() == pytest.approx(-80.0) and got.max() == 0.0  # the note spans > 80 dB


def test_fixed_ref_and_no_top_db(noise: np.ndarray) -> None:
    s = MelSettings(ref=10.0, top_db=None)
    power, _ = librosa_mel(noise, SR, s)
    want = librosa.power_to_db(power, ref=10.0, amin=s.amin, top_db=None)
    for impl in BACKENDS:
        np.testing.assert_allclose(
            mel_spectrogram(noise, SR, s, implementation=impl), want, atol=1e-3
        )


def test_torch_in_torch_out_and_batch_shapes(noise: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    out = mel_spectrogram(torch.from_numpy(noise[0, 0]), SR, n_mels=32)
    assert isinstance(out, torch.Tensor) and out.shape == (32, MelSettings().num_frames(SR // 2))
    np.testing.assert_allclose(out.numpy(), mel_spectrogram(noise[0, 0], SR, n_mels=32), atol=1e-4)
    assert mel_spectrogram(noise[None], SR, n_mels=8).shape[:3] == (1, 2, 2)


def test_filterbank_is_librosa_and_sparse() -> None:
    s = MelSettings()
    bank = mel_filterbank(s, 44100)
    np.testing.assert_array_equal(bank.dense, librosa.filters.mel(sr=44100, n_fft=1102, n_mels=128))
    assert bank.weights.size < bank.dense.size / 20  # triangles: a few bins per band
    assert mel_filterbank(s, 44100) is bank  # cached


@pytest.mark.parametrize(
    ("audio", "error"),
    [
        (np.zeros((2, 100), np.float32), "too short"),  # no-center below n_fft
        (np.zeros((2, 4000), np.int16), "floating point"),
        (np.array(1.0, np.float32), "scalar"),
        ([0.0] * 4000, "numpy array or torch tensor"),
    ],
)
def test_bad_input_is_the_same_error_everywhere(audio: object, error: str) -> None:
    for impl in BACKENDS:
        with pytest.raises(AudioInputError, match=error):
            mel_spectrogram(audio, SR, center=False, implementation=impl)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_audio_is_rejected_by_every_backend(noise: np.ndarray, bad: float) -> None:
    audio = noise.copy()
    audio[1, 0, 5000] = bad
    for impl in BACKENDS:
        with pytest.raises(AudioInputError, match="NaN or infinite"):
            mel_spectrogram(audio, SR, implementation=impl)


def test_unknown_setting_and_missing_backend() -> None:
    with pytest.raises(A2DError, match="unknown mel setting"):
        mel_spectrogram(np.zeros(4000, np.float32), SR, nfft=512)
    missing = [b for b in _native.IMPLEMENTATIONS if b not in BACKENDS]
    for impl in [*missing, "fortran"]:
        with pytest.raises(NativeBackendError):
            mel_spectrogram(np.zeros(4000, np.float32), SR, implementation=impl)


@pytest.mark.native
@pytest.mark.skipif("cpp" not in BACKENDS, reason="a2d._core did not build")
def test_cpp_thread_counts_agree(noise: np.ndarray) -> None:
    one = mel_spectrogram(noise, SR, implementation="cpp", num_threads=1)
    three = mel_spectrogram(noise, SR, implementation="cpp", num_threads=3)
    np.testing.assert_array_equal(one, three)


@pytest.mark.cuda
@pytest.mark.skipif(
    "cuda" not in BACKENDS, reason="no CUDA GPU visible (or a2d._core_cuda not built)"
)
def test_cuda_keeps_device_tensors_on_device(noise: np.ndarray) -> None:
    import torch

    x = torch.from_numpy(noise).cuda()
    out = mel_spectrogram(x, SR)
    assert out.device == x.device
    np.testing.assert_allclose(
        out.cpu().numpy(), mel_spectrogram(noise, SR, implementation="python"), atol=1e-3
    )
