"""How close a predicted patch is to its target: parameter metrics and audio metrics.

Audio metrics follow the reference evaluation (see ``docs/design.md``); every function takes
batches ``(B, C, N)`` of float audio at ``sample_rate`` Hz (a ``(C, N)`` target broadcasts against
``(B, C, N)`` predictions) and returns ``(B,)`` float64:

- :func:`mss`: multi-scale spectral distance, the mean over three resolutions (window/hop/mels =
  10 ms/5 ms/32, 25/10/64, 100/50/128) of the mean absolute difference of power log-mels in dB
  (reference 1.0, floor -80 dB). Lower is better; 0 for identical audio.
- :func:`wmfcc`: 20 MFCCs per channel, DTW-aligned with an L1 frame distance, total cost divided by
  the path length, mean over channels. Lower is better.
- :func:`sot`: spectral optimal transport: per frame (mono, 50 ms window, 20 ms hop), the 1-D
  Wasserstein-1 distance between the magnitude spectra normalised to sum 1, frequency in units of
  Nyquist (so each frame is in [0, 1]); mean over frames. Lower is better.
- :func:`rms_cosine`: cosine similarity of the frame RMS envelopes (per channel, concatenated).
  Higher is better; 1 for identical envelopes.

All log-mels go through :func:`a2d.kernels.mel.mel_spectrogram`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from a2d.contracts.spec import Categorical, ParamSpec
from a2d.kernels.dtw import dtw, l1_cost
from a2d.kernels.features import MelSettings
from a2d.kernels.mel import mel_spectrogram

#: (window s, hop s, mels) of the three MSS resolutions.
MSS_RESOLUTIONS: tuple[tuple[float, float, int], ...] = (
    (0.010, 0.005, 32),
    (0.025, 0.010, 64),
    (0.100, 0.050, 128),
)
#: Floor of the dB log-mels used by MSS and wMFCC (absolute, re 1.0).
DB_FLOOR = -80.0
#: Names and direction of the audio metrics: True where higher is better.
AUDIO_METRICS: dict[str, bool] = {"mss": False, "wmfcc": False, "sot": False, "rms": True}


def log_mel(audio: np.ndarray, sample_rate: int, settings: MelSettings) -> np.ndarray:
    """``(..., N)`` -> ``(..., n_mels, frames)`` float32 through :mod:`a2d.kernels.mel`."""
    out = mel_spectrogram(np.ascontiguousarray(audio, dtype=np.float32), sample_rate, settings)
    return np.asarray(out.cpu().numpy() if hasattr(out, "cpu") else out, dtype=np.float32)


def _db_mel_settings(sample_rate: int, window_s: float, hop_s: float, n_mels: int) -> MelSettings:
    return MelSettings(
        n_fft=round(window_s * sample_rate), hop_length=round(hop_s * sample_rate),
        window="hann", n_mels=n_mels, power=2.0, to_db=True, ref=1.0,
        amin=10 ** (DB_FLOOR / 10), top_db=None,
    )  # fmt: skip


def _as_batches(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float32)
    target = np.asarray(target, dtype=np.float32)
    if pred.ndim == 2:
        pred = pred[None]
    if target.ndim == 2:
        target = target[None]
    if pred.ndim != 3 or target.ndim != 3 or pred.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"audio metrics need (B, C, N) arrays of equal C and N, got {pred.shape} and {target.shape}"
        )
    if target.shape[0] not in (1, pred.shape[0]):
        raise ValueError(f"target batch {target.shape[0]} does not broadcast to {pred.shape[0]}")
    return pred, target


def mss(pred: np.ndarray, target: np.ndarray, sample_rate: int) -> np.ndarray:
    """Multi-scale spectral distance in dB, ``(B,)``; see the module docstring."""
    pred, target = _as_batches(pred, target)
    total = np.zeros(pred.shape[0])
    for window_s, hop_s, n_mels in MSS_RESOLUTIONS:
        s = _db_mel_settings(sample_rate, window_s, hop_s, n_mels)
        diff = np.abs(log_mel(pred, sample_rate, s) - log_mel(target, sample_rate, s))
        total += diff.mean(axis=(1, 2, 3))
    return total / len(MSS_RESOLUTIONS)


def mfcc(audio: np.ndarray, sample_rate: int, n_mfcc: int = 20) -> np.ndarray:
    """``(..., N)`` -> ``(..., n_mfcc, frames)``: DCT-II (ortho) of 128-band dB log-mels
    (2048-sample window, 512 hop at 44.1 kHz, scaled with the rate), as ``librosa.feature.mfcc``."""
    n_fft = 2 ** round(np.log2(2048 * sample_rate / 44100))
    s = MelSettings(
        n_fft=n_fft, hop_length=n_fft // 4, window="hann", n_mels=128, power=2.0, to_db=True,
        ref=1.0, amin=10 ** (DB_FLOOR / 10), top_db=None,
    )  # fmt: skip
    from scipy.fft import dct  # here: 0.35 s to import, and predict never needs it

    return dct(log_mel(audio, sample_rate, s), type=2, axis=-2, norm="ortho")[..., :n_mfcc, :]


def wmfcc(pred: np.ndarray, target: np.ndarray, sample_rate: int) -> np.ndarray:
    """DTW-aligned MFCC distance, ``(B,)``; see the module docstring."""
    pred, target = _as_batches(pred, target)
    b, c = pred.shape[:2]
    mp = mfcc(pred, sample_rate).reshape(b * c, 20, -1).transpose(0, 2, 1)  # (B*C, F, 20)
    mt = mfcc(target, sample_rate)
    mt = np.broadcast_to(mt, (b, *mt.shape[1:])).reshape(b * c, 20, -1).transpose(0, 2, 1)
    return dtw(l1_cost(mp, mt)).normalized.reshape(b, c).mean(axis=1)


def _frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``(B, N)`` -> ``(B, frames, n_fft)`` centred (zero-padded) frames."""
    x = np.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)))
    view = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)
    return view[:, ::hop]


def sot(pred: np.ndarray, target: np.ndarray, sample_rate: int) -> np.ndarray:
    """Spectral optimal transport (mean per-frame Wasserstein-1), ``(B,)`` in [0, 1]."""
    pred, target = _as_batches(pred, target)
    n_fft, hop = round(0.05 * sample_rate), round(0.02 * sample_rate)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)

    def cdf(audio: np.ndarray) -> np.ndarray:
        spec = np.abs(np.fft.rfft(_frames(audio.mean(axis=1), n_fft, hop) * window, axis=-1))
        spec = spec + 1e-12  # a silent frame becomes the uniform distribution
        return np.cumsum(spec / spec.sum(axis=-1, keepdims=True), axis=-1)

    cp, ct = cdf(pred), cdf(target)
    bins = cp.shape[-1]
    return (np.abs(cp - ct).sum(axis=-1) / (bins - 1)).mean(axis=-1)


def rms_envelope(audio: np.ndarray, frame: int = 2048, hop: int = 512) -> np.ndarray:
    """``(B, C, N)`` -> ``(B, C, frames)`` centred frame RMS."""
    b, c, n = audio.shape
    sq = audio.reshape(b * c, n).astype(np.float64) ** 2
    return np.sqrt(_frames(sq, frame, hop).mean(axis=-1)).reshape(b, c, -1)


def rms_cosine(pred: np.ndarray, target: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cosine similarity of RMS envelopes, ``(B,)`` in [0, 1]; 1 when both are silent."""
    pred, target = _as_batches(pred, target)
    scale = sample_rate / 44100
    frame, hop = round(2048 * scale), round(512 * scale)
    ep = rms_envelope(pred, frame, hop).reshape(pred.shape[0], -1)
    et = rms_envelope(target, frame, hop).reshape(target.shape[0], -1)
    dot = (ep * et).sum(axis=-1)
    norms = np.linalg.norm(ep, axis=-1) * np.linalg.norm(et, axis=-1)
    both_silent = (np.linalg.norm(ep, axis=-1) == 0) & (np.linalg.norm(et, axis=-1) == 0)
    return np.where(both_silent, 1.0, dot / np.maximum(norms, 1e-30))


def audio_metrics(pred: np.ndarray, target: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """Every audio metric of :data:`AUDIO_METRICS`: name -> ``(B,)``."""
    return {
        "mss": mss(pred, target, sample_rate),
        "wmfcc": wmfcc(pred, target, sample_rate),
        "sot": sot(pred, target, sample_rate),
        "rms": rms_cosine(pred, target, sample_rate),
    }


def param_metrics(pred: np.ndarray, target: np.ndarray, spec: ParamSpec) -> dict[str, Any]:
    """Parameter-space errors of encoded vectors.

    :param pred: ``(B, width)`` predictions in [0, 1] (canonicalise them first to score what is
        rendered: ``spec.canonicalize``).
    :param target: ``(B, width)`` targets in [0, 1].
    :returns: ``mse`` (all columns), ``mse_per_column`` (name -> float), ``mse_per_param`` (name ->
        float), ``mse_per_group`` (``ColumnGroup.group`` or the kind -> float), ``accuracy`` (each
        categorical -> fraction of rows decoded to the right choice), ``accuracy_mean``, and
        ``per_row_mse`` ``(B,)``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim != 2 or pred.shape[1] != spec.width:
        raise ValueError(
            f"param_metrics needs two (B, {spec.width}) arrays, got {pred.shape} and {target.shape}"
        )
    sq = (pred - target) ** 2
    col = sq.mean(axis=0)
    per_param, cols_by_group, accuracy = {}, defaultdict(list), {}
    for g in spec.groups:
        per_param[g.name] = float(sq[:, g.slice].mean())
        cols_by_group[g.group or g.kind].extend(range(g.slice.start, g.slice.stop))
        if g.kind == "categorical":
            p = spec.param(g.name)
            assert isinstance(p, Categorical)
            hits = [
                p.decode_index(a) == p.decode_index(b)
                for a, b in zip(pred[:, g.slice], target[:, g.slice], strict=True)
            ]
            accuracy[g.name] = float(np.mean(hits))
    return {
        "mse": float(sq.mean()),
        "mse_per_column": dict(zip(spec.column_names, col.tolist(), strict=True)),
        "mse_per_param": per_param,
        "mse_per_group": {k: float(sq[:, v].mean()) for k, v in cols_by_group.items()},
        "accuracy": accuracy,
        "accuracy_mean": float(np.mean(list(accuracy.values()))) if accuracy else float("nan"),
        "per_row_mse": sq.mean(axis=1),
    }
