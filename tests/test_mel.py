"""a2d.mel_spectrogram against librosa (float64 truth), and parity of every available backend."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from a2d.contracts.errors import A2DError, AudioInputError, NativeBackendError
from a2d.kernels import _native
from a2d.kernels.features import MelSettings
from a2d.kernels.mel import mel_filterbank, mel_spectrogram

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


# The C++ kernel directly, at each SIMD width this CPU runs (16 frames per vector with AVX-512,
# 8 otherwise): every width must match librosa on its own, whichever one a2d picks by default.
CORE = _native.core()
LANES = CORE.simd_lanes() if CORE is not None else []
needs_core = pytest.mark.skipif(CORE is None, reason="a2d._core did not build")

# FFT lengths: prime-factor plans (551 = 19 x 29, 1023 = 3 x 11 x 31, 210 = 2 x 3 x 5 x 7,
# 76 = 4 x 19), mixed-radix ones (powers of two, 441 = 3^2 7^2, 500 = 4 x 5^3), primes large and
# small, and every length up to 40.
FFT_SIZES = [*range(1, 41), 64, 76, 210, 441, 500, 512, 551, 1009, 1023, 1024, 1031, 2018]
# Extra n_fft for the spectrogram: the same plan kinds reached through the real-input split.
MEL_NFFT = {
    "1102 (19 x 29)": 1102,
    "1023 (odd, 3 x 11 x 31)": 1023,
    "420 (2 x 3 x 5 x 7)": 420,
    "152 (4 x 19)": 152,
    "512 (power of two)": 512,
    "882 (3^2 7^2)": 882,
    "1000 (4 x 5^3)": 1000,
    "2018 (2 x prime 1009)": 2018,
    "1031 (odd prime)": 1031,
}


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def mel_cpp_lanes(
    audio: np.ndarray, sr: int, s: MelSettings, lanes: int, to_db: bool
) -> np.ndarray:
    bank = mel_filterbank(s, sr)
    flat = np.ascontiguousarray(audio.reshape(-1, audio.shape[-1]), dtype=np.float32)
    out = np.empty((flat.shape[0], s.n_mels, s.num_frames(flat.shape[-1])), np.float32)
    CORE.mel_spectrogram(
        flat, out, bank.window, bank.start, bank.length, bank.offset, bank.weights,
        hop=s.hop_length, center=s.center, pad_mode=s.pad_mode, magnitude=s.power == 1.0,
        to_db=to_db, ref=None, amin=s.amin, top_db=s.top_db, num_threads=0, lanes=lanes,
    )  # fmt: skip
    return out.reshape(*audio.shape[:-1], *out.shape[-2:])


@pytest.mark.native
@needs_core
@pytest.mark.parametrize("lanes", LANES)
def test_fft_matches_numpy(lanes: int) -> None:
    rng = np.random.default_rng(3)
    for n in FFT_SIZES:
        # 19 rows: full vectors plus a partial one at either width.
        x = rng.standard_normal((19, n)) + 1j * rng.standard_normal((19, n))
        got = CORE._fft(x.astype(np.complex64), lanes)
        want = np.fft.fft(x.astype(np.complex64).astype(np.complex128), axis=1)
        err = np.abs(got - want).max() / np.abs(want).max()
        # float32 rounding: ~log2(n) steps of the factored transform, and the direct O(p^2) DFT
        # of a prime factor p sums ~p terms (measured: 1.6e-7 at 551, 6.8e-7 at 2018 = 2 x 1009).
        largest_prime = (
            max(f for f in range(1, n + 1) if n % f == 0 and _is_prime(f)) if n > 1 else 1
        )
        tol = 1e-7 * max(1.0, np.log2(n)) + 4e-8 * np.sqrt(largest_prime)
        assert err < tol, f"n={n}: relative error {err:.2e} > {tol:.2e}"


@pytest.mark.native
@needs_core
@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("n_fft", list(MEL_NFFT.values()), ids=list(MEL_NFFT))
def test_every_simd_width_matches_librosa(noise: np.ndarray, n_fft: int, lanes: int) -> None:
    s = MelSettings(n_fft=n_fft, hop_length=n_fft // 3 + 1, n_mels=40, pad_mode="reflect")
    power, db = librosa_mel(noise, SR, s)
    assert_power_close(mel_cpp_lanes(noise, SR, s, lanes, to_db=False), power)
    np.testing.assert_allclose(
        mel_cpp_lanes(noise, SR, s, lanes, to_db=True), db, rtol=0, atol=1e-3
    )


@pytest.mark.native
@needs_core
def test_simd_widths_agree_and_bad_width_is_rejected(noise: np.ndarray) -> None:
    s = MelSettings()
    outs = [mel_cpp_lanes(noise, SR, s, lanes, to_db=True) for lanes in LANES]
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(outs[0], mel_spectrogram(noise, SR, implementation="cpp"))
    with pytest.raises(ValueError, match="lanes"):
        mel_cpp_lanes(noise, SR, s, 5, to_db=True)
    with pytest.raises(ValueError, match="lanes"):
        CORE._fft(np.zeros((1, 8), np.complex64), 3)


@pytest.mark.native
@pytest.mark.skipif("cpp" not in BACKENDS, reason="a2d._core did not build")
@pytest.mark.parametrize("num_threads", [1, 3])
@pytest.mark.parametrize("to_db", [True, False])
def test_cpp_rejects_non_finite_audio_at_any_thread_count(
    noise: np.ndarray, num_threads: int, to_db: bool
) -> None:
    # 1 thread: whole signals per work unit (finished in place); 3 threads on 4 signals: slices
    # of signals (finished by a second pass).
    for where in (0, 6000, noise.shape[-1] - 1):
        audio = noise.copy()
        audio[1, 1, where] = np.inf if where else np.nan
        with pytest.raises(AudioInputError, match="NaN or infinite"):
            mel_spectrogram(audio, SR, implementation="cpp", num_threads=num_threads, to_db=to_db)


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


@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("n_fft", [256, 1102, 2048])
@pytest.mark.parametrize(
    ("n_mels", "fmin", "fmax", "htk", "norm"),
    [
        (128, 0.0, None, False, "slaney"),
        (64, 20.0, 8000.0, True, None),
        (32, 30.0, None, False, None),
    ],
)
def test_numpy_filterbank_is_librosas(sr, n_fft, n_mels, fmin, fmax, htk, norm) -> None:
    """The filterbank is built without librosa (its import costs predict about 1 s): the same
    float32 numbers, bit for bit."""
    import warnings

    from a2d.kernels.mel import mel_weights

    with warnings.catch_warnings():  # librosa warns about empty bands for the small FFTs
        warnings.simplefilter("ignore")
        want = librosa.filters.mel(
            sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm
        )
    got = mel_weights(sr, n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_mel_scale_and_windows_are_librosa_and_scipys() -> None:
    import scipy.signal

    from a2d.kernels.mel import hz_to_mel, mel_to_hz, periodic_window

    hz = np.array([0.0, 100.0, 999.9, 1000.0, 5000.0, 22050.0])
    for htk in (False, True):
        np.testing.assert_array_equal(hz_to_mel(hz, htk=htk), librosa.hz_to_mel(hz, htk=htk))
        assert hz_to_mel(3000.0, htk=htk) == librosa.hz_to_mel(3000.0, htk=htk)
        mels = np.linspace(0, 60, 13)
        np.testing.assert_array_equal(mel_to_hz(mels, htk=htk), librosa.mel_to_hz(mels, htk=htk))
    for name in ("hann", "hamming"):
        for n in (1, 2, 7, 441, 1102, 2048):
            want = scipy.signal.get_window(name, n, fftbins=True)
            np.testing.assert_array_equal(periodic_window(name, n), want)
    with pytest.raises(A2DError, match="unknown mel window 'kaiser'"):
        periodic_window("kaiser", 8)
