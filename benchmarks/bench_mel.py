"""Batched log-mel, 64 clips x 4 s stereo at 44.1 kHz, reference settings (n_fft 1102, hop 441,
hamming, 128 mels, power 2, dB re max, top_db 80): a2d's C++ (and CUDA) kernel against the best
torch CPU pipeline (torch.stft + mel matmul) and librosa, per clip and on the batched array, all at
the same thread count.

Run: ``pytest benchmarks/bench_mel.py --benchmark-only``. Under ``--benchmark-disable`` (CI) each
case runs once on 2 clips so the file stays a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from a2d.kernels import _native
from a2d.kernels.features import MelSettings
from a2d.kernels.mel import mel_filterbank, mel_spectrogram

SR = 44100
SETTINGS = MelSettings()
THREADS = _native.default_num_threads()
SECONDS = 4.0
_audio: dict[int, np.ndarray] = {}


def audio_for(benchmark) -> np.ndarray:
    batch = 2 if benchmark.disabled else 64
    if batch not in _audio:
        rng = np.random.default_rng(0)
        t = np.arange(int(SECONDS * SR)) / SR
        tones = np.sin(2 * np.pi * rng.uniform(50, 2000, (batch, 2, 1)) * t)
        _audio[batch] = (0.5 * tones + 0.01 * rng.standard_normal(tones.shape)).astype(np.float32)
    return _audio[batch]


def torch_mel(audio: np.ndarray) -> np.ndarray:
    """Strongest plain-torch pipeline: one batched stft, |X|^2, mel matmul, dB re per-item max."""
    bank = mel_filterbank(SETTINGS, SR)
    x = torch.from_numpy(audio).reshape(-1, audio.shape[-1])
    window = torch.from_numpy(bank.window)
    fb = torch.from_numpy(np.array(bank.dense))
    spec = torch.stft(x, SETTINGS.n_fft, SETTINGS.hop_length, window=window, center=True,
                      pad_mode="constant", return_complex=True)  # fmt: skip
    mel = fb @ (spec.real.square() + spec.imag.square())
    db = 10 * torch.log10(mel.clamp_min(SETTINGS.amin))
    db = db - db.amax(dim=(-2, -1), keepdim=True)
    db = db.clamp_min(-SETTINGS.top_db)
    return db.reshape(*audio.shape[:-1], *db.shape[-2:]).numpy()


def librosa_batched(audio: np.ndarray) -> np.ndarray:
    import librosa

    s = SETTINGS
    power = librosa.feature.melspectrogram(y=audio, sr=SR, n_fft=s.n_fft, hop_length=s.hop_length,
                                           window=s.window, n_mels=s.n_mels)  # fmt: skip
    peak = power.max(axis=(-2, -1), keepdims=True)
    return librosa.power_to_db(power / peak, ref=1.0, top_db=s.top_db)


def librosa_per_clip(audio: np.ndarray) -> np.ndarray:
    return np.stack([librosa_batched(clip) for clip in audio])


def _finish(benchmark, result: np.ndarray, audio: np.ndarray, backend: str) -> None:
    # Checked after timing: every contender must produce the same features.
    want = mel_spectrogram(
        audio[:1], SR, implementation="cpp" if "cpp" in _native.available() else "python"
    )
    got = result.cpu().numpy() if isinstance(result, torch.Tensor) else result
    assert got.shape == (*audio.shape[:-1], SETTINGS.n_mels, SETTINGS.num_frames(audio.shape[-1]))
    np.testing.assert_allclose(got[:1], want, atol=2e-3)
    seconds_of_audio = audio.shape[0] * SECONDS
    benchmark.extra_info.update(backend=backend, clips=audio.shape[0], channels=2, seconds=SECONDS,
                                sample_rate=SR, n_fft=SETTINGS.n_fft, threads=THREADS)  # fmt: skip
    if benchmark.stats is not None:
        benchmark.extra_info["real_time_factor"] = seconds_of_audio / benchmark.stats.stats.median


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


@pytest.mark.native
@pytest.mark.skipif("cpp" not in _native.available(), reason="a2d._core did not build")
def test_a2d_cpp(benchmark) -> None:
    audio = audio_for(benchmark)
    out = benchmark(mel_spectrogram, audio, SR, implementation="cpp", num_threads=THREADS)
    _finish(benchmark, out, audio, "a2d-cpp")


@pytest.mark.cuda
@pytest.mark.skipif("cuda" not in _native.available(), reason="no CUDA GPU visible")
def test_a2d_cuda(benchmark) -> None:
    audio = audio_for(benchmark)
    x = torch.from_numpy(audio).cuda()

    def run() -> torch.Tensor:
        out = mel_spectrogram(x, SR, implementation="cuda")
        torch.cuda.synchronize()
        return out

    _finish(benchmark, benchmark(run), audio, "a2d-cuda")


def test_torch_stft(benchmark, torch_threads) -> None:
    audio = audio_for(benchmark)
    with torch.inference_mode():
        out = benchmark.pedantic(torch_mel, args=(audio,), rounds=5, warmup_rounds=1)
    _finish(benchmark, out, audio, "torch-stft")


def test_librosa_batched(benchmark) -> None:
    audio = audio_for(benchmark)
    out = benchmark.pedantic(librosa_batched, args=(audio,), rounds=2, warmup_rounds=1)
    _finish(benchmark, out, audio, "librosa-batched")


def test_librosa_per_clip(benchmark) -> None:
    audio = audio_for(benchmark)
    out = benchmark.pedantic(librosa_per_clip, args=(audio,), rounds=2, warmup_rounds=1)
    _finish(benchmark, out, audio, "librosa-per-clip")
