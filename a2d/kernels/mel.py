"""Batched log-mel spectrograms, exactly as librosa computes them, from C++, CUDA or torch.

``mel_spectrogram(audio, sample_rate, settings)`` maps audio ``(..., T)`` at ``sample_rate`` Hz to
``(..., n_mels, frames)``; with ``to_db`` the values are dB relative to ``ref`` and clipped at
``top_db`` below each spectrogram's peak (per item and channel, as ``librosa.power_to_db(S,
ref=np.max)`` on every ``(n_mels, frames)`` matrix). Every feature computation in a2d goes through it.

Implementations (``a2d.kernels._native.select``): ``cpp`` (``a2d._core``: mixed-radix FFT vectorised
across frames, threads, GIL released), ``cuda`` (``a2d._core_cuda`` on device tensors) and
``python`` (the torch float64 reference the other two are tested against).
"""

from __future__ import annotations

import dataclasses
import sys
from functools import lru_cache
from typing import Any

import numpy as np

from a2d.contracts.errors import AudioInputError, ConfigError
from a2d.kernels import _native
from a2d.kernels.features import MelSettings

__all__ = [
    "MelFilterbank",
    "hz_to_mel",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_hz",
    "mel_weights",
    "periodic_window",
    "resolve_settings",
]


@dataclasses.dataclass(frozen=True, eq=False)  # identity hash: cached per settings
class MelFilterbank:
    """librosa's mel filterbank, dense and in compressed rows (each band is one run of bins).

    :param dense: ``(n_mels, n_fft // 2 + 1)`` float32 weights (``librosa.filters.mel``).
    :param window: ``(n_fft,)`` float32 periodic analysis window.
    :param start: ``(n_mels,)`` int32 first bin of each band.
    :param length: ``(n_mels,)`` int32 bins in each band.
    :param offset: ``(n_mels,)`` int32 index of each band's first weight in ``weights``.
    :param weights: ``(sum(length),)`` float32 band weights.
    """

    dense: np.ndarray
    window: np.ndarray
    start: np.ndarray
    length: np.ndarray
    offset: np.ndarray
    weights: np.ndarray


# ---- the filterbank, in NumPy (librosa's numbers without importing librosa: its filters module
# loads numba and scipy.signal, about 1 s of start-up for a 2 ms computation) --------------------
_F_SP = 200.0 / 3  # Slaney: Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies: Any, *, htk: bool = False) -> Any:
    """Hz to mels (Slaney's scale, or HTK's), as ``librosa.hz_to_mel``."""
    f = np.asanyarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = f / _F_SP
    log = f >= _MIN_LOG_HZ
    if f.ndim:
        mels[log] = _MIN_LOG_MEL + np.log(f[log] / _MIN_LOG_HZ) / _LOGSTEP
    elif log:
        mels = _MIN_LOG_MEL + np.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels: Any, *, htk: bool = False) -> Any:
    """Mels to Hz, the inverse of :func:`hz_to_mel` (``librosa.mel_to_hz``)."""
    m = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    freqs = _F_SP * m
    log = m >= _MIN_LOG_MEL
    if m.ndim:
        freqs[log] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m[log] - _MIN_LOG_MEL))
    elif log:
        freqs = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL))
    return freqs


def mel_weights(
    sample_rate: float,
    n_fft: int,
    *,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` float32 triangular filters: ``librosa.filters.mel`` with the
    same arguments, computed the same way (tested equal)."""
    fmax = float(sample_rate) / 2 if fmax is None else fmax
    weights = np.zeros((int(n_mels), int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_f = mel_to_hz(
        np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), int(n_mels) + 2), htk=htk
    )
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(int(n_mels)):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    elif norm is not None:
        raise ConfigError(f"unknown mel norm {norm!r}; use 'slaney' or none")
    return weights


#: Cosine-sum coefficients of the analysis windows (``scipy.signal.windows.general_cosine``).
_WINDOWS: dict[str, tuple[float, ...]] = {"hann": (0.5, 0.5), "hamming": (0.54, 1.0 - 0.54)}


def periodic_window(name: str, n: int) -> np.ndarray:
    """``(n,)`` float64 periodic window, as ``scipy.signal.get_window(name, n, fftbins=True)``."""
    try:
        coeffs = _WINDOWS[name]
    except KeyError:
        raise ConfigError(
            f"unknown mel window {name!r}; use one of {', '.join(sorted(_WINDOWS))}"
        ) from None
    if n <= 1:
        return np.ones(max(n, 0))
    fac = np.linspace(-np.pi, np.pi, n + 1)
    w = np.zeros(n + 1)
    for k, a in enumerate(coeffs):
        w += a * np.cos(k * fac)
    return w[:n]


@lru_cache(maxsize=32)
def mel_filterbank(settings: MelSettings, sample_rate: int) -> MelFilterbank:
    """The (cached) filterbank and window for ``settings`` at ``sample_rate`` Hz."""
    dense = mel_weights(
        sample_rate,
        settings.n_fft,
        n_mels=settings.n_mels,
        fmin=settings.fmin,
        fmax=settings.fmax,
        htk=settings.htk,
        norm=settings.norm,
    )
    window = periodic_window(settings.window, settings.n_fft)
    starts, lengths, chunks = [], [], []
    for row in dense:
        nonzero = np.flatnonzero(row)
        first, last = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
        starts.append(first)
        lengths.append(last - first)
        chunks.append(row[first:last])
    lengths_arr = np.asarray(lengths, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]).astype(np.int32)
    weights = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    for arr in (dense, window, weights):
        arr.flags.writeable = False
    return MelFilterbank(
        dense=dense,
        window=np.ascontiguousarray(window, dtype=np.float32),
        start=np.asarray(starts, dtype=np.int32),
        length=lengths_arr,
        offset=offsets,
        weights=np.ascontiguousarray(weights),
    )


def resolve_settings(settings: MelSettings | None, overrides: dict[str, Any]) -> MelSettings:
    """``settings`` (default: the reference settings) with ``overrides`` (field names) applied."""
    settings = settings if settings is not None else MelSettings()
    if not overrides:
        return settings
    fields = {f.name for f in dataclasses.fields(MelSettings)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(
            f"unknown mel setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    return dataclasses.replace(settings, **overrides)


def _is_torch(audio: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor implies torch is imported; never import it here
    return torch is not None and isinstance(audio, torch.Tensor)


def _check_audio(audio: Any, settings: MelSettings) -> tuple[tuple[int, ...], int]:
    """Validate kind, dtype and length; returns (batch shape, T)."""
    if not (isinstance(audio, np.ndarray) or _is_torch(audio)):
        raise AudioInputError(
            f"audio must be a numpy array or torch tensor of shape (..., T), got {type(audio).__name__}"
        )
    is_float = audio.dtype.is_floating_point if _is_torch(audio) else audio.dtype.kind == "f"
    if not is_float:
        raise AudioInputError(
            f"audio must be floating point (float32 preferred), got dtype {audio.dtype}; "
            "convert it with .astype(np.float32)"
        )
    if audio.ndim < 1:
        raise AudioInputError("audio must have shape (..., T), got a scalar; pass a 1-D signal")
    length = int(audio.shape[-1])
    padded = length + (2 * (settings.n_fft // 2) if settings.center else 0)
    if length < 1 or padded < settings.n_fft:
        raise AudioInputError(
            f"audio of {length} samples is too short for n_fft {settings.n_fft}; pass longer audio "
            "or use center=True"
        )
    return tuple(int(d) for d in audio.shape[:-1]), length


def _non_finite() -> AudioInputError:
    return AudioInputError("audio contains NaN or infinite samples; clean or reject the input")


def mel_spectrogram(
    audio: Any,
    sample_rate: int,
    settings: MelSettings | None = None,
    *,
    implementation: str | None = None,
    num_threads: int | None = None,
    **overrides: Any,
) -> Any:
    """Log-mel (or mel) spectrogram of ``audio``.

    :param audio: numpy array or torch tensor ``(..., T)``, float (computed in float32).
    :param sample_rate: sample rate of ``audio`` in Hz.
    :param settings: :class:`~a2d.kernels.features.MelSettings` (default: the reference settings).
    :param implementation: ``python``, ``cpp`` or ``cuda`` (default: ``a2d.kernels._native.select``).
    :param num_threads: CPU threads for ``cpp`` (default: env ``A2D_NUM_THREADS``, else all cores).
    :param overrides: ``MelSettings`` fields to replace, e.g. ``n_mels=64``.
    :returns: same kind as ``audio`` (torch: on the same device), float32 ``(..., n_mels, frames)``.
    """
    settings = resolve_settings(settings, overrides)
    batch, length = _check_audio(audio, settings)
    on_gpu = _is_torch(audio) and audio.device.type == "cuda"
    choice = _native.select(implementation, on_gpu=on_gpu)
    bank = mel_filterbank(settings, int(sample_rate))
    frames = settings.num_frames(length)
    if choice == "cuda":
        return _mel_cuda(audio, bank, settings, batch, length, frames)
    if _is_torch(audio):
        flat = audio.detach().reshape(-1, length).to("cpu", dtype=sys.modules["torch"].float32)
        flat_np = np.ascontiguousarray(flat.numpy())
    else:
        flat_np = np.ascontiguousarray(audio.reshape(-1, length), dtype=np.float32)
    if choice == "cpp":
        out = _mel_cpp(flat_np, bank, settings, frames, num_threads)
    else:
        out = _mel_python(flat_np, bank, settings)
    out = out.reshape(*batch, settings.n_mels, frames)
    if _is_torch(audio):
        import torch

        return torch.from_numpy(out).to(audio.device)
    return out


def _mel_cpp(
    flat: np.ndarray, bank: MelFilterbank, s: MelSettings, frames: int, num_threads: int | None
) -> np.ndarray:
    core = _native.core()
    out = np.empty((flat.shape[0], s.n_mels, frames), dtype=np.float32)
    try:
        core.mel_spectrogram(
            flat,
            out,
            bank.window,
            bank.start,
            bank.length,
            bank.offset,
            bank.weights,
            hop=s.hop_length,
            center=s.center,
            pad_mode=s.pad_mode,
            magnitude=s.power == 1.0,
            to_db=s.to_db,
            ref=None if s.ref == "max" else float(s.ref),
            amin=s.amin,
            top_db=s.top_db,
            num_threads=num_threads or _native.num_threads(),
        )
    except ValueError as exc:
        if "NaN" in str(exc):
            raise _non_finite() from None
        raise
    return out


def _mel_python(flat: np.ndarray, bank: MelFilterbank, s: MelSettings) -> np.ndarray:
    """The reference: torch.stft in float64, dense mel matrix, librosa's power_to_db per item."""
    import torch

    x = torch.from_numpy(flat).to(torch.float64)
    window = torch.from_numpy(bank.window).to(torch.float64)
    spec = torch.stft(
        x,
        s.n_fft,
        s.hop_length,
        window=window,
        center=s.center,
        pad_mode=s.pad_mode,
        return_complex=True,
    )
    mag = spec.abs() if s.power == 1.0 else spec.real.square() + spec.imag.square()
    mel = torch.from_numpy(np.array(bank.dense)).to(torch.float64) @ mag
    if not bool(torch.isfinite(mel).all()):
        raise _non_finite()
    if s.to_db:
        factor = 20.0 if s.power == 1.0 else 10.0
        ref = mel.amax(dim=(-2, -1), keepdim=True) if s.ref == "max" else torch.tensor(float(s.ref))
        mel = factor * torch.log10(mel.clamp_min(s.amin)) - factor * torch.log10(
            ref.to(torch.float64).clamp_min(s.amin)
        )
        if s.top_db is not None:
            mel = torch.maximum(mel, mel.amax(dim=(-2, -1), keepdim=True) - s.top_db)
    return mel.to(torch.float32).numpy()


@lru_cache(maxsize=8)
def _device_tables(bank: MelFilterbank, device: str) -> tuple[Any, ...]:
    """Window, DFT twiddles and sparse filters as tensors on ``device`` (cached per bank)."""
    import torch

    n_fft = bank.window.shape[0]
    angle = -2.0 * np.pi * np.arange(n_fft) / n_fft
    arrays = (bank.window, np.cos(angle), np.sin(angle), bank.start, bank.length, bank.offset)
    tables = tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays)
    weights = bank.weights if bank.weights.size else np.zeros(1, np.float32)
    return (*tables, torch.from_numpy(np.array(weights)).to(device))


def _mel_cuda(
    audio: Any,
    bank: MelFilterbank,
    s: MelSettings,
    batch: tuple[int, ...],
    length: int,
    frames: int,
) -> Any:
    """CUDA path: device tensors in and out (numpy input is moved to the GPU and back)."""
    import torch

    core = _native.core_cuda()
    was_numpy = not _is_torch(audio)
    x = torch.from_numpy(np.asarray(audio)) if was_numpy else audio.detach()
    device = x.device if x.device.type == "cuda" else torch.device("cuda")
    x = x.to(device=device, dtype=torch.float32).reshape(-1, length).contiguous()
    signals = x.shape[0]
    out = torch.empty((signals, s.n_mels, frames), dtype=torch.float32, device=device)
    peak = torch.empty(max(signals, 1), dtype=torch.float32, device=device)
    bad = torch.zeros(1, dtype=torch.int32, device=device)
    window, tw_re, tw_im, start, length_t, offset, weights = _device_tables(bank, str(device))
    with torch.cuda.device(device):
        core.mel_spectrogram(
            x.data_ptr(),
            signals,
            length,
            out.data_ptr(),
            window.data_ptr(),
            s.n_fft,
            tw_re.data_ptr(),
            tw_im.data_ptr(),
            start.data_ptr(),
            length_t.data_ptr(),
            offset.data_ptr(),
            weights.data_ptr(),
            s.n_mels,
            s.hop_length,
            s.center,
            s.pad_mode,
            s.power == 1.0,
            s.to_db,
            None if s.ref == "max" else float(s.ref),
            s.amin,
            s.top_db,
            peak.data_ptr(),
            bad.data_ptr(),
            torch.cuda.current_stream(device).cuda_stream,
        )
    if int(bad.item()) > 0:
        raise _non_finite()
    out = out.reshape(*batch, s.n_mels, frames)
    return out.cpu().numpy() if was_numpy else out
