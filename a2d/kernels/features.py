"""Feature settings shared by generation, training, prediction and evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from a2d.contracts.errors import ConfigError


@dataclass(frozen=True)
class MelSettings:
    """Log-mel settings; defaults are the reference experiment's (shape (2, 128, 401) for 4 s
    stereo at 44.1 kHz).

    :param n_fft: FFT size in samples (1102 = 25 ms at 44.1 kHz; any size is allowed).
    :param hop_length: hop in samples (441 = 10 ms).
    :param window: ``"hann"`` or ``"hamming"`` (periodic, as librosa/scipy ``fftbins=True``).
    :param n_mels: mel bands.
    :param fmin: lowest band edge in Hz.
    :param fmax: highest band edge in Hz (None: sample_rate / 2).
    :param power: 1 for magnitude, 2 for power.
    :param center: pad ``n_fft // 2`` on both sides (librosa's ``center=True``).
    :param pad_mode: padding mode when centering (``"constant"`` zeros, or ``"reflect"``).
    :param htk: HTK mel scale instead of Slaney's.
    :param norm: ``"slaney"`` area normalisation of the filters, or None.
    :param to_db: convert to dB (``10 log10`` for power, ``20 log10`` for magnitude).
    :param ref: ``"max"`` (per clip and channel: max of that spectrogram) or a float.
    :param amin: floor before the log.
    :param top_db: clip to ``max - top_db`` (None: no clipping).
    """

    n_fft: int = 1102
    hop_length: int = 441
    window: Literal["hann", "hamming"] = "hamming"
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    power: float = 2.0
    center: bool = True
    pad_mode: Literal["constant", "reflect"] = "constant"
    htk: bool = False
    norm: Literal["slaney"] | None = "slaney"
    to_db: bool = True
    ref: Literal["max"] | float = "max"
    amin: float = 1e-10
    top_db: float | None = 80.0

    def __post_init__(self) -> None:
        if self.n_fft < 2 or self.hop_length < 1 or self.n_mels < 1:
            raise ConfigError(
                f"mel settings need n_fft >= 2, hop_length >= 1, n_mels >= 1; got "
                f"{self.n_fft}, {self.hop_length}, {self.n_mels}"
            )
        if self.window not in ("hann", "hamming"):
            raise ConfigError(f"window must be 'hann' or 'hamming', got {self.window!r}")
        if self.power not in (1.0, 2.0):
            raise ConfigError(f"power must be 1 or 2, got {self.power}")

    def num_frames(self, num_samples: int) -> int:
        if self.center:  # librosa pads n_fft // 2 on each side (one sample short for odd n_fft)
            return 1 + (num_samples + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MelSettings:
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"invalid mel settings: {exc}") from exc
