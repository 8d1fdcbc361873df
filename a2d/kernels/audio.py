"""Input sounds for ``a2d predict``: find them, read them, and shape them like the training clips.

:func:`load_sound` reads wav/flac/ogg/mp3 (soundfile; librosa/audioread for mp3 files soundfile
cannot decode), resamples to the model's rate, maps mono to stereo (or the first two of more
channels), trims leading silence, pads or crops to the model's clip length, and normalises the
integrated loudness (BS.1770) to :data:`TARGET_LUFS`.

Why a fixed loudness: the model's features are dB log-mels referenced to each clip's own maximum
(``MelSettings.ref="max"``, ``top_db``), so they are invariant to gain and the model never saw an
absolute level. The level only matters for scoring (absolute dB log-mels with a fixed floor), so
inputs are brought to one standard loudness and ``a2d predict`` gain-matches each candidate render to
the input before scoring it.

Every problem with an input is one :class:`~a2d.contracts.errors.AudioInputError` line naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2d.contracts.errors import AudioInputError, AudioNotFoundError
from a2d.contracts.synth import RenderSettings
from a2d.kernels.loudness import integrated_loudness

#: File suffixes accepted as input sounds (case-insensitive).
SUPPORTED_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
#: Integrated loudness (LUFS) every input is normalised to.
TARGET_LUFS = -20.0
#: Inputs longer than this (seconds) are refused rather than decoded.
MAX_SECONDS = 600.0
#: Leading samples quieter than this (dB relative to the clip's peak) are trimmed.
TRIM_DB = -50.0
#: Shortest input (seconds, after trimming): one BS.1770 loudness gating block.
MIN_SECONDS = 0.4
#: Clips whose peak is below this (linear) or whose loudness is below -70 LUFS are silent.
SILENCE_PEAK = 1e-5


@dataclass(frozen=True)
class Sound:
    """One input, ready for the model.

    :param path: the file it came from.
    :param audio: ``(channels, num_samples)`` float32 at the model's rate, loudness-normalised.
    :param source_rate: the file's sample rate (Hz).
    :param source_seconds: the file's duration (s).
    :param trimmed_seconds: leading silence removed (s, at the source rate).
    :param gain_db: gain applied to reach :data:`TARGET_LUFS` (dB).
    """

    path: Path
    audio: np.ndarray
    source_rate: int
    source_seconds: float
    trimmed_seconds: float
    gain_db: float


def find_sounds(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into their supported files (recursively, sorted); keep files as given.

    A missing path or a file with another suffix is kept, so that :func:`load_sound` reports it as
    that input's failure while the rest of a batch goes on.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES
                )
            )
        else:
            out.append(p)
    return out


def read_audio(path: str | Path, *, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Decode a file as it is: ``(channels, samples)`` float32 and its rate (Hz)."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioNotFoundError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise AudioInputError(f"{path}: not a file; pass audio files or folders holding them")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise AudioInputError(
            f"{path}: unsupported format {path.suffix or '(no suffix)'!r}; convert it to one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}"
        )
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path}: the file is empty (0 bytes); re-export the sound")
    try:
        info = sf.info(str(path))
        if info.frames > max_seconds * info.samplerate:
            raise AudioInputError(
                f"{path}: {info.frames / info.samplerate:.0f} s is longer than the {max_seconds:.0f} s "
                "limit; cut the part you want to match (only the first seconds are used)"
            )
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        audio = data.T
    except AudioInputError:
        raise
    except Exception as exc:  # libsndfile's errors have no common public type across versions
        if path.suffix.lower() != ".mp3":
            raise AudioInputError(
                f"{path}: cannot decode ({exc}); the file is corrupt or not audio"
            ) from None
        audio, rate = _read_with_librosa(path, max_seconds)
    if audio.shape[-1] == 0:
        raise AudioInputError(f"{path}: the file holds no samples; re-export the sound")
    if not np.all(np.isfinite(audio)):
        raise AudioInputError(f"{path}: the audio contains NaN or infinite samples; re-export it")
    return np.ascontiguousarray(audio, dtype=np.float32), int(rate)


def _read_with_librosa(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    import warnings

    import librosa

    try:
        with warnings.catch_warnings():  # librosa warns when it falls back to audioread
            warnings.simplefilter("ignore")
            y, rate = librosa.load(str(path), sr=None, mono=False, duration=max_seconds + 1)
    except Exception as exc:
        raise AudioInputError(
            f"{path}: cannot decode ({exc}); the file is corrupt or not audio"
        ) from None
    y = np.atleast_2d(y)
    if y.shape[-1] > max_seconds * rate:
        raise AudioInputError(f"{path}: longer than the {max_seconds:.0f} s limit; cut it shorter")
    return y, int(rate)


def load_sound(
    path: str | Path,
    settings: RenderSettings,
    *,
    target_lufs: float = TARGET_LUFS,
    max_seconds: float = MAX_SECONDS,
) -> Sound:
    """Read ``path`` and shape it like a training clip of ``settings`` (see the module docstring)."""
    path = Path(path)
    audio, rate = read_audio(path, max_seconds=max_seconds)
    source_seconds = audio.shape[-1] / rate
    if float(np.abs(audio).max()) < SILENCE_PEAK:
        raise AudioInputError(
            f"{path}: the sound is silent (peak below -100 dBFS); pick another file"
        )
    onset = leading_silence(audio, TRIM_DB)
    audio = audio[:, onset:]
    if audio.shape[-1] < round(MIN_SECONDS * rate):  # before padding: padding adds only silence
        raise AudioInputError(
            f"{path}: too short ({audio.shape[-1] / rate:.3f} s after trimming leading silence, "
            f"less than the {MIN_SECONDS} s needed to measure loudness); use a longer sound"
        )
    if rate != settings.sample_rate:
        audio = resample(audio, rate, settings.sample_rate)
    audio = to_channels(audio, settings.channels)
    audio = fit_length(audio, settings.num_samples)
    loudness = float(integrated_loudness(audio, settings.sample_rate))
    if not np.isfinite(loudness) or loudness < -70.0:
        raise AudioInputError(
            f"{path}: the sound is silent in its first {settings.duration:g} s after the onset "
            "(below -70 LUFS); pick a louder file"
        )
    gain_db = target_lufs - loudness
    audio = (audio * np.float32(10 ** (gain_db / 20))).astype(np.float32)
    return Sound(path, audio, rate, source_seconds, onset / rate, gain_db)


def resample(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """``audio`` (``(N,)`` or ``(C, N)``) from ``rate`` to ``target_rate`` Hz with soxr's high
    quality: the numbers of ``librosa.resample(..., res_type="soxr_hq")`` (``ceil(N * ratio)``
    samples, same dtype) without importing librosa's audio module (numba, scipy.signal: about
    2 s of start-up)."""
    if rate == target_rate:
        return audio
    import soxr

    audio = np.asarray(audio)
    n_out = int(np.ceil(audio.shape[-1] * float(target_rate) / rate))
    rows = audio.reshape(-1, audio.shape[-1])
    out = np.zeros((rows.shape[0], n_out), dtype=audio.dtype)
    for i, row in enumerate(rows):
        y = soxr.resample(row, rate, target_rate, quality="soxr_hq")
        m = min(len(y), n_out)
        out[i, :m] = y[:m]
    return out.reshape((*audio.shape[:-1], n_out))


def leading_silence(audio: np.ndarray, threshold_db: float = TRIM_DB) -> int:
    """Index of the first sample of ``(C, N)`` louder than ``threshold_db`` relative to the peak."""
    env = np.abs(audio).max(axis=0)
    above = np.flatnonzero(env >= env.max() * 10 ** (threshold_db / 20))
    return int(above[0]) if above.size else 0


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """``(C, N)`` -> ``(channels, N)``: mono is duplicated, more channels keep the first two (or
    are averaged to mono when ``channels == 1``)."""
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if audio.shape[0] == 1:
        return np.repeat(audio, 2, axis=0)
    return audio[:2]


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Crop or zero-pad ``(C, N)`` at the end to ``(C, num_samples)``."""
    if audio.shape[-1] >= num_samples:
        return np.ascontiguousarray(audio[:, :num_samples])
    return np.pad(audio, ((0, 0), (0, num_samples - audio.shape[-1])))


#: Renders quieter than this (integrated loudness, LUFS) count as silent when matching: the
#: datasets' loudness gate refuses them, and gain-matched up to the input they could rank first
#: (a Surge preset 91 dB below full scale scored "very close" before this rule).
SILENT_LUFS = -55.0


def matched_mss(
    renders: np.ndarray, target: np.ndarray, reference_lufs: float, sample_rate: int
) -> np.ndarray:
    """MSS in dB of each ``(B, C, N)`` render, loudness-matched to ``reference_lufs``, against
    ``target`` ``(C, N)``; ``inf`` for a render quieter than :data:`SILENT_LUFS` before matching."""
    from a2d.kernels.metrics import mss

    loud = np.asarray(integrated_loudness(renders, sample_rate), dtype=np.float64)
    scores = mss(match_loudness(renders, reference_lufs, sample_rate), target, sample_rate)
    return np.where(loud > SILENT_LUFS, scores, np.inf)


def match_loudness(audio: np.ndarray, reference_lufs: float, sample_rate: int) -> np.ndarray:
    """``(..., C, N)`` scaled so each clip's integrated loudness is ``reference_lufs``; silent
    clips (-inf LUFS) are returned unchanged."""
    loud = np.asarray(integrated_loudness(audio, sample_rate), dtype=np.float64)
    gain = np.where(np.isfinite(loud), 10 ** ((reference_lufs - loud) / 20), 1.0)
    return (audio * gain[..., None, None]).astype(np.float32)
